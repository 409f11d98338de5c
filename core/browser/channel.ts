/**
 * The channel between the engine and a browser context that hosts a trainer (a Chromium page, an
 * Electron hidden renderer, a worker). A message is a small JSON-able `head` plus raw `buffers`:
 * weights, gradients and batches always travel as ArrayBuffers, never as JSON numbers.
 *
 * Two carriers:
 * - a MessagePort-like endpoint (window/worker `postMessage`, an Electron MessagePort): the buffers
 *   go in the transfer list, so they move without a copy and are detached on the sending side;
 * - a WebSocket (the engine in Node driving a Chromium page): each message is one binary frame.
 *
 * Frame layout (little-endian), validated before anything is allocated:
 *   0  u32 magic 0x4c485443 ("LHTC")   4  u8 version (1)   5..7 zero
 *   8  u32 head bytes (UTF-8 JSON)     12 u32 buffer count (<= MAX_CHANNEL_BUFFERS)
 *   16 u32 byte length of each buffer, then the head, then each buffer; the head and every buffer
 *      start on an 8-byte boundary (zero padding), so a receiver could view them in place.
 */
import { CoreError } from '../errors.ts'
import { isRecord } from '../guards.ts'

/** One message: a JSON-able head and the binary payloads it refers to by index. */
export interface ChannelMessage {
  readonly head: unknown
  readonly buffers: readonly ArrayBuffer[]
}

/**
 * A bidirectional message channel. `send` may transfer (detach) the message's buffers: callers hand
 * them over and must not reuse them.
 */
export interface TrainerChannel {
  /** @throws CoreError ERR_DESTROYED after close. */
  send(message: ChannelMessage): void
  /** Returns an unsubscribe function. A listener that throws closes the channel (ERR_LISTENER_FAILED). */
  onMessage(listener: (message: ChannelMessage) => void): () => void
  /** Called once, after close; `error` is set when the channel failed rather than being closed. */
  onClose(listener: (error?: CoreError) => void): () => void
  /** Idempotent. */
  close(error?: CoreError): void
  readonly isClosed: boolean
}

export const CHANNEL_FRAME_MAGIC = 0x4c485443
export const CHANNEL_FRAME_VERSION = 1
/** Most buffers one message carries (a request needs at most two: inputs and labels). */
export const MAX_CHANNEL_BUFFERS = 16
/** Largest head accepted: a probe's kernel lists are a few KiB; increase if heads grow. */
export const MAX_CHANNEL_HEAD_BYTES = 1 << 20
/** Largest frame accepted (inputs of a big batch group); increase for bigger models or batches. */
export const MAX_CHANNEL_FRAME_BYTES = 1 << 30

const FIXED_HEADER_BYTES = 16
const ALIGN = 8

function align(offset: number): number {
  return Math.ceil(offset / ALIGN) * ALIGN
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Encodes one message as a single binary frame (copies the buffers once). */
export function encodeChannelFrame(message: ChannelMessage): ArrayBuffer {
  const head = encoder.encode(JSON.stringify(message.head))
  const { buffers } = message
  if (buffers.length > MAX_CHANNEL_BUFFERS) {
    throw new CoreError(
      'ERR_FRAME_TOO_LARGE',
      `a channel message carries at most ${MAX_CHANNEL_BUFFERS} buffers, got ${buffers.length}`,
    )
  }
  if (head.byteLength > MAX_CHANNEL_HEAD_BYTES) {
    throw new CoreError(
      'ERR_FRAME_TOO_LARGE',
      `a channel message head is at most ${MAX_CHANNEL_HEAD_BYTES} bytes, got ${head.byteLength}`,
    )
  }
  const tableEnd = FIXED_HEADER_BYTES + 4 * buffers.length
  const headStart = align(tableEnd)
  let end = align(headStart + head.byteLength)
  const starts = buffers.map((b) => {
    const start = end
    end = align(start + b.byteLength)
    return start
  })
  if (end > MAX_CHANNEL_FRAME_BYTES) {
    throw new CoreError(
      'ERR_FRAME_TOO_LARGE',
      `a channel frame is at most ${MAX_CHANNEL_FRAME_BYTES} bytes, this one would be ${end}`,
    )
  }
  const frame = new ArrayBuffer(end)
  const view = new DataView(frame)
  const bytes = new Uint8Array(frame)
  view.setUint32(0, CHANNEL_FRAME_MAGIC, true)
  view.setUint8(4, CHANNEL_FRAME_VERSION)
  view.setUint32(8, head.byteLength, true)
  view.setUint32(12, buffers.length, true)
  buffers.forEach((b, i) => view.setUint32(FIXED_HEADER_BYTES + 4 * i, b.byteLength, true))
  bytes.set(head, headStart)
  buffers.forEach((b, i) => bytes.set(new Uint8Array(b), starts[i] ?? 0))
  return frame
}

function bad(message: string): CoreError {
  return new CoreError('ERR_BAD_MESSAGE', `bad channel frame: ${message}`)
}

/**
 * Decodes one frame. Every length is checked against the frame before any copy; the buffers
 * returned are fresh ArrayBuffers (so they can be transferred on).
 *
 * @throws CoreError ERR_BAD_MESSAGE for a frame that is not exactly one valid message.
 */
export function decodeChannelFrame(frame: ArrayBuffer): ChannelMessage {
  if (frame.byteLength < FIXED_HEADER_BYTES) throw bad(`${frame.byteLength} bytes is shorter than a header`)
  if (frame.byteLength > MAX_CHANNEL_FRAME_BYTES) throw bad(`${frame.byteLength} bytes is over the limit`)
  const view = new DataView(frame)
  if (view.getUint32(0, true) !== CHANNEL_FRAME_MAGIC) throw bad('wrong magic')
  const version = view.getUint8(4)
  if (version !== CHANNEL_FRAME_VERSION) throw bad(`version ${version}, expected ${CHANNEL_FRAME_VERSION}`)
  const headBytes = view.getUint32(8, true)
  const count = view.getUint32(12, true)
  if (headBytes > MAX_CHANNEL_HEAD_BYTES) throw bad(`head of ${headBytes} bytes is over the limit`)
  if (count > MAX_CHANNEL_BUFFERS) throw bad(`${count} buffers is over the limit of ${MAX_CHANNEL_BUFFERS}`)
  const tableEnd = FIXED_HEADER_BYTES + 4 * count
  if (tableEnd > frame.byteLength) throw bad('buffer table runs past the end')
  const headStart = align(tableEnd)
  let end = align(headStart + headBytes)
  const spans: Array<[number, number]> = []
  for (let i = 0; i < count; i += 1) {
    const length = view.getUint32(FIXED_HEADER_BYTES + 4 * i, true)
    spans.push([end, length])
    end = align(end + length)
    if (end > frame.byteLength) throw bad(`buffer ${i} runs past the end`)
  }
  if (end !== frame.byteLength) throw bad(`${frame.byteLength - end} trailing bytes`)
  let head: unknown
  try {
    head = JSON.parse(decoder.decode(new Uint8Array(frame, headStart, headBytes)))
  } catch {
    throw bad('the head is not UTF-8 JSON')
  }
  return { head, buffers: spans.map(([start, length]) => frame.slice(start, start + length)) }
}

/** Shared listener bookkeeping and the close-once rule for both carriers. */
abstract class BaseChannel implements TrainerChannel {
  private readonly messageListeners = new Set<(message: ChannelMessage) => void>()
  private readonly closeListeners = new Set<(error?: CoreError) => void>()
  private closed = false

  get isClosed(): boolean {
    return this.closed
  }

  abstract send(message: ChannelMessage): void

  onMessage(listener: (message: ChannelMessage) => void): () => void {
    this.messageListeners.add(listener)
    return () => this.messageListeners.delete(listener)
  }

  onClose(listener: (error?: CoreError) => void): () => void {
    this.closeListeners.add(listener)
    return () => this.closeListeners.delete(listener)
  }

  close(error?: CoreError): void {
    if (this.closed) return
    this.closed = true
    this.release()
    for (const listener of [...this.closeListeners]) {
      try {
        listener(error)
      } catch {
        // A close listener has nowhere to report to; the channel is closed either way.
      }
    }
    this.messageListeners.clear()
    this.closeListeners.clear()
  }

  protected guard(): void {
    if (this.closed) throw new CoreError('ERR_DESTROYED', 'the trainer channel is closed')
  }

  protected deliver(message: ChannelMessage): void {
    if (this.closed) return
    for (const listener of [...this.messageListeners]) {
      try {
        listener(message)
      } catch (error) {
        const text = error instanceof Error ? error.message : String(error)
        this.close(
          new CoreError('ERR_LISTENER_FAILED', `a channel listener threw: ${text}`, { cause: error }),
        )
        return
      }
    }
  }

  /** Detaches from the carrier (remove listeners, close the socket or port). */
  protected abstract release(): void
}

/** The part of MessagePort / Worker / window that a port channel uses. */
export interface MessagePortLike {
  postMessage(message: unknown, transfer: Transferable[]): void
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void
  /** MessagePort needs start() when listeners are added with addEventListener. */
  start?(): void
  close?(): void
}

function isChannelMessage(value: unknown): value is ChannelMessage {
  return (
    isRecord(value) &&
    'head' in value &&
    Array.isArray(value.buffers) &&
    value.buffers.every((b) => b instanceof ArrayBuffer)
  )
}

class PortChannel extends BaseChannel {
  private readonly onPortMessage = (event: MessageEvent): void => {
    const data: unknown = event.data
    if (!isChannelMessage(data)) {
      this.close(new CoreError('ERR_BAD_MESSAGE', 'a port message is not a {head, buffers} channel message'))
      return
    }
    this.deliver({ head: data.head, buffers: data.buffers })
  }

  constructor(
    private readonly port: MessagePortLike,
    private readonly shouldClosePort: boolean,
  ) {
    super()
    port.addEventListener('message', this.onPortMessage)
    port.start?.()
  }

  send(message: ChannelMessage): void {
    this.guard()
    const buffers = [...message.buffers]
    // Transfer, not copy: the buffers move to the other context and are detached here.
    this.port.postMessage({ head: message.head, buffers }, buffers)
  }

  protected release(): void {
    this.port.removeEventListener('message', this.onPortMessage)
    if (this.shouldClosePort) this.port.close?.()
  }
}

/**
 * A channel over a MessagePort-like endpoint; buffers are transferred. `closePort` (default true)
 * closes the port when the channel closes.
 */
export function createPortChannel(
  port: MessagePortLike,
  options: { closePort?: boolean } = {},
): TrainerChannel {
  return new PortChannel(port, options.closePort ?? true)
}

/** The part of a WebSocket (the browser's, or the `ws` package's) that a socket channel uses. */
export interface WebSocketLike {
  binaryType: string
  send(data: ArrayBuffer): void
  addEventListener(type: 'message' | 'close' | 'error', listener: (event: { data?: unknown }) => void): void
  removeEventListener(
    type: 'message' | 'close' | 'error',
    listener: (event: { data?: unknown }) => void,
  ): void
  close(): void
}

class SocketChannel extends BaseChannel {
  private readonly onSocketMessage = (event: { data?: unknown }): void => {
    const { data } = event
    if (!(data instanceof ArrayBuffer)) {
      this.close(new CoreError('ERR_BAD_MESSAGE', 'the trainer socket sent a text frame'))
      return
    }
    let message: ChannelMessage
    try {
      message = decodeChannelFrame(data)
    } catch (error) {
      this.close(error instanceof CoreError ? error : new CoreError('ERR_BAD_MESSAGE', String(error)))
      return
    }
    this.deliver(message)
  }

  private readonly onSocketClose = (): void => {
    this.close(new CoreError('ERR_CONNECTION_FAILED', 'the trainer socket closed'))
  }

  private readonly onSocketError = (): void => {
    this.close(new CoreError('ERR_CONNECTION_FAILED', 'the trainer socket failed'))
  }

  constructor(private readonly socket: WebSocketLike) {
    super()
    socket.binaryType = 'arraybuffer'
    socket.addEventListener('message', this.onSocketMessage)
    socket.addEventListener('close', this.onSocketClose)
    socket.addEventListener('error', this.onSocketError)
  }

  send(message: ChannelMessage): void {
    this.guard()
    this.socket.send(encodeChannelFrame(message))
  }

  protected release(): void {
    this.socket.removeEventListener('message', this.onSocketMessage)
    this.socket.removeEventListener('close', this.onSocketClose)
    this.socket.removeEventListener('error', this.onSocketError)
    this.socket.close()
  }
}

/** A channel over an open WebSocket; each message is one binary frame. Closing it closes the socket. */
export function createSocketChannel(socket: WebSocketLike): TrainerChannel {
  return new SocketChannel(socket)
}

/**
 * The channel address a trainer page finds in its URL fragment (`#channel=ws://...`), or undefined
 * when there is none or it is not a ws:/wss: URL.
 */
export function channelAddress(fragment: string): string | undefined {
  const params = new URLSearchParams(fragment.startsWith('#') ? fragment.slice(1) : fragment)
  const address = params.get('channel')
  return address !== null && /^wss?:\/\//.test(address) ? address : undefined
}

/** The services a Longhaul page can serve to the engine. */
export const PAGE_SERVICES = ['trainer', 'webrtc'] as const
export type PageService = (typeof PAGE_SERVICES)[number]

/**
 * What a page serves, from its URL fragment (`#service=webrtc`): 'trainer' when the fragment names
 * none, undefined for a name it does not know.
 */
export function pageService(fragment: string): PageService | undefined {
  const params = new URLSearchParams(fragment.startsWith('#') ? fragment.slice(1) : fragment)
  const name = params.get('service') ?? 'trainer'
  return PAGE_SERVICES.find((service) => service === name)
}
