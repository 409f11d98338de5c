/**
 * `sgp`: Stochastic Gradient Push (Assran, Loizou, Ballas, Rabbat, ICML 2019; ALGORITHMS.md §5),
 * with the overlap variant (bounded delay τ). No all-reduce: each worker i holds the push-sum
 * numerator x_i and weight w_i (init w_i = 1) and the trainer works on the de-biased model
 * z_i = x_i / w_i, which is what `params` holds between steps.
 *
 * Step k (the paper's SGP algorithm; its overlap variant for τ > 0):
 *  1. The trainer takes an optimizer step on z_i; the algorithm moves x_i by the same
 *     displacement: x_i ← x_i − γ·opt(∇f_i(z_i)) (= params after − params before).
 *  2. Out-peers from the directed exponential graph (exponential-graph.ts); with m of them,
 *     keep the share 1/(m+1) of (x_i, w_i) and push 1/(m+1) to each out-peer.
 *  3. Mix: x_i ← own share + Σ received shares, w_i likewise; z_i = x_i / w_i.
 * Overlap (τ > 0): sends never block and received shares are added at the first mixing after
 * they arrive (push-sum conserves mass whatever the timing, so late shares are still correct).
 * Bounded delay: before mixing step k, every share expected from an in-peer for a step
 * <= k − τ must have arrived (τ = 0 is synchronous SGP). A deadline abandons the wait; the
 * share is still added if it arrives later.
 *
 * Invariant (tested every step): Σ_i x_i + (shares in flight or buffered) changes only by the
 * local optimizer displacements, and Σ_i w_i + (weights in flight or buffered) = n.
 * Membership: a worker that leaves gracefully hands its whole (x, w) to a peer (`leave`);
 * when a peer vanishes without that, survivors either renormalise (x ← z, w ← 1: every z is
 * unchanged and Σw is the new member count; the default) or keep their mass as it is
 * (config `peerLoss`). Either way z stays a weighted average of models, never corrupted.
 * Shares are sent uncompressed (a lossy share would break mass conservation); the weight
 * travels as a float64 in `message.weight`.
 */
import { CoreError } from '../errors.ts'
import type {
  AlgorithmMessage,
  Completion,
  CompletionBuffers,
  MembershipView,
  MessageKind,
  ReceiveResult,
  RoundOutcome,
  StepContext,
} from './algorithm.ts'
import { AlgorithmCore, type AlgorithmDeps, type ImportHow } from './algorithm-core.ts'
import { ALGORITHM_DEFAULTS, type SgpConfig } from './config.ts'
import { DeltaChannel } from './delta-channel.ts'
import { exponentialInPeers, exponentialOutPeers } from './exponential-graph.ts'
import { ACCEPTED, rejected, tryDecode } from './messages.ts'
import {
  badState,
  isJsonObject,
  readInt,
  readIntArray,
  readNumber,
  readVector,
  type AlgorithmState,
  type JsonObject,
} from './state.ts'
import { accumulate, addDifference } from './vector-ops.ts'

/** Shares older than this many steps are refused (and their sender's duplicate history forgotten). */
export const SGP_MAX_SHARE_AGE_STEPS = 256
/** Shares more than this many steps ahead of this worker are refused. */
export const SGP_MAX_STEPS_AHEAD = 256
/** A push-sum weight above this is malformed (total weight is the member count). */
const MAX_WEIGHT = 1e9
/**
 * A worker renormalises (x ← z, w ← 1) when its weight falls below
 *   SGP_WEIGHT_FLOOR_FACTOR / (m + 1)^(τ + 1).
 * On the exponential graph every member has exactly m in-peers per step, so healthy weights
 * stay at 1; with overlap a worker can receive nothing for up to τ steps and legitimately dip
 * to (m + 1)^−(τ+1). Lower weights mean shares were lost (a one-way partition, peers that
 * never answer), and since z = x / w moves by the optimizer step divided by w, a tiny w would
 * amplify every step until z diverges. The lost mass is written off, z is kept.
 */
export const SGP_WEIGHT_FLOOR_FACTOR = 0.5

interface PendingMass {
  readonly acc: Float64Array
  weight: number
  readonly from: Set<number>
}

export class Sgp extends AlgorithmCore {
  readonly name = 'sgp'
  readonly exchangeKind = 'push-sum'
  protected readonly acceptedKinds: readonly MessageKind[] = ['push-sum', 'hand-over']
  readonly peersPerStep: 1 | 2
  readonly overlapDelay: number
  readonly peerLoss: 'renormalise' | 'keep-mass'
  /** See SGP_WEIGHT_FLOOR_FACTOR. */
  readonly weightFloor: number
  private readonly channel: DeltaChannel
  /** Push-sum numerator x_i. */
  private readonly x: Float32Array
  /** Push-sum weight w_i. */
  private weight = 1
  private readonly zBefore: Float32Array
  private readonly share: Float32Array
  private readonly scratch: Float32Array
  /** Received mass not mixed yet, by the step it was sent for (hand-overs: the step received). */
  private readonly pending = new Map<number, PendingMass>()
  /** Rounds already received per sender (duplicate detection), pruned below the age horizon. */
  private readonly seen = new Map<number, Set<number>>()
  /** Shares this worker still expects: step → in-peers not heard from. */
  private readonly expected = new Map<number, Set<number>>()
  private readonly newest = new Map<number, number>()
  private readonly handedOver = new Set<number>()
  private lastPresent: number[] = []
  /** Shares for steps below this predate the last rebase and are refused. */
  private rebaseStep = 0

  constructor(config: SgpConfig, deps: AlgorithmDeps) {
    super(deps)
    this.peersPerStep = config.peers
    this.overlapDelay = config.overlapDelay
    this.peerLoss = config.peerLoss ?? ALGORITHM_DEFAULTS.peerLoss
    this.weightFloor = SGP_WEIGHT_FLOOR_FACTOR / (config.peers + 1) ** (config.overlapDelay + 1)
    const compressor = this.createCompressor('none', deps.layout)
    if (!compressor.isLossless) {
      throw new CoreError(
        'ERR_BAD_SPEC',
        `sgp needs a lossless share encoding, '${compressor.spec}' is lossy`,
      )
    }
    this.channel = new DeltaChannel({
      compressor,
      errorFeedback: false,
      seed: deps.seed,
      workerIndex: deps.workerIndex,
    })
    this.x = new Float32Array(this.size)
    this.zBefore = new Float32Array(this.size)
    this.share = new Float32Array(this.size)
    this.scratch = new Float32Array(this.size)
  }

  /** The push-sum weight w_i (for tests and the UI). */
  get pushSumWeight(): number {
    return this.weight
  }

  /**
   * This worker's push-sum mass: x_i plus the shares received but not mixed yet (float64), and
   * the matching weight. Summed over workers and messages in flight it is the conserved total.
   */
  pushSumMass(): { x: Float64Array; weight: number } {
    const x = Float64Array.from(this.x)
    let weight = this.weight
    for (const mass of this.pending.values()) {
      accumulate(x, mass.acc)
      weight += mass.weight
    }
    return { x, weight }
  }

  shouldCommunicate(_step: number): boolean {
    return true
  }

  isSynchronizedAfter(_step: number): boolean {
    return false
  }

  /** An exact average replaced z on every worker: restart push-sum from (x, w) = (params, 1). */
  rebase(params: Float32Array): void {
    this.x.set(params)
    this.weight = 1
    for (const r of [...this.pending.keys()]) if (r < this.stepIndex) this.pending.delete(r)
    for (const r of [...this.expected.keys()]) if (r < this.stepIndex) this.expected.delete(r)
    this.rebaseStep = this.stepIndex
  }

  private members(): number[] {
    return [...this.present, this.workerIndex].sort((a, b) => a - b)
  }

  protected onStart(params: Float32Array): void {
    this.x.set(params)
    this.weight = 1
  }

  protected override onBeforeStep(_ctx: StepContext, params: Float32Array): void {
    this.zBefore.set(params)
    const departed = this.lastPresent.filter((p) => !this.present.includes(p))
    if (departed.length > 0 && this.peerLoss === 'renormalise') {
      // z is unchanged (params = x / w); the mass of the departed worker is written off.
      this.x.set(params)
      this.weight = 1
    }
    this.lastPresent = [...this.present]
  }

  protected onAfterStep(ctx: StepContext, params: Float32Array): AlgorithmMessage[] {
    // 1. x_i ← x_i + (z after − z before): the optimizer's displacement, applied to x.
    addDifference(this.x, params, this.zBefore)
    const members = this.members()
    const out = exponentialOutPeers(members, this.workerIndex, ctx.step, this.peersPerStep)
    const messages: AlgorithmMessage[] = []
    if (out.length > 0) {
      // 2. Keep 1/(m+1), push 1/(m+1) to each out-peer (the same share to each, one payload).
      const fraction = 1 / (out.length + 1)
      for (let j = 0; j < this.size; j++) this.share[j] = (this.x[j] ?? 0) * fraction
      const shareWeight = this.weight * fraction
      const { payload } = this.channel.encode(this.share, ctx.step)
      this.x.set(this.share)
      this.weight = shareWeight
      this.recordSent(payload)
      messages.push({ kind: 'push-sum', round: ctx.step, to: out, payload, weight: shareWeight })
    }
    const inPeers = exponentialInPeers(members, this.workerIndex, ctx.step, this.peersPerStep)
    const heard = inPeers.filter((p) => this.seen.get(p)?.has(ctx.step) !== true)
    if (heard.length > 0) this.expected.set(ctx.step, new Set(heard))
    return messages
  }

  protected onTryComplete(view: MembershipView, buffers: CompletionBuffers): Completion {
    const step = this.stepIndex
    const horizon = step - this.overlapDelay
    // Expectations of departed peers can never be met.
    let lostPeer = false
    for (const [s, peers] of this.expected) {
      for (const p of peers) {
        if (!this.present.includes(p)) {
          peers.delete(p)
          if (s <= horizon) lostPeer = true
        }
      }
      if (peers.size === 0) this.expected.delete(s)
    }
    const overdue = [...this.expected.entries()].filter(([s]) => s <= horizon).sort((a, b) => a[0] - b[0])
    let timedOut = false
    if (overdue.length > 0) {
      if (!view.deadlinePassed) {
        const [oldest, peers] = overdue[0] ?? [step, new Set<number>()]
        return {
          status: 'waiting',
          kind: 'push-sum',
          round: oldest,
          missing: [...peers].sort((a, b) => a - b),
          messages: [],
        }
      }
      for (const [s] of overdue) this.expected.delete(s)
      timedOut = true
    }
    // 3. Mix every share received for steps <= k.
    const mixedFrom = new Set<number>()
    for (const [r, mass] of [...this.pending.entries()].sort((a, b) => a[0] - b[0])) {
      if (r > step) continue
      accumulate(this.x, mass.acc)
      this.weight += mass.weight
      for (const p of mass.from) mixedFrom.add(p)
      this.pending.delete(r)
    }
    const params = buffers.params
    const inverse = 1 / this.weight
    for (let j = 0; j < this.size; j++) params[j] = (this.x[j] ?? 0) * inverse
    if (this.weight < this.weightFloor) {
      // The mass this worker pushed out never came back: write it off, keep z.
      this.x.set(params)
      this.weight = 1
    }
    this.pruneSeen(step)
    let staleness = 0
    for (const [s] of this.expected) if (s <= step) staleness = Math.max(staleness, step - s)
    const outcomes: RoundOutcome[] = []
    if (mixedFrom.size > 0) {
      const peers = [...mixedFrom].sort((a, b) => a - b)
      outcomes.push({
        kind: 'averaged',
        messageKind: 'push-sum',
        round: step,
        peers,
        maxStaleness: staleness,
      })
    } else if (this.present.length === 0) {
      outcomes.push({ kind: 'local-only', messageKind: 'push-sum', round: step, reason: 'ERR_NO_PEERS' })
    } else if (timedOut) {
      outcomes.push({ kind: 'local-only', messageKind: 'push-sum', round: step, reason: 'ERR_TIMEOUT' })
    } else if (lostPeer) {
      outcomes.push({ kind: 'local-only', messageKind: 'push-sum', round: step, reason: 'ERR_PEER_TIMEOUT' })
    }
    return { status: 'ready', outcomes, messages: [] }
  }

  private pruneSeen(step: number): void {
    const floor = step - SGP_MAX_SHARE_AGE_STEPS
    for (const rounds of this.seen.values()) {
      for (const r of rounds) if (r < floor) rounds.delete(r)
    }
  }

  protected onReceive(from: number, message: AlgorithmMessage): ReceiveResult {
    const w = message.weight
    if (w === undefined || !(w > 0) || w > MAX_WEIGHT) {
      return rejected(
        'ERR_BAD_MESSAGE',
        `${message.kind} from ${from} carries an invalid weight ${String(w)}`,
      )
    }
    if (message.kind === 'hand-over') {
      if (this.handedOver.has(from)) return rejected('ERR_DUPLICATE_MESSAGE', `second hand-over from ${from}`)
      const bad = tryDecode(from, () =>
        this.channel.decode(message.payload, message.round, from, this.scratch),
      )
      if (bad !== null) return bad
      this.handedOver.add(from)
      this.addPending(this.stepIndex, from, w)
      return ACCEPTED
    }
    const r = message.round
    if (r < this.rebaseStep || r < this.stepIndex - SGP_MAX_SHARE_AGE_STEPS) {
      return rejected(
        'ERR_LATE_MESSAGE',
        `push-sum share of step ${r} from ${from} is too old (worker at ${this.stepIndex})`,
      )
    }
    if (r > this.stepIndex + SGP_MAX_STEPS_AHEAD) {
      return rejected(
        'ERR_BAD_MESSAGE',
        `push-sum share of step ${r} from ${from} is too far ahead of ${this.stepIndex}`,
      )
    }
    if (this.seen.get(from)?.has(r) === true) {
      return rejected('ERR_DUPLICATE_MESSAGE', `second push-sum share of step ${r} from ${from}`)
    }
    const bad = tryDecode(from, () => this.channel.decode(message.payload, r, from, this.scratch))
    if (bad !== null) return bad
    let rounds = this.seen.get(from)
    if (rounds === undefined) {
      rounds = new Set()
      this.seen.set(from, rounds)
    }
    rounds.add(r)
    this.newest.set(from, Math.max(this.newest.get(from) ?? -1, r))
    const waiting = this.expected.get(r)
    if (waiting !== undefined) {
      waiting.delete(from)
      if (waiting.size === 0) this.expected.delete(r)
    }
    this.addPending(r, from, w)
    return ACCEPTED
  }

  /** Adds the decoded share in `scratch` with weight `w` to the mass pending for step `r`. */
  private addPending(r: number, from: number, w: number): void {
    let mass = this.pending.get(r)
    if (mass === undefined) {
      mass = { acc: new Float64Array(this.size), weight: 0, from: new Set() }
      this.pending.set(r, mass)
    }
    accumulate(mass.acc, this.scratch)
    mass.weight += w
    mass.from.add(from)
  }

  protected override onLeave(_params: Float32Array): AlgorithmMessage[] {
    const members = this.members()
    const pos = members.indexOf(this.workerIndex)
    const successor = members.length > 1 ? members[(pos + 1) % members.length] : undefined
    // Everything this worker holds, buffered shares included, goes to one peer.
    const { x: total, weight } = this.pushSumMass()
    this.pending.clear()
    this.x.fill(0)
    this.weight = 0
    if (successor === undefined) return []
    this.share.set(total)
    const { payload } = this.channel.encode(this.share, this.stepIndex)
    this.recordSent(payload)
    return [{ kind: 'hand-over', round: this.stepIndex, to: [successor], payload, weight }]
  }

  protected currentRound(): number {
    return this.stepIndex
  }

  protected newestRoundFrom(peer: number): number {
    return this.newest.get(peer) ?? -1
  }

  protected exportBody(
    data: JsonObject,
    vectors: Record<string, Float32Array>,
    bytes: Record<string, Uint8Array>,
  ): void {
    vectors.x = this.x.slice()
    data.weight = this.weight
    const pending: JsonObject[] = []
    for (const [r, mass] of this.pending) {
      pending.push({ round: r, weight: mass.weight, from: [...mass.from] })
      bytes[`pending:${r}`] = new Uint8Array(mass.acc.slice().buffer)
    }
    data.pending = pending
    data.seen = [...this.seen.entries()].map(([peer, rounds]) => [peer, ...rounds])
    data.expected = [...this.expected.entries()].map(([step, peers]) => [step, ...peers])
    data.newest = [...this.newest.entries()].flat()
    data.handedOver = [...this.handedOver]
    data.lastPresent = [...this.lastPresent]
    data.rebaseStep = this.rebaseStep
  }

  protected importBody(state: AlgorithmState, how: ImportHow): void {
    this.pending.clear()
    this.seen.clear()
    this.expected.clear()
    this.newest.clear()
    this.handedOver.clear()
    if (how.mode === 'catch-up') {
      // A joiner brings fresh mass: (x, w) = (its copied model, 1).
      this.x.set(how.params)
      this.weight = 1
      this.lastPresent = []
      this.rebaseStep = how.step
      return
    }
    this.x.set(readVector(state, 'x', this.size))
    this.weight = readNumber(state.data, 'weight')
    const pending = state.data.pending
    if (!Array.isArray(pending)) throw badState('pending must be an array')
    for (const entry of pending) {
      if (!isJsonObject(entry)) throw badState('pending entry must be an object')
      const r = readInt(entry, 'round')
      const raw = state.bytes[`pending:${r}`]
      if (!(raw instanceof Uint8Array) || raw.length !== 8 * this.size)
        throw badState(`pending mass of step ${r}`)
      const acc = new Float64Array(raw.slice().buffer)
      const from = new Set(readIntArray(entry, 'from', 0, this.workerCount - 1))
      this.pending.set(r, { acc, weight: readNumber(entry, 'weight'), from })
    }
    for (const row of this.readRows(state.data, 'seen')) this.seen.set(row[0] ?? 0, new Set(row.slice(1)))
    for (const row of this.readRows(state.data, 'expected'))
      this.expected.set(row[0] ?? 0, new Set(row.slice(1)))
    const newest = readIntArray(state.data, 'newest', -1)
    for (let i = 0; i + 1 < newest.length; i += 2) this.newest.set(newest[i] ?? 0, newest[i + 1] ?? -1)
    for (const p of readIntArray(state.data, 'handedOver', 0, this.workerCount - 1)) this.handedOver.add(p)
    this.lastPresent = readIntArray(state.data, 'lastPresent', 0, this.workerCount - 1)
    this.rebaseStep = readInt(state.data, 'rebaseStep')
  }

  private readRows(data: JsonObject, key: string): number[][] {
    const rows = data[key]
    if (!Array.isArray(rows)) throw badState(`${key} must be an array`)
    return rows.map((row, i) => {
      if (!Array.isArray(row) || row.length < 1) throw badState(`${key}[${i}] must be a non-empty array`)
      return readIntArray({ row }, 'row')
    })
  }
}
