/**
 * `local`: Local SGD / periodic model averaging (ALGORITHMS.md §1; Stich 2019, Lin et al.
 * 2020 "Don't use large mini-batches, use local SGD" for post-local SGD).
 *
 * Each worker runs H local optimizer steps from the common model x_r, sends the delta
 * Δ_i = x_r − x_i (not the weights), and when the round is complete sets
 *   x_{r+1} = x_r − (1/n) Σ_i Δ_i  (= (1/n) Σ_i x_i without compression).
 * Post-local warm-up: the first `warmupSteps` steps are rounds of one step (H = 1), then
 * rounds of H steps. H = 1 is synchronous SGD (tested numerically).
 *
 * With a lossy compressor the delta goes through error feedback (DeltaChannel): the part not
 * sent stays in the residual and is sent in a later round (QSparse-local-SGD style); the
 * common model stays identical on every worker that averaged the same set.
 *
 * Momentum buffers stay in the trainer's optimizer and are not averaged (the default
 * ALGORITHMS.md asks for). Round r covers steps [start(r), start(r) + len(r)).
 */
import type {
  AlgorithmMessage,
  Completion,
  CompletionBuffers,
  MembershipView,
  MessageKind,
  PeerStaleness,
  ReceiveResult,
  StepContext,
} from './algorithm.ts'
import { AlgorithmCore, READY_EMPTY, type AlgorithmDeps, type ImportHow } from './algorithm-core.ts'
import { Averager } from './averager.ts'
import { ALGORITHM_DEFAULTS, type LocalConfig } from './config.ts'
import { DeltaChannel } from './delta-channel.ts'
import { ACCEPTED, tryDecode } from './messages.ts'
import { RoundInbox } from './round-inbox.ts'
import { decideRound } from './round-decision.ts'
import { readVector, type AlgorithmState, type JsonObject } from './state.ts'

const MAX_ROUNDS_AHEAD = 4

/** Round bookkeeping for "H = 1 for the first W steps, then H": shared with SlowMo tests. */
export function localRoundOfStep(step: number, H: number, warmupSteps: number): number {
  return step < warmupSteps ? step : warmupSteps + Math.floor((step - warmupSteps) / H)
}

export function localRoundEndsAt(step: number, H: number, warmupSteps: number): boolean {
  return step < warmupSteps || (step - warmupSteps + 1) % H === 0
}

export class LocalSgd extends AlgorithmCore {
  readonly name = 'local'
  readonly exchangeKind = 'model-delta'
  protected readonly acceptedKinds: readonly MessageKind[] = ['delta']
  readonly H: number
  readonly warmupSteps: number
  readonly channel: DeltaChannel
  private readonly inbox = new RoundInbox(MAX_ROUNDS_AHEAD)
  private readonly averager: Averager
  /** x_r: the common model the current round started from. */
  private readonly roundStart: Float32Array
  private readonly delta: Float32Array
  private readonly average: Float32Array
  private readonly scratch: Float32Array
  private ownPayload: Uint8Array | null = null
  private pendingRound = -1

  constructor(config: LocalConfig, deps: AlgorithmDeps) {
    super(deps)
    this.H = config.H
    this.warmupSteps = config.warmupSteps ?? ALGORITHM_DEFAULTS.warmupSteps
    this.channel = new DeltaChannel({
      compressor: this.createCompressor(config.compressor ?? ALGORITHM_DEFAULTS.compressor, deps.layout),
      errorFeedback: config.errorFeedback ?? ALGORITHM_DEFAULTS.errorFeedback,
      seed: deps.seed,
      workerIndex: deps.workerIndex,
    })
    this.averager = new Averager(this.size)
    this.roundStart = new Float32Array(this.size)
    this.delta = new Float32Array(this.size)
    this.average = new Float32Array(this.size)
    this.scratch = new Float32Array(this.size)
  }

  roundOfStep(step: number): number {
    return localRoundOfStep(step, this.H, this.warmupSteps)
  }

  shouldCommunicate(step: number): boolean {
    return localRoundEndsAt(step, this.H, this.warmupSteps)
  }

  isSynchronizedAfter(step: number): boolean {
    return this.shouldCommunicate(step)
  }

  rebase(params: Float32Array): void {
    // The residual holds progress that is not in any model yet, so it stays.
    this.roundStart.set(params)
  }

  protected onStart(params: Float32Array): void {
    this.roundStart.set(params)
    this.inbox.setCurrent(0)
  }

  protected override onBeforeStep(ctx: StepContext): void {
    this.inbox.setCurrent(this.roundOfStep(ctx.step))
  }

  protected onAfterStep(ctx: StepContext, params: Float32Array): AlgorithmMessage[] {
    if (!this.shouldCommunicate(ctx.step)) return []
    const round = this.roundOfStep(ctx.step)
    for (let j = 0; j < this.size; j++) this.delta[j] = (this.roundStart[j] ?? 0) - (params[j] ?? 0)
    const { payload } = this.channel.encode(this.delta, round)
    this.ownPayload = payload
    this.pendingRound = round
    this.recordSent(payload)
    return [{ kind: 'delta', round, to: 'all', payload: payload.slice() }]
  }

  protected onTryComplete(view: MembershipView, buffers: CompletionBuffers): Completion {
    const round = this.pendingRound
    const own = this.ownPayload
    if (round < 0 || own === null) return READY_EMPTY
    const decision = decideRound(this.inbox, 'delta', round, this.present, view.deadlinePassed, 0)
    if (decision.status === 'waiting') {
      return { status: 'waiting', kind: 'delta', round, missing: decision.missing, messages: [] }
    }
    this.averager.average(this.channel, round, this.workerIndex, own, decision.received, this.average)
    const params = buffers.params
    for (let j = 0; j < this.size; j++) params[j] = (this.roundStart[j] ?? 0) - (this.average[j] ?? 0)
    this.roundStart.set(params)
    this.inbox.finish(round)
    this.inbox.setCurrent(round + 1)
    this.ownPayload = null
    this.pendingRound = -1
    return { status: 'ready', outcomes: [decision.outcome], messages: [] }
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
    this.inbox.exportTo('inbox', data, bytes)
  }

  protected importBody(state: AlgorithmState, how: ImportHow): void {
    if (how.mode === 'catch-up') {
      const step = typeof state.data.step === 'number' ? state.data.step : 0
      const round = this.roundOfStep(step)
      this.roundStart.set(how.params)
      this.channel.resetResidual()
      this.inbox.clear(round - 1)
      this.inbox.setCurrent(round)
      return
    }
    this.roundStart.set(readVector(state, 'roundStart', this.size))
    this.channel.importResidual(readVector(state, 'residual', this.size))
    this.inbox.importFrom('inbox', state, this.workerCount)
  }
}
