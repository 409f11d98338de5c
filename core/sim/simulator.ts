/**
 * The deterministic simulator's event loop: N virtual workers in one process, each running
 * the production algorithm (core/algorithms, created by `createAlgorithm`) through the driver
 * contract of core/algorithms/algorithm.ts, on a virtual clock.
 *
 * Virtual time only moves through the event queue (event-queue.ts), never with wall time:
 *   - a local step takes `stepMs` × the worker's slowdown (stragglers), or, with
 *     `measureClock`, the measured compute time × slowdown (the one non-deterministic option);
 *   - a message arrives when the network model (network.ts) says: uplink queueing,
 *     serialisation, latency, jitter and retransmissions, all drawn from the seed.
 * The arithmetic of a step runs when the step starts; its messages leave when it ends. That is
 * equivalent to computing at the end, because `receive` only buffers and nothing else touches
 * a computing worker's params (algorithm.ts).
 *
 * Membership: leaves and joins are announced at their virtual time and take effect at the
 * first step nobody has started yet (a join: the first such round boundary), so every worker
 * sees the same members at every step, as SGP's graph and the all-reduce rounds need. A
 * leaver keeps training until then and leaves gracefully (it sends `leave()`'s messages; SGP
 * hands over its mass). A late joiner is absent until its join step; the first worker to
 * start that step (the source) sends it its params and exported state over its uplink
 * (4·d bytes + the state's vectors) and the joiner imports them in 'catch-up' mode; messages
 * that overtake that transfer wait for it. Worker j counts x as present at step k when
 * x's join step <= k < x's leave step (the contract's "present from that step on").
 *
 * SGP's overlap (τ > 0) mixes whatever shares have arrived, so its arithmetic depends on the
 * network. `sgpDelivery: 'fixed-delay'` instead hands every push-sum share to the algorithm
 * exactly τ steps after it was sent (or when it arrives, if later): the bounded-delay worst
 * case, the same on every network, so one run serves all networks (trace.ts).
 *
 * Evaluation: at every `evalEvery`-th completed step (and the last), the simulator averages
 * the params of every worker that completes that step (SGP: the de-biased z_i) and scores the
 * average; the checkpoint's time is when the last of them got there.
 */
import {
  MESSAGE_KINDS,
  type AlgorithmMessage,
  type DistributedAlgorithm,
  type RoundOutcome,
  type StepContext,
} from '../algorithms/algorithm.ts'
import type { AlgorithmConfig } from '../algorithms/config.ts'
import { resolveAlgorithmConfig } from '../algorithms/config.ts'
import { createAlgorithm } from '../algorithms/registry.ts'
import type { AlgorithmState } from '../algorithms/state.ts'
import { CoreError } from '../errors.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import { EventQueue } from './event-queue.ts'
import { NetworkModel, Uplinks, type NetworkSpec } from './network.ts'
import {
  replayTrace,
  type Trace,
  type TraceDep,
  type TraceMessage,
  type TraceOp,
  type TraceWaitCall,
} from './trace.ts'
import type { EvaluationScore, ModelEvaluator, WorkerCompute } from './worker-compute.ts'

/** How push-sum shares reach the SGP algorithm (see the module comment). */
export type SgpDelivery = 'arrival' | 'fixed-delay'

/** A worker leaving or joining at a virtual time. */
export interface MembershipEvent {
  readonly worker: number
  readonly atMs: number
}

export interface SimulationProgress {
  /** Steps completed, summed over workers. */
  readonly stepsDone: number
  /** Steps all workers will run, summed (an estimate when workers leave or join). */
  readonly stepsTotal: number
  readonly timeMs: number
}

export interface SimCheckpoint {
  /** Completed local steps. */
  readonly step: number
  /** Virtual time when the last contributing worker completed `step` steps. */
  readonly timeMs: number
  readonly accuracy: number
  readonly loss: number
  /** How many workers' models were averaged. */
  readonly workers: number
}

export interface SimulationOptions {
  readonly algorithm: AlgorithmConfig
  /** Worker slots (late joiners included). */
  readonly workers: number
  /** Local steps every worker runs (a late joiner starts at its source's step). */
  readonly steps: number
  readonly layout: ParamLayout
  /** The common initial model. */
  readonly initialParams: Float32Array
  readonly compute: WorkerCompute
  /** Scores the averaged model at checkpoints; without it checkpoints are not recorded. */
  readonly evaluator?: ModelEvaluator
  readonly network: NetworkSpec
  /** Room seed: the algorithms' seeded compressors and the network's draws. */
  readonly seed: number
  /** Virtual compute time of one local step at slowdown 1. */
  readonly stepMs: number
  /** Per-worker compute time multiplier (3 = a straggler three times slower); default 1 each. */
  readonly slowdown?: readonly number[]
  /** Time each step's arithmetic with this clock (ms) instead of using `stepMs`; not deterministic. */
  readonly measureClock?: () => number
  /** Evaluate every this many completed steps (0: only after the last); default 0. */
  readonly evalEvery?: number
  readonly leaves?: readonly MembershipEvent[]
  readonly joins?: readonly MembershipEvent[]
  /** How long a worker waits for one (kind, round) before the algorithm gives up on it; default forever. */
  readonly deadlineMs?: number
  /** Default 'arrival'. */
  readonly sgpDelivery?: SgpDelivery
  readonly onProgress?: (progress: SimulationProgress) => void
  readonly onCheckpoint?: (checkpoint: SimCheckpoint) => void
}

export type Replayability = { readonly ok: true } | { readonly ok: false; readonly reason: string }

export interface SimulationResult {
  readonly network: string
  /** When the last worker finished (or left). */
  readonly simulatedMs: number
  readonly checkpoints: readonly SimCheckpoint[]
  /** The score of the last checkpoint (after `steps` steps), or null without an evaluator. */
  readonly final: EvaluationScore | null
  /** Wire bytes each worker put on its uplink (first transmissions; ring shares for all-reduce). */
  readonly bytesSent: readonly number[]
  /** Mean of `bytesSent` over the workers that ran. */
  readonly bytesPerWorker: number
  /** Chunks lost and retransmitted, all workers. */
  readonly lostChunks: number
  /** The algorithm's round counter at the end (max over workers). */
  readonly rounds: number
  /** Steps completed per worker. */
  readonly workerSteps: readonly number[]
  readonly averagedRounds: number
  readonly localOnlyRounds: number
  /** Rejected receives by error code (late, duplicate, ...). */
  readonly rejected: Readonly<Record<string, number>>
  /** Messages that reached a worker that had left or had not joined. */
  readonly dropped: number
  readonly trace: Trace
  /** Whether `trace` may be replayed under another network (trace.ts), and if not why. */
  readonly replayable: Replayability
}

type Phase = 'absent' | 'joining' | 'computing' | 'gradient-wait' | 'wait' | 'ring-wait' | 'done' | 'left'

interface SimWorker {
  readonly index: number
  readonly algo: DistributedAlgorithm
  readonly params: Float32Array
  readonly grad: Float32Array
  readonly slowdown: number
  phase: Phase
  /** Steps completed; during a step, the step being run. */
  step: number
  ctx: StepContext | null
  /** First step at which peers count this worker as present (Infinity before it joins). */
  joinStep: number
  /** First step at which peers no longer count it (Infinity until it leaves). */
  leaveStep: number
  waitKey: string
  deadlinePassed: boolean
  deadlineToken: number
  nextMessageId: number
  bytesSent: number
  finishMs: number
  /** When the last ring all-reduce this worker contributed to completes. */
  ringDoneAtMs: number
  /** The phase to go back to after 'ring-wait'. */
  resumePhase: Phase
  /** Push-sum shares held back by fixed-delay delivery. */
  readonly held: Array<{ readonly from: number; readonly message: AlgorithmMessage }>
  /** Messages that reached a joiner before its catch-up state did. */
  readonly early: Array<{ readonly from: number; readonly message: AlgorithmMessage }>
  readonly ops: TraceOp[]
  calls: TraceWaitCall[]
}

type SimEvent =
  | { readonly type: 'compute-done'; readonly worker: number }
  | {
      readonly type: 'arrive'
      readonly to: number
      readonly from: number
      readonly message: AlgorithmMessage
    }
  | { readonly type: 'join-request'; readonly worker: number }
  | { readonly type: 'leave-request'; readonly worker: number }
  | {
      readonly type: 'joined'
      readonly worker: number
      readonly step: number
      readonly params: Float32Array
      readonly state: AlgorithmState
    }
  | { readonly type: 'deadline'; readonly worker: number; readonly token: number }
  | { readonly type: 'resume'; readonly worker: number }

interface CheckpointAccumulator {
  readonly sum: Float64Array
  count: number
  lastMs: number
}

/** Message kinds that travel as a ring all-reduce for this config (dense, exact averages). */
export function ringKinds(config: AlgorithmConfig): ReadonlySet<string> {
  const resolved = resolveAlgorithmConfig(config)
  const base = resolved.kind === 'slowmo' ? resolved.base : resolved
  const kinds = new Set<string>()
  if (resolved.kind === 'slowmo') kinds.add('model')
  if (base.kind === 'sync' && (base.compressor ?? 'none') === 'none') kinds.add('gradient')
  if (base.kind === 'local' && (base.compressor ?? 'none') === 'none') kinds.add('delta')
  return kinds
}

/**
 * Why this config's arithmetic depends on message timing, or null when it does not (it
 * always waits for the same messages, so a trace can be replayed under another network).
 */
export function timingDependence(config: AlgorithmConfig, sgpDelivery: SgpDelivery): string | null {
  const resolved = resolveAlgorithmConfig(config)
  const base = resolved.kind === 'slowmo' ? resolved.base : resolved
  if (base.kind === 'sgp' && base.overlapDelay > 0 && sgpDelivery === 'arrival') {
    return `sgp with overlap ${base.overlapDelay} mixes whatever shares have arrived`
  }
  return null
}

/** Serialised size of an algorithm state (vectors as float32, bytes as they are), for catch-up transfers. */
export function stateBytes(state: AlgorithmState): number {
  let total = JSON.stringify(state.data).length
  for (const v of Object.values(state.vectors)) total += v.length * 4
  for (const b of Object.values(state.bytes)) total += b.length
  for (const child of Object.values(state.children)) total += stateBytes(child)
  return total
}

function checkOptions(o: SimulationOptions): void {
  const bad = (message: string): CoreError => new CoreError('ERR_INVALID_ARGUMENT', message)
  if (!Number.isInteger(o.workers) || o.workers < 1)
    throw bad(`workers must be a positive integer, got ${o.workers}`)
  if (!Number.isInteger(o.steps) || o.steps < 1) throw bad(`steps must be a positive integer, got ${o.steps}`)
  if (!(Number.isFinite(o.stepMs) && o.stepMs > 0)) throw bad(`stepMs must be > 0, got ${o.stepMs}`)
  if (o.initialParams.length !== o.layout.totalSize) {
    throw bad(`initial params have ${o.initialParams.length} values, the layout ${o.layout.totalSize}`)
  }
  const slowdown = o.slowdown ?? []
  if (slowdown.length > o.workers || slowdown.some((s) => !(Number.isFinite(s) && s > 0))) {
    throw bad('slowdown needs at most one positive factor per worker')
  }
  const evalEvery = o.evalEvery ?? 0
  if (!Number.isInteger(evalEvery) || evalEvery < 0)
    throw bad(`evalEvery must be an integer >= 0, got ${evalEvery}`)
  for (const e of [...(o.leaves ?? []), ...(o.joins ?? [])]) {
    if (!Number.isInteger(e.worker) || e.worker < 0 || e.worker >= o.workers) {
      throw bad(`membership event for worker ${e.worker}: there are workers 0..${o.workers - 1}`)
    }
    if (!(Number.isFinite(e.atMs) && e.atMs >= 0)) throw bad(`membership event time ${e.atMs} ms is not >= 0`)
  }
  const joiners = new Set((o.joins ?? []).map((j) => j.worker))
  if (joiners.size !== (o.joins ?? []).length) throw bad('a worker can join only once')
  if (joiners.size >= o.workers) throw bad('at least one worker must be present from the start')
  if ((o.leaves ?? []).some((l) => (o.leaves ?? []).filter((x) => x.worker === l.worker).length > 1)) {
    throw bad('a worker can leave only once')
  }
  if (o.deadlineMs !== undefined && !(o.deadlineMs > 0))
    throw bad(`deadlineMs must be > 0, got ${o.deadlineMs}`)
}

export class Simulation {
  readonly options: SimulationOptions
  private readonly queue = new EventQueue<SimEvent>()
  private readonly workers: SimWorker[] = []
  private readonly uplinks: Uplinks
  private readonly ring: ReadonlySet<string>
  private readonly sgpDelivery: SgpDelivery
  /** SGP overlap τ when shares are held for a fixed delay, else 0. */
  private readonly shareDelay: number
  private readonly evalEvery: number
  private readonly checkpointSums = new Map<number, CheckpointAccumulator>()
  private readonly checkpoints: SimCheckpoint[] = []
  private readonly rejected: Record<string, number> = {}
  private readonly sentKeys = new Set<string>()
  private duplicateKey = ''
  private dropped = 0
  private lostChunks = 0
  private averagedRounds = 0
  private localOnlyRounds = 0
  private stepsDone = 0
  private hasRun = false

  constructor(options: SimulationOptions) {
    checkOptions(options)
    this.options = options
    this.uplinks = new Uplinks(new NetworkModel(options.network, options.seed), options.workers)
    this.ring = ringKinds(options.algorithm)
    this.sgpDelivery = options.sgpDelivery ?? 'arrival'
    const resolved = resolveAlgorithmConfig(options.algorithm)
    const base = resolved.kind === 'slowmo' ? resolved.base : resolved
    this.shareDelay = this.sgpDelivery === 'fixed-delay' && base.kind === 'sgp' ? base.overlapDelay : 0
    this.evalEvery = options.evalEvery ?? 0
    const joiners = new Set((options.joins ?? []).map((j) => j.worker))
    const d = options.layout.totalSize
    for (let i = 0; i < options.workers; i++) {
      const algo = createAlgorithm(options.algorithm, {
        layout: options.layout,
        workerIndex: i,
        workerCount: options.workers,
        seed: options.seed,
      })
      const isJoiner = joiners.has(i)
      const params = options.initialParams.slice()
      if (!isJoiner) algo.start(params)
      this.workers.push({
        index: i,
        algo,
        params,
        grad: new Float32Array(d),
        slowdown: options.slowdown?.[i] ?? 1,
        phase: isJoiner ? 'absent' : 'computing',
        step: 0,
        ctx: null,
        joinStep: isJoiner ? Number.POSITIVE_INFINITY : 0,
        leaveStep: Number.POSITIVE_INFINITY,
        waitKey: '',
        deadlinePassed: false,
        deadlineToken: 0,
        nextMessageId: 0,
        bytesSent: 0,
        finishMs: 0,
        ringDoneAtMs: 0,
        resumePhase: 'wait',
        held: [],
        early: [],
        ops: [],
        calls: [],
      })
    }
  }

  /** Runs the simulation to the end (once). Throws ERR_SIM_STALLED when workers wait forever. */
  run(): SimulationResult {
    if (this.hasRun) throw new CoreError('ERR_INVALID_ARGUMENT', 'a Simulation runs once; create another')
    this.hasRun = true
    for (const j of this.options.joins ?? [])
      this.queue.push(j.atMs, { type: 'join-request', worker: j.worker })
    for (const l of this.options.leaves ?? [])
      this.queue.push(l.atMs, { type: 'leave-request', worker: l.worker })
    for (const w of this.workers) if (w.phase !== 'absent') this.startStep(w, 0)
    for (let e = this.queue.pop(); e !== undefined; e = this.queue.pop()) this.handle(e.value, e.atMs)
    const stuck = this.workers.filter((w) => w.phase !== 'done' && w.phase !== 'left' && w.phase !== 'absent')
    if (stuck.length > 0) {
      const states = stuck.map(
        (w) => `worker ${w.index} ${w.phase} at step ${w.step} (${w.waitKey || 'no wait'})`,
      )
      throw new CoreError(
        'ERR_SIM_STALLED',
        `simulation stalled at ${this.queue.now.toFixed(1)} ms: ${states.join('; ')}. Set a deadline (--deadline-ms) if peers can vanish.`,
      )
    }
    return this.result()
  }

  // ---- membership -------------------------------------------------------------------------

  private presentFor(w: SimWorker): number[] {
    const out: number[] = []
    for (const x of this.workers) {
      if (x.index !== w.index && x.joinStep <= w.step && w.step < x.leaveStep) out.push(x.index)
    }
    return out
  }

  private isRunning(w: SimWorker): boolean {
    return (
      w.phase === 'computing' || w.phase === 'gradient-wait' || w.phase === 'wait' || w.phase === 'ring-wait'
    )
  }

  private membershipChanged(now: number): void {
    for (const x of this.workers) if (x.phase === 'wait' || x.phase === 'gradient-wait') this.runWait(x, now)
    this.finishCheckpoints()
  }

  private leave(w: SimWorker, now: number): void {
    const messages = w.algo.leave(w.params)
    this.record(w, { op: 'send', messages: this.send(w, messages, now) })
    w.phase = 'left'
    w.finishMs = now
    this.membershipChanged(now)
  }

  /**
   * The first step nobody has started yet: membership changes take effect there, so every
   * worker sees the same members at every step (SGP's graph, the all-reduce rounds).
   */
  private nextUnstartedStep(): number {
    let max = -1
    for (const x of this.workers) {
      if (this.isRunning(x) || x.phase === 'joining') max = Math.max(max, x.step)
    }
    return max + 1
  }

  /** A graceful leave, announced now, takes effect at the first step nobody has started. */
  private onLeaveRequest(w: SimWorker): void {
    if (!this.isRunning(w) || w.leaveStep < Infinity) return
    w.leaveStep = Math.max(w.step + 1, this.nextUnstartedStep())
  }

  /**
   * A join, announced now, takes effect at the first round boundary nobody has started; the
   * first worker to reach that step hands the joiner its model and state (maybeHandOver).
   */
  private onJoinRequest(w: SimWorker): void {
    if (w.phase !== 'absent' || w.joinStep < Infinity) return
    const reference = this.workers.find((x) => this.isRunning(x))
    if (reference === undefined) return
    let step = this.nextUnstartedStep()
    while (step > 0 && step < this.options.steps && !reference.algo.shouldCommunicate(step - 1)) step++
    if (step >= this.options.steps) return
    w.joinStep = step
    w.step = step
  }

  /** The first worker to start a joiner's join step sends it its params and state. */
  private maybeHandOver(source: SimWorker, now: number): void {
    for (const joiner of this.workers) {
      if (joiner.phase !== 'absent' || joiner.joinStep !== source.step || source.leaveStep <= source.step)
        continue
      const state = source.algo.exportState()
      const bytes = source.params.length * 4 + stateBytes(state)
      const sent = this.uplinks.send(source.index, now, {
        kindCode: -1,
        round: source.step,
        bytes,
        to: [joiner.index],
        messageId: source.nextMessageId++,
      })
      source.bytesSent += sent.wireBytes
      this.lostChunks += sent.lostChunks
      joiner.phase = 'joining'
      const at = sent.deliveries[0]?.atMs ?? now
      this.queue.push(at, {
        type: 'joined',
        worker: joiner.index,
        step: source.step,
        params: source.params.slice(),
        state,
      })
    }
  }

  // ---- the step cycle ---------------------------------------------------------------------

  private startStep(w: SimWorker, now: number): void {
    const { steps, compute, stepMs, measureClock } = this.options
    if (w.step >= steps) {
      w.phase = 'done'
      w.finishMs = now
      return
    }
    if (w.step >= w.leaveStep) {
      this.leave(w, now)
      return
    }
    this.maybeHandOver(w, now)
    const ctx: StepContext = {
      step: w.step,
      present: this.presentFor(w),
      learningRate: compute.learningRate(w.step),
    }
    w.ctx = ctx
    w.algo.beforeLocalStep(ctx, w.params)
    const t0 = measureClock?.() ?? 0
    if (w.algo.exchangeKind === 'gradient') compute.gradient(w.index, w.step, w.params, w.grad)
    else compute.localStep(w.index, w.step, w.params)
    const ms = (measureClock === undefined ? stepMs : Math.max(0, measureClock() - t0)) * w.slowdown
    this.record(w, { op: 'compute', ms })
    w.phase = 'computing'
    this.queue.push(now + ms, { type: 'compute-done', worker: w.index })
  }

  private onComputeDone(w: SimWorker, now: number): void {
    const ctx = w.ctx
    if (ctx === null) throw new Error('Assertion failed: compute finished without a step context')
    if (w.algo.exchangeKind === 'gradient') {
      const messages = w.algo.submitGradient(ctx, w.grad)
      this.record(w, { op: 'send', messages: this.send(w, messages, now) })
      w.phase = 'gradient-wait'
    } else {
      const messages = w.algo.afterLocalStep(ctx, w.params)
      this.record(w, { op: 'send', messages: this.send(w, messages, now) })
      w.phase = 'wait'
    }
    this.runWait(w, now)
  }

  /** The contract's wait loop, run again after every arrival, membership change and deadline. */
  private runWait(w: SimWorker, now: number): void {
    for (;;) {
      const ctx = w.ctx
      if (ctx === null) throw new Error('Assertion failed: waiting without a step context')
      this.releaseHeld(w)
      const c = w.algo.tryComplete(
        { present: this.presentFor(w), deadlinePassed: w.deadlinePassed },
        w.phase === 'gradient-wait' ? { params: w.params, grad: w.grad } : { params: w.params },
      )
      const sends = this.send(w, c.messages, now)
      if (c.status === 'waiting') {
        const key = `${c.kind}:${c.round}`
        w.calls.push({ sends, waitingOn: key })
        if (key !== w.waitKey) {
          w.waitKey = key
          w.deadlinePassed = false
          const deadline = this.options.deadlineMs
          if (deadline !== undefined) {
            w.deadlineToken++
            this.queue.push(now + deadline, { type: 'deadline', worker: w.index, token: w.deadlineToken })
          }
        }
        return
      }
      w.calls.push({ sends, waitingOn: null })
      // A ring all-reduce is done for everyone when the last contribution has gone round,
      // its own included: a member that was last to send waits for that, unless the
      // deadline made it give up on the round.
      if (w.deadlinePassed) w.ringDoneAtMs = Math.min(w.ringDoneAtMs, now)
      this.finishWait(w, c.outcomes)
      if (now < w.ringDoneAtMs) {
        w.resumePhase = w.phase
        w.phase = 'ring-wait'
        this.queue.push(w.ringDoneAtMs, { type: 'resume', worker: w.index })
        return
      }
      if (!this.afterReady(w, now)) return
    }
  }

  /** Continues after a completed wait; true when a new wait loop follows (the gradient was applied). */
  private afterReady(w: SimWorker, now: number): boolean {
    const ctx = w.ctx
    if (ctx === null) throw new Error('Assertion failed: no step context after a wait')
    if (w.phase === 'gradient-wait') {
      this.options.compute.applyGradient(w.index, w.step, w.params, w.grad)
      const messages = w.algo.afterLocalStep(ctx, w.params)
      this.record(w, { op: 'send', messages: this.send(w, messages, now) })
      w.phase = 'wait'
      return true
    }
    w.step++
    this.stepsDone++
    this.afterStep(w, now)
    this.startStep(w, now)
    return false
  }

  private finishWait(w: SimWorker, outcomes: readonly RoundOutcome[]): void {
    const deps: TraceDep[] = []
    for (const o of outcomes) {
      if (o.kind === 'averaged') {
        this.averagedRounds++
        const round = o.messageKind === 'push-sum' ? o.round - this.shareDelay : o.round
        for (const p of o.peers) deps.push({ from: p, key: `${o.messageKind}:${round}` })
      } else {
        this.localOnlyRounds++
      }
    }
    this.record(w, { op: 'wait', calls: w.calls, deps })
    w.calls = []
    w.waitKey = ''
    w.deadlinePassed = false
  }

  private releaseHeld(w: SimWorker): void {
    if (w.held.length === 0) return
    const due = w.held.filter((h) => h.message.round + this.shareDelay <= w.step)
    if (due.length === 0) return
    const rest = w.held.filter((h) => h.message.round + this.shareDelay > w.step)
    w.held.length = 0
    w.held.push(...rest)
    for (const h of due) this.deliver(w, h.from, h.message)
  }

  private deliver(w: SimWorker, from: number, message: AlgorithmMessage): void {
    const result = w.algo.receive(from, message)
    if (result.kind === 'rejected') this.rejected[result.code] = (this.rejected[result.code] ?? 0) + 1
  }

  private accept(to: SimWorker, from: number, message: AlgorithmMessage): void {
    if (this.shareDelay > 0 && message.kind === 'push-sum') to.held.push({ from, message })
    else this.deliver(to, from, message)
  }

  private onArrive(to: SimWorker, from: number, message: AlgorithmMessage, now: number): void {
    if (to.phase === 'done') return
    if (to.phase === 'absent' || to.phase === 'left') {
      this.dropped++
      return
    }
    // A joiner's peers count it as present from its join step on, so their messages can
    // overtake its catch-up state; it takes them once it has imported that state.
    if (to.phase === 'joining') {
      to.early.push({ from, message })
      return
    }
    this.accept(to, from, message)
    if (to.phase === 'wait' || to.phase === 'gradient-wait') this.runWait(to, now)
  }

  private handle(e: SimEvent, now: number): void {
    const w = this.workers[e.type === 'arrive' ? e.to : e.worker]
    if (w === undefined) throw new Error(`Assertion failed: event for unknown worker`)
    switch (e.type) {
      case 'compute-done':
        this.onComputeDone(w, now)
        return
      case 'arrive':
        this.onArrive(w, e.from, e.message, now)
        return
      case 'join-request':
        this.onJoinRequest(w)
        return
      case 'leave-request':
        this.onLeaveRequest(w)
        return
      case 'joined':
        w.params.set(e.params)
        w.algo.importState(e.state, { mode: 'catch-up', params: w.params })
        w.step = e.step
        for (const m of w.early.splice(0)) this.accept(w, m.from, m.message)
        this.startStep(w, now)
        this.finishCheckpoints()
        return
      case 'resume':
        w.phase = w.resumePhase
        if (this.afterReady(w, now)) this.runWait(w, now)
        return
      case 'deadline':
        if (
          e.token === w.deadlineToken &&
          w.waitKey !== '' &&
          (w.phase === 'wait' || w.phase === 'gradient-wait')
        ) {
          w.deadlinePassed = true
          this.runWait(w, now)
        }
        return
    }
  }

  // ---- messages ---------------------------------------------------------------------------

  /** Hands messages to the network; returns them as the trace records them. */
  private send(w: SimWorker, messages: readonly AlgorithmMessage[], now: number): TraceMessage[] {
    const out: TraceMessage[] = []
    const n = this.options.workers
    for (const message of messages) {
      const isAll = message.to === 'all'
      const to = isAll ? this.presentFor(w) : [...new Set(message.to)]
      for (const t of to) {
        if (!Number.isInteger(t) || t < 0 || t >= n || t === w.index) {
          throw new Error(`Assertion failed: worker ${w.index} addressed a message to ${t}`)
        }
      }
      if (to.length === 0) continue
      const kindCode = MESSAGE_KINDS.indexOf(message.kind)
      const key = `${message.kind}:${message.round}`
      const traced: TraceMessage = {
        kindCode,
        round: message.round,
        bytes: message.payload.length,
        to,
        messageId: w.nextMessageId++,
        key,
        ...(isAll && this.ring.has(message.kind) ? { ring: [w.index, ...to].sort((a, b) => a - b) } : {}),
      }
      const result = this.uplinks.send(w.index, now, traced)
      w.bytesSent += result.wireBytes
      this.lostChunks += result.lostChunks
      if (traced.ring !== undefined) {
        for (const d of result.deliveries) w.ringDoneAtMs = Math.max(w.ringDoneAtMs, d.atMs)
      }
      for (const d of result.deliveries) {
        const id = `${w.index}|${d.to}|${key}`
        if (this.sentKeys.has(id)) this.duplicateKey = id
        this.sentKeys.add(id)
        this.queue.push(d.atMs, { type: 'arrive', to: d.to, from: w.index, message })
      }
      out.push(traced)
    }
    return out
  }

  private record(w: SimWorker, op: TraceOp): void {
    if (op.op === 'send' && op.messages.length === 0) return
    w.ops.push(op)
  }

  // ---- checkpoints ------------------------------------------------------------------------

  private isCheckpoint(step: number): boolean {
    return step === this.options.steps || (this.evalEvery > 0 && step % this.evalEvery === 0)
  }

  private afterStep(w: SimWorker, now: number): void {
    const stepsTotal = this.options.steps * this.workers.filter((x) => x.joinStep < Infinity).length
    this.options.onProgress?.({ stepsDone: this.stepsDone, stepsTotal, timeMs: now })
    if (!this.isCheckpoint(w.step)) return
    this.record(w, { op: 'mark', step: w.step })
    if (this.options.evaluator === undefined) return
    let acc = this.checkpointSums.get(w.step)
    if (acc === undefined) {
      acc = { sum: new Float64Array(w.params.length), count: 0, lastMs: 0 }
      this.checkpointSums.set(w.step, acc)
    }
    const sum = acc.sum
    for (let j = 0; j < sum.length; j++) sum[j] = (sum[j] ?? 0) + (w.params[j] ?? 0)
    acc.count++
    acc.lastMs = Math.max(acc.lastMs, now)
    this.finishCheckpoints()
  }

  /** Scores every checkpoint that no running worker can still contribute to. */
  private finishCheckpoints(): void {
    const evaluator = this.options.evaluator
    if (evaluator === undefined) return
    for (const step of [...this.checkpointSums.keys()].sort((a, b) => a - b)) {
      const pending = this.workers.some(
        (x) =>
          x.joinStep < step &&
          x.step < step &&
          x.leaveStep >= step &&
          x.phase !== 'left' &&
          x.phase !== 'done',
      )
      if (pending) return
      const acc = this.checkpointSums.get(step)!
      this.checkpointSums.delete(step)
      const average = new Float32Array(acc.sum.length)
      for (let j = 0; j < average.length; j++) average[j] = (acc.sum[j] ?? 0) / acc.count
      const score = evaluator.evaluate(average)
      const checkpoint: SimCheckpoint = {
        step,
        timeMs: acc.lastMs,
        accuracy: score.accuracy,
        loss: score.loss,
        workers: acc.count,
      }
      this.checkpoints.push(checkpoint)
      this.options.onCheckpoint?.(checkpoint)
    }
  }

  // ---- result -----------------------------------------------------------------------------

  private replayability(trace: Trace, simulatedMs: number): Replayability {
    const o = this.options
    const timing = timingDependence(o.algorithm, this.sgpDelivery)
    if (timing !== null) return { ok: false, reason: timing }
    if ((o.leaves ?? []).length > 0 || (o.joins ?? []).length > 0)
      return { ok: false, reason: 'workers leave or join at virtual times' }
    if (o.deadlineMs !== undefined) return { ok: false, reason: 'a wait deadline can cut rounds short' }
    const rejectedCount = Object.values(this.rejected).reduce((a, b) => a + b, 0)
    if (rejectedCount > 0) return { ok: false, reason: `${rejectedCount} messages were rejected` }
    if (this.dropped > 0) return { ok: false, reason: `${this.dropped} messages were dropped` }
    if (this.duplicateKey !== '') return { ok: false, reason: `message ${this.duplicateKey} was sent twice` }
    // The replay of the live network must reproduce the live times exactly.
    const replay = replayTrace(trace, o.network)
    if (replay.simulatedMs !== simulatedMs) {
      return {
        ok: false,
        reason: `replay check failed: ${replay.simulatedMs} ms replayed vs ${simulatedMs} ms live`,
      }
    }
    for (const c of this.checkpoints) {
      if (replay.checkpointMs.get(c.step) !== c.timeMs) {
        return { ok: false, reason: `replay check failed at checkpoint ${c.step}` }
      }
    }
    return { ok: true }
  }

  private result(): SimulationResult {
    const ran = this.workers.filter((w) => w.joinStep < Infinity)
    const simulatedMs = Math.max(0, ...ran.map((w) => w.finishMs))
    const trace: Trace = {
      workerCount: this.options.workers,
      seed: this.options.seed,
      ops: this.workers.map((w) => w.ops),
    }
    const bytesSent = this.workers.map((w) => w.bytesSent)
    const last = this.checkpoints.find((c) => c.step === this.options.steps) ?? null
    return {
      network: this.options.network.name,
      simulatedMs,
      checkpoints: this.checkpoints,
      final: last === null ? null : { accuracy: last.accuracy, loss: last.loss },
      bytesSent,
      bytesPerWorker: ran.reduce((a, w) => a + w.bytesSent, 0) / Math.max(1, ran.length),
      lostChunks: this.lostChunks,
      rounds: Math.max(0, ...ran.map((w) => w.algo.stats().round)),
      workerSteps: this.workers.map((w) => (w.joinStep < Infinity ? w.step : 0)),
      averagedRounds: this.averagedRounds,
      localOnlyRounds: this.localOnlyRounds,
      rejected: { ...this.rejected },
      dropped: this.dropped,
      trace,
      replayable: this.replayability(trace, simulatedMs),
    }
  }
}

/** Builds and runs one simulation. */
export function simulate(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run()
}
