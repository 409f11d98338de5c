/**
 * `PeerTransport` whose WebRTC connection lives in a browser context (a Chromium page, Electron's
 * hidden window) and is driven over the peer-host protocol (core/browser/peer-host-protocol.ts).
 * Everything above the data channel (chunking, reassembly, send queue and backpressure, connect
 * timeout, stats) is the same ChunkedTransport code the in-process WebRTC transport runs; the
 * page only moves data-channel messages.
 *
 * One `PeerHostClient` per page multiplexes the connections; `client.createTransport(...)` is the
 * swarm's `createTransport`. When the page goes away every transport on it fails with one sentence
 * that says so.
 *
 * Backpressure: `bufferedAmount` is what the page last reported for the channel plus every byte
 * sent to the page that it has not acknowledged yet, so the high-water mark bounds the bytes held
 * by the page and its channel together. While a send waits for room, the transport asks the page
 * every `drainQueryMs` as a safety net for a missed 'bufferedamountlow'.
 */
import { CoreError } from '../errors.ts'
import type { ChannelMessage, TrainerChannel } from '../browser/channel.ts'
import {
  decodePeerHostEvent,
  encodePeerHostRequest,
  TurnBatcher,
  MAX_HOSTED_MESSAGE_BYTES,
} from '../browser/peer-host-protocol.ts'
import type { HostedIceServer, PeerHostEvent, PeerHostRequest } from '../browser/peer-host-protocol.ts'
import type { SignalData } from '../protocol/signaling.ts'
import { ChunkedTransport } from './chunked-transport.ts'
import type { ChunkedTransportOptions } from './chunked-transport.ts'
import { summarizeIceStats } from './ice-stats.ts'
import type { IceSummary } from './ice-stats.ts'
import type { SignaledPeerTransport } from './peer-transport.ts'

/** Default wait for the page's `rtc.hello`. */
export const DEFAULT_HELLO_TIMEOUT_MS = 30_000
/** Default period of the drain query while a send waits. */
export const DEFAULT_DRAIN_QUERY_MS = 100
/** Default wait for a stats answer before the refresh gives up. */
export const DEFAULT_STATS_TIMEOUT_MS = 5_000
/** Default wait for the page to confirm a close before the transport lets go anyway. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 2_000
const DEFAULT_STATS_INTERVAL_MS = 1000

export interface HostedPeerTransportOptions extends ChunkedTransportOptions {
  readonly initiator: boolean
  readonly iceServers?: readonly HostedIceServer[]
  /** Ordered, reliable channel (default true). */
  readonly ordered?: boolean
  readonly drainQueryMs?: number
  readonly statsTimeoutMs?: number
  readonly closeTimeoutMs?: number
}

/** How a transport reaches its page; PeerHostClient implements it. */
interface HostLink {
  readonly description: string
  post(request: PeerHostRequest): void
  register(conn: number, transport: HostedPeerTransport): void
  unregister(conn: number): void
}

export class HostedPeerTransport extends ChunkedTransport implements SignaledPeerTransport {
  readonly isInitiator: boolean
  private readonly drainQueryMs: number
  private readonly statsTimeoutMs: number
  private readonly closeTimeoutMs: number
  private nextSeq = 1
  /** Chunks handed over this turn, not yet posted to the page. */
  private readonly outgoing = new TurnBatcher((messages) => {
    // A batch's seq is its last message's: every chunk in it was numbered when handed over.
    if (!this.isPageClosed)
      this.host.post({ type: 'rtc.send', conn: this.conn, seq: this.nextSeq - 1, messages })
  })
  /** Sends the page has not acknowledged: [seq, bytes], oldest first. */
  private readonly unacknowledged: Array<[number, number]> = []
  private unacknowledgedBytes = 0
  private reportedBufferedAmount = 0
  private nextStatsRequest = 1
  private readonly statsWaiters = new Map<
    number,
    (event: Extract<PeerHostEvent, { type: 'rtc.stats' }>) => void
  >()
  private confirmClosed: (() => void) | undefined
  private isPageClosed = false
  private releasePromise: Promise<void> | undefined

  /** Use PeerHostClient.createTransport. */
  constructor(
    private readonly host: HostLink,
    private readonly conn: number,
    options: HostedPeerTransportOptions,
  ) {
    super(options, DEFAULT_STATS_INTERVAL_MS)
    for (const [name, value] of [
      ['drainQueryMs', options.drainQueryMs],
      ['statsTimeoutMs', options.statsTimeoutMs],
      ['closeTimeoutMs', options.closeTimeoutMs],
    ] as const) {
      if (value !== undefined && !(value > 0)) {
        throw new CoreError('ERR_INVALID_ARGUMENT', `${name} must be positive, got ${value}`)
      }
    }
    if (this.maxChunkBytes > MAX_HOSTED_MESSAGE_BYTES) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `maxChunkBytes ${this.maxChunkBytes} is over the ${MAX_HOSTED_MESSAGE_BYTES} a hosted connection passes`,
      )
    }
    this.isInitiator = options.initiator
    this.drainQueryMs = options.drainQueryMs ?? DEFAULT_DRAIN_QUERY_MS
    this.statsTimeoutMs = options.statsTimeoutMs ?? DEFAULT_STATS_TIMEOUT_MS
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS
    host.register(conn, this)
    host.post({
      type: 'rtc.open',
      conn,
      initiator: options.initiator,
      iceServers: [...(options.iceServers ?? [])],
      ordered: options.ordered ?? true,
      lowWaterMarkBytes: this.lowWaterMarkBytes,
    })
    this.startConnectTimer()
  }

  signal(data: SignalData): void {
    if (this.isClosed) throw this.destroyedError()
    this.host.post({ type: 'rtc.signal', conn: this.conn, data })
  }

  /** An event from the page for this connection (PeerHostClient routes them). */
  handleHostEvent(event: Exclude<PeerHostEvent, { type: 'rtc.hello' | 'rtc.fault' }>): void {
    switch (event.type) {
      case 'rtc.signal':
        this.emitSignal(event.data)
        return
      case 'rtc.connect': {
        // The sink's bufferedAmount is live: bytes held by the page plus bytes still crossing.
        const heldBytes = (): number => this.reportedBufferedAmount + this.unacknowledgedBytes
        this.markConnected({
          get bufferedAmount() {
            return heldBytes()
          },
          send: (chunk) => this.sendChunk(chunk),
        })
        return
      }
      case 'rtc.data':
        for (const message of event.messages) this.receiveChunk(message)
        return
      case 'rtc.buffered':
        this.acknowledge(event.seq, event.bufferedAmount)
        return
      case 'rtc.stats':
        this.statsWaiters.get(event.request)?.(event)
        return
      case 'rtc.error':
        void this.close(
          new CoreError(
            'ERR_CONNECTION_FAILED',
            `WebRTC connection to ${this.peerId} failed (${event.code}): ${event.message}`,
          ),
        )
        return
      case 'rtc.closed':
        this.isPageClosed = true
        this.confirmClosed?.()
        void this.close()
        return
    }
  }

  /** The page went away: every transport on it fails. */
  handleHostGone(reason: string): void {
    this.isPageClosed = true
    this.confirmClosed?.()
    void this.close(
      new CoreError(
        'ERR_CONNECTION_FAILED',
        `WebRTC connections through ${this.host.description} were lost: ${reason}`,
      ),
    )
  }

  protected override drainPollPeriodMs(): number {
    return this.drainQueryMs
  }

  protected override pollDrain(): void {
    this.host.post({ type: 'rtc.query', conn: this.conn })
  }

  protected override async readLink(): Promise<IceSummary> {
    const request = this.nextStatsRequest++
    const event = await new Promise<Extract<PeerHostEvent, { type: 'rtc.stats' }>>((resolve, reject) => {
      const cancel = this.clock.setTimeout(() => {
        this.statsWaiters.delete(request)
        reject(new CoreError('ERR_TIMEOUT', `no stats from the WebRTC host within ${this.statsTimeoutMs} ms`))
      }, this.statsTimeoutMs)
      this.statsWaiters.set(request, (answer) => {
        cancel()
        this.statsWaiters.delete(request)
        resolve(answer)
      })
      this.host.post({ type: 'rtc.stats', conn: this.conn, request })
    })
    if (event.error !== undefined) throw new Error(event.error)
    return summarizeIceStats(event.reports)
  }

  protected override releaseChannel(): Promise<void> {
    if (this.releasePromise === undefined) this.releasePromise = this.release()
    return this.releasePromise
  }

  private sendChunk(chunk: Uint8Array): void {
    // A copy of exactly this chunk: the channel may transfer (detach) what it is given.
    const message = chunk.slice().buffer
    const seq = this.nextSeq++
    this.unacknowledged.push([seq, message.byteLength])
    this.unacknowledgedBytes += message.byteLength
    // The send queue hands over every chunk that fits in one turn: they cross to the page together.
    this.outgoing.add(message)
  }

  private acknowledge(seq: number, bufferedAmount: number): void {
    while (this.unacknowledged.length > 0) {
      const oldest = this.unacknowledged[0]
      if (oldest === undefined || oldest[0] > seq) break
      this.unacknowledged.shift()
      this.unacknowledgedBytes -= oldest[1]
    }
    this.reportedBufferedAmount = bufferedAmount
    this.notifyDrain()
  }

  private async release(): Promise<void> {
    this.statsWaiters.clear()
    // Chunks handed over before close go out before it.
    this.outgoing.flush()
    if (!this.isPageClosed) {
      await new Promise<void>((resolve) => {
        const cancel = this.clock.setTimeout(resolve, this.closeTimeoutMs)
        this.confirmClosed = () => {
          cancel()
          resolve()
        }
        try {
          this.host.post({ type: 'rtc.close', conn: this.conn })
        } catch {
          resolve()
        }
      })
    }
    this.host.unregister(this.conn)
  }
}

export interface PeerHostClientOptions {
  readonly channel: TrainerChannel
  /** Says where the connections live, in errors and logs ("Chromium 156 page", "Electron window"). */
  readonly description: string
  readonly helloTimeoutMs?: number
}

/**
 * The engine's end of one page's connections. `connect` waits for the page's hello, so a page
 * that serves something else (or nothing) is refused with a sentence.
 */
export class PeerHostClient {
  readonly description: string
  private readonly channel: TrainerChannel
  private readonly transports = new Map<number, HostedPeerTransport>()
  private nextConn = 1
  private goneReason: string | undefined
  private userAgentValue = ''
  private readonly closeListeners = new Set<(reason: string) => void>()

  private constructor(options: PeerHostClientOptions) {
    this.description = options.description
    this.channel = options.channel
  }

  /**
   * Waits for the page's `rtc.hello` on `channel`.
   * @throws CoreError ERR_TIMEOUT when none comes in time; ERR_BAD_MESSAGE or
   *   ERR_CONNECTION_FAILED when the page sends something else or the channel closes first.
   */
  static connect(options: PeerHostClientOptions): Promise<PeerHostClient> {
    const client = new PeerHostClient(options)
    const timeoutMs = options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS
    return new Promise<PeerHostClient>((resolve, reject) => {
      let isSettled = false
      const settle = (error?: CoreError): void => {
        if (isSettled) return
        isSettled = true
        clearTimeout(timer)
        if (error === undefined) resolve(client)
        else {
          client.close()
          reject(error)
        }
      }
      const timer = setTimeout(
        () =>
          settle(
            new CoreError(
              'ERR_TIMEOUT',
              `the WebRTC host (${client.description}) did not answer within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      )
      client.channel.onClose((error) => {
        const reason = error?.message ?? 'its channel closed'
        settle(
          new CoreError(
            'ERR_CONNECTION_FAILED',
            `WebRTC connections through ${client.description} were lost: ${reason}`,
          ),
        )
        client.onChannelClosed(reason)
      })
      client.channel.onMessage((message) => {
        const event = client.decode(message)
        if (event === undefined) return
        if (!isSettled) {
          if (event.type !== 'rtc.hello') {
            settle(
              new CoreError(
                'ERR_BAD_MESSAGE',
                `the WebRTC host (${client.description}) spoke before saying hello`,
              ),
            )
            return
          }
          client.userAgentValue = event.userAgent
          settle()
          return
        }
        client.route(event)
      })
    })
  }

  /** The page's navigator.userAgent, from its hello. */
  get userAgent(): string {
    return this.userAgentValue
  }

  get isClosed(): boolean {
    return this.goneReason !== undefined
  }

  /** Connections open on the page now. */
  get connectionCount(): number {
    return this.transports.size
  }

  /** Called once when the page goes away (or close() is called); returns an unsubscribe function. */
  onClose(listener: (reason: string) => void): () => void {
    this.closeListeners.add(listener)
    return () => this.closeListeners.delete(listener)
  }

  /**
   * A transport to `peerId` over a new connection on the page.
   * @throws CoreError ERR_DESTROYED when the page is gone; ERR_INVALID_ARGUMENT for bad options.
   */
  createTransport(options: HostedPeerTransportOptions): HostedPeerTransport {
    if (this.goneReason !== undefined) {
      throw new CoreError(
        'ERR_DESTROYED',
        `WebRTC connections through ${this.description} were lost: ${this.goneReason}`,
      )
    }
    const conn = this.nextConn++
    const link: HostLink = {
      description: this.description,
      post: (request) => this.post(request),
      register: (id, transport) => this.transports.set(id, transport),
      unregister: (id) => this.transports.delete(id),
    }
    return new HostedPeerTransport(link, conn, options)
  }

  /** Closes the channel; every open transport fails ("were lost"). Idempotent. */
  close(): void {
    this.channel.close()
    this.onChannelClosed('the engine closed it')
  }

  private post(request: PeerHostRequest): void {
    if (this.goneReason !== undefined) return
    this.channel.send(encodePeerHostRequest(request))
  }

  private decode(message: ChannelMessage): PeerHostEvent | undefined {
    try {
      return decodePeerHostEvent(message)
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error)
      this.channel.close(new CoreError('ERR_BAD_MESSAGE', text))
      return undefined
    }
  }

  private route(event: PeerHostEvent): void {
    switch (event.type) {
      case 'rtc.hello':
        return
      case 'rtc.fault':
        this.channel.close(new CoreError('ERR_BAD_MESSAGE', `the page gave up: ${event.message}`))
        return
      default:
        // Events for a connection already released are normal after a close; drop them.
        this.transports.get(event.conn)?.handleHostEvent(event)
    }
  }

  private onChannelClosed(reason: string): void {
    if (this.goneReason !== undefined) return
    this.goneReason = reason
    for (const transport of [...this.transports.values()]) transport.handleHostGone(reason)
    this.transports.clear()
    for (const listener of [...this.closeListeners]) listener(reason)
    this.closeListeners.clear()
  }
}
