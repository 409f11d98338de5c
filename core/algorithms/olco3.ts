/**
 * `olco3`: delay-tolerant Local SGD with compression (Xu, Yan, Gao, Huang, "Delay-tolerant
 * local SGD for efficient distributed training", ICLR 2021 submission, OpenReview E_U8Zvx7zrf;
 * ALGORITHMS.md §3). One worker's view of round r (H local steps, staleness s):
 *
 *  1. Local update: H optimizer steps from the current local model; Δ_i^r = x_i(start of r) − x_i.
 *  2. Compression compensation (the paper's error feedback): c_i^r = C(Δ_i^r + e_i),
 *     e_i ← Δ_i^r + e_i − c_i^r. Send c_i^r to all peers without waiting (DeltaChannel).
 *  3. Staleness compensation: the average c̄^{r−s} = (1/n) Σ_j c_j^{r−s} of round r − s is
 *     complete now. The worker already applied its own update of that round locally, so it
 *     swaps its own stale compressed contribution for the global one:
 *         x_i ← x_i + c_i^{r−s} − c̄^{r−s}.
 *     Local models therefore equal a common stale average, minus the worker's own residual
 *     and its own last s rounds of updates; the compression error stays in e_i instead of
 *     drifting the models apart.
 *  4. Round r + 1 starts at once from the swapped model (communication overlaps H·s steps).
 * s = 0 with the lossless 'none' compressor is Local SGD; H = 1, s = 0 is synchronous SGD
 * (both tested numerically).
 *
 * Notes and deviations, stated so they can be checked against the paper:
 * - The paper's text available to us (the abstract and ALGORITHMS.md's summary) names the two
 *   compensations; the update rules above are those of ALGORITHMS.md §3, steps 1–4. The paper's
 *   variant for low-rank / vector-quantisation compressors (PowerSGD) and its server-side
 *   compression of the average are not implemented: the average is exchanged all-to-all, each
 *   worker averaging the same compressed payloads, which needs no second compression.
 * - "n" is the set of contributions actually received for round r − s (self + peers), so a
 *   worker that left or timed out does not stall or bias the average (round-decision.ts).
 * - The first s rounds have no stale average to apply yet.
 * - Membership: waiting for round r − s uses the peers present now; a deadline turns the round
 *   into a partial average or a local-only round (RoundOutcome), never an exception. A late
 *   joiner (importState 'catch-up') sends empty 'delta' payloads for the s rounds before it
 *   joined, so its peers do not wait for contributions it cannot make.
 */
import type {
  AlgorithmMessage,
  Completion,
  CompletionBuffers,
  MembershipView,
  RoundOutcome,
  StepContext,
} from './algorithm.ts'
import { READY_EMPTY, type AlgorithmDeps, type ImportHow } from './algorithm-core.ts'
import type { Olco3Config } from './config.ts'
import { ModelDeltaAlgorithm } from './model-delta-algorithm.ts'
import {
  badState,
  readBoolean,
  readInt,
  readIntArray,
  type AlgorithmState,
  type JsonObject,
} from './state.ts'
import { addDifference } from './vector-ops.ts'

/** Rounds beyond `current + staleness` a peer's delta may be ahead and still be kept. */
const EXTRA_ROUNDS_AHEAD = 4

/** `roundStart` is this worker's local model at the start of the current round (after the last swap). */
export class Olco3 extends ModelDeltaAlgorithm {
  readonly name = 'olco3'
  readonly H: number
  readonly staleness: number
  private readonly own: Float32Array
  /** c_i^r payloads this worker sent and has not swapped out yet (at most s + 1). */
  private readonly ownSent = new Map<number, Uint8Array>()
  /** The round whose stale average this step must apply, or -1. */
  private pendingSwap = -1
  /** The round that just ended (round start is reset when its completion is ready), or -1. */
  private endedRound = -1
  /** Rounds below this are never swapped (after a rebase or a catch-up). */
  private firstLiveRound = 0
  /** A late joiner still has to tell its peers it abstains from the rounds before it joined. */
  private mustAbstain = false

  constructor(config: Olco3Config, deps: AlgorithmDeps) {
    super(deps, {
      compressor: config.compressor,
      errorFeedback: true,
      maxRoundsAhead: config.staleness + EXTRA_ROUNDS_AHEAD,
    })
    this.H = config.H
    this.staleness = config.staleness
    this.own = new Float32Array(this.size)
  }

  roundOfStep(step: number): number {
    return Math.floor(step / this.H)
  }

  shouldCommunicate(step: number): boolean {
    return (step + 1) % this.H === 0
  }

  isSynchronizedAfter(_step: number): boolean {
    // Local models differ by each worker's residual and its last s rounds of updates.
    return false
  }

  /**
   * An exact average replaced every model by the same vector. Each local model held all of its
   * worker's progress (its residual and its unswapped rounds included), so that average absorbed
   * them: the residual, the queued own payloads and the peers' payloads of rounds before the
   * current one are dropped, and their late arrivals are rejected.
   */
  rebase(params: Float32Array): void {
    const round = this.roundOfStep(this.stepIndex)
    this.roundStart.set(params)
    this.channel.resetResidual()
    for (const r of [...this.ownSent.keys()]) if (r < round) this.ownSent.delete(r)
    this.firstLiveRound = round
    this.inbox.finish(round - 1)
    this.inbox.setCurrent(round)
  }

  /**
   * A late joiner's first step: its peers may still wait for its deltas of the s rounds before
   * it joined (their stale averages are not applied yet); empty payloads release them.
   */
  private abstentions(): AlgorithmMessage[] {
    if (!this.mustAbstain) return []
    this.mustAbstain = false
    const out: AlgorithmMessage[] = []
    for (let r = Math.max(0, this.firstLiveRound - this.staleness); r < this.firstLiveRound; r++) {
      out.push({ kind: 'delta', round: r, to: 'all', payload: new Uint8Array(0) })
    }
    return out
  }

  protected onAfterStep(ctx: StepContext, params: Float32Array): AlgorithmMessage[] {
    const abstain = this.abstentions()
    if (!this.shouldCommunicate(ctx.step)) return abstain
    const round = this.roundOfStep(ctx.step)
    // Step 1: Δ_i^r = x_i(start of r) − x_i. Step 2: c_i^r = C(Δ_i^r + e_i), e_i ← Δ_i^r + e_i − c_i^r.
    const { own, message } = this.encodeDelta(params, round)
    this.ownSent.set(round, own)
    this.endedRound = round
    const stale = round - this.staleness
    this.pendingSwap = stale >= this.firstLiveRound ? stale : -1
    return [...abstain, message]
  }

  protected onTryComplete(view: MembershipView, buffers: CompletionBuffers): Completion {
    if (this.endedRound < 0) return READY_EMPTY
    const params = buffers.params
    const q = this.pendingSwap
    let outcomes: RoundOutcome[] = []
    if (q >= 0) {
      const decision = this.decide(q, view, this.endedRound - q)
      if (decision.status === 'waiting') return { ...decision, messages: [] }
      const ownPayload = this.ownSent.get(q)
      if (ownPayload === undefined)
        throw new Error(`Assertion failed: olco3 has no own payload for round ${q}`)
      // Step 3: x_i ← x_i + c_i^{q} − c̄^{q}.
      this.averageAndClose(q, ownPayload, decision.received, this.average)
      this.channel.decode(ownPayload, q, this.workerIndex, this.own)
      addDifference(params, this.own, this.average)
      this.ownSent.delete(q)
      outcomes = [decision.outcome]
    }
    // Step 4: the next round starts from the swapped model.
    this.roundStart.set(params)
    this.inbox.setCurrent(this.endedRound + 1)
    this.endedRound = -1
    this.pendingSwap = -1
    return { status: 'ready', outcomes, messages: [] }
  }

  protected override exportBody(
    data: JsonObject,
    vectors: Record<string, Float32Array>,
    bytes: Record<string, Uint8Array>,
  ): void {
    const rounds: number[] = []
    for (const [r, payload] of this.ownSent) {
      rounds.push(r)
      bytes[`own:${r}`] = payload.slice()
    }
    data.ownRounds = rounds
    data.firstLiveRound = this.firstLiveRound
    data.mustAbstain = this.mustAbstain
    super.exportBody(data, vectors, bytes)
  }

  protected override importBody(state: AlgorithmState, how: ImportHow): void {
    this.ownSent.clear()
    this.pendingSwap = -1
    this.endedRound = -1
    if (how.mode === 'catch-up') {
      this.firstLiveRound = this.roundOfStep(how.step)
      this.mustAbstain = true
    } else {
      for (const r of readIntArray(state.data, 'ownRounds')) {
        const payload = state.bytes[`own:${r}`]
        if (!(payload instanceof Uint8Array)) throw badState(`own payload of round ${r} is missing`)
        this.ownSent.set(r, payload.slice())
      }
      this.firstLiveRound = readInt(state.data, 'firstLiveRound')
      this.mustAbstain = readBoolean(state.data, 'mustAbstain')
    }
    super.importBody(state, how)
  }
}
