/**
 * The browser side of the peer-host protocol (peer-host-protocol.ts): holds one simple-peer
 * connection per `conn` over this context's own RTCPeerConnection and passes data-channel messages,
 * signals, drain levels and stats to the engine. Chunking, reassembly, queues and timeouts stay in
 * the engine's transport; this side only moves bytes, so there is no second copy of that logic.
 *
 * It runs in a Chromium page or Electron's hidden window (simple-peer's browser build); in Node,
 * tests run it with @roamhq/wrtc through `createPeer`.
 */
import { CoreError } from '../errors.ts'
import { parseSignalData } from '../protocol/signaling.ts'
import type { SignalData } from '../protocol/signaling.ts'
import type { ChannelMessage, TrainerChannel } from './channel.ts'
import {
  MAX_HOSTED_CONNECTIONS,
  TurnBatcher,
  decodePeerHostRequest,
  encodePeerHostEvent,
} from './peer-host-protocol.ts'
import type { HostedIceServer, PeerHostEvent, PeerHostRequest } from './peer-host-protocol.ts'
import { drainableChannelOf, hasGetStats } from '../transport/simple-peer-internals.ts'

/** What the service asks simple-peer for (its constructor options, as far as they are used). */
export interface HostedPeerOptions {
  readonly initiator: boolean
  readonly trickle: true
  readonly config: { readonly iceServers: RTCIceServer[] }
  readonly channelConfig: { readonly ordered: boolean }
}

/** The part of a simple-peer instance the service uses. */
export interface HostedPeer {
  on(event: 'signal', listener: (data: unknown) => void): unknown
  on(event: 'connect' | 'close', listener: () => void): unknown
  on(event: 'data', listener: (data: Uint8Array) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  signal(data: string): void
  send(data: Uint8Array): void
  destroy(): void
  readonly bufferSize: number
}

export interface PeerHostServiceOptions {
  readonly channel: TrainerChannel
  /** Makes a connection: `new SimplePeer(options)` in a page, with `wrtc` added in Node tests. */
  readonly createPeer: (options: HostedPeerOptions) => HostedPeer
  /** Announced in `rtc.hello` (the page's navigator.userAgent). */
  readonly userAgent: string
}

const MAX_TEXT = 2000

function toRtcIceServer(server: HostedIceServer): RTCIceServer {
  return { ...server, urls: typeof server.urls === 'string' ? server.urls : [...server.urls] }
}

function clip(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text
}

function describe(error: unknown): { code: string; message: string } {
  if (error instanceof Error) {
    const code = 'code' in error && typeof error.code === 'string' ? error.code : 'ERR_WEBRTC'
    return { code: clip(code), message: clip(error.message) }
  }
  return { code: 'ERR_WEBRTC', message: clip(String(error)) }
}

/** A stats report reduced to its plain fields, so it crosses any channel as JSON. */
function plainReport(report: unknown): Record<string, unknown> | undefined {
  if (typeof report !== 'object' || report === null) return undefined
  const fields: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(report)) {
    if (
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value))
    ) {
      fields[key] = value
    }
  }
  return fields
}

interface Connection {
  readonly peer: HostedPeer
  lastSeq: number
  isClosed: boolean
  /** Received messages not yet passed to the engine. */
  readonly received: TurnBatcher
}

export class PeerHostService {
  private readonly connections = new Map<number, Connection>()
  private readonly channel: TrainerChannel

  constructor(private readonly options: PeerHostServiceOptions) {
    this.channel = options.channel
    this.channel.onMessage((message) => this.onRequest(message))
    this.channel.onClose(() => this.destroyAll())
    this.emit({ type: 'rtc.hello', userAgent: clip(options.userAgent) })
  }

  /** Connections open now. */
  get connectionCount(): number {
    return this.connections.size
  }

  private emit(event: PeerHostEvent): void {
    if (this.channel.isClosed) return
    try {
      this.channel.send(encodePeerHostEvent(event))
    } catch {
      // The channel closed under us; its close listener tears the connections down.
    }
  }

  private onRequest(message: ChannelMessage): void {
    let request: PeerHostRequest
    try {
      request = decodePeerHostRequest(message)
    } catch (error) {
      // The engine and this page are one build; a request we cannot read means they are not.
      const text = error instanceof Error ? error.message : String(error)
      this.emit({ type: 'rtc.fault', message: clip(text) })
      this.channel.close(error instanceof CoreError ? error : new CoreError('ERR_BAD_MESSAGE', text))
      return
    }
    if (request.type === 'rtc.open') {
      this.open(request)
      return
    }
    const connection = this.connections.get(request.conn)
    if (connection === undefined) {
      // Normal after a close crossed a request on the way; tell the engine it is gone.
      if (request.type === 'rtc.close') this.emit({ type: 'rtc.closed', conn: request.conn })
      return
    }
    switch (request.type) {
      case 'rtc.signal':
        this.guarded(request.conn, connection, () => connection.peer.signal(JSON.stringify(request.data)))
        return
      case 'rtc.send':
        connection.lastSeq = request.seq
        this.guarded(request.conn, connection, () => {
          for (const message of request.messages) connection.peer.send(new Uint8Array(message))
        })
        this.reportBuffered(request.conn, connection)
        return
      case 'rtc.query':
        this.reportBuffered(request.conn, connection)
        return
      case 'rtc.stats':
        this.readStats(request.conn, connection, request.request)
        return
      case 'rtc.close':
        connection.peer.destroy()
        // simple-peer emits 'close' on destroy (asynchronously); 'rtc.closed' goes out then.
        return
    }
  }

  private open(request: Extract<PeerHostRequest, { type: 'rtc.open' }>): void {
    const { conn } = request
    const refuse = (message: string, code = 'ERR_WEBRTC_UNAVAILABLE'): void => {
      this.emit({ type: 'rtc.error', conn, code, message: clip(message) })
      this.emit({ type: 'rtc.closed', conn })
    }
    if (this.connections.has(conn)) {
      refuse(`connection ${conn} is already open on this page`, 'ERR_INVALID_ARGUMENT')
      return
    }
    if (this.connections.size >= MAX_HOSTED_CONNECTIONS) {
      refuse(`this page holds at most ${MAX_HOSTED_CONNECTIONS} connections`, 'ERR_ROOM_FULL')
      return
    }
    let peer: HostedPeer
    try {
      peer = this.options.createPeer({
        initiator: request.initiator,
        trickle: true,
        config: { iceServers: request.iceServers.map(toRtcIceServer) },
        channelConfig: { ordered: request.ordered },
      })
    } catch (error) {
      refuse(`cannot create a WebRTC connection here: ${describe(error).message}`)
      return
    }
    const connection: Connection = {
      peer,
      lastSeq: 0,
      isClosed: false,
      received: new TurnBatcher((messages) => this.emit({ type: 'rtc.data', conn, messages })),
    }
    this.connections.set(conn, connection)
    peer.on('signal', (data) => {
      if (connection.isClosed) return
      let signal: SignalData
      try {
        signal = parseSignalData(data)
      } catch (error) {
        // A signal type Longhaul does not relay (simple-peer's transceiver requests: media only).
        this.emit({
          type: 'rtc.error',
          conn,
          code: 'ERR_BAD_SIGNAL',
          message: clip(`WebRTC produced signal data we cannot relay: ${describe(error).message}`),
        })
        peer.destroy()
        return
      }
      this.emit({ type: 'rtc.signal', conn, data: signal })
    })
    peer.on('connect', () => {
      if (connection.isClosed) return
      const channel = drainableChannelOf(peer)
      if (channel !== undefined) {
        channel.bufferedAmountLowThreshold = request.lowWaterMarkBytes
        channel.addEventListener('bufferedamountlow', () => {
          if (!connection.isClosed) this.reportBuffered(conn, connection)
        })
      }
      this.emit({ type: 'rtc.connect', conn })
    })
    peer.on('data', (data) => {
      if (connection.isClosed) return
      // A copy of exactly this message, so the buffer can be transferred to the engine.
      const bytes = new Uint8Array(data.byteLength)
      bytes.set(data)
      // Messages delivered in one turn cross to the engine together.
      connection.received.add(bytes.buffer)
    })
    peer.on('error', (error) => {
      connection.received.flush()
      if (!connection.isClosed) this.emit({ type: 'rtc.error', conn, ...describe(error) })
    })
    peer.on('close', () => {
      connection.received.flush()
      if (connection.isClosed) return
      connection.isClosed = true
      this.connections.delete(conn)
      this.emit({ type: 'rtc.closed', conn })
    })
  }

  private guarded(conn: number, connection: Connection, action: () => void): void {
    try {
      action()
    } catch (error) {
      this.emit({ type: 'rtc.error', conn, ...describe(error) })
      connection.peer.destroy()
    }
  }

  private reportBuffered(conn: number, connection: Connection): void {
    let bufferedAmount = 0
    try {
      bufferedAmount = connection.peer.bufferSize
    } catch {
      // A destroyed peer has no channel; nothing is buffered then.
    }
    this.emit({ type: 'rtc.buffered', conn, seq: connection.lastSeq, bufferedAmount })
  }

  private readStats(conn: number, connection: Connection, request: number): void {
    const answer = (reports: readonly Record<string, unknown>[], error?: string): void =>
      this.emit({
        type: 'rtc.stats',
        conn,
        request,
        reports,
        ...(error !== undefined && { error: clip(error) }),
      })
    const { peer } = connection
    if (!hasGetStats(peer)) {
      answer([])
      return
    }
    try {
      peer.getStats((error, items) => {
        if (error) {
          answer([], error.message)
          return
        }
        const list = Array.isArray(items) ? items : []
        answer(list.map(plainReport).filter((r): r is Record<string, unknown> => r !== undefined))
      })
    } catch (error) {
      answer([], describe(error).message)
    }
  }

  private destroyAll(): void {
    for (const connection of this.connections.values()) {
      connection.isClosed = true
      try {
        connection.peer.destroy()
      } catch {
        // Already gone.
      }
    }
    this.connections.clear()
  }
}
