/**
 * Backpressure between `send(frame)` and a data channel, independent of which channel.
 *
 * Invariant: a chunk goes to the sink only if the sink's `bufferedAmount` plus the chunk stays
 * at or below `highWaterMarkBytes` (or the sink is at the low-water mark, which keeps a chunk
 * wider than the gap between the marks from stalling; transports forbid that case). When the next chunk does not fit, the queue stops and waits
 * until the owner reports (`notifyDrain`) that `bufferedAmount` fell to `lowWaterMarkBytes`;
 * the gap between the two marks keeps it from waking up for every chunk. Frames leave whole
 * and in FIFO order: chunks of two frames never interleave.
 *
 * Memory bound: besides what the sink buffers (<= high-water mark), the queue holds frames
 * whose sends are pending, at most `maxQueuedBytes` of them (a single frame is always
 * accepted into an empty queue, whatever its size).
 *
 * The owner: attaches the sink once the channel is open, calls `notifyDrain` whenever
 * `bufferedAmount` may have dropped (a 'bufferedamountlow' event, a poll tick, a simulated
 * transmission), and watches `onWaitingChange` to know when such notifications are needed.
 */
import { CoreError } from '../errors.ts'

/** The part of a data channel the queue needs. */
export interface ChunkSink {
  /** Bytes accepted by `send` and not yet transmitted. */
  readonly bufferedAmount: number
  /** Hands over one message; may throw when the channel broke. */
  send(chunk: Uint8Array): void
}

export interface SendQueueOptions {
  readonly highWaterMarkBytes: number
  readonly lowWaterMarkBytes: number
  readonly maxQueuedBytes: number
  /** Called after each chunk reaches the sink. */
  readonly onChunkSent?: (bytes: number) => void
  /** Called after the last chunk of a frame reaches the sink. */
  readonly onFrameSent?: () => void
  /** True while the queue waits for `bufferedAmount` to fall to the low-water mark. */
  readonly onWaitingChange?: (isWaiting: boolean) => void
  /** The sink threw; the queue is closed with ERR_DESTROYED and the owner should close too. */
  readonly onSinkError: (error: unknown) => void
}

interface PendingFrame {
  readonly chunks: readonly Uint8Array[]
  next: number
  readonly resolve: () => void
  readonly reject: (error: CoreError) => void
}

export class SendQueue {
  private readonly options: SendQueueOptions
  private readonly pending: PendingFrame[] = []
  private sink: ChunkSink | undefined
  private queuedBytesValue = 0
  private isWaitingValue = false
  private isPumping = false
  private closedWith: CoreError | undefined

  constructor(options: SendQueueOptions) {
    checkWaterMarks(options.highWaterMarkBytes, options.lowWaterMarkBytes)
    if (!Number.isSafeInteger(options.maxQueuedBytes) || options.maxQueuedBytes < 1) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `maxQueuedBytes must be a positive integer, got ${options.maxQueuedBytes}`,
      )
    }
    this.options = options
  }

  /** Bytes of chunks not yet handed to the sink. */
  get queuedBytes(): number {
    return this.queuedBytesValue
  }

  /** Frames whose sends have not resolved yet. */
  get queuedFrames(): number {
    return this.pending.length
  }

  /** True while the queue waits for the sink to drain to the low-water mark. */
  get isWaiting(): boolean {
    return this.isWaitingValue
  }

  get isClosed(): boolean {
    return this.closedWith !== undefined
  }

  /** Starts sending into `sink` (the channel opened). */
  attach(sink: ChunkSink): void {
    if (this.closedWith !== undefined) return
    this.sink = sink
    this.pump()
  }

  /**
   * Queues one frame's chunks; resolves when the last one is in the sink. Rejects with the
   * close error once closed, ERR_SLOW_CONSUMER when it would exceed `maxQueuedBytes`.
   */
  enqueue(chunks: readonly Uint8Array[]): Promise<void> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith)
    const bytes = totalBytes(chunks)
    if (this.pending.length > 0 && this.queuedBytesValue + bytes > this.options.maxQueuedBytes) {
      return Promise.reject(
        new CoreError(
          'ERR_SLOW_CONSUMER',
          `${this.queuedBytesValue} bytes already wait for the channel; a ${bytes}-byte frame would pass the ${this.options.maxQueuedBytes}-byte limit`,
        ),
      )
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ chunks, next: 0, resolve, reject })
      this.queuedBytesValue += bytes
      this.pump()
    })
  }

  /**
   * Sends all `chunks` now if nothing is queued and they fit under the high-water mark;
   * otherwise sends nothing and returns false. Throws the close error once closed.
   */
  trySend(chunks: readonly Uint8Array[]): boolean {
    if (this.closedWith !== undefined) throw this.closedWith
    const sink = this.sink
    if (sink === undefined || this.pending.length > 0 || this.isWaitingValue) return false
    if (sink.bufferedAmount + totalBytes(chunks) > this.options.highWaterMarkBytes) return false
    for (const chunk of chunks) {
      if (!this.sendChunk(sink, chunk)) return false
    }
    this.options.onFrameSent?.()
    return true
  }

  /** The sink's `bufferedAmount` may have dropped: resume if it is at the low-water mark. */
  notifyDrain(): void {
    if (this.closedWith !== undefined || this.sink === undefined || !this.isWaitingValue) return
    if (this.sink.bufferedAmount > this.options.lowWaterMarkBytes) return
    this.setWaiting(false)
    this.pump()
  }

  /** Rejects every pending send with `error` and refuses new ones. Idempotent. */
  close(error: CoreError): void {
    if (this.closedWith !== undefined) return
    this.closedWith = error
    this.sink = undefined
    const pending = this.pending.splice(0)
    this.queuedBytesValue = 0
    this.setWaiting(false)
    for (const frame of pending) frame.reject(error)
  }

  private pump(): void {
    // sink.send may synchronously lead back here (an event fired inside send); the outer
    // loop picks up whatever changed.
    if (this.isPumping) return
    this.isPumping = true
    try {
      while (this.sink !== undefined && !this.isWaitingValue) {
        const frame = this.pending[0]
        if (frame === undefined) break
        const chunk = frame.chunks[frame.next]
        if (chunk === undefined) break
        const buffered = this.sink.bufferedAmount
        // At or below the low-water mark a chunk always goes, so a chunk wider than the gap
        // between the marks cannot stall the queue (transports refuse such sizes up front).
        if (
          buffered + chunk.length > this.options.highWaterMarkBytes &&
          buffered > this.options.lowWaterMarkBytes
        ) {
          this.setWaiting(true)
          break
        }
        if (!this.sendChunk(this.sink, chunk)) return
        frame.next++
        this.queuedBytesValue -= chunk.length
        if (frame.next === frame.chunks.length) {
          this.pending.shift()
          this.options.onFrameSent?.()
          frame.resolve()
        }
      }
    } finally {
      this.isPumping = false
    }
  }

  private sendChunk(sink: ChunkSink, chunk: Uint8Array): boolean {
    try {
      sink.send(chunk)
    } catch (error) {
      this.close(
        new CoreError('ERR_DESTROYED', 'the data channel refused a message and closed', { cause: error }),
      )
      this.options.onSinkError(error)
      return false
    }
    this.options.onChunkSent?.(chunk.length)
    return true
  }

  private setWaiting(isWaiting: boolean): void {
    if (this.isWaitingValue === isWaiting) return
    this.isWaitingValue = isWaiting
    this.options.onWaitingChange?.(isWaiting)
  }
}

/** Checks a pair of water marks; ERR_INVALID_ARGUMENT unless 0 <= low < high. */
export function checkWaterMarks(highWaterMarkBytes: number, lowWaterMarkBytes: number): void {
  if (!Number.isSafeInteger(highWaterMarkBytes) || highWaterMarkBytes < 1) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `highWaterMarkBytes must be a positive integer, got ${highWaterMarkBytes}`,
    )
  }
  if (
    !Number.isSafeInteger(lowWaterMarkBytes) ||
    lowWaterMarkBytes < 0 ||
    lowWaterMarkBytes >= highWaterMarkBytes
  ) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `lowWaterMarkBytes must be an integer in [0, ${highWaterMarkBytes}), got ${lowWaterMarkBytes}`,
    )
  }
}

function totalBytes(chunks: readonly Uint8Array[]): number {
  let sum = 0
  for (const chunk of chunks) sum += chunk.length
  return sum
}
