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
  MessageKind,
  PeerStaleness,
  ReceiveResult,
  StepContext,
} from './algorithm.ts'
import {
  AlgorithmCore,
  READY_EMPTY,
  type AlgorithmDeps,
  type ImportHow,
  type Phase,
} from './algorithm-core.ts'
import { Averager } from './averager.ts'
import { ALGORITHM_DEFAULTS, type SyncConfig } from './config.ts'
import { DeltaChannel } from './delta-channel.ts'
import { ACCEPTED, tryDecode } from './messages.ts'
import { RoundInbox } from './round-inbox.ts'
import { decideRound } from './round-decision.ts'
import { readVector, type AlgorithmState, type JsonObject } from './state.ts'

/** How many steps ahead of this worker a peer's gradient may be and still be kept. */
const MAX_STEPS_AHEAD = 8

export class SyncSgd extends AlgorithmCore {
  readonly name = 'sync'
  readonly exchangeKind = 'gradient'
  protected readonly acceptedKinds: readonly MessageKind[] = ['gradient']
  readonly channel: DeltaChannel
  private readonly inbox = new RoundInbox(MAX_STEPS_AHEAD)
  private readonly averager: Averager
  private readonly scratch: Float32Array
  private ownPayload: Uint8Array | null = null

  constructor(config: SyncConfig, deps: AlgorithmDeps) {
    super(deps)
    this.channel = new DeltaChannel({
      compressor: this.createCompressor(config.compressor ?? ALGORITHM_DEFAULTS.compressor, deps.layout),
      errorFeedback: config.errorFeedback ?? ALGORITHM_DEFAULTS.errorFeedback,
      seed: deps.seed,
      workerIndex: deps.workerIndex,
    })
    this.averager = new Averager(this.size)
    this.scratch = new Float32Array(this.size)
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

  protected onStart(_params: Float32Array): void {
    this.inbox.setCurrent(0)
  }

  protected override onBeforeStep(ctx: StepContext): void {
    this.inbox.setCurrent(ctx.step)
  }

  protected override onGradient(ctx: StepContext, grad: Float32Array): AlgorithmMessage[] {
    const { payload } = this.channel.encode(grad, ctx.step)
    this.ownPayload = payload
    this.recordSent(payload)
    return [{ kind: 'gradient', round: ctx.step, to: 'all', payload: payload.slice() }]
  }

  protected onAfterStep(): AlgorithmMessage[] {
    return []
  }

  protected onTryComplete(view: MembershipView, buffers: CompletionBuffers, phase: Phase): Completion {
    if (phase === 'completing') return READY_EMPTY
    const round = this.stepIndex
    const decision = decideRound(this.inbox, 'gradient', round, this.present, view.deadlinePassed, 0)
    if (decision.status === 'waiting') {
      return { status: 'waiting', kind: 'gradient', round, missing: decision.missing, messages: [] }
    }
    const own = this.ownPayload
    const grad = buffers.grad
    if (own === null || grad === undefined)
      throw new Error('Assertion failed: sync gradient round without a payload')
    this.averager.average(this.channel, round, this.workerIndex, own, decision.received, grad)
    this.inbox.finish(round)
    this.ownPayload = null
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
    return this.stepIndex
  }

  protected peerStaleness(): PeerStaleness[] {
    return this.present.map((peer) => {
      const newestRound = this.inbox.newestFrom(peer)
      return {
        peer,
        newestRound,
        roundsBehind: newestRound < 0 ? this.stepIndex : this.stepIndex - newestRound,
      }
    })
  }

  protected exportBody(
    data: JsonObject,
    vectors: Record<string, Float32Array>,
    bytes: Record<string, Uint8Array>,
  ): void {
    vectors.residual = this.channel.exportResidual()
    this.inbox.exportTo('inbox', data, bytes)
  }

  protected importBody(state: AlgorithmState, how: ImportHow): void {
    const step = typeof state.data.step === 'number' ? state.data.step : 0
    if (how.mode === 'catch-up') {
      this.channel.resetResidual()
      this.inbox.clear(step - 1)
      this.inbox.setCurrent(step)
      return
    }
    this.channel.importResidual(readVector(state, 'residual', this.size))
    this.inbox.importFrom('inbox', state, this.workerCount)
  }
}
