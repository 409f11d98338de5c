/**
 * The simulator's network: one link model per ordered pair of workers, and the uplink of each
 * worker as a FIFO that serialises what it sends.
 *
 * A point-to-point message of B bytes from i to j, handed to the network at time t:
 *   start     = max(t, time i's uplink becomes free)          (messages queue on the uplink)
 *   serialise = B·8 / bandwidth                               (+ one chunk per retransmission)
 *   arrival   = start + serialise + RTT/2 + jitter + lost·RTO
 * The payload travels in chunks of `chunkBytes` (16 KiB, the data channel's message size);
 * each chunk is lost with probability `loss`, and every loss (of a chunk or of its resend)
 * adds one retransmission timeout RTO = RTT + 200 ms (Linux TCP's SRTT + max(tcp_rto_min,
 * 4·RTTVAR) with a small RTTVAR) and puts the chunk on the uplink again. Jitter is drawn
 * uniformly in [0, jitterMs) per message. A broadcast to m peers is m such transfers, queued
 * on the sender's uplink starting with the next worker index after the sender (so not every
 * worker serves worker 0 first).
 *
 * Dense exact averages (sync's gradients, uncompressed Local SGD deltas, SlowMo's model
 * average) are modelled as a ring all-reduce instead, the cost ALGORITHMS.md §0 states: the
 * n members form a ring in index order; the payload is cut into n pieces and 2(n−1) ring
 * steps move one piece per member per step (reduce-scatter, then all-gather). Each step lasts
 * as long as its slowest link (piece·8/bandwidth + RTT/2 + jitter + losses), and every
 * member's uplink carries 2(n−1)/n·B bytes. Receivers get the reduced result when the last
 * member's contribution has gone round: the sender's contribution is delivered to every
 * member at start + T_ring. Only the sender's uplink is serialised; receivers' downlinks and
 * the network core are assumed not to be the bottleneck.
 *
 * Every random draw is named by (seed, purpose, sender, receiver, message id, chunk, attempt)
 * through core/sim/random.ts, so the same message meets the same fate in a live run and in a
 * replay of its trace (trace.ts), whatever order events are handled in.
 */
import { CoreError } from '../errors.ts'
import { uniformAt } from './random.ts'

/** One direction of one link. */
export interface LinkSpec {
  /** Round-trip time; one way takes half of it. */
  readonly rttMs: number
  /** Extra one-way delay drawn uniformly in [0, jitterMs) per message (per ring step). */
  readonly jitterMs: number
  readonly bandwidthMbit: number
  /** Probability that one chunk is lost (and retransmitted after an RTO), in [0, 0.5]. */
  readonly loss: number
}

export type NetworkPresetName = 'lan' | 'wan' | 'intercontinental'

/** The presets of the issue: RTT, bandwidth and loss as stated; jitter is ours (about 2–4% of RTT). */
export const NETWORK_PRESETS: Readonly<Record<NetworkPresetName, LinkSpec>> = {
  lan: { rttMs: 0.5, jitterMs: 0.02, bandwidthMbit: 1000, loss: 0 },
  wan: { rttMs: 100, jitterMs: 2, bandwidthMbit: 20, loss: 0 },
  intercontinental: { rttMs: 250, jitterMs: 10, bandwidthMbit: 10, loss: 0.01 },
}

export const NETWORK_PRESET_NAMES: readonly NetworkPresetName[] = ['lan', 'wan', 'intercontinental']

/** A different link for one ordered pair of workers (a slow home uplink, a far peer). */
export interface LinkOverride {
  readonly from: number
  readonly to: number
  readonly link: Partial<LinkSpec>
}

export interface NetworkSpec {
  readonly name: string
  /** The link between every pair unless overridden. */
  readonly link: LinkSpec
  readonly overrides?: readonly LinkOverride[]
  /** Loss is drawn per chunk of this size; default 16 KiB. */
  readonly chunkBytes?: number
  /** RTO = RTT + this; default 200 ms. */
  readonly rtoExtraMs?: number
}

export const NETWORK_DEFAULTS = {
  chunkBytes: 16 * 1024,
  rtoExtraMs: 200,
  /** Resends of one chunk beyond which we stop drawing (at loss ≤ 0.5: probability ≤ 2^-32). */
  maxAttempts: 32,
} as const

/** Ring timings kept per network (one per collective in flight is all that is needed). */
const MAX_RING_CACHE = 1024

// Purpose tags of the random draws.
const JITTER_SALT = 0x6a697474
const LOSS_SALT = 0x6c6f7373
const RING_SALT = 0x72696e67

function badSpec(message: string): CoreError {
  return new CoreError('ERR_BAD_SPEC', message)
}

/** Throws ERR_BAD_SPEC naming the field when a link is not physical. */
export function checkLink(link: LinkSpec, what = 'link'): void {
  const { rttMs, jitterMs, bandwidthMbit, loss } = link
  if (!(Number.isFinite(rttMs) && rttMs >= 0)) throw badSpec(`${what}: rtt must be >= 0 ms, got ${rttMs}`)
  if (!(Number.isFinite(jitterMs) && jitterMs >= 0))
    throw badSpec(`${what}: jitter must be >= 0 ms, got ${jitterMs}`)
  if (!(Number.isFinite(bandwidthMbit) && bandwidthMbit > 0))
    throw badSpec(`${what}: bandwidth must be > 0 Mbit/s, got ${bandwidthMbit}`)
  if (!(Number.isFinite(loss) && loss >= 0 && loss <= 0.5))
    throw badSpec(`${what}: loss must be in [0, 0.5], got ${loss}`)
}

/**
 * A preset by name with optional field overrides (`--rtt-ms`, `--bandwidth-mbit`, `--loss`,
 * `--jitter-ms`). Unknown names fail with ERR_BAD_SPEC listing the presets.
 */
export function resolveNetwork(name: string, custom: Partial<LinkSpec> = {}): NetworkSpec {
  if (!Object.hasOwn(NETWORK_PRESETS, name)) {
    throw badSpec(`unknown network "${name}": choose ${NETWORK_PRESET_NAMES.join(', ')}`)
  }
  const base = NETWORK_PRESETS[name as NetworkPresetName]
  const link: LinkSpec = {
    rttMs: custom.rttMs ?? base.rttMs,
    jitterMs: custom.jitterMs ?? base.jitterMs,
    bandwidthMbit: custom.bandwidthMbit ?? base.bandwidthMbit,
    loss: custom.loss ?? base.loss,
  }
  checkLink(link, `network ${name}`)
  const isCustom = Object.values(custom).some((v) => v !== undefined)
  return { name: isCustom ? `${name}*` : name, link }
}

const OVERRIDE_KEYS: Readonly<Record<string, keyof LinkSpec>> = {
  rtt: 'rttMs',
  jitter: 'jitterMs',
  mbit: 'bandwidthMbit',
  loss: 'loss',
}

/**
 * Parses `i-j:key=value,...` (keys rtt, jitter, mbit, loss) into an override of the link
 * from worker i to worker j; `i=j` (e.g. `0=3:mbit=5`) means both directions.
 */
export function parseLinkOverrides(text: string): LinkOverride[] {
  const m = /^(\d+)([-=])(\d+):(.+)$/.exec(text.trim())
  if (m === null) throw badSpec(`link override "${text}" is not i-j:key=value,... (or i=j: for both ways)`)
  const from = Number(m[1])
  const to = Number(m[3])
  if (from === to) throw badSpec(`link override "${text}" connects worker ${from} to itself`)
  const link: Partial<Record<keyof LinkSpec, number>> = {}
  for (const part of (m[4] ?? '').split(',')) {
    const [key, raw] = part.split('=')
    const field = key === undefined ? undefined : OVERRIDE_KEYS[key.trim()]
    const value = Number(raw)
    if (field === undefined || raw === undefined || raw.trim() === '' || !Number.isFinite(value)) {
      throw badSpec(
        `link override "${text}": "${part}" is not one of rtt=, jitter=, mbit=, loss= with a number`,
      )
    }
    link[field] = value
  }
  const out: LinkOverride[] = [{ from, to, link }]
  if (m[2] === '=') out.push({ from: to, to: from, link })
  return out
}

/** The fate of one point-to-point transfer, relative to the moment it starts on the uplink. */
export interface TransferTiming {
  /** How long the sender's uplink is busy (first transmission plus resent chunks). */
  readonly uplinkMs: number
  /** From uplink start to arrival at the receiver. */
  readonly deliveryMs: number
  readonly lostChunks: number
}

export interface RingTiming {
  /** How long each member's uplink is busy with its share of the ring traffic (members' order). */
  readonly uplinkMs: readonly number[]
  /** From the collective's start to every member holding the reduced result. */
  readonly durationMs: number
  /** Bytes each member puts on its uplink: 2(n−1)/n·B. */
  readonly bytesPerMember: number
  readonly lostChunks: number
}

/** The link model of one network: pure functions of (spec, seed, names of the draws). */
export class NetworkModel {
  readonly spec: NetworkSpec
  readonly seed: number
  private readonly chunkBytes: number
  private readonly rtoExtraMs: number
  private readonly overrides = new Map<string, LinkSpec>()
  private readonly ringCache = new Map<string, RingTiming>()

  constructor(spec: NetworkSpec, seed: number) {
    checkLink(spec.link, `network ${spec.name}`)
    this.spec = spec
    this.seed = seed
    this.chunkBytes = spec.chunkBytes ?? NETWORK_DEFAULTS.chunkBytes
    this.rtoExtraMs = spec.rtoExtraMs ?? NETWORK_DEFAULTS.rtoExtraMs
    if (!(Number.isInteger(this.chunkBytes) && this.chunkBytes >= 1))
      throw badSpec(`network ${spec.name}: chunkBytes must be a positive integer`)
    if (!(Number.isFinite(this.rtoExtraMs) && this.rtoExtraMs >= 0))
      throw badSpec(`network ${spec.name}: rtoExtraMs must be >= 0`)
    for (const o of spec.overrides ?? []) {
      const link = { ...this.link(o.from, o.to), ...o.link }
      checkLink(link, `link ${o.from}->${o.to}`)
      this.overrides.set(`${o.from}>${o.to}`, link)
    }
  }

  /** The link from `from` to `to`. */
  link(from: number, to: number): LinkSpec {
    return this.overrides.get(`${from}>${to}`) ?? this.spec.link
  }

  /** Retransmission timeout of a link. */
  rtoMs(link: LinkSpec): number {
    return link.rttMs + this.rtoExtraMs
  }

  /** Milliseconds to put `bytes` on a link of `bandwidthMbit`. */
  static serialiseMs(bytes: number, bandwidthMbit: number): number {
    return (bytes * 8) / (bandwidthMbit * 1000)
  }

  /** Lost transmissions of `chunks` chunks, each resent until it gets through. */
  private losses(loss: number, chunks: number, parts: readonly number[]): number {
    if (loss <= 0) return 0
    let lost = 0
    for (let c = 0; c < chunks; c++) {
      for (let attempt = 0; attempt < NETWORK_DEFAULTS.maxAttempts; attempt++) {
        if (uniformAt(this.seed, LOSS_SALT, ...parts, c, attempt) >= loss) break
        lost++
      }
    }
    return lost
  }

  /**
   * A point-to-point transfer of `bytes` from `from` to `to`; `messageId` names the draws
   * (unique per sender and message).
   */
  direct(from: number, to: number, bytes: number, messageId: number): TransferTiming {
    const link = this.link(from, to)
    const chunks = Math.max(1, Math.ceil(bytes / this.chunkBytes))
    const lost = this.losses(link.loss, chunks, [from, to, messageId])
    const resendBytes = lost * Math.min(bytes, this.chunkBytes)
    const uplinkMs = NetworkModel.serialiseMs(bytes + resendBytes, link.bandwidthMbit)
    const jitter = link.jitterMs * uniformAt(this.seed, JITTER_SALT, from, to, messageId)
    return {
      uplinkMs,
      deliveryMs: uplinkMs + link.rttMs / 2 + jitter + lost * this.rtoMs(link),
      lostChunks: lost,
    }
  }

  /**
   * A ring all-reduce of `bytes` per member among `members` (ascending worker indices, at
   * least two); `collective` names the draws (message kind code and round), so every member
   * computes the same timing for the same collective.
   */
  ring(members: readonly number[], bytes: number, collective: readonly number[]): RingTiming {
    const n = members.length
    if (n < 2) return { uplinkMs: members.map(() => 0), durationMs: 0, bytesPerMember: 0, lostChunks: 0 }
    const key = `${collective.join(',')}|${members.join(',')}|${bytes}`
    const cached = this.ringCache.get(key)
    if (cached !== undefined) return cached
    const piece = bytes / n
    const steps = 2 * (n - 1)
    const chunks = Math.max(1, Math.ceil(piece / this.chunkBytes))
    let durationMs = 0
    let lostTotal = 0
    const uplinkMs = members.map(() => 0)
    for (let s = 0; s < steps; s++) {
      let slowest = 0
      for (let k = 0; k < n; k++) {
        const from = members[k]!
        const to = members[(k + 1) % n]!
        const link = this.link(from, to)
        const lost = this.losses(link.loss, chunks, [RING_SALT, ...collective, s, k])
        lostTotal += lost
        const tx = NetworkModel.serialiseMs(
          piece + lost * Math.min(piece, this.chunkBytes),
          link.bandwidthMbit,
        )
        uplinkMs[k] = (uplinkMs[k] ?? 0) + tx
        const jitter = link.jitterMs * uniformAt(this.seed, JITTER_SALT, RING_SALT, ...collective, s, k)
        slowest = Math.max(slowest, tx + link.rttMs / 2 + jitter + lost * this.rtoMs(link))
      }
      durationMs += slowest
    }
    const timing: RingTiming = { uplinkMs, durationMs, bytesPerMember: steps * piece, lostChunks: lostTotal }
    // Rounds only move forward, so old collectives are never asked for again.
    if (this.ringCache.size >= MAX_RING_CACHE) this.ringCache.clear()
    this.ringCache.set(key, timing)
    return timing
  }
}

/** One message as the network sees it. */
export interface WireMessage {
  /** Index of the message kind (MESSAGE_KINDS) and round: they name a ring collective's draws. */
  readonly kindCode: number
  readonly round: number
  readonly bytes: number
  /** Receivers (the sender excluded). */
  readonly to: readonly number[]
  /** Ring all-reduce members (ascending, sender included), or undefined for point-to-point. */
  readonly ring?: readonly number[]
  /** Unique per sender: names the message's random draws. */
  readonly messageId: number
}

export interface Delivery {
  readonly to: number
  readonly atMs: number
}

export interface SendResult {
  readonly deliveries: readonly Delivery[]
  /** Bytes the sender put on its uplink, first transmissions only (the same on every network). */
  readonly wireBytes: number
  readonly lostChunks: number
}

/** The uplinks of all workers over one network: when each becomes free. */
export class Uplinks {
  readonly model: NetworkModel
  private readonly freeAtMs: Float64Array

  constructor(model: NetworkModel, workerCount: number) {
    this.model = model
    this.freeAtMs = new Float64Array(workerCount)
  }

  /** When worker `worker`'s uplink is free again. */
  freeAt(worker: number): number {
    return this.freeAtMs[worker] ?? 0
  }

  /** Queues one message on `from`'s uplink at `nowMs` and says when each receiver has it. */
  send(from: number, nowMs: number, message: WireMessage): SendResult {
    const n = this.freeAtMs.length
    let start = Math.max(nowMs, this.freeAtMs[from] ?? 0)
    if (message.ring !== undefined && message.ring.length > 1) {
      const members = message.ring
      const timing = this.model.ring(members, message.bytes, [message.kindCode, message.round])
      const self = members.indexOf(from)
      this.freeAtMs[from] = start + (timing.uplinkMs[self] ?? 0)
      const atMs = start + timing.durationMs
      return {
        deliveries: message.to.map((to) => ({ to, atMs })),
        wireBytes: timing.bytesPerMember,
        // The collective's losses are counted once, on its first member's send.
        lostChunks: from === members[0] ? timing.lostChunks : 0,
      }
    }
    const order = [...message.to].sort((a, b) => ((a - from + n) % n) - ((b - from + n) % n))
    const deliveries: Delivery[] = []
    let lostChunks = 0
    for (const to of order) {
      const t = this.model.direct(from, to, message.bytes, message.messageId)
      deliveries.push({ to, atMs: start + t.deliveryMs })
      start += t.uplinkMs
      lostChunks += t.lostChunks
    }
    this.freeAtMs[from] = start
    return { deliveries, wireBytes: message.bytes * order.length, lostChunks }
  }
}
