/**
 * What every `PeerTransport` shares, whatever moves its bytes: chunking frames with the
 * protocol's `Chunker`, reassembling the peer's chunks, backpressure (`SendQueue`), counters,
 * the connect timeout, the periodic stats refresh, and the one teardown path.
 *
 * A subclass owns the channel. It calls `markConnected(sink)` once the channel is open,
 * `receiveChunk(data)` for every message from the peer, `notifyDrain()` whenever the channel's
 * `bufferedAmount` may have dropped, and `close()` when the channel closed or broke. It
 * implements `releaseChannel()` (idempotent, called once from `close`) and `readLink()`, and,
 * where the channel's drain event may be missing or missed, `drainPollPeriodMs()` and
 * `pollDrain()`: while a send waits, the transport calls `pollDrain` at that period.
 *
 * Drain watchdog: while a send waits for the channel to drain, the transport samples the channel's
 * `bufferedAmount`; when it has not dropped at all for `drainStallTimeoutMs`, the channel is
 * stuck (seen with Chromium's SCTP under a lossy relay path: every byte handed over, nothing sent
 * for good, while the other direction still worked) and the transport fails with ERR_TIMEOUT, so
 * its owner can open a fresh connection instead of waiting on one that will not move again.
 *
 * Ordering on close: the state flips at once (so every guard sees it), pending sends reject
 * with ERR_DESTROYED, the channel is released, then 'state', 'error' (if any) and 'close'
 * are emitted, once, and the listeners are dropped.
 */
import { CoreError, isCoreError } from '../errors.ts'
import { Chunker, DEFAULT_CHUNK_BYTES, Reassembler } from '../protocol/chunker.ts'
import type { ReassemblerOptions } from '../protocol/chunker.ts'
import { Emitter } from './emitter.ts'
import type { IceSummary } from './ice-stats.ts'
import {
  DEFAULT_HIGH_WATER_MARK_BYTES,
  DEFAULT_LOW_WATER_MARK_BYTES,
  DEFAULT_MAX_QUEUED_BYTES,
  systemClock,
} from './peer-transport.ts'
import type {
  PeerTransport,
  TransportClock,
  TransportEvents,
  TransportState,
  TransportStats,
} from './peer-transport.ts'
import { SendQueue, checkWaterMarks } from './send-queue.ts'
import type { ChunkSink } from './send-queue.ts'
import { TransportMeter } from './transport-meter.ts'

/** Default wait for a connection before the transport fails with ERR_TIMEOUT. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 20_000

/**
 * Default time a waiting send may see no drain at all before the transport fails: 10 s, the
 * swarm's default peer timeout for the receiving direction. A slow link drains a little at
 * every sample; only a channel that sends nothing for this long trips it.
 */
export const DEFAULT_DRAIN_STALL_TIMEOUT_MS = 10_000

/** Longest gap between two samples of the drain watchdog. */
const MAX_DRAIN_SAMPLE_MS = 1000

export interface ChunkedTransportOptions {
  /** The remote peer's id. */
  readonly peerId: string
  /** Largest data-channel message, chunk header included (default DEFAULT_CHUNK_BYTES, 16 KiB). */
  readonly maxChunkBytes?: number
  /** See DEFAULT_HIGH_WATER_MARK_BYTES. Must be at least lowWaterMarkBytes + maxChunkBytes. */
  readonly highWaterMarkBytes?: number
  /** See DEFAULT_LOW_WATER_MARK_BYTES. */
  readonly lowWaterMarkBytes?: number
  /** See DEFAULT_MAX_QUEUED_BYTES. */
  readonly maxQueuedBytes?: number
  /** Limits on the peer's frames (maxFrameBytes, maxInFlightFrames, incompleteTimeoutMs). */
  readonly reassembler?: Omit<ReassemblerOptions, 'clock'>
  /** Fails with ERR_TIMEOUT when not connected this long after construction (default 20 000). */
  readonly connectTimeoutMs?: number
  /** Period of the stats refresh that emits 'stats'; 0 turns it off. */
  readonly statsIntervalMs?: number
  /** Fails with ERR_TIMEOUT when a waiting send sees no drain this long (default 10 000; 0: never). */
  readonly drainStallTimeoutMs?: number
  readonly clock?: TransportClock
}

export abstract class ChunkedTransport implements PeerTransport {
  readonly peerId: string
  protected readonly clock: TransportClock
  private stateValue: TransportState = 'connecting'
  private readonly emitter: Emitter<TransportEvents>
  private readonly chunker: Chunker
  private readonly reassembler: Reassembler
  private readonly queue: SendQueue
  private readonly meter: TransportMeter
  protected readonly highWaterMarkBytes: number
  protected readonly lowWaterMarkBytes: number
  private readonly statsIntervalMs: number
  private readonly connectTimeoutMs: number
  private readonly drainStallTimeoutMs: number
  private readonly createdAtMs: number
  private sink: ChunkSink | undefined
  private link: IceSummary = {}
  private protocolErrorCount = 0
  private connectMs: number | undefined
  private closePromise: Promise<void> | undefined
  private cancelConnectTimer: (() => void) | undefined
  private cancelStatsTimer: (() => void) | undefined
  private cancelDrainWatch: (() => void) | undefined
  private cancelDrainPoll: (() => void) | undefined

  protected constructor(options: ChunkedTransportOptions, defaultStatsIntervalMs: number) {
    if (typeof options.peerId !== 'string' || options.peerId.length === 0) {
      throw new CoreError('ERR_INVALID_ARGUMENT', 'a transport needs the remote peer id')
    }
    const maxChunkBytes = options.maxChunkBytes ?? DEFAULT_CHUNK_BYTES
    const high = options.highWaterMarkBytes ?? DEFAULT_HIGH_WATER_MARK_BYTES
    const low = options.lowWaterMarkBytes ?? DEFAULT_LOW_WATER_MARK_BYTES
    checkWaterMarks(high, low)
    checkChunkFits(maxChunkBytes, high, low)
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    if (!(connectTimeoutMs > 0)) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `connectTimeoutMs must be positive, got ${connectTimeoutMs}`,
      )
    }
    const statsIntervalMs = options.statsIntervalMs ?? defaultStatsIntervalMs
    if (!(statsIntervalMs >= 0)) {
      throw new CoreError('ERR_INVALID_ARGUMENT', `statsIntervalMs must be >= 0, got ${statsIntervalMs}`)
    }
    const drainStallTimeoutMs = options.drainStallTimeoutMs ?? DEFAULT_DRAIN_STALL_TIMEOUT_MS
    if (!(drainStallTimeoutMs >= 0) || !Number.isFinite(drainStallTimeoutMs)) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `drainStallTimeoutMs must be a finite number >= 0, got ${drainStallTimeoutMs}`,
      )
    }
    this.drainStallTimeoutMs = drainStallTimeoutMs
    this.peerId = options.peerId
    this.clock = options.clock ?? systemClock
    this.highWaterMarkBytes = high
    this.lowWaterMarkBytes = low
    this.statsIntervalMs = statsIntervalMs
    this.createdAtMs = this.clock.now()
    this.emitter = new Emitter<TransportEvents>((event, error) => this.onListenerError(event, error))
    this.chunker = new Chunker({ maxChunkBytes })
    const clock = this.clock
    this.reassembler = new Reassembler({ ...options.reassembler, clock: () => clock.now() })
    this.meter = new TransportMeter(this.createdAtMs)
    this.queue = new SendQueue({
      highWaterMarkBytes: high,
      lowWaterMarkBytes: low,
      maxQueuedBytes: options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
      onChunkSent: (bytes) => {
        this.meter.bytesSent += bytes
      },
      onFrameSent: () => {
        this.meter.messagesSent++
      },
      onWaitingChange: (isWaiting) => {
        this.watchDrain(isWaiting)
        this.pollWhileWaiting(isWaiting)
      },
      onSinkError: (error) => {
        void this.close(
          new CoreError(
            'ERR_CONNECTION_FAILED',
            `data channel to ${this.peerId} failed: ${describeError(error)}`,
            {
              cause: error,
            },
          ),
        )
      },
    })
    this.connectTimeoutMs = connectTimeoutMs
  }

  get state(): TransportState {
    return this.stateValue
  }

  get bufferedAmount(): number {
    return this.sink?.bufferedAmount ?? 0
  }

  get maxChunkBytes(): number {
    return this.chunker.maxChunkBytes
  }

  /** True from the moment `close` is first called. */
  get isClosed(): boolean {
    return this.closePromise !== undefined
  }

  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    return this.emitter.on(event, listener)
  }

  send(frame: Uint8Array): Promise<void> {
    if (this.closePromise !== undefined) return Promise.reject(this.destroyedError())
    let chunks: Uint8Array[]
    try {
      chunks = this.chunker.split(frame)
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)))
    }
    return this.queue.enqueue(chunks)
  }

  trySend(frame: Uint8Array): boolean {
    if (this.closePromise !== undefined) throw this.destroyedError()
    if (this.sink === undefined || this.queue.queuedFrames > 0 || this.queue.isWaiting) return false
    // Cheap pre-check so a refused heartbeat costs no copy.
    if (this.sink.bufferedAmount + frame.length > this.highWaterMarkBytes) return false
    return this.queue.trySend(this.chunker.split(frame))
  }

  setMaxChunkBytes(maxChunkBytes: number): void {
    if (this.closePromise !== undefined) throw this.destroyedError()
    checkChunkFits(maxChunkBytes, this.highWaterMarkBytes, this.lowWaterMarkBytes)
    this.chunker.setMaxChunkBytes(maxChunkBytes)
  }

  getStats(): TransportStats {
    const link = this.link
    return {
      state: this.stateValue,
      ...(link.rttMs !== undefined && { rttMs: link.rttMs }),
      bytesSent: this.meter.bytesSent,
      bytesReceived: this.meter.bytesReceived,
      messagesSent: this.meter.messagesSent,
      messagesReceived: this.meter.messagesReceived,
      sendRateBytesPerSec: this.meter.sendRateBytesPerSec,
      receiveRateBytesPerSec: this.meter.receiveRateBytesPerSec,
      ...(link.connectionType !== undefined && { connectionType: link.connectionType }),
      ...(link.localCandidate !== undefined && { localCandidate: link.localCandidate }),
      ...(link.remoteCandidate !== undefined && { remoteCandidate: link.remoteCandidate }),
      bufferedAmountBytes: this.bufferedAmount,
      queuedBytes: this.queue.queuedBytes,
      protocolErrors: this.protocolErrorCount,
      ...(this.connectMs !== undefined && { connectMs: this.connectMs }),
    }
  }

  async refreshStats(): Promise<TransportStats> {
    if (this.closePromise === undefined && this.stateValue === 'connected') {
      try {
        const link = await this.readLink()
        // The transport may have closed while the stats were read.
        if (this.closePromise === undefined) this.link = { ...this.link, ...link }
      } catch {
        // Link data is optional: a failed getStats() leaves the last known values.
      }
    }
    this.meter.sample(this.clock.now())
    this.reassembler.sweep()
    return this.getStats()
  }

  close(error?: CoreError): Promise<void> {
    if (this.closePromise === undefined) this.closePromise = this.finish(error)
    return this.closePromise
  }

  /** Tears down the underlying connection; called once, from `close`. Must not throw. */
  protected abstract releaseChannel(): Promise<void>

  /** Reads the path in use (ICE pair, RTT); called by `refreshStats` while connected. */
  protected abstract readLink(): Promise<IceSummary>

  /** Period of `pollDrain` while a send waits for the channel to drain; undefined: no polling. */
  protected drainPollPeriodMs(): number | undefined {
    return undefined
  }

  /** Asks the channel for its level while a send waits; the answer comes back as `notifyDrain`. */
  protected pollDrain(): void {}

  /**
   * Starts the connect timeout; subclasses call it last in their constructor, so a
   * constructor that throws leaves no timer behind.
   */
  protected startConnectTimer(): void {
    if (this.closePromise !== undefined || this.cancelConnectTimer !== undefined) return
    if (this.stateValue !== 'connecting') return
    const timeoutMs = this.connectTimeoutMs
    this.cancelConnectTimer = this.clock.setTimeout(() => {
      this.cancelConnectTimer = undefined
      if (this.stateValue !== 'connecting') return
      void this.close(new CoreError('ERR_TIMEOUT', `no connection to ${this.peerId} within ${timeoutMs} ms`))
    }, timeoutMs)
  }

  /** The channel is open: start sending into `sink`. Ignored unless still connecting. */
  protected markConnected(sink: ChunkSink): void {
    if (this.closePromise !== undefined || this.stateValue !== 'connecting') return
    this.cancelConnectTimer?.()
    this.cancelConnectTimer = undefined
    this.sink = sink
    this.connectMs = this.clock.now() - this.createdAtMs
    this.setState('connected')
    this.emitter.emit('connect')
    if (this.closePromise !== undefined) return
    this.queue.attach(sink)
    // One refresh at once, so the connection type is known right after connecting.
    this.runStatsRefresh()
  }

  /** Feeds one message from the peer. Never throws. */
  protected receiveChunk(data: unknown): void {
    if (this.closePromise !== undefined) return
    const chunk = toBytes(data)
    if (chunk === undefined) {
      this.reportProtocolError(
        new CoreError('ERR_BAD_MESSAGE', `peer ${this.peerId} sent a text message; chunks travel as binary`),
      )
      return
    }
    this.meter.bytesReceived += chunk.length
    let frame: Uint8Array | null
    try {
      frame = this.reassembler.push(chunk)
    } catch (error) {
      if (isCoreError(error)) this.reportProtocolError(error)
      else {
        void this.close(
          new CoreError('ERR_BAD_MESSAGE', `reassembly failed unexpectedly: ${describeError(error)}`, {
            cause: error,
          }),
        )
      }
      return
    }
    if (frame === null) return
    this.meter.messagesReceived++
    this.emitter.emit('frame', frame)
  }

  /** The channel's `bufferedAmount` may have dropped. */
  protected notifyDrain(): void {
    this.queue.notifyDrain()
  }

  protected emitSignal(...args: Parameters<TransportEvents['signal']>): void {
    if (this.closePromise === undefined) this.emitter.emit('signal', ...args)
  }

  protected destroyedError(): CoreError {
    return new CoreError('ERR_DESTROYED', `the transport to ${this.peerId} is closed`)
  }

  private reportProtocolError(error: CoreError): void {
    this.protocolErrorCount++
    this.emitter.emit('protocol-error', error)
  }

  private setState(next: TransportState): void {
    const previous = this.stateValue
    if (previous === next) return
    this.stateValue = next
    this.emitter.emit('state', next, previous)
  }

  /**
   * Starts (isWaiting) or stops the drain watchdog. Progress is any drop of `bufferedAmount`
   * between two samples; the transport fails after drainStallTimeoutMs without one.
   */
  private watchDrain(isWaiting: boolean): void {
    this.cancelDrainWatch?.()
    this.cancelDrainWatch = undefined
    const timeoutMs = this.drainStallTimeoutMs
    if (!isWaiting || timeoutMs === 0 || this.closePromise !== undefined) return
    const sampleMs = Math.min(MAX_DRAIN_SAMPLE_MS, Math.max(1, timeoutMs / 4))
    let lastBuffered = this.bufferedAmount
    let progressAtMs = this.clock.now()
    const sample = (): void => {
      this.cancelDrainWatch = undefined
      if (this.closePromise !== undefined) return
      const buffered = this.bufferedAmount
      const now = this.clock.now()
      if (buffered < lastBuffered) progressAtMs = now
      lastBuffered = buffered
      const stalledMs = now - progressAtMs
      if (stalledMs >= timeoutMs) {
        void this.close(
          new CoreError(
            'ERR_TIMEOUT',
            `the data channel to ${this.peerId} stopped sending: ${buffered} bytes buffered, none sent for ${Math.round(stalledMs / 1000)} s`,
          ),
        )
        return
      }
      this.cancelDrainWatch = this.clock.setTimeout(sample, Math.min(sampleMs, timeoutMs - stalledMs))
    }
    this.cancelDrainWatch = this.clock.setTimeout(sample, sampleMs)
  }

  /** Runs `pollDrain` every `drainPollPeriodMs()` while the queue waits (isWaiting), else stops. */
  private pollWhileWaiting(isWaiting: boolean): void {
    this.cancelDrainPoll?.()
    this.cancelDrainPoll = undefined
    if (!isWaiting || this.closePromise !== undefined) return
    const schedule = (): void => {
      const periodMs = this.drainPollPeriodMs()
      if (periodMs === undefined) return
      this.cancelDrainPoll = this.clock.setTimeout(() => {
        this.cancelDrainPoll = undefined
        if (this.closePromise !== undefined || !this.queue.isWaiting) return
        this.pollDrain()
        // The poll may have ended the wait, or ended it and started a new one (with its own timer).
        if (this.queue.isWaiting && this.cancelDrainPoll === undefined) schedule()
      }, periodMs)
    }
    schedule()
  }

  private runStatsRefresh(): void {
    void this.refreshStats().then((stats) => {
      if (this.closePromise !== undefined) return
      this.emitter.emit('stats', stats)
      if (this.closePromise !== undefined || this.statsIntervalMs === 0) return
      this.cancelStatsTimer = this.clock.setTimeout(() => {
        this.cancelStatsTimer = undefined
        this.runStatsRefresh()
      }, this.statsIntervalMs)
    })
  }

  private async finish(error: CoreError | undefined): Promise<void> {
    const previous = this.stateValue
    // Flip first, without an event: guards must see the transport closed from this call on.
    this.stateValue = error === undefined ? 'closed' : 'failed'
    this.cancelConnectTimer?.()
    this.cancelConnectTimer = undefined
    this.cancelStatsTimer?.()
    this.cancelStatsTimer = undefined
    this.cancelDrainWatch?.()
    this.cancelDrainWatch = undefined
    this.cancelDrainPoll?.()
    this.cancelDrainPoll = undefined
    this.queue.close(this.destroyedError())
    this.reassembler.clear()
    try {
      await this.releaseChannel()
    } catch {
      // Teardown is best effort; the transport is closed either way.
    }
    this.sink = undefined
    this.meter.sample(this.clock.now())
    this.emitter.emit('state', this.stateValue, previous)
    if (error !== undefined) this.emitter.emit('error', error)
    this.emitter.emit('close')
    this.emitter.clear()
  }

  private onListenerError(event: keyof TransportEvents, error: unknown): void {
    if (this.closePromise === undefined) {
      void this.close(
        new CoreError(
          'ERR_LISTENER_FAILED',
          `a '${event}' listener of the transport to ${this.peerId} threw: ${describeError(error)}`,
          {
            cause: error,
          },
        ),
      )
      return
    }
    // Nothing is left to close: surface the bug like an EventEmitter would.
    queueMicrotask(() => {
      throw error
    })
  }
}

function checkChunkFits(maxChunkBytes: number, high: number, low: number): void {
  if (!Number.isSafeInteger(maxChunkBytes) || low + maxChunkBytes > high) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `maxChunkBytes (${maxChunkBytes}) must fit between the low- and high-water marks (${low}, ${high})`,
    )
  }
}

function toBytes(data: unknown): Uint8Array | undefined {
  // Buffers (simple-peer in Node) are Uint8Arrays; take a plain view so listeners see one type.
  if (data instanceof Uint8Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return undefined
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = 'code' in error && typeof error.code === 'string' ? `${error.code}: ` : ''
    return `${code}${error.message}`
  }
  return String(error)
}
