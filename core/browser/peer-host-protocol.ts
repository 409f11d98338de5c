/**
 * The peer-host protocol: the engine keeps its transports (chunking, reassembly, send queue,
 * stats: core/transport/chunked-transport.ts) and a browser context (a Chromium page, Electron's
 * hidden window) holds the actual WebRTC connections, with the browser's own RTCPeerConnection.
 * The engine drives them over a TrainerChannel; only raw data-channel messages cross it.
 *
 * Why: the desktop engine runs in Electron's utility process, where @roamhq/wrtc's received
 * binary messages are external ArrayBuffers that Electron's V8 memory cage refuses
 * (node-webrtc/node-webrtc#754). Chromium's WebRTC in a window has no such limit, and a machine
 * whose wrtc binary will not load can use a Chromium page the same way.
 *
 * Heads are `{ v: 1, type: 'rtc.<verb>', conn, ... }`; `conn` numbers a connection (the engine
 * picks it). Data-channel messages travel as the buffers of `rtc.send` / `rtc.data`, never as
 * JSON, up to MAX_BATCH_MESSAGES of them in one channel message: a send queue hands over many
 * chunks in one turn, and crossing the channel once per chunk would cost more than the chunks
 * (`TurnBatcher`, used at both ends). Both sides validate every head before use (fuzzed in
 * test/unit/core/browser).
 *
 * Backpressure: the page answers every `rtc.send` with `rtc.buffered` (the sequence number of its
 * last message it handled and the channel's bufferedAmount afterwards), and sends one more whenever the channel
 * fires 'bufferedamountlow' or the engine asks with `rtc.query`. The engine counts bytes it sent
 * but the page has not acknowledged on top of the last reported amount, so its figure never
 * undercounts what waits in the browser.
 */
import { CoreError } from '../errors.ts'
import { describeValue, isCount, isRecord } from '../guards.ts'
import { MAX_CHUNK_BYTES } from '../protocol/chunker.ts'
import { parseSignalData } from '../protocol/signaling.ts'
import type { SignalData } from '../protocol/signaling.ts'
import { MAX_CHANNEL_BUFFERS } from './channel.ts'
import type { ChannelMessage } from './channel.ts'

export const PEER_HOST_PROTOCOL_VERSION = 1
/** What the page announces itself as, so a trainer page is never mistaken for a peer host. */
export const PEER_HOST_SERVICE = 'webrtc'
/** Largest data-channel message either side passes on: the largest chunk peers may agree on. */
export const MAX_HOSTED_MESSAGE_BYTES = MAX_CHUNK_BYTES
/** Most data-channel messages one `rtc.send` / `rtc.data` carries (a channel message's buffer limit). */
export const MAX_BATCH_MESSAGES = MAX_CHANNEL_BUFFERS
/** Most connections one page holds: a room's peers, with room for reconnect attempts. */
export const MAX_HOSTED_CONNECTIONS = 256
/** Most ICE servers one connection takes (a STUN and a few TURN entries in practice). */
export const MAX_ICE_SERVERS = 16
/** Most stats reports one answer carries; a data-only connection has about a dozen. */
export const MAX_STATS_REPORTS = 512
const MAX_TEXT_CHARS = 2048

/** STUN/TURN server as RTCPeerConnection takes it, limited to the fields Longhaul sets. */
export interface HostedIceServer {
  readonly urls: string | readonly string[]
  readonly username?: string
  readonly credential?: string
}

/** Engine → page. */
export type PeerHostRequest =
  | {
      readonly type: 'rtc.open'
      readonly conn: number
      readonly initiator: boolean
      readonly iceServers: readonly HostedIceServer[]
      readonly ordered: boolean
      /** The page sets the channel's bufferedAmountLowThreshold to this. */
      readonly lowWaterMarkBytes: number
    }
  | { readonly type: 'rtc.signal'; readonly conn: number; readonly data: SignalData }
  | {
      readonly type: 'rtc.send'
      readonly conn: number
      /** The sequence number of the batch's last message (messages are numbered from 1). */
      readonly seq: number
      readonly messages: readonly ArrayBuffer[]
    }
  | { readonly type: 'rtc.query'; readonly conn: number }
  | { readonly type: 'rtc.stats'; readonly conn: number; readonly request: number }
  | { readonly type: 'rtc.close'; readonly conn: number }

/** Page → engine. */
export type PeerHostEvent =
  | { readonly type: 'rtc.hello'; readonly userAgent: string }
  | { readonly type: 'rtc.signal'; readonly conn: number; readonly data: SignalData }
  | { readonly type: 'rtc.connect'; readonly conn: number }
  | { readonly type: 'rtc.data'; readonly conn: number; readonly messages: readonly ArrayBuffer[] }
  | {
      readonly type: 'rtc.buffered'
      readonly conn: number
      /** The last `rtc.send` sequence number the page has handled (0 before any). */
      readonly seq: number
      readonly bufferedAmount: number
    }
  | {
      readonly type: 'rtc.stats'
      readonly conn: number
      readonly request: number
      /** getStats() reports as plain records; empty when `error` is set. */
      readonly reports: readonly Record<string, unknown>[]
      readonly error?: string
    }
  | { readonly type: 'rtc.error'; readonly conn: number; readonly code: string; readonly message: string }
  | { readonly type: 'rtc.closed'; readonly conn: number }
  /** The page cannot go on (a request it could not read): every connection on it is lost. */
  | { readonly type: 'rtc.fault'; readonly message: string }

function bad(message: string): never {
  throw new CoreError('ERR_BAD_MESSAGE', `bad peer-host message: ${message}`)
}

function headOf(message: ChannelMessage): Record<string, unknown> {
  const { head } = message
  if (!isRecord(head)) bad('the head is not an object')
  if (head.v !== PEER_HOST_PROTOCOL_VERSION) {
    bad(`protocol version ${describeValue(head.v)}, expected ${PEER_HOST_PROTOCOL_VERSION}`)
  }
  if (typeof head.type !== 'string') bad('"type" is not a string')
  return head
}

function connOf(head: Record<string, unknown>): number {
  const { conn } = head
  if (!isCount(conn) || conn < 1 || conn > Number.MAX_SAFE_INTEGER) bad(`"conn" must be a positive integer`)
  return conn
}

function countField(head: Record<string, unknown>, key: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = head[key]
  if (!isCount(value) || value > max) bad(`"${key}" must be an integer in [0, ${max}]`)
  return value
}

function text(head: Record<string, unknown>, key: string): string {
  const value = head[key]
  if (typeof value !== 'string' || value.length > MAX_TEXT_CHARS) {
    bad(`"${key}" must be a string of at most ${MAX_TEXT_CHARS} characters`)
  }
  return value
}

function batchOf(message: ChannelMessage, type: string): readonly ArrayBuffer[] {
  const { buffers } = message
  if (buffers.length < 1 || buffers.length > MAX_BATCH_MESSAGES) {
    bad(`${type} carries 1 to ${MAX_BATCH_MESSAGES} buffers, got ${buffers.length}`)
  }
  for (const buffer of buffers) {
    if (buffer.byteLength < 1 || buffer.byteLength > MAX_HOSTED_MESSAGE_BYTES) {
      bad(`${type} message of ${buffer.byteLength} bytes (1 to ${MAX_HOSTED_MESSAGE_BYTES} allowed)`)
    }
  }
  return buffers
}

function noBuffers(message: ChannelMessage, type: string): void {
  if (message.buffers.length !== 0) bad(`${type} carries no buffers`)
}

function signalOf(head: Record<string, unknown>): SignalData {
  try {
    return parseSignalData(head.data)
  } catch (error) {
    bad(error instanceof Error ? error.message : String(error))
  }
}

function parseIceServer(value: unknown): HostedIceServer {
  if (!isRecord(value)) bad('an ICE server is not an object')
  const { urls, username, credential } = value
  const isUrl = (u: unknown): u is string =>
    typeof u === 'string' && u.length > 0 && u.length <= MAX_TEXT_CHARS
  let parsedUrls: string | readonly string[]
  if (isUrl(urls)) parsedUrls = urls
  else if (Array.isArray(urls) && urls.length > 0 && urls.length <= MAX_ICE_SERVERS && urls.every(isUrl)) {
    parsedUrls = [...urls]
  } else bad('an ICE server needs "urls": a url or a list of urls')
  for (const [key, field] of [
    ['username', username],
    ['credential', credential],
  ] as const) {
    if (field !== undefined && (typeof field !== 'string' || field.length > MAX_TEXT_CHARS)) {
      bad(`an ICE server's "${key}" must be a string`)
    }
  }
  return {
    urls: parsedUrls,
    ...(typeof username === 'string' && { username }),
    ...(typeof credential === 'string' && { credential }),
  }
}

/**
 * Checks an engine request, as the page receives it.
 * @throws CoreError ERR_BAD_MESSAGE naming what is wrong.
 */
export function decodePeerHostRequest(message: ChannelMessage): PeerHostRequest {
  const head = headOf(message)
  const type = head.type
  switch (type) {
    case 'rtc.open': {
      noBuffers(message, type)
      const { initiator, ordered, iceServers } = head
      if (typeof initiator !== 'boolean') bad('"initiator" must be a boolean')
      if (typeof ordered !== 'boolean') bad('"ordered" must be a boolean')
      if (!Array.isArray(iceServers) || iceServers.length > MAX_ICE_SERVERS) {
        bad(`"iceServers" must be a list of at most ${MAX_ICE_SERVERS}`)
      }
      return {
        type,
        conn: connOf(head),
        initiator,
        ordered,
        iceServers: iceServers.map(parseIceServer),
        lowWaterMarkBytes: countField(head, 'lowWaterMarkBytes', 1 << 30),
      }
    }
    case 'rtc.signal':
      noBuffers(message, type)
      return { type, conn: connOf(head), data: signalOf(head) }
    case 'rtc.send':
      return { type, conn: connOf(head), seq: countField(head, 'seq'), messages: batchOf(message, type) }
    case 'rtc.query':
    case 'rtc.close':
      noBuffers(message, type)
      return { type, conn: connOf(head) }
    case 'rtc.stats':
      noBuffers(message, type)
      return { type, conn: connOf(head), request: countField(head, 'request') }
    default:
      return bad(`unknown request type ${describeValue(type)}`)
  }
}

/**
 * Checks a page event, as the engine receives it.
 * @throws CoreError ERR_BAD_MESSAGE naming what is wrong.
 */
export function decodePeerHostEvent(message: ChannelMessage): PeerHostEvent {
  const head = headOf(message)
  const type = head.type
  switch (type) {
    case 'rtc.hello':
      noBuffers(message, type)
      if (head.service !== PEER_HOST_SERVICE)
        bad(`the page serves ${describeValue(head.service)}, not ${PEER_HOST_SERVICE}`)
      return { type, userAgent: text(head, 'userAgent') }
    case 'rtc.signal':
      noBuffers(message, type)
      return { type, conn: connOf(head), data: signalOf(head) }
    case 'rtc.connect':
    case 'rtc.closed':
      noBuffers(message, type)
      return { type, conn: connOf(head) }
    case 'rtc.data':
      return { type, conn: connOf(head), messages: batchOf(message, type) }
    case 'rtc.buffered':
      noBuffers(message, type)
      return {
        type,
        conn: connOf(head),
        seq: countField(head, 'seq'),
        bufferedAmount: countField(head, 'bufferedAmount'),
      }
    case 'rtc.stats': {
      noBuffers(message, type)
      const { reports, error } = head
      if (!Array.isArray(reports) || reports.length > MAX_STATS_REPORTS || !reports.every(isRecord)) {
        bad(`"reports" must be a list of at most ${MAX_STATS_REPORTS} records`)
      }
      return {
        type,
        conn: connOf(head),
        request: countField(head, 'request'),
        reports,
        ...(error !== undefined && { error: text(head, 'error') }),
      }
    }
    case 'rtc.error':
      noBuffers(message, type)
      return { type, conn: connOf(head), code: text(head, 'code'), message: text(head, 'message') }
    case 'rtc.fault':
      noBuffers(message, type)
      return { type, message: text(head, 'message') }
    default:
      return bad(`unknown event type ${describeValue(type)}`)
  }
}

/**
 * Collects the data-channel messages handed over in one turn and passes them on together:
 * MAX_BATCH_MESSAGES at once when that many arrive, the rest at the end of the turn (a
 * microtask), so none waits longer than its turn. (A timer would batch more but costs a clamped
 * delay per batch: measured slower in `npm run bench -- transport`.) The engine batches its
 * `rtc.send`s this way, the page its `rtc.data`s.
 */
export class TurnBatcher {
  private pending: ArrayBuffer[] = []

  constructor(private readonly passOn: (messages: ArrayBuffer[]) => void) {}

  add(message: ArrayBuffer): void {
    this.pending.push(message)
    if (this.pending.length >= MAX_BATCH_MESSAGES) this.flush()
    else if (this.pending.length === 1) queueMicrotask(() => this.flush())
  }

  /** Passes on what was collected, now (before an error or a close is reported). */
  flush(): void {
    if (this.pending.length === 0) return
    const messages = this.pending
    this.pending = []
    this.passOn(messages)
  }
}

/** Encodes an engine request; the message buffers of `rtc.send` are handed over (may be transferred). */
export function encodePeerHostRequest(request: PeerHostRequest): ChannelMessage {
  if (request.type === 'rtc.send') {
    const { messages, ...head } = request
    return { head: { v: PEER_HOST_PROTOCOL_VERSION, ...head }, buffers: messages }
  }
  return { head: { v: PEER_HOST_PROTOCOL_VERSION, ...request }, buffers: [] }
}

/** Encodes a page event; the message buffers of `rtc.data` are handed over (may be transferred). */
export function encodePeerHostEvent(event: PeerHostEvent): ChannelMessage {
  if (event.type === 'rtc.data') {
    const { messages, ...head } = event
    return { head: { v: PEER_HOST_PROTOCOL_VERSION, ...head }, buffers: messages }
  }
  if (event.type === 'rtc.hello') {
    return { head: { v: PEER_HOST_PROTOCOL_VERSION, ...event, service: PEER_HOST_SERVICE }, buffers: [] }
  }
  return { head: { v: PEER_HOST_PROTOCOL_VERSION, ...event }, buffers: [] }
}
