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
  MessageKind,
  PeerStaleness,
  ReceiveResult,
  RoundOutcome,
  StepContext,
} from './algorithm.ts'
import { AlgorithmCore, READY_EMPTY, type AlgorithmDeps, type ImportHow } from './algorithm-core.ts'
import { Averager } from './averager.ts'
import type { Olco3Config } from './config.ts'
import { DeltaChannel } from './delta-channel.ts'
import { ACCEPTED, tryDecode } from './messages.ts'
import { RoundInbox } from './round-inbox.ts'
import { decideRound } from './round-decision.ts'
import {
  badState,
  readBoolean,
  readInt,
  readIntArray,
  readVector,
  type AlgorithmState,
  type JsonObject,
} from './state.ts'

/** Rounds beyond `current + staleness` a peer's delta may be ahead and still be kept. */
const EXTRA_ROUNDS_AHEAD = 4

export class Olco3 extends AlgorithmCore {
  readonly name = 'olco3'
  readonly exchangeKind = 'model-delta'
  protected readonly acceptedKinds: readonly MessageKind[] = ['delta']
  readonly H: number
  readonly staleness: number
  readonly channel: DeltaChannel
  private readonly inbox: RoundInbox
  private readonly averager: Averager
  /** Local model at the start of the current round (after the last swap). */
  private readonly roundStart: Float32Array
  private readonly delta: Float32Array
  private readonly average: Float32Array
  private readonly own: Float32Array
  private readonly scratch: Float32Array
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
    super(deps)
    this.H = config.H
    this.staleness = config.staleness
    this.channel = new DeltaChannel({
      compressor: this.createCompressor(config.compressor, deps.layout),
      errorFeedback: true,
      seed: deps.seed,
      workerIndex: deps.workerIndex,
    })
    this.inbox = new RoundInbox(config.staleness + EXTRA_ROUNDS_AHEAD)
    this.averager = new Averager(this.size)
    this.roundStart = new Float32Array(this.size)
    this.delta = new Float32Array(this.size)
    this.average = new Float32Array(this.size)
    this.own = new Float32Array(this.size)
    this.scratch = new Float32Array(this.size)
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

  protected onStart(params: Float32Array): void {
    this.roundStart.set(params)
    this.inbox.setCurrent(0)
  }

  protected override onBeforeStep(ctx: StepContext): void {
    this.inbox.setCurrent(this.roundOfStep(ctx.step))
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
    // Step 1: Δ_i^r = x_i(start of r) − x_i.
    for (let j = 0; j < this.size; j++) this.delta[j] = (this.roundStart[j] ?? 0) - (params[j] ?? 0)
    // Step 2: c_i^r = C(Δ_i^r + e_i), e_i ← Δ_i^r + e_i − c_i^r.
    const { payload } = this.channel.encode(this.delta, round)
    this.ownSent.set(round, payload)
    this.recordSent(payload)
    this.endedRound = round
    const stale = round - this.staleness
    this.pendingSwap = stale >= this.firstLiveRound ? stale : -1
    return [...abstain, { kind: 'delta', round, to: 'all', payload: payload.slice() }]
  }

  protected onTryComplete(view: MembershipView, buffers: CompletionBuffers): Completion {
    if (this.endedRound < 0) return READY_EMPTY
    const params = buffers.params
    const q = this.pendingSwap
    let outcomes: RoundOutcome[] = []
    if (q >= 0) {
      const decision = decideRound(
        this.inbox,
        'delta',
        q,
        this.present,
        view.deadlinePassed,
        this.endedRound - q,
      )
      if (decision.status === 'waiting') {
        return { status: 'waiting', kind: 'delta', round: q, missing: decision.missing, messages: [] }
      }
      const ownPayload = this.ownSent.get(q)
      if (ownPayload === undefined)
        throw new Error(`Assertion failed: olco3 has no own payload for round ${q}`)
      // Step 3: x_i ← x_i + c_i^{q} − c̄^{q}.
      this.averager.average(this.channel, q, this.workerIndex, ownPayload, decision.received, this.average)
      this.channel.decode(ownPayload, q, this.workerIndex, this.own)
      for (let j = 0; j < this.size; j++)
        params[j] = (params[j] ?? 0) + ((this.own[j] ?? 0) - (this.average[j] ?? 0))
      this.ownSent.delete(q)
      this.inbox.finish(q)
      outcomes = [decision.outcome]
    }
    // Step 4: the next round starts from the swapped model.
    this.roundStart.set(params)
    this.inbox.setCurrent(this.endedRound + 1)
    this.endedRound = -1
    this.pendingSwap = -1
    return { status: 'ready', outcomes, messages: [] }
  }

  protected onReceive(from: number, message: AlgorithmMessage): ReceiveResult {
    const refused = this.inbox.check(from, message.round)
    if (refused !== null) return refused
    // An empty payload abstains from the round (round-inbox.ts); anything else must decode.
    const bad =
      message.payload.length === 0
        ? null
        : tryDecode(from, () => this.channel.decode(message.payload, message.round, from, this.scratch))
    if (bad !== null) return bad
    this.inbox.store(from, message.round, message.payload.slice())
    return ACCEPTED
  }

  protected currentRound(): number {
    return this.roundOfStep(this.stepIndex)
  }

  protected peerStaleness(): PeerStaleness[] {
    const round = this.currentRound()
    return this.present.map((peer) => {
      const newestRound = this.inbox.newestFrom(peer)
      return { peer, newestRound, roundsBehind: newestRound < 0 ? round : round - newestRound }
    })
  }

  protected exportBody(
    data: JsonObject,
    vectors: Record<string, Float32Array>,
    bytes: Record<string, Uint8Array>,
  ): void {
    vectors.roundStart = this.roundStart.slice()
    vectors.residual = this.channel.exportResidual()
    const rounds: number[] = []
    for (const [r, payload] of this.ownSent) {
      rounds.push(r)
      bytes[`own:${r}`] = payload.slice()
    }
    data.ownRounds = rounds
    data.firstLiveRound = this.firstLiveRound
    data.mustAbstain = this.mustAbstain
    this.inbox.exportTo('inbox', data, bytes)
  }

  protected importBody(state: AlgorithmState, how: ImportHow): void {
    this.ownSent.clear()
    this.pendingSwap = -1
    this.endedRound = -1
    if (how.mode === 'catch-up') {
      const step = typeof state.data.step === 'number' ? state.data.step : 0
      const round = this.roundOfStep(step)
      this.roundStart.set(how.params)
      this.channel.resetResidual()
      this.firstLiveRound = round
      this.mustAbstain = true
      this.inbox.clear(round - 1)
      this.inbox.setCurrent(round)
      return
    }
    this.roundStart.set(readVector(state, 'roundStart', this.size))
    this.channel.importResidual(readVector(state, 'residual', this.size))
    for (const r of readIntArray(state.data, 'ownRounds')) {
      const payload = state.bytes[`own:${r}`]
      if (!(payload instanceof Uint8Array)) throw badState(`own payload of round ${r} is missing`)
      this.ownSent.set(r, payload.slice())
    }
    this.firstLiveRound = readInt(state.data, 'firstLiveRound')
    this.mustAbstain = readBoolean(state.data, 'mustAbstain')
    this.inbox.importFrom('inbox', state, this.workerCount)
  }
}
