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
  StepContext,
} from './algorithm.ts'
import { READY_EMPTY, type AlgorithmDeps } from './algorithm-core.ts'
import { ALGORITHM_DEFAULTS, type LocalConfig } from './config.ts'
import { ModelDeltaAlgorithm } from './model-delta-algorithm.ts'
import { subtractInto } from './vector-ops.ts'

const MAX_ROUNDS_AHEAD = 4

/** Round bookkeeping for "H = 1 for the first W steps, then H": shared with SlowMo tests. */
export function localRoundOfStep(step: number, H: number, warmupSteps: number): number {
  return step < warmupSteps ? step : warmupSteps + Math.floor((step - warmupSteps) / H)
}

export function localRoundEndsAt(step: number, H: number, warmupSteps: number): boolean {
  return step < warmupSteps || (step - warmupSteps + 1) % H === 0
}

/** `roundStart` is x_r, the common model the current round started from. */
export class LocalSgd extends ModelDeltaAlgorithm {
  readonly name = 'local'
  readonly H: number
  readonly warmupSteps: number
  private ownPayload: Uint8Array | null = null
  private pendingRound = -1

  constructor(config: LocalConfig, deps: AlgorithmDeps) {
    super(deps, {
      compressor: config.compressor ?? ALGORITHM_DEFAULTS.compressor,
      errorFeedback: config.errorFeedback ?? ALGORITHM_DEFAULTS.errorFeedback,
      maxRoundsAhead: MAX_ROUNDS_AHEAD,
    })
    this.H = config.H
    this.warmupSteps = config.warmupSteps ?? ALGORITHM_DEFAULTS.warmupSteps
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

  protected onAfterStep(ctx: StepContext, params: Float32Array): AlgorithmMessage[] {
    if (!this.shouldCommunicate(ctx.step)) return []
    const round = this.roundOfStep(ctx.step)
    const { own, message } = this.encodeDelta(params, round)
    this.ownPayload = own
    this.pendingRound = round
    return [message]
  }

  protected onTryComplete(view: MembershipView, buffers: CompletionBuffers): Completion {
    const round = this.pendingRound
    const own = this.ownPayload
    if (round < 0 || own === null) return READY_EMPTY
    const decision = this.decide(round, view, 0)
    if (decision.status === 'waiting') return { ...decision, messages: [] }
    this.averageAndClose(round, own, decision.received, this.average)
    const params = buffers.params
    subtractInto(params, this.roundStart, this.average)
    this.roundStart.set(params)
    this.inbox.setCurrent(round + 1)
    this.ownPayload = null
    this.pendingRound = -1
    return { status: 'ready', outcomes: [decision.outcome], messages: [] }
  }
}
