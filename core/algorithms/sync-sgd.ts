/**
 * `sync`: synchronous data-parallel SGD, the baseline (ALGORITHMS.md §0). Every step each
 * worker sends its (optionally compressed, error-fed) gradient g_i to all peers, waits for
 * theirs, and the driver applies the optimizer to ḡ = (1/n) Σ_i g_i. Round = step.
 * With the 'none' compressor this is exact all-reduce SGD; every worker that averaged the same
 * set holds a bit-identical ḡ and therefore the same model.
 */
import type {
  AlgorithmMessage,
  Completion,
  CompletionBuffers,
  MembershipView,
  StepContext,
} from './algorithm.ts'
import { READY_EMPTY, type AlgorithmDeps, type Phase } from './algorithm-core.ts'
import { AllReduceAlgorithm } from './all-reduce-algorithm.ts'
import { ALGORITHM_DEFAULTS, type SyncConfig } from './config.ts'

/** How many steps ahead of this worker a peer's gradient may be and still be kept. */
const MAX_STEPS_AHEAD = 8

export class SyncSgd extends AllReduceAlgorithm {
  readonly name = 'sync'
  readonly exchangeKind = 'gradient'
  private ownPayload: Uint8Array | null = null

  constructor(config: SyncConfig, deps: AlgorithmDeps) {
    super(deps, {
      messageKind: 'gradient',
      compressor: config.compressor ?? ALGORITHM_DEFAULTS.compressor,
      errorFeedback: config.errorFeedback ?? ALGORITHM_DEFAULTS.errorFeedback,
      maxRoundsAhead: MAX_STEPS_AHEAD,
    })
  }

  /** Round = step. */
  protected roundOfStep(step: number): number {
    return step
  }

  shouldCommunicate(_step: number): boolean {
    return true
  }

  isSynchronizedAfter(_step: number): boolean {
    return true
  }

  rebase(_params: Float32Array): void {
    // Nothing refers to a past model: the next gradient exchange starts from the new params.
  }

  protected override onGradient(ctx: StepContext, grad: Float32Array): AlgorithmMessage[] {
    const { own, message } = this.encodeContribution(grad, ctx.step)
    this.ownPayload = own
    return [message]
  }

  protected onAfterStep(): AlgorithmMessage[] {
    return []
  }

  protected onTryComplete(view: MembershipView, buffers: CompletionBuffers, phase: Phase): Completion {
    if (phase === 'completing') return READY_EMPTY
    const round = this.stepIndex
    const decision = this.decide(round, view, 0)
    if (decision.status === 'waiting') return { ...decision, messages: [] }
    const own = this.ownPayload
    const grad = buffers.grad
    if (own === null || grad === undefined)
      throw new Error('Assertion failed: sync gradient round without a payload')
    this.averageAndClose(round, own, decision.received, grad)
    this.ownPayload = null
    return { status: 'ready', outcomes: [decision.outcome], messages: [] }
  }
}
