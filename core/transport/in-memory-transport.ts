/**
 * Two connected `PeerTransport`s in one process, for unit tests and the simulator.
 *
 * They share everything with the WebRTC transport above the channel (chunking, reassembly,
 * backpressure, stats, close semantics); only the channel is simulated. Each direction is a
 * link with this model, on the injected clock:
 *
 *   - serialization: a chunk occupies the link for `bytes / bandwidthBytesPerSec`; chunks
 *     queue behind each other. The sender's `bufferedAmount` is the bytes not yet serialized,
 *     exactly what a data channel reports, so backpressure behaves as over WebRTC.
 *   - propagation: a serialized chunk arrives `latencyMs` later.
 *   - loss on a reliable, ordered channel: each transmission is lost with probability
 *     `lossRate` and retransmitted after `retransmitDelayMs`; later chunks wait behind it
 *     (head-of-line blocking), so loss shows up as delay and jitter, never as missing data.
 *
 * Closing one side drops its chunks not yet serialized (as closing an RTCPeerConnection
 * does); the other side receives what was already on the wire and then closes without error.
 * `sever()` breaks the link: both sides fail at once with ERR_CONNECTION_FAILED.
 */
import { CoreError } from '../errors.ts'
import { createPrng } from '../data/prng.ts'
import type { Prng } from '../data/prng.ts'
import { ChunkedTransport } from './chunked-transport.ts'
import type { ChunkedTransportOptions } from './chunked-transport.ts'
import type { IceSummary } from './ice-stats.ts'
import { systemClock } from './peer-transport.ts'
import type { TransportClock } from './peer-transport.ts'

/** One direction of a simulated link. */
export interface LinkModel {
  /** One-way propagation delay in milliseconds (default 0). */
  readonly latencyMs?: number
  /** Serialization rate in bytes per second (default Infinity: no serialization delay). */
  readonly bandwidthBytesPerSec?: number
  /** Probability in [0, 1) that one transmission of a chunk is lost (default 0). */
  readonly lossRate?: number
  /**
   * Delay each loss adds, in milliseconds (default one round trip, 2 × latencyMs, at least
   * 1: a fast retransmit). Set it to 1000 to model SCTP's minimum retransmission timeout.
   */
  readonly retransmitDelayMs?: number
  /** Seed for the loss draws (default 1); the same seed gives the same delays. */
  readonly seed?: number
}

export interface InMemoryPairOptions extends Omit<ChunkedTransportOptions, 'peerId'> {
  /**
   * The two peers' ids (default ['a', 'b']). `pair.a` is held by the first and talks to the
   * second, so `pair.a.peerId` is the second id.
   */
  readonly peerIds?: readonly [string, string]
  /** The a → b link (default: instant and lossless). */
  readonly link?: LinkModel
  /** The b → a link (default: the same model as `link`, with its own loss draws). */
  readonly reverseLink?: LinkModel
  /** Time until both sides are connected (default one round trip of the two latencies). */
  readonly connectDelayMs?: number
}

export interface InMemoryPair {
  readonly a: InMemoryTransport
  readonly b: InMemoryTransport
  /** Breaks the link now: both sides fail with ERR_CONNECTION_FAILED. Resolves once both closed. */
  sever(reason?: string): Promise<void>
}

interface ResolvedLink {
  readonly latencyMs: number
  readonly bandwidthBytesPerSec: number
  readonly lossRate: number
  readonly retransmitDelayMs: number
}

interface InFlightChunk {
  readonly chunk: Uint8Array
  readonly deliverAtMs: number
  isTransmitted: boolean
  cancelTransmit: () => void
  cancelDeliver: () => void
}

function resolveLink(model: LinkModel = {}): ResolvedLink {
  const latencyMs = model.latencyMs ?? 0
  const bandwidthBytesPerSec = model.bandwidthBytesPerSec ?? Number.POSITIVE_INFINITY
  const lossRate = model.lossRate ?? 0
  const retransmitDelayMs = model.retransmitDelayMs ?? Math.max(1, 2 * latencyMs)
  if (!(latencyMs >= 0) || !Number.isFinite(latencyMs)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `latencyMs must be a finite number >= 0, got ${latencyMs}`)
  }
  if (!(bandwidthBytesPerSec > 0)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `bandwidthBytesPerSec must be positive, got ${bandwidthBytesPerSec}`,
    )
  }
  if (!(lossRate >= 0 && lossRate < 1)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `lossRate must be in [0, 1), got ${lossRate}`)
  }
  if (!(retransmitDelayMs >= 0) || !Number.isFinite(retransmitDelayMs)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `retransmitDelayMs must be a finite number >= 0, got ${retransmitDelayMs}`,
    )
  }
  return { latencyMs, bandwidthBytesPerSec, lossRate, retransmitDelayMs }
}

/**
 * One direction: FIFO serialization, then propagation. Timers may fire late or in any order
 * among equal times, so each handler processes every entry up to its own, in order.
 */
class SimulatedLink {
  bufferedBytes = 0
  private busyUntilMs = Number.NEGATIVE_INFINITY
  private lastDeliverAtMs = Number.NEGATIVE_INFINITY
  private readonly untransmitted: InFlightChunk[] = []
  private readonly undelivered: InFlightChunk[] = []

  constructor(
    readonly model: ResolvedLink,
    private readonly clock: TransportClock,
    private readonly prng: Prng,
    private readonly onTransmitted: () => void,
    private readonly onDeliver: (chunk: Uint8Array) => void,
  ) {}

  send(chunk: Uint8Array): void {
    const nowMs = this.clock.now()
    const { latencyMs, bandwidthBytesPerSec, lossRate, retransmitDelayMs } = this.model
    const transmitEndMs = Math.max(nowMs, this.busyUntilMs) + (chunk.length * 1000) / bandwidthBytesPerSec
    this.busyUntilMs = transmitEndMs
    let retransmitMs = 0
    while (lossRate > 0 && this.prng.nextFloat() < lossRate) retransmitMs += retransmitDelayMs
    // Ordered delivery: a chunk never overtakes one held up by a retransmission.
    const deliverAtMs = Math.max(transmitEndMs + latencyMs + retransmitMs, this.lastDeliverAtMs)
    this.lastDeliverAtMs = deliverAtMs
    this.bufferedBytes += chunk.length
    const entry: InFlightChunk = {
      chunk,
      deliverAtMs,
      isTransmitted: false,
      cancelTransmit: () => {},
      cancelDeliver: () => {},
    }
    this.untransmitted.push(entry)
    this.undelivered.push(entry)
    entry.cancelTransmit = this.clock.setTimeout(() => this.transmitThrough(entry), transmitEndMs - nowMs)
    entry.cancelDeliver = this.clock.setTimeout(() => this.deliverThrough(entry), deliverAtMs - nowMs)
  }

  /**
   * Drops every chunk not yet serialized (the sender closed) and returns when the last chunk
   * already on the wire arrives (now when none is).
   */
  stopSending(): number {
    const dropped = new Set(this.untransmitted.splice(0))
    for (const entry of dropped) {
      entry.cancelTransmit()
      entry.cancelDeliver()
    }
    this.bufferedBytes = 0
    const kept = this.undelivered.filter((entry) => !dropped.has(entry))
    this.undelivered.splice(0, this.undelivered.length, ...kept)
    const last = kept[kept.length - 1]
    return last === undefined ? this.clock.now() : last.deliverAtMs
  }

  /** Cancels everything in flight (the link broke). */
  cancelAll(): void {
    for (const entry of this.undelivered) {
      entry.cancelTransmit()
      entry.cancelDeliver()
    }
    this.untransmitted.length = 0
    this.undelivered.length = 0
    this.bufferedBytes = 0
  }

  private transmitThrough(target: InFlightChunk): void {
    if (target.isTransmitted) return
    let entry: InFlightChunk | undefined
    do {
      entry = this.untransmitted.shift()
      if (entry === undefined) break
      entry.isTransmitted = true
      entry.cancelTransmit()
      this.bufferedBytes -= entry.chunk.length
    } while (entry !== target)
    this.onTransmitted()
  }

  private deliverThrough(target: InFlightChunk): void {
    if (!this.undelivered.includes(target)) return
    this.transmitThrough(target)
    let entry: InFlightChunk | undefined
    do {
      entry = this.undelivered.shift()
      if (entry === undefined) break
      entry.cancelDeliver()
      this.onDeliver(entry.chunk)
    } while (entry !== target)
  }
}

interface PairState {
  isSevered: boolean
}

/** One end of an in-memory pair; create pairs with `createInMemoryPair`. */
export class InMemoryTransport extends ChunkedTransport {
  private remote: InMemoryTransport | undefined
  private outbound: SimulatedLink | undefined
  private cancelConnect: (() => void) | undefined
  private cancelRemoteClose: (() => void) | undefined
  private isReleased = false

  private constructor(
    options: ChunkedTransportOptions,
    private readonly pairState: PairState,
  ) {
    super(options, 0)
  }

  /** @internal Used by createInMemoryPair. */
  static createPair(options: InMemoryPairOptions = {}): InMemoryPair {
    const [idA, idB] = options.peerIds ?? ['a', 'b']
    if (idA === idB)
      throw new CoreError('ERR_INVALID_ARGUMENT', `the two peer ids must differ, both are "${idA}"`)
    const forward = resolveLink(options.link)
    const backward = resolveLink(options.reverseLink ?? options.link)
    const connectDelayMs = options.connectDelayMs ?? forward.latencyMs + backward.latencyMs
    if (!(connectDelayMs >= 0) || !Number.isFinite(connectDelayMs)) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `connectDelayMs must be a finite number >= 0, got ${connectDelayMs}`,
      )
    }
    const clock = options.clock ?? systemClock
    const seed = options.link?.seed ?? 1
    const reverseSeed = options.reverseLink?.seed ?? seed + 1
    const pairState: PairState = { isSevered: false }
    const { peerIds: _ids, link: _link, reverseLink: _reverse, connectDelayMs: _delay, ...common } = options
    const a = new InMemoryTransport({ ...common, clock, peerId: idB }, pairState)
    const b = new InMemoryTransport({ ...common, clock, peerId: idA }, pairState)
    a.wire(
      b,
      new SimulatedLink(
        forward,
        clock,
        createPrng(seed),
        () => a.notifyDrain(),
        (c) => b.receiveChunk(c),
      ),
    )
    b.wire(
      a,
      new SimulatedLink(
        backward,
        clock,
        createPrng(reverseSeed),
        () => b.notifyDrain(),
        (c) => a.receiveChunk(c),
      ),
    )
    for (const side of [a, b]) {
      side.startConnectTimer()
      side.scheduleConnect(connectDelayMs)
    }
    return {
      a,
      b,
      sever: async (reason = 'the link was severed') => {
        pairState.isSevered = true
        a.outbound?.cancelAll()
        b.outbound?.cancelAll()
        await Promise.all([
          a.close(new CoreError('ERR_CONNECTION_FAILED', `link to ${a.peerId} failed: ${reason}`)),
          b.close(new CoreError('ERR_CONNECTION_FAILED', `link to ${b.peerId} failed: ${reason}`)),
        ])
      },
    }
  }

  /**
   * Puts raw bytes on the link as one data-channel message, bypassing the chunker and the
   * send queue: fault injection (a peer that sends garbage). Throws ERR_DESTROYED after close
   * and ERR_INVALID_ARGUMENT before connect.
   */
  sendRawMessage(bytes: Uint8Array): void {
    if (this.isClosed) throw this.destroyedError()
    if (this.state !== 'connected' || this.outbound === undefined) {
      throw new CoreError('ERR_INVALID_ARGUMENT', 'the in-memory transport is not connected yet')
    }
    this.outbound.send(bytes)
  }

  protected override readLink(): Promise<IceSummary> {
    const forward = this.outbound?.model.latencyMs ?? 0
    const backward = this.remote?.outbound?.model.latencyMs ?? 0
    return Promise.resolve({ rttMs: forward + backward })
  }

  protected override releaseChannel(): Promise<void> {
    if (this.isReleased) return Promise.resolve()
    this.isReleased = true
    this.cancelConnect?.()
    this.cancelConnect = undefined
    this.cancelRemoteClose?.()
    this.cancelRemoteClose = undefined
    const remote = this.remote
    const outbound = this.outbound
    if (remote === undefined || outbound === undefined || this.pairState.isSevered) return Promise.resolve()
    const lastArrivalMs = outbound.stopSending()
    if (!remote.isClosed) {
      // The close travels behind the data already on the wire.
      const delayMs = Math.max(outbound.model.latencyMs, lastArrivalMs - this.clock.now())
      remote.cancelRemoteClose?.()
      remote.cancelRemoteClose = this.clock.setTimeout(() => {
        remote.cancelRemoteClose = undefined
        void remote.close()
      }, delayMs)
    }
    return Promise.resolve()
  }

  private wire(remote: InMemoryTransport, outbound: SimulatedLink): void {
    this.remote = remote
    this.outbound = outbound
  }

  private scheduleConnect(delayMs: number): void {
    const outbound = this.outbound
    if (outbound === undefined) return
    this.cancelConnect = this.clock.setTimeout(() => {
      this.cancelConnect = undefined
      this.markConnected({
        get bufferedAmount() {
          return outbound.bufferedBytes
        },
        send: (chunk) => outbound.send(chunk),
      })
    }, delayMs)
  }
}

/** Creates two connected in-memory transports (see the module header for the link model). */
export function createInMemoryPair(options: InMemoryPairOptions = {}): InMemoryPair {
  return InMemoryTransport.createPair(options)
}
