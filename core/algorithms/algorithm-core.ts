/**
 * The part every base algorithm shares: the call-order state machine of the driver contract
 * (algorithm.ts), the step counter, membership normalisation, byte accounting, per-peer
 * staleness for the stats and the common state envelope. Subclasses implement the `on*` hooks
 * and never re-check call order. The all-reduce algorithms (sync, Local SGD, OLCO3) share
 * more through all-reduce-algorithm.ts and model-delta-algorithm.ts.
 *
 * Phases (per step k):
 *   idle --beforeLocalStep--> stepping
 *   stepping --submitGradient--> gradient-wait --tryComplete:ready--> gradient-done   ('gradient' only)
 *   stepping | gradient-done --afterLocalStep--> completing --tryComplete:ready--> idle (k + 1)
 *   any --leave--> left
 */
import { assert, CoreError } from '../errors.ts'
import type { Compressor } from '../compress/compressor.ts'
import { createCompressor as createRegisteredCompressor } from '../compress/registry.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import type {
  AlgorithmMessage,
  AlgorithmStats,
  BaseAlgorithm,
  Completion,
  CompletionBuffers,
  ExchangeKind,
  ImportOptions,
  MembershipView,
  MessageKind,
  PeerStaleness,
  ReceiveResult,
  StepContext,
} from './algorithm.ts'
import { checkIncoming, normalisePresent, rejected } from './messages.ts'
import {
  buildState,
  checkEnvelope,
  readInt,
  stateOwner,
  type AlgorithmState,
  type JsonObject,
  type StateOwner,
} from './state.ts'
import { checkSize } from './vector-ops.ts'

/** Builds a compressor from a spec string for a layout (core/compress/registry.ts `createCompressor`). */
export type CompressorFactory = (spec: string, layout: ParamLayout) => Compressor

export interface AlgorithmDeps {
  readonly layout: ParamLayout
  /** Default: core/compress/registry.ts `createCompressor`. Tests may inject their own. */
  readonly createCompressor?: CompressorFactory
  /** This worker's index, 0 <= workerIndex < workerCount. */
  readonly workerIndex: number
  /** Worker slots in the room (the index space; the present members may be fewer). */
  readonly workerCount: number
  /** Room seed shared by every peer (seeded compressors derive their randomness from it). */
  readonly seed: number
}

/** How `importBody` restores: this worker's own checkpoint, or a late joiner's catch-up from `step`. */
export type ImportHow =
  | { readonly mode: 'checkpoint' }
  | { readonly mode: 'catch-up'; readonly params: Float32Array; readonly step: number }

export function compressorFactory(deps: AlgorithmDeps): CompressorFactory {
  return deps.createCompressor ?? createRegisteredCompressor
}

export type Phase = 'new' | 'idle' | 'stepping' | 'gradient-wait' | 'gradient-done' | 'completing' | 'left'

export const READY_EMPTY: Completion = Object.freeze({ status: 'ready', outcomes: [], messages: [] })

export function checkDeps(deps: AlgorithmDeps): void {
  const { workerIndex, workerCount, seed, layout } = deps
  if (!Number.isSafeInteger(workerCount) || workerCount < 1 || workerCount > 65_536) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `workerCount must be an integer in [1, 65536], got ${workerCount}`,
    )
  }
  if (!Number.isSafeInteger(workerIndex) || workerIndex < 0 || workerIndex >= workerCount) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `workerIndex must be in [0, ${workerCount - 1}], got ${workerIndex}`,
    )
  }
  if (!Number.isSafeInteger(seed))
    throw new CoreError('ERR_INVALID_ARGUMENT', `seed must be an integer, got ${seed}`)
  if (layout.totalSize < 1) throw new CoreError('ERR_INVALID_ARGUMENT', 'the parameter layout is empty')
}

export abstract class AlgorithmCore implements BaseAlgorithm {
  abstract readonly name: string
  abstract readonly exchangeKind: ExchangeKind
  /** Message kinds `receive` accepts. */
  protected abstract readonly acceptedKinds: readonly MessageKind[]

  readonly layout: ParamLayout
  readonly workerIndex: number
  readonly workerCount: number
  readonly seed: number
  protected readonly size: number
  protected readonly createCompressor: CompressorFactory
  protected phase: Phase = 'new'
  protected stepIndex = 0
  /** Other present workers, ascending, as of the last beforeLocalStep / tryComplete. */
  protected present: number[] = []
  private payloadBytes = 0
  private rawBytes = 0
  private lastRatio = 0

  constructor(deps: AlgorithmDeps) {
    checkDeps(deps)
    this.layout = deps.layout
    this.workerIndex = deps.workerIndex
    this.workerCount = deps.workerCount
    this.seed = deps.seed
    this.size = deps.layout.totalSize
    this.createCompressor = compressorFactory(deps)
  }

  get step(): number {
    return this.stepIndex
  }

  // ---- hooks -------------------------------------------------------------------------------

  protected abstract onStart(params: Float32Array): void
  protected onBeforeStep(_ctx: StepContext, _params: Float32Array): void {}
  protected onGradient(_ctx: StepContext, _grad: Float32Array): AlgorithmMessage[] {
    throw new Error(`Assertion failed: ${this.name} does not exchange gradients`)
  }
  protected abstract onAfterStep(ctx: StepContext, params: Float32Array): AlgorithmMessage[]
  /** Called in 'gradient-wait' (buffers.grad set) and in 'completing'. */
  protected abstract onTryComplete(view: MembershipView, buffers: CompletionBuffers, phase: Phase): Completion
  protected abstract onReceive(from: number, message: AlgorithmMessage): ReceiveResult
  protected onLeave(_params: Float32Array): AlgorithmMessage[] {
    return []
  }
  protected abstract currentRound(): number
  /** Newest round received from `peer` in this algorithm's numbering, or -1 (for the stats). */
  protected abstract newestRoundFrom(peer: number): number
  protected abstract exportBody(
    data: JsonObject,
    vectors: Record<string, Float32Array>,
    bytes: Record<string, Uint8Array>,
  ): void
  /** Restores the algorithm-specific part; the envelope and step are already checked. */
  protected abstract importBody(state: AlgorithmState, how: ImportHow): void
  abstract shouldCommunicate(step: number): boolean
  abstract isSynchronizedAfter(step: number): boolean
  abstract rebase(params: Float32Array): void

  // ---- the contract --------------------------------------------------------------------------

  private expectPhase(allowed: readonly Phase[], call: string): void {
    assert(
      allowed.includes(this.phase),
      () => `${this.name}.${call} called in phase ${this.phase} (expects ${allowed.join(' or ')})`,
    )
  }

  private expectStep(ctx: StepContext, call: string): void {
    assert(
      ctx.step === this.stepIndex,
      () => `${this.name}.${call} got step ${ctx.step}, the worker is at ${this.stepIndex}`,
    )
  }

  start(params: Float32Array): void {
    this.expectPhase(['new'], 'start')
    checkSize(params, this.size, 'params')
    this.onStart(params)
    this.phase = 'idle'
  }

  beforeLocalStep(ctx: StepContext, params: Float32Array): void {
    this.expectPhase(['idle'], 'beforeLocalStep')
    this.expectStep(ctx, 'beforeLocalStep')
    checkSize(params, this.size, 'params')
    this.present = normalisePresent(ctx.present, this.workerIndex, this.workerCount)
    this.onBeforeStep(ctx, params)
    this.phase = 'stepping'
  }

  submitGradient(ctx: StepContext, grad: Float32Array): AlgorithmMessage[] {
    assert(
      this.exchangeKind === 'gradient',
      () => `${this.name} averages ${this.exchangeKind}, not gradients`,
    )
    this.expectPhase(['stepping'], 'submitGradient')
    this.expectStep(ctx, 'submitGradient')
    checkSize(grad, this.size, 'grad')
    this.present = normalisePresent(ctx.present, this.workerIndex, this.workerCount)
    const out = this.onGradient(ctx, grad)
    this.phase = 'gradient-wait'
    return out
  }

  afterLocalStep(ctx: StepContext, params: Float32Array): AlgorithmMessage[] {
    this.expectPhase([this.exchangeKind === 'gradient' ? 'gradient-done' : 'stepping'], 'afterLocalStep')
    this.expectStep(ctx, 'afterLocalStep')
    checkSize(params, this.size, 'params')
    this.present = normalisePresent(ctx.present, this.workerIndex, this.workerCount)
    const out = this.onAfterStep(ctx, params)
    this.phase = 'completing'
    return out
  }

  tryComplete(view: MembershipView, buffers: CompletionBuffers): Completion {
    this.expectPhase(['gradient-wait', 'completing'], 'tryComplete')
    checkSize(buffers.params, this.size, 'params')
    if (this.phase === 'gradient-wait') {
      assert(
        buffers.grad !== undefined,
        () => `${this.name}.tryComplete needs buffers.grad while a gradient round is open`,
      )
      checkSize(buffers.grad, this.size, 'grad')
    }
    this.present = normalisePresent(view.present, this.workerIndex, this.workerCount)
    const c = this.onTryComplete(view, buffers, this.phase)
    if (c.status === 'ready') {
      if (this.phase === 'gradient-wait') {
        this.phase = 'gradient-done'
      } else {
        this.phase = 'idle'
        this.stepIndex++
      }
    }
    return c
  }

  receive(from: number, message: AlgorithmMessage): ReceiveResult {
    if (this.phase === 'left')
      return rejected('ERR_DESTROYED', `${this.name} worker ${this.workerIndex} has left`)
    if (this.phase === 'new')
      return rejected('ERR_LATE_MESSAGE', `${this.name} worker ${this.workerIndex} has not started`)
    const bad = checkIncoming(from, message, this, this.acceptedKinds)
    if (bad !== null) return bad
    return this.onReceive(from, message)
  }

  leave(params: Float32Array): AlgorithmMessage[] {
    this.expectPhase(['idle'], 'leave')
    checkSize(params, this.size, 'params')
    const out = this.onLeave(params)
    this.phase = 'left'
    return out
  }

  /** Counts one outgoing payload for the stats. */
  protected recordSent(payload: Uint8Array): void {
    const raw = 4 * this.size
    this.payloadBytes += payload.length
    this.rawBytes += raw
    this.lastRatio = payload.length > 0 ? raw / payload.length : 0
  }

  stats(): AlgorithmStats {
    return {
      round: this.currentRound(),
      payloadBytesSent: this.payloadBytes,
      rawBytesSent: this.rawBytes,
      lastCompressionRatio: this.lastRatio,
      peers: this.peerStaleness(),
    }
  }

  private peerStaleness(): PeerStaleness[] {
    const round = this.currentRound()
    return this.present.map((peer) => {
      const newestRound = this.newestRoundFrom(peer)
      return { peer, newestRound, roundsBehind: newestRound < 0 ? round : round - newestRound }
    })
  }

  private owner(): StateOwner {
    return stateOwner(this.name, this)
  }

  exportState(): AlgorithmState {
    this.expectPhase(['idle', 'new'], 'exportState')
    const data: JsonObject = {
      step: this.stepIndex,
      started: this.phase === 'idle',
      payloadBytes: this.payloadBytes,
      rawBytes: this.rawBytes,
      lastRatio: this.lastRatio,
    }
    const vectors: Record<string, Float32Array> = {}
    const bytes: Record<string, Uint8Array> = {}
    if (this.phase === 'idle') this.exportBody(data, vectors, bytes)
    return buildState(this.owner(), { data, vectors, bytes, children: {} })
  }

  importState(state: AlgorithmState, options?: ImportOptions): void {
    this.expectPhase(['new', 'idle'], 'importState')
    const mode = options?.mode ?? 'checkpoint'
    checkEnvelope(state, this.owner(), mode)
    const params = options?.params
    if (mode === 'catch-up') {
      assert(params !== undefined, () => `${this.name}.importState in catch-up mode needs options.params`)
      checkSize(params, this.size, 'params')
    }
    if (state.data.started !== true)
      throw new CoreError('ERR_BAD_CHECKPOINT', 'algorithm state of a worker that never started')
    const step = readInt(state.data, 'step')
    this.importBody(
      state,
      mode === 'catch-up' && params !== undefined ? { mode, params, step } : { mode: 'checkpoint' },
    )
    this.stepIndex = step
    if (mode === 'checkpoint') {
      this.payloadBytes = readInt(state.data, 'payloadBytes')
      this.rawBytes = readInt(state.data, 'rawBytes')
      const ratio = state.data.lastRatio
      this.lastRatio = typeof ratio === 'number' && Number.isFinite(ratio) ? ratio : 0
    }
    this.phase = 'idle'
  }
}
