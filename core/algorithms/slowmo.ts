/**
 * `slowmo`: slow (outer) momentum over any base algorithm (Wang, Tantia, Ballas, Rabbat,
 * "SlowMo: Improving communication-efficient distributed SGD with slow momentum", ICLR 2020;
 * ALGORITHMS.md §4). Also the `diloco` preset (outer Nesterov on the pseudo-gradient).
 *
 * Every τ local steps (the paper's Algorithm 1, outer loop), starting from x_{t,0} and reaching
 * the averaged x_{t,τ}:
 *     u_{t+1}   = β·u_t + (x_{t,0} − x_{t,τ}) / γ_t              (slow momentum buffer)
 *     x_{t+1,0} = x_{t,0} − α·γ_t·u_{t+1}                         (slow update)
 * Nesterov form (DiLoCo's outer optimizer, as torch.optim.SGD(nesterov=True) on the
 * pseudo-gradient): x_{t+1,0} = x_{t,0} − α·γ_t·((x_{t,0} − x_{t,τ}) / γ_t + β·u_{t+1}).
 * With `scaleByLearningRate: false` (DiLoCo) γ_t is taken as 1: u accumulates the pseudo-
 * gradient x_{t,0} − x_{t,τ} and α is the outer learning rate.
 * α = 1, β = 0 gives x_{t+1,0} = x_{t,τ}: the base unchanged (tested numerically).
 *
 * u needs no communication: x_{t,τ} is the common average, so u is the same on every worker.
 * When the base does not leave every worker with the same exactly averaged model after step
 * t·τ − 1 (OLCO3, SGP, or Local SGD with τ not a multiple of H), SlowMo first runs an exact
 * average of the models ('model' messages, uncompressed), as the paper does for its gossip
 * base, then tells the base to `rebase` on the new common model.
 */
import { assert, CoreError } from '../errors.ts'
import type {
  AlgorithmMessage,
  AlgorithmStats,
  BaseAlgorithm,
  Completion,
  CompletionBuffers,
  DistributedAlgorithm,
  ExchangeKind,
  ImportOptions,
  MembershipView,
  ReceiveResult,
  RoundOutcome,
  StepContext,
} from './algorithm.ts'
import { checkDeps, compressorFactory, type AlgorithmDeps } from './algorithm-core.ts'
import { Averager } from './averager.ts'
import { ALGORITHM_DEFAULTS, type SlowMoConfig } from './config.ts'
import { DeltaChannel } from './delta-channel.ts'
import { checkIncoming, isAlgorithmMessage, normalisePresent, rejected } from './messages.ts'
import { RoundInbox } from './round-inbox.ts'
import { decideRound } from './round-decision.ts'
import {
  buildState,
  checkEnvelope,
  readChild,
  readInt,
  readNumber,
  readVector,
  stateOwner,
  type AlgorithmState,
  type JsonObject,
} from './state.ts'
import { checkSize } from './vector-ops.ts'

const MAX_OUTER_ROUNDS_AHEAD = 2

type Stage = 'new' | 'idle' | 'stepping' | 'gradient' | 'gradient-done' | 'completing' | 'outer-wait' | 'left'

export class SlowMo implements DistributedAlgorithm {
  readonly name = 'slowmo'
  readonly base: BaseAlgorithm
  readonly alpha: number
  readonly beta: number
  readonly tau: number
  readonly nesterov: boolean
  readonly scaleByLearningRate: boolean
  readonly workerIndex: number
  readonly workerCount: number
  private readonly deps: AlgorithmDeps
  private readonly size: number
  /** x_{t,0}: the model the current outer iteration started from. */
  private readonly outerStart: Float32Array
  /** u_t: the slow momentum buffer. */
  private readonly momentum: Float32Array
  private readonly modelChannel: DeltaChannel
  private readonly inbox = new RoundInbox(MAX_OUTER_ROUNDS_AHEAD)
  private readonly averager: Averager
  private readonly scratch: Float32Array
  private stage: Stage = 'new'
  /** t: index of the current outer iteration. */
  private outerIndex = 0
  private learningRate = 1
  private present: number[] = []
  private outerDue = false
  private lastStep = -1
  private ownModel: Uint8Array | null = null
  private heldOutcomes: RoundOutcome[] = []
  private heldMessages: AlgorithmMessage[] = []
  private modelBytes = 0

  constructor(config: SlowMoConfig, base: BaseAlgorithm, deps: AlgorithmDeps) {
    checkDeps(deps)
    if (
      !(config.alpha > 0) ||
      !(config.beta >= 0 && config.beta < 1) ||
      !Number.isInteger(config.tau) ||
      config.tau < 1
    ) {
      throw new CoreError('ERR_BAD_SPEC', `slowmo needs alpha > 0, 0 <= beta < 1 and an integer tau >= 1`)
    }
    this.base = base
    this.alpha = config.alpha
    this.beta = config.beta
    this.tau = config.tau
    this.nesterov = config.nesterov ?? ALGORITHM_DEFAULTS.nesterov
    this.scaleByLearningRate = config.scaleByLearningRate ?? ALGORITHM_DEFAULTS.scaleByLearningRate
    this.workerIndex = deps.workerIndex
    this.workerCount = deps.workerCount
    this.deps = deps
    this.size = deps.layout.totalSize
    this.outerStart = new Float32Array(this.size)
    this.momentum = new Float32Array(this.size)
    const none = compressorFactory(deps)('none', deps.layout)
    this.modelChannel = new DeltaChannel({
      compressor: none,
      errorFeedback: false,
      seed: deps.seed,
      workerIndex: deps.workerIndex,
    })
    this.averager = new Averager(this.size)
    this.scratch = new Float32Array(this.size)
  }

  get exchangeKind(): ExchangeKind {
    return this.base.exchangeKind
  }

  get step(): number {
    return this.base.step
  }

  /** The slow momentum buffer u (a copy, for tests and the UI). */
  get slowMomentum(): Float32Array {
    return this.momentum.slice()
  }

  private expectStage(allowed: readonly Stage[], call: string): void {
    assert(
      allowed.includes(this.stage),
      () => `slowmo.${call} called in stage ${this.stage} (expects ${allowed.join(' or ')})`,
    )
  }

  isOuterStep(step: number): boolean {
    return (step + 1) % this.tau === 0
  }

  shouldCommunicate(step: number): boolean {
    return (
      this.base.shouldCommunicate(step) || (this.isOuterStep(step) && !this.base.isSynchronizedAfter(step))
    )
  }

  start(params: Float32Array): void {
    this.expectStage(['new'], 'start')
    this.base.start(params)
    this.outerStart.set(params)
    this.momentum.fill(0)
    this.inbox.setCurrent(0)
    this.stage = 'idle'
  }

  beforeLocalStep(ctx: StepContext, params: Float32Array): void {
    this.expectStage(['idle'], 'beforeLocalStep')
    this.base.beforeLocalStep(ctx, params)
    this.present = normalisePresent(ctx.present, this.workerIndex, this.workerCount)
    const lr = ctx.learningRate ?? 1
    assert(Number.isFinite(lr) && lr > 0, () => `learningRate must be a positive number, got ${lr}`)
    this.learningRate = lr
    this.stage = 'stepping'
  }

  submitGradient(ctx: StepContext, grad: Float32Array): AlgorithmMessage[] {
    this.expectStage(['stepping'], 'submitGradient')
    const out = this.base.submitGradient(ctx, grad)
    this.stage = 'gradient'
    return out
  }

  afterLocalStep(ctx: StepContext, params: Float32Array): AlgorithmMessage[] {
    this.expectStage(['stepping', 'gradient-done'], 'afterLocalStep')
    const out = this.base.afterLocalStep(ctx, params)
    this.present = normalisePresent(ctx.present, this.workerIndex, this.workerCount)
    this.outerDue = this.isOuterStep(ctx.step)
    this.lastStep = ctx.step
    this.stage = 'completing'
    return out
  }

  tryComplete(view: MembershipView, buffers: CompletionBuffers): Completion {
    this.expectStage(['gradient', 'completing', 'outer-wait'], 'tryComplete')
    this.present = normalisePresent(view.present, this.workerIndex, this.workerCount)
    if (this.stage === 'gradient') {
      const c = this.base.tryComplete(view, buffers)
      if (c.status === 'ready') this.stage = 'gradient-done'
      return c
    }
    const params = buffers.params
    if (this.stage === 'completing') {
      const c = this.base.tryComplete(view, buffers)
      if (c.status === 'waiting' || !this.outerDue) {
        if (c.status === 'ready') this.stage = 'idle'
        return c
      }
      if (this.base.isSynchronizedAfter(this.lastStep)) {
        this.outerUpdate(params)
        this.stage = 'idle'
        return c
      }
      // The base left different models: average them exactly first.
      const { payload } = this.modelChannel.encode(params, this.outerIndex)
      this.ownModel = payload
      this.modelBytes += payload.length
      this.heldOutcomes = [...c.outcomes]
      this.heldMessages = [
        ...c.messages,
        { kind: 'model', round: this.outerIndex, to: 'all', payload: payload.slice() },
      ]
      this.stage = 'outer-wait'
    }
    const round = this.outerIndex
    const decision = decideRound(this.inbox, 'model', round, this.present, view.deadlinePassed, 0)
    const messages = this.heldMessages
    this.heldMessages = []
    if (decision.status === 'waiting') return { ...decision, messages }
    const own = this.ownModel
    if (own === null) throw new Error('Assertion failed: slowmo exact average without its own model')
    this.averager.average(this.modelChannel, round, this.workerIndex, own, decision.received, params)
    this.inbox.finish(round)
    this.ownModel = null
    this.outerUpdate(params)
    const outcomes = [...this.heldOutcomes, decision.outcome]
    this.heldOutcomes = []
    this.stage = 'idle'
    return { status: 'ready', outcomes, messages }
  }

  /** The SlowMo outer step; `params` holds x_{t,τ} and receives x_{t+1,0}. */
  private outerUpdate(params: Float32Array): void {
    const gamma = this.scaleByLearningRate ? this.learningRate : 1
    const { alpha, beta, nesterov } = this
    for (let j = 0; j < this.size; j++) {
      const x0 = this.outerStart[j] ?? 0
      const scaled = (x0 - (params[j] ?? 0)) / gamma
      // Kept in double until the final rounding, so α = 1, β = 0 returns x_{t,τ} to the last bit.
      const u = beta * (this.momentum[j] ?? 0) + scaled
      this.momentum[j] = u
      const direction = nesterov ? scaled + beta * u : u
      params[j] = x0 - alpha * gamma * direction
    }
    this.outerStart.set(params)
    this.base.rebase(params)
    this.outerIndex++
    this.inbox.setCurrent(this.outerIndex)
  }

  receive(from: number, message: AlgorithmMessage): ReceiveResult {
    if (this.stage === 'left') return rejected('ERR_DESTROYED', `slowmo worker ${this.workerIndex} has left`)
    if (!isAlgorithmMessage(message))
      return rejected('ERR_BAD_MESSAGE', `malformed algorithm message from ${from}`)
    if (message.kind !== 'model') return this.base.receive(from, message)
    const bad = checkIncoming(from, message, this, ['model'])
    if (bad !== null) return bad
    // Unlike the base's deltas, an exact average has no abstention: every model must decode.
    return this.inbox.accept(from, message, () =>
      this.modelChannel.decode(message.payload, message.round, from, this.scratch),
    )
  }

  leave(params: Float32Array): AlgorithmMessage[] {
    this.expectStage(['idle'], 'leave')
    const out = this.base.leave(params)
    this.stage = 'left'
    return out
  }

  stats(): AlgorithmStats {
    const s = this.base.stats()
    return { ...s, payloadBytesSent: s.payloadBytesSent + this.modelBytes, rawBytesSent: s.rawBytesSent }
  }

  exportState(): AlgorithmState {
    this.expectStage(['idle'], 'exportState')
    const data: JsonObject = {
      outerIndex: this.outerIndex,
      learningRate: this.learningRate,
      modelBytes: this.modelBytes,
    }
    const bytes: Record<string, Uint8Array> = {}
    this.inbox.exportTo('inbox', data, bytes)
    return buildState(stateOwner(this.name, this.deps), {
      data,
      vectors: { outerStart: this.outerStart.slice(), momentum: this.momentum.slice() },
      bytes,
      children: { base: this.base.exportState() },
    })
  }

  importState(state: AlgorithmState, options?: ImportOptions): void {
    this.expectStage(['new', 'idle'], 'importState')
    const mode = options?.mode ?? 'checkpoint'
    checkEnvelope(state, stateOwner(this.name, this.deps), mode)
    if (options?.params !== undefined) checkSize(options.params, this.size, 'params')
    // Everything SlowMo holds is shared by all workers (u, x_{t,0}, t), so catch-up copies it.
    const outerStart = readVector(state, 'outerStart', this.size)
    const momentum = readVector(state, 'momentum', this.size)
    const outerIndex = readInt(state.data, 'outerIndex')
    const learningRate = readNumber(state.data, 'learningRate')
    this.base.importState(readChild(state, 'base'), options)
    this.outerStart.set(outerStart)
    this.momentum.set(momentum)
    this.outerIndex = outerIndex
    this.learningRate = learningRate
    if (mode === 'checkpoint') {
      this.inbox.importFrom('inbox', state, this.workerCount)
      this.modelBytes = readInt(state.data, 'modelBytes')
    } else {
      this.inbox.clear(outerIndex - 1)
      this.inbox.setCurrent(outerIndex)
    }
    this.stage = 'idle'
  }
}
