/**
 * A tiny deterministic in-process driver: N workers, one algorithm instance each, a virtual
 * clock of ticks, and a message queue with per-message latency, drops and duplicates. It
 * follows the driver contract of core/algorithms/algorithm.ts step by step, so it is also the
 * executable reference for core/sim and core/node.
 *
 * Per tick: deliver every due message (`receive`), then let each live worker advance as far as
 * it can without blocking, completing at most one step. A message sent in tick t with latency
 * L is delivered at the start of tick t + 1 + L.
 */
import type {
  AlgorithmMessage,
  Completion,
  DistributedAlgorithm,
  ReceiveResult,
  RoundOutcome,
  StepContext,
} from '../../../../../core/algorithms/algorithm.ts'
import type { AlgorithmDeps } from '../../../../../core/algorithms/algorithm-core.ts'
import type { AlgorithmConfig } from '../../../../../core/algorithms/config.ts'
import { createAlgorithm } from '../../../../../core/algorithms/registry.ts'
import type { AlgorithmState } from '../../../../../core/algorithms/state.ts'
import type { ParamLayout } from '../../../../../core/tensor/param-layout.ts'
import type { Objective } from './objective.ts'

export interface Envelope {
  readonly from: number
  readonly to: number
  readonly message: AlgorithmMessage
  readonly deliverAt: number
}

export interface DriverOptions {
  readonly config: AlgorithmConfig
  readonly objective: Objective
  readonly layout: ParamLayout
  readonly steps: number
  /** γ, constant or per step. */
  readonly lr: number | ((step: number) => number)
  /** Heavy-ball momentum μ of the local optimizer (v = μv + g; x −= γv); default 0. */
  readonly momentum?: number
  /** Initial model of worker i (default: zeros for all). */
  readonly init?: (worker: number) => Float32Array
  readonly seed?: number
  /** Ticks of extra latency for one message (default 0). */
  readonly latency?: (e: { from: number; to: number; message: AlgorithmMessage; tick: number }) => number
  /** Drop this message (never delivered). */
  readonly drop?: (e: { from: number; to: number; message: AlgorithmMessage; tick: number }) => boolean
  /** Deliver every message twice. */
  readonly duplicate?: boolean
  /** Ticks a worker waits on one (kind, round) before the driver reports deadlinePassed. */
  readonly deadlineTicks?: number
  /**
   * Worker `worker` stops (crash) before step `step`: no leave(), its messages in flight stay.
   * The others keep listing it as present for `detectedAfterTicks` ticks (failure detection).
   */
  readonly crash?: { readonly worker: number; readonly step: number; readonly detectedAfterTicks?: number }
  /** Worker `worker` leaves gracefully before step `step` (sends leave() messages). */
  readonly leave?: { readonly worker: number; readonly step: number }
  /** Called at the end of every tick. */
  readonly onTick?: (driver: InProcessDriver) => void
  /**
   * Continue a run from checkpoints: each worker imports `states[i]` (instead of start) and
   * resumes at `step` with the saved params and velocity; `inFlight` messages are re-sent.
   */
  readonly resume?: {
    readonly states: readonly AlgorithmState[]
    readonly params: readonly Float32Array[]
    readonly velocity: readonly Float32Array[]
    readonly step: number
    readonly inFlight: readonly Envelope[]
  }
  /**
   * Worker `worker` is absent from the start and joins when worker `from` is about to run
   * step `atStep`: it copies `from`'s params and imports its state in 'catch-up' mode.
   */
  readonly join?: { readonly worker: number; readonly atStep: number; readonly from: number }
  /** Inject a custom deps factory part (e.g. a compressor factory). */
  readonly deps?: Partial<AlgorithmDeps>
  readonly maxTicks?: number
}

export interface WorkerRuntime {
  readonly index: number
  readonly algo: DistributedAlgorithm
  readonly params: Float32Array
  readonly grad: Float32Array
  readonly velocity: Float32Array
  phase: 'compute' | 'gradient-wait' | 'wait' | 'done' | 'gone'
  step: number
  ctx: StepContext | null
  waitKey: string
  waitedTicks: number
  /** Sum over this worker's steps of (params after optimizer − params before), float64. */
  readonly displacement: Float64Array
  readonly outcomes: RoundOutcome[]
  readonly rejections: ReceiveResult[]
}

export class InProcessDriver {
  readonly options: DriverOptions
  readonly workers: WorkerRuntime[]
  readonly inFlight: Envelope[] = []
  /** Messages addressed to a worker that was gone when they arrived. */
  readonly lost: Envelope[] = []
  tick = 0
  private crashedAtTick = -1
  private readonly before: Float32Array

  constructor(options: DriverOptions, workerCount: number) {
    this.options = options
    const d = options.layout.totalSize
    this.before = new Float32Array(d)
    this.workers = []
    for (let i = 0; i < workerCount; i++) {
      const algo = createAlgorithm(options.config, {
        layout: options.layout,
        workerIndex: i,
        workerCount,
        seed: options.seed ?? 1234,
        ...options.deps,
      })
      const resume = options.resume
      const params = resume?.params[i]?.slice() ?? options.init?.(i).slice() ?? new Float32Array(d)
      const isJoiner = options.join?.worker === i
      const state = resume?.states[i]
      if (state !== undefined) algo.importState(state)
      else if (!isJoiner) algo.start(params)
      this.workers.push({
        index: i,
        algo,
        params,
        grad: new Float32Array(d),
        velocity: resume?.velocity[i]?.slice() ?? new Float32Array(d),
        phase: isJoiner && state === undefined ? 'gone' : 'compute',
        step: resume?.step ?? 0,
        ctx: null,
        waitKey: '',
        waitedTicks: 0,
        displacement: new Float64Array(d),
        outcomes: [],
        rejections: [],
      })
    }
    for (const e of options.resume?.inFlight ?? []) this.inFlight.push({ ...e, deliverAt: 1 })
  }

  private maybeJoin(): void {
    const join = this.options.join
    if (join === undefined) return
    const joiner = this.workers[join.worker]
    const source = this.workers[join.from]
    if (joiner === undefined || source === undefined || joiner.phase !== 'gone' || joiner.step !== 0) return
    if (source.phase !== 'compute' || source.step !== join.atStep) return
    joiner.params.set(source.params)
    joiner.algo.importState(source.algo.exportState(), { mode: 'catch-up', params: joiner.params })
    joiner.step = join.atStep
    joiner.phase = 'compute'
  }

  /** Workers that are running or finished (not crashed or left). */
  live(): WorkerRuntime[] {
    return this.workers.filter((w) => w.phase !== 'gone')
  }

  private presentFor(w: WorkerRuntime): number[] {
    const crash = this.options.crash
    const undetected =
      crash !== undefined &&
      this.crashedAtTick >= 0 &&
      this.tick < this.crashedAtTick + (crash.detectedAfterTicks ?? 0)
    return this.workers
      .filter((x) => x.phase !== 'gone' || (undetected && x.index === crash.worker))
      .map((x) => x.index)
      .filter((i) => i !== w.index)
  }

  private lr(step: number): number {
    const lr = this.options.lr
    return typeof lr === 'number' ? lr : lr(step)
  }

  send(from: number, messages: readonly AlgorithmMessage[]): void {
    const sender = this.workers[from]
    if (sender === undefined) throw new Error(`no worker ${from}`)
    for (const message of messages) {
      const targets = message.to === 'all' ? this.presentFor(sender) : message.to
      for (const to of targets) {
        const info = { from, to, message, tick: this.tick }
        if (this.options.drop?.(info) === true) continue
        const deliverAt = this.tick + 1 + (this.options.latency?.(info) ?? 0)
        this.inFlight.push({ from, to, message, deliverAt })
        if (this.options.duplicate === true)
          this.inFlight.push({ from, to, message, deliverAt: deliverAt + 1 })
      }
    }
  }

  private deliver(): void {
    const due = this.inFlight.filter((e) => e.deliverAt <= this.tick)
    const rest = this.inFlight.filter((e) => e.deliverAt > this.tick)
    this.inFlight.length = 0
    this.inFlight.push(...rest)
    for (const e of due) {
      const w = this.workers[e.to]
      if (w === undefined || w.phase === 'gone') {
        this.lost.push(e)
        continue
      }
      const result = w.algo.receive(e.from, e.message)
      if (result.kind === 'rejected') w.rejections.push(result)
    }
  }

  private localStep(w: WorkerRuntime, step: number): void {
    const mu = this.options.momentum ?? 0
    const lr = this.lr(step)
    this.before.set(w.params)
    for (let j = 0; j < w.params.length; j++) {
      const v = mu * (w.velocity[j] ?? 0) + (w.grad[j] ?? 0)
      w.velocity[j] = v
      w.params[j] = (w.params[j] ?? 0) - lr * v
    }
    for (let j = 0; j < w.params.length; j++) {
      w.displacement[j] = (w.displacement[j] ?? 0) + ((w.params[j] ?? 0) - (this.before[j] ?? 0))
    }
  }

  /** Contract step 2 (the optimizer moves params) and step 3 (send afterLocalStep's messages); then step 4. */
  private applyStep(w: WorkerRuntime, ctx: StepContext): void {
    this.localStep(w, ctx.step)
    this.send(w.index, w.algo.afterLocalStep(ctx, w.params))
    w.phase = 'wait'
  }

  private complete(w: WorkerRuntime, buffers: { params: Float32Array; grad?: Float32Array }): Completion {
    const c0 = w.algo.tryComplete(
      { present: this.presentFor(w), deadlinePassed: this.deadlinePassed(w) },
      buffers,
    )
    this.send(w.index, c0.messages)
    if (c0.status === 'waiting') {
      const key = `${c0.kind}:${c0.round}`
      if (key !== w.waitKey) {
        w.waitKey = key
        w.waitedTicks = 0
      }
      // This tick is spent waiting; the deadline counts it on the next call.
      w.waitedTicks++
    } else {
      w.waitKey = ''
      w.waitedTicks = 0
      w.outcomes.push(...c0.outcomes)
    }
    return c0
  }

  private deadlinePassed(w: WorkerRuntime): boolean {
    const limit = this.options.deadlineTicks
    return limit !== undefined && w.waitKey !== '' && w.waitedTicks >= limit
  }

  /** Advances one worker until it blocks or finishes a step. */
  private advance(w: WorkerRuntime): void {
    for (;;) {
      if (w.phase === 'done' || w.phase === 'gone') return
      if (w.phase === 'compute') {
        if (w.step >= this.options.steps) {
          w.phase = 'done'
          return
        }
        if (this.options.crash?.worker === w.index && this.options.crash.step === w.step) {
          w.phase = 'gone'
          this.crashedAtTick = this.tick
          return
        }
        if (this.options.leave?.worker === w.index && this.options.leave.step === w.step) {
          this.send(w.index, w.algo.leave(w.params))
          w.phase = 'gone'
          return
        }
        const ctx: StepContext = { step: w.step, present: this.presentFor(w), learningRate: this.lr(w.step) }
        w.ctx = ctx
        w.algo.beforeLocalStep(ctx, w.params)
        this.options.objective.gradient(w.index, w.params, w.step, w.grad)
        if (w.algo.exchangeKind === 'gradient') {
          this.send(w.index, w.algo.submitGradient(ctx, w.grad))
          w.phase = 'gradient-wait'
        } else {
          this.applyStep(w, ctx)
        }
        continue
      }
      const ctx = w.ctx
      if (ctx === null) throw new Error('no step context')
      if (w.phase === 'gradient-wait') {
        if (this.complete(w, { params: w.params, grad: w.grad }).status === 'waiting') return
        this.applyStep(w, ctx)
        continue
      }
      // phase 'wait'
      if (this.complete(w, { params: w.params }).status === 'waiting') return
      w.step++
      w.phase = 'compute'
      return
    }
  }

  /** Runs one tick. */
  runTick(): void {
    this.tick++
    this.maybeJoin()
    this.deliver()
    for (const w of this.workers) this.advance(w)
    this.options.onTick?.(this)
  }

  /** Runs until every live worker finished `steps` steps. */
  run(): this {
    const maxTicks = this.options.maxTicks ?? 20 * this.options.steps + 200
    while (this.live().some((w) => w.phase !== 'done')) {
      if (this.tick >= maxTicks) {
        const states = this.workers.map((w) => `${w.index}:${w.phase}@${w.step}(${w.waitKey})`).join(' ')
        throw new Error(`driver stuck after ${this.tick} ticks: ${states}`)
      }
      this.runTick()
    }
    return this
  }

  /** True when every live worker sits between steps (all algorithms can export state). */
  allIdle(): boolean {
    return this.live().every((w) => w.phase === 'compute' || w.phase === 'done')
  }
}

/** One worker's algorithm, started from the zero model, for tests that drive it by hand. */
export function startedAlgorithm(
  config: AlgorithmConfig,
  deps: {
    readonly layout: ParamLayout
    readonly workerIndex: number
    readonly workerCount: number
    readonly seed: number
  },
): DistributedAlgorithm {
  const algo = createAlgorithm(config, deps)
  algo.start(new Float32Array(deps.layout.totalSize))
  return algo
}

/** Builds and runs a driver. */
export function runWorkers(options: DriverOptions, workerCount: number): InProcessDriver {
  return new InProcessDriver(options, workerCount).run()
}
