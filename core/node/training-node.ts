/**
 * `TrainingNode`: one machine's part in a training room. It wires the local model (trainer),
 * one distributed algorithm instance (core/algorithms) and the swarm (core/swarm, real
 * WebRTC peers) together, and drives the algorithm through the driver contract of
 * core/algorithms/algorithm.ts, steps 0-5, exactly as the simulator does on virtual time.
 *
 * Design decisions (the brief left them to this module; each one says what it costs):
 *
 * - Worker indices. The algorithms need a fixed index space: the run manifest fixes
 *   `workerSlots` (`--max-peers`, default 8) as `workerCount`, and each node holds one slot.
 *   The room's first node (the signaling server lists no other member) takes slot 0. Every
 *   later node gets its slot from the peer that sends it the snapshot (core/swarm/swarm.ts:
 *   the lowest free slot, never-used slots first). If two sources hand out one slot at the
 *   same time, both holders see it in the `member` announcements; the one with the larger
 *   peer id yields ('slot-conflict'), drops its algorithm state and joins again.
 * - `present`. A member counts as present at step k when it is admitted and connected and
 *   its start step (the step its snapshot was taken at, announced with its slot) is <= k, so
 *   all workers add a joiner at the same step. Departures take effect at once (a dead peer
 *   cannot be waited for). Residual risk: views differ for about one message latency after a
 *   change (a peer learns of a joiner after its first rounds, or of a death before another
 *   peer does). The algorithms tolerate it: a round then waits until its deadline or averages
 *   a slightly different set on different workers (round-decision.ts), and OLCO3/Local SGD's
 *   later exact averages pull the models back together. To keep it rare, every message to
 *   'all' goes to every member that holds a slot (a superset of `present`; the receiver's
 *   inbox rejects what it does not need as late), and the last `resendCacheSize` such
 *   messages are replayed to a member the moment its slot becomes known. The source of a
 *   snapshot counts the joiner present from its start step at once and tells the other
 *   members (`roster`) before it sends its own messages of that step, so synchronous
 *   algorithms stay exact across a join (tested bit for bit). Cost: while the joiner still
 *   downloads its snapshot, rounds that need its message wait up to their deadline; set
 *   `roundTimeoutMs` above the snapshot transfer time when that matters.
 * - Start. One code path for everyone but the founder: a joiner connects to the members,
 *   waits until the handshakes settle, asks the training member with the lowest slot for a
 *   snapshot (params + `exportState()` + optimizer state, taken at that peer's next round
 *   boundary, chunked and hash verified), imports it with mode 'catch-up', announces its slot
 *   and start step, and runs from that step. A source that sends nothing of its snapshot for
 *   `snapshotTimeoutMs` (or refuses: no free slot) is skipped for the next one; after
 *   `joinTimeoutMs` in total the join fails with ERR_TIMEOUT. If every member refused us, the
 *   node fails with the refusal (ERR_SCHEMA_MISMATCH with the differing manifest fields); if
 *   the room emptied meanwhile, it founds the room anew.
 * - Deadlines. Each (kind, round) the algorithm waits for gets `roundTimeoutMs` (default
 *   10 s); then the round finishes with what arrived (a partial average or local-only, a
 *   `round` event either way). Peers silent for the swarm's `peerTimeoutMs` are removed;
 *   connection attempts are bounded by the swarm's `connectAttempts`. Nothing waits forever.
 * - Validation. Every frame is decoded by the swarm (room, layout, version, checksum); a bad
 *   one is a 'protocol-error' event, and repeated ones drop the peer. Every algorithm
 *   message goes through `algorithm.receive`, which rejects non-finite or malformed payloads:
 *   a 'message-rejected' event, counted toward the same drop threshold. Late and duplicate
 *   messages are only counted (per peer, in the 'peers' event).
 * - The model copy. The algorithm works on a flat Float32Array; the node reads it from the
 *   model after every optimizer step and writes it back only when the wait loop changed it
 *   (an averaging round), so non-communicating steps cost one read.
 * - Epochs are local: `epochs` passes over this node's own data; steps are the algorithm's
 *   global steps (a joiner starts at its source's step).
 *
 * - Pause. `pause()` stops stepping at the next step boundary; the swarm stays up (heartbeats,
 *   stats, snapshots for joiners at a round boundary), so peers keep us as a member and go on
 *   with local-only rounds (synchronous algorithms wait out each round's deadline meanwhile).
 *   `resume()` continues with the next batch.
 * - Checkpoints. With `onCheckpoint`, the node hands its state (params, `exportState()`,
 *   optimizer state, step, epoch and batch position) to the caller after every local epoch
 *   and when stopped, awaited between steps, so the state is always a round boundary of this
 *   worker. With `resumeFrom`, a node that founds the room starts from such a state instead of
 *   its fresh model; a joiner takes the room's current model as always (a 'log' event says
 *   the resume state was not used).
 *
 * Everything observable goes out as `NodeEvent`s (node-events.ts): plain data for an API
 * server or the CLI. Runtime-agnostic: no Node built-ins; the swarm, model and clock are
 * injected.
 */
import type {
  AlgorithmMessage,
  CompletionBuffers,
  DistributedAlgorithm,
  RoundOutcome,
} from '../algorithms/algorithm.ts'
import type { CompressorFactory } from '../algorithms/algorithm-core.ts'
import type { AlgorithmConfig } from '../algorithms/config.ts'
import { createAlgorithm } from '../algorithms/registry.ts'
import type { AlgorithmState } from '../algorithms/state.ts'
import { batchCount, epochBatches } from '../data/batching.ts'
import type { Split } from '../data/dataset.ts'
import { CoreError, isCoreError, type ErrorCode } from '../errors.ts'
import { fnv1a64Hex } from '../hash.ts'
import type { Message } from '../protocol/messages.ts'
import { NO_MEMBERSHIP, type Membership } from '../swarm/peer-link.ts'
import type { PeerLeftInfo, Swarm } from '../swarm/swarm.ts'
import { systemClock, type TransportClock } from '../transport/peer-transport.ts'
import { algorithmToFrameMessage, frameMessageToAlgorithm } from './algorithm-frames.ts'
import { isFaultTarget, otherFingerprint, withNaN, type FaultPlan } from './fault-injection.ts'
import type { LocalModel } from './local-model.ts'
import type { NodeEvent, NodeEventBody, NodeSummary, PeerMetrics } from './node-events.ts'
import { decodeSnapshot, encodeSnapshot, type OptimizerTensor } from './snapshot-codec.ts'

/** Every tunable of the node with its default. */
export const NODE_DEFAULTS = {
  /** Wait per (kind, round) before a round finishes with what arrived. */
  roundTimeoutMs: 10_000,
  /** Total time a joiner may take to get a snapshot from some member. */
  joinTimeoutMs: 120_000,
  /** Wait this long without a chunk of one source's snapshot before asking the next member. */
  snapshotTimeoutMs: 30_000,
  /** How long a joiner lets handshakes settle before it picks a source anyway. */
  settleMs: 3_000,
  /** Period of the 'peers' event. */
  statsIntervalMs: 1000,
  /** Period of the 'step' event. */
  progressIntervalMs: 500,
  /** Messages to 'all' replayed to a member whose slot becomes known. */
  resendCacheSize: 16,
  /** ... and at most this many bytes of them (dense deltas of big models are large). */
  resendCacheBytes: 32 * 1024 * 1024,
  /** Algorithm messages held while a joiner has no algorithm yet. */
  maxBufferedMessages: 1024,
} as const

export interface TrainingNodeOptions {
  readonly model: LocalModel
  /** This node's local training data. */
  readonly train: Split
  readonly test: Split
  /** Local epochs over `train`. */
  readonly epochs: number
  readonly batchSize: number
  /** Seed of this node's batch order. */
  readonly seed: number
  /** The room's algorithm (the manifest's). */
  readonly algorithm: AlgorithmConfig
  /** Seed every worker of the room shares (seeded compressors); see `roomSeed`. */
  readonly algorithmSeed: number
  readonly swarm: Swarm
  /** Room name, for the 'joined' event. */
  readonly room: string
  readonly clock?: TransportClock
  readonly roundTimeoutMs?: number
  readonly joinTimeoutMs?: number
  readonly snapshotTimeoutMs?: number
  readonly settleMs?: number
  readonly statsIntervalMs?: number
  readonly progressIntervalMs?: number
  readonly resendCacheSize?: number
  /**
   * The room's first node waits until this many peers are admitted (or `timeoutMs` passes)
   * before it starts, so a local room trains together from the start; default none.
   */
  readonly waitForPeers?: { readonly count: number; readonly timeoutMs: number }
  /** Evaluate the imported model before the first local step (the 'catch-up' event); default true. */
  readonly evaluateAfterCatchUp?: boolean
  readonly onEvent?: (event: NodeEvent) => void
  /** Stops after the current step; the node still leaves gracefully. */
  readonly signal?: AbortSignal
  /**
   * Receives this node's state after every local epoch ('epoch') and when stopped early
   * ('stopped'); awaited between steps. A rejection is reported as a 'log' warning and
   * training goes on.
   */
  readonly onCheckpoint?: (state: NodeTrainingState, reason: 'epoch' | 'stopped') => Promise<void>
  /** A state from `onCheckpoint` to start from when this node founds the room (see the header). */
  readonly resumeFrom?: NodeTrainingState
  /** TEST ONLY: corrupt one outgoing message (fault-injection.ts). */
  readonly fault?: FaultPlan
  /** Passed to the algorithm (tests). */
  readonly createCompressor?: CompressorFactory
}

/**
 * Everything a node needs to continue where it stopped: taken between steps, so `state` is
 * the algorithm's state at a step boundary. Arrays are copies owned by the receiver.
 */
export interface NodeTrainingState {
  /** The algorithm's next global step. */
  readonly step: number
  /** Local epochs completed. */
  readonly epoch: number
  /** Batches of epoch `epoch` already trained (0 after a whole epoch). */
  readonly batchInEpoch: number
  readonly params: Float32Array
  readonly algorithm: AlgorithmState
  readonly optimizer: { readonly kind: string; readonly tensors: readonly OptimizerTensor[] }
  /** Test accuracy at the last epoch end, when known. */
  readonly testAccuracy?: number
}

/** The algorithm seed every peer of room `room` derives alike (31 bits). */
export function roomSeed(room: string): number {
  return Number.parseInt(fnv1a64Hex(`longhaul/seed\0${room}`).slice(0, 8), 16) >>> 1
}

type SnapshotWaitResult =
  | {
      readonly kind: 'snapshot'
      readonly bytes: Uint8Array
      readonly slot: number
      readonly startStep: number
    }
  | { readonly kind: 'failed'; readonly reason: string }

interface SnapshotWait {
  readonly source: string
  readonly resolve: (result: SnapshotWaitResult) => void
  /** Clock time of the request or of the last chunk that arrived. */
  lastProgressMs: number
}

interface CachedFrame {
  readonly frame: Uint8Array
  /** The algorithm step at which it was sent. */
  readonly step: number
  readonly sentTo: Set<string>
}

interface PeerCounters {
  rejected: number
  late: number
}

/** Resolves on `notify()` or after a timeout, whichever comes first. */
class Waker {
  private readonly waiters = new Set<() => void>()

  constructor(private readonly clock: TransportClock) {}

  notify(): void {
    const all = [...this.waiters]
    this.waiters.clear()
    for (const w of all) w()
  }

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = (): void => {
        this.waiters.delete(finish)
        cancel()
        resolve()
      }
      const cancel = this.clock.setTimeout(finish, Math.max(0, ms))
      this.waiters.add(finish)
    })
  }
}

/** Rounds whose sent-to slots are kept while their outcome is pending. */
const MAX_TRACKED_ROUNDS = 256

/** How often a joiner that waits without asking anyone says what it waits for. */
const JOIN_PROGRESS_LOG_MS = 10_000

/** One sentence on a join that waits: who is connected but not training, who is still connecting. */
function describeJoinWait(
  admitted: readonly string[],
  pending: readonly string[],
  training: readonly string[],
): string {
  const idle = admitted.filter((p) => !training.includes(p))
  const parts = [
    ...(idle.length > 0 ? [`connected but not training yet: ${idle.join(', ')}`] : []),
    ...(pending.length > 0 ? [`still connecting: ${pending.join(', ')}`] : []),
  ]
  return `waiting for a member that trains to send the current model (${parts.join('; ') || 'nobody connected yet'})`
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value))
    throw new CoreError('ERR_INVALID_ARGUMENT', `${name} must be a positive number, got ${value}`)
  return value
}

function describe(error: unknown): string {
  if (isCoreError(error)) return `${error.message} (${error.code})`
  return error instanceof Error ? error.message : String(error)
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export class TrainingNode {
  private readonly o: TrainingNodeOptions
  private readonly swarm: Swarm
  private readonly model: LocalModel
  private readonly clock: TransportClock
  private readonly waker: Waker
  private readonly startedAtMs: number
  private readonly roundTimeoutMs: number
  private readonly joinTimeoutMs: number
  private readonly snapshotTimeoutMs: number
  private readonly settleMs: number
  private readonly resendCacheSize: number
  private readonly params: Float32Array
  private readonly shadow: Float32Array
  private readonly grad: Float32Array
  private algo: DistributedAlgorithm | undefined
  private slot: number | null = null
  private role: 'founder' | 'joiner' = 'founder'
  private hasRun = false
  private isConflicted = false
  private snapshotWait: SnapshotWait | undefined
  private readonly snapshotRequests = new Set<string>()
  private readonly buffered: Array<{ peer: string; slot: number; message: AlgorithmMessage }> = []
  private readonly sentCache: CachedFrame[] = []
  private sentCacheBytes = 0
  private readonly counters = new Map<string, PeerCounters>()
  private readonly peersSeen = new Set<string>()
  private readonly refusals: Array<{ peer: string; code: ErrorCode; reason: string }> = []
  private readonly failures: string[] = []
  private isFaultDone = false
  private averagedRounds = 0
  private localOnlyRounds = 0
  private localSteps = 0
  private protocolErrors = 0
  private rejectedMessages = 0
  private catchUpAccuracy: number | undefined
  private isPausedFlag = false
  /** Set once the node trained (founded or imported a snapshot): a resume state applies only before. */
  private hasStarted = false
  private lastTestAccuracy: number | undefined
  /** Where the local epochs start (a resumed founder starts inside its saved position). */
  private startPosition = { epoch: 0, batchInEpoch: 0 }
  /** Slots this node sent each (message kind, round) to, until that round's outcome. */
  private readonly sentSlots = new Map<string, Set<number>>()

  constructor(options: TrainingNodeOptions) {
    this.o = options
    this.swarm = options.swarm
    this.model = options.model
    this.clock = options.clock ?? systemClock
    this.waker = new Waker(this.clock)
    this.startedAtMs = this.clock.now()
    this.roundTimeoutMs = positive('roundTimeoutMs', options.roundTimeoutMs ?? NODE_DEFAULTS.roundTimeoutMs)
    this.joinTimeoutMs = positive('joinTimeoutMs', options.joinTimeoutMs ?? NODE_DEFAULTS.joinTimeoutMs)
    this.snapshotTimeoutMs = positive(
      'snapshotTimeoutMs',
      options.snapshotTimeoutMs ?? NODE_DEFAULTS.snapshotTimeoutMs,
    )
    this.settleMs = positive('settleMs', options.settleMs ?? NODE_DEFAULTS.settleMs)
    this.resendCacheSize = options.resendCacheSize ?? NODE_DEFAULTS.resendCacheSize
    if (!Number.isInteger(options.epochs) || options.epochs < 1)
      throw new CoreError('ERR_INVALID_ARGUMENT', `epochs must be a positive integer, got ${options.epochs}`)
    if (options.train.count < 1) throw new CoreError('ERR_INVALID_ARGUMENT', 'this node has no training data')
    const size = options.model.layout.totalSize
    if (options.swarm.manifest.model.layoutFingerprint !== options.model.layout.fingerprint) {
      throw new CoreError('ERR_INVALID_ARGUMENT', 'the run manifest was made for another model layout')
    }
    const resume = options.resumeFrom
    if (resume !== undefined) {
      if (
        resume.params.length !== size ||
        resume.algorithm.layoutFingerprint !== options.model.layout.fingerprint
      ) {
        throw new CoreError(
          'ERR_BAD_CHECKPOINT',
          `the resume state belongs to model layout ${resume.algorithm.layoutFingerprint} (${resume.params.length} parameters), this model is ${options.model.layout.fingerprint} (${size})`,
        )
      }
      if (resume.algorithm.workerCount !== options.swarm.manifest.workerSlots) {
        throw new CoreError(
          'ERR_BAD_CHECKPOINT',
          `the resume state was saved in a room of ${resume.algorithm.workerCount} worker slots, this room has ${options.swarm.manifest.workerSlots}`,
        )
      }
    }
    this.params = new Float32Array(size)
    this.shadow = new Float32Array(size)
    this.grad = new Float32Array(size)
  }

  /**
   * Joins the room, trains `epochs` local epochs with the room, leaves gracefully and
   * resolves with the summary. Runs once.
   * @throws CoreError: from joining (ERR_AUTH_FAILED wrong secret, ERR_CONNECTION_FAILED),
   *   ERR_SCHEMA_MISMATCH when every member refused our run manifest, ERR_TIMEOUT when no
   *   member sent a snapshot in time, ERR_NON_FINITE when training diverged.
   */
  async run(): Promise<NodeSummary> {
    if (this.hasRun) throw new CoreError('ERR_INVALID_ARGUMENT', 'a TrainingNode runs once')
    this.hasRun = true
    const unsubscribe = this.subscribe()
    let cancelStats: (() => void) | undefined
    const onAbort = (): void => this.waker.notify()
    this.o.signal?.addEventListener('abort', onAbort)
    try {
      const { peers } = await this.swarm.join(this.o.signal === undefined ? {} : { signal: this.o.signal })
      this.role = peers.length === 0 ? 'founder' : 'joiner'
      this.emit({
        type: 'joined',
        room: this.o.room,
        peerId: this.swarm.selfId,
        members: peers.length,
        role: this.role,
      })
      if (this.role === 'joiner' && this.o.resumeFrom !== undefined) {
        this.emit({
          type: 'log',
          level: 'info',
          message: `the room already trains: this node takes the room's current model, not its resume state (step ${this.o.resumeFrom.step})`,
        })
      }
      const statsTick = (): void => {
        this.emitPeers()
        cancelStats = this.clock.setTimeout(
          statsTick,
          this.o.statsIntervalMs ?? NODE_DEFAULTS.statsIntervalMs,
        )
      }
      cancelStats = this.clock.setTimeout(statsTick, this.o.statsIntervalMs ?? NODE_DEFAULTS.statsIntervalMs)
      if (this.role === 'founder') {
        await this.waitForPeers()
        await this.found()
      } else {
        await this.joinTraining()
      }
      const isStopped = await this.trainLoop()
      const final = await this.model.evaluate(this.o.test)
      const algo = this.algo
      if (algo !== undefined) this.send(algo.leave(this.params))
      this.emitPeers()
      await this.swarm.leave(isStopped ? 'stopped' : `finished ${this.o.epochs} epochs`)
      const totals = this.swarm.totals()
      const summary: NodeSummary = {
        testAccuracy: final.accuracy,
        testLoss: final.loss,
        rounds: this.averagedRounds + this.localOnlyRounds,
        averagedRounds: this.averagedRounds,
        localOnlyRounds: this.localOnlyRounds,
        steps: this.localSteps,
        finalStep: algo?.step ?? 0,
        epochs: this.o.epochs,
        bytesSent: totals.bytesSent,
        bytesReceived: totals.bytesReceived,
        peersSeen: this.peersSeen.size,
        role: this.role,
        slot: this.slot ?? -1,
        seconds: (this.clock.now() - this.startedAtMs) / 1000,
        ...(this.catchUpAccuracy !== undefined && { catchUpAccuracy: this.catchUpAccuracy }),
        rejectedMessages: this.rejectedMessages,
        protocolErrors: this.protocolErrors,
        isStopped,
      }
      this.emit({ type: 'finished', summary })
      return summary
    } finally {
      cancelStats?.()
      this.o.signal?.removeEventListener('abort', onAbort)
      for (const undo of unsubscribe) undo()
      await this.swarm.close()
    }
  }

  /**
   * Stops stepping at the next step boundary; the node stays in the room (see the header).
   * Idempotent; a no-op once the run ended.
   */
  pause(): void {
    if (this.isPausedFlag) return
    this.isPausedFlag = true
    this.waker.notify()
  }

  /** Continues after `pause()`. Idempotent. */
  resume(): void {
    if (!this.isPausedFlag) return
    this.isPausedFlag = false
    this.waker.notify()
  }

  get isPaused(): boolean {
    return this.isPausedFlag
  }

  private get isAborted(): boolean {
    return this.o.signal?.aborted === true
  }

  private emit(body: NodeEventBody): void {
    const event = { t: Math.round(this.clock.now() - this.startedAtMs), ...body } as NodeEvent
    try {
      this.o.onEvent?.(event)
    } catch {
      // An event consumer's bug must not stop training.
    }
  }

  private countersOf(peer: string): PeerCounters {
    let c = this.counters.get(peer)
    if (c === undefined) {
      c = { rejected: 0, late: 0 }
      this.counters.set(peer, c)
    }
    return c
  }

  // ---- swarm events ---------------------------------------------------------------------------

  private subscribe(): Array<() => void> {
    const s = this.swarm
    return [
      s.on('peer-connected', (peer) => this.emit({ type: 'peer-connected', peer })),
      s.on('peer-admitted', (peer) => {
        this.peersSeen.add(peer)
        this.emit({ type: 'peer-admitted', peer })
        this.waker.notify()
      }),
      s.on('member', (peer, membership) => this.onMember(peer, membership)),
      s.on('peer-refused', (info) => {
        this.refusals.push({ peer: info.peer, code: info.code, reason: info.reason })
        this.emit({ type: 'peer-refused', ...info })
        this.waker.notify()
      }),
      s.on('peer-left', (info) => this.onPeerLeft(info)),
      s.on('peer-failed', (info) => {
        this.failures.push(info.peer)
        this.emit({ type: 'peer-failed', ...info })
        this.waker.notify()
      }),
      s.on('protocol-error', (info) => {
        this.protocolErrors++
        this.emit({ type: 'protocol-error', peer: info.peer, code: info.code, message: info.message })
      }),
      s.on('message', (peer, slot, message) => this.onMessage(peer, slot, message)),
      s.on('snapshot-request', (peer) => this.onSnapshotRequest(peer)),
      s.on('snapshot', (snap) => {
        const wait = this.snapshotWait
        if (wait?.source === snap.from)
          wait.resolve({ kind: 'snapshot', bytes: snap.bytes, slot: snap.slot, startStep: snap.startStep })
      }),
      s.on('snapshot-progress', (info) => {
        const wait = this.snapshotWait
        if (wait?.source === info.peer) wait.lastProgressMs = this.clock.now()
      }),
      s.on('snapshot-failed', (info) => {
        const wait = this.snapshotWait
        if (wait?.source === info.peer)
          wait.resolve({ kind: 'failed', reason: `${info.reason} (${info.code})` })
      }),
      s.on('slot-conflict', (info) => {
        this.isConflicted = true
        this.emit({ type: 'slot-conflict', ...info })
        this.waker.notify()
      }),
      s.on('signaling-closed', (info) =>
        this.emit({
          type: 'log',
          level: 'warn',
          message: `signaling connection closed (${info.code}${info.reason ? `: ${info.reason}` : ''}); training goes on with the connected peers, new peers cannot join`,
        }),
      ),
      s.on('log', (level, message) => this.emit({ type: 'log', level, message })),
    ]
  }

  private onMember(peer: string, membership: Membership): void {
    this.emit({ type: 'peer-member', peer, slot: membership.slot, startStep: membership.startStep })
    const startStep = membership.startStep
    if (membership.slot !== null && startStep !== null && this.swarm.slotOf(peer) !== null) {
      // Replay recent messages to 'all' the new member has not seen (see the header). Those
      // sent before its start step belong to rounds it joined after: it would refuse them.
      for (const cached of this.sentCache) {
        if (cached.sentTo.has(peer) || cached.step < startStep) continue
        if (this.swarm.sendToPeer(peer, cached.frame)) cached.sentTo.add(peer)
      }
    }
    this.waker.notify()
  }

  private onPeerLeft(info: PeerLeftInfo): void {
    this.snapshotRequests.delete(info.peer)
    if (info.wasAdmitted) {
      this.emit({
        type: 'peer-left',
        peer: info.peer,
        slot: info.slot,
        reason: info.reason,
        ...(info.code !== undefined && { code: info.code }),
        message: info.message,
      })
    } else {
      this.emit({
        type: 'log',
        level: 'info',
        message: `${info.peer} left before it was admitted: ${info.message}`,
      })
    }
    const wait = this.snapshotWait
    if (wait?.source === info.peer)
      wait.resolve({ kind: 'failed', reason: `the source left (${info.reason})` })
    this.waker.notify()
  }

  private onMessage(peer: string, slot: number | null, message: Message): void {
    if (slot === null) {
      this.countersOf(peer).late++
      return
    }
    let am: AlgorithmMessage
    try {
      am = frameMessageToAlgorithm(message, this.slot ?? 0)
    } catch (error) {
      const code: ErrorCode = isCoreError(error) ? error.code : 'ERR_BAD_MESSAGE'
      this.reject(peer, slot, message.type, 'round' in message ? message.round : 0, code, describe(error))
      return
    }
    const algo = this.algo
    if (algo === undefined) {
      if (this.buffered.length < NODE_DEFAULTS.maxBufferedMessages)
        this.buffered.push({ peer, slot, message: am })
      return
    }
    this.deliver(algo, peer, slot, am)
  }

  private deliver(algo: DistributedAlgorithm, peer: string, slot: number, message: AlgorithmMessage): void {
    const result = algo.receive(slot, message)
    if (result.kind === 'rejected') {
      switch (result.code) {
        case 'ERR_LATE_MESSAGE':
        case 'ERR_DUPLICATE_MESSAGE':
          this.countersOf(peer).late++
          break
        case 'ERR_DESTROYED':
          break
        default:
          this.reject(peer, slot, message.kind, message.round, result.code, result.message)
      }
    }
    this.waker.notify()
  }

  private reject(
    peer: string,
    slot: number | null,
    kind: string,
    round: number,
    code: ErrorCode,
    message: string,
  ): void {
    this.rejectedMessages++
    this.countersOf(peer).rejected++
    this.emit({ type: 'message-rejected', peer, slot, kind, round, code, message })
    if (code === 'ERR_NON_FINITE' || code === 'ERR_BAD_MESSAGE')
      this.swarm.reportBadMessage(peer, code, message)
  }

  private onSnapshotRequest(peer: string): void {
    if (this.algo === undefined || this.slot === null) {
      this.swarm.refuseSnapshot(peer, 'ERR_NOT_READY', 'this node has not started training yet')
      return
    }
    this.snapshotRequests.add(peer)
    this.waker.notify()
  }

  // ---- joining --------------------------------------------------------------------------------

  private createAlgorithm(slot: number): DistributedAlgorithm {
    return createAlgorithm(this.o.algorithm, {
      layout: this.model.layout,
      workerIndex: slot,
      workerCount: this.swarm.manifest.workerSlots,
      seed: this.o.algorithmSeed,
      ...(this.o.createCompressor !== undefined && { createCompressor: this.o.createCompressor }),
    })
  }

  private async waitForPeers(): Promise<void> {
    const wanted = this.o.waitForPeers
    if (wanted === undefined || wanted.count < 1) return
    this.emit({ type: 'log', level: 'info', message: `waiting for ${wanted.count} peer(s) before training` })
    const deadline = this.clock.now() + wanted.timeoutMs
    while (this.swarm.admittedPeers().length < wanted.count && !this.isAborted) {
      const remaining = deadline - this.clock.now()
      if (remaining <= 0) {
        this.emit({
          type: 'log',
          level: 'warn',
          message: `starting with ${this.swarm.admittedPeers().length} peer(s)`,
        })
        return
      }
      await this.waker.wait(remaining)
    }
  }

  private async found(): Promise<void> {
    const algo = this.createAlgorithm(0)
    const resume = this.hasStarted ? undefined : this.o.resumeFrom
    this.hasStarted = true
    if (resume === undefined) {
      await this.model.readParams(this.params)
      algo.start(this.params)
    } else {
      // The same worker slot restores exactly; another slot's state is adopted as a joiner
      // adopts a peer's (shared counters kept, private residuals started fresh).
      if (resume.algorithm.workerIndex === 0) algo.importState(resume.algorithm, { mode: 'checkpoint' })
      else algo.importState(resume.algorithm, { mode: 'catch-up', params: resume.params })
      await this.model.writeParams(resume.params)
      this.params.set(resume.params)
      if (resume.optimizer.kind === this.model.optimizerKind) {
        await this.model.importOptimizerState(resume.optimizer.tensors)
      } else {
        this.emit({
          type: 'log',
          level: 'info',
          message: `keeping a fresh ${this.model.optimizerKind} state (the resume state has ${resume.optimizer.kind})`,
        })
      }
      this.startPosition = { epoch: resume.epoch, batchInEpoch: resume.batchInEpoch }
      this.emit({
        type: 'log',
        level: 'info',
        message: `resumed from step ${algo.step}, epoch ${resume.epoch}, batch ${resume.batchInEpoch}`,
      })
    }
    this.algo = algo
    this.slot = 0
    this.swarm.setMembership({ slot: 0, startStep: algo.step })
    this.emit({
      type: 'training-started',
      slot: 0,
      step: algo.step,
      workerSlots: this.swarm.manifest.workerSlots,
    })
  }

  /** The joiner's path (also after a slot conflict): get a snapshot, import it, announce. */
  private async joinTraining(): Promise<void> {
    const started = this.clock.now()
    const deadline = started + this.joinTimeoutMs
    const tried = new Set<string>()
    let lastSaidMs = started
    for (;;) {
      if (this.isAborted) throw new CoreError('ERR_ABORTED', 'stopped while joining the room')
      const now = this.clock.now()
      if (now >= deadline) {
        throw new CoreError(
          'ERR_TIMEOUT',
          `no member of the room sent a model snapshot within ${Math.round(this.joinTimeoutMs / 1000)} s`,
        )
      }
      const pending = this.swarm.pendingPeers()
      const admitted = this.swarm.admittedPeers()
      const training = this.swarm
        .trainingPeers()
        .sort((a, b) => (this.swarm.slotOf(a) ?? 0) - (this.swarm.slotOf(b) ?? 0))
      const source = training.find((p) => !tried.has(p))
      if (source !== undefined && (pending.length === 0 || now - started >= this.settleMs)) {
        tried.add(source)
        if (await this.fetchSnapshot(source)) return
        continue
      }
      if (training.length > 0 && source === undefined) {
        // Every training member failed us once: pause, then ask them again.
        await this.waker.wait(Math.min(1000, deadline - now))
        tried.clear()
        continue
      }
      if (admitted.length === 0 && pending.length === 0) {
        const refusal = this.refusals.at(-1)
        if (refusal !== undefined) {
          throw new CoreError(refusal.code, `admission refused by ${refusal.peer}: ${refusal.reason}`)
        }
        if (this.failures.length > 0) {
          throw new CoreError(
            'ERR_CONNECTION_FAILED',
            `could not connect to any member of the room (${this.failures.join(', ')}); check --ice and the network`,
          )
        }
        this.emit({ type: 'log', level: 'info', message: 'every member left the room; starting it anew' })
        this.role = 'founder'
        await this.found()
        return
      }
      if (now - lastSaidMs >= JOIN_PROGRESS_LOG_MS) {
        lastSaidMs = now
        this.emit({ type: 'log', level: 'info', message: describeJoinWait(admitted, pending, training) })
      }
      await this.waker.wait(Math.min(500, deadline - now))
    }
  }

  private async fetchSnapshot(source: string): Promise<boolean> {
    const started = this.clock.now()
    if (!this.swarm.requestSnapshot(source)) return false
    this.emit({ type: 'log', level: 'info', message: `asking ${source} for the current model` })
    // The timeout runs from the last chunk, not from the request: a big model on a slow link
    // may take minutes and is fine while it moves; a source that stalls is left after
    // snapshotTimeoutMs of silence.
    const result = await new Promise<SnapshotWaitResult>((resolve) => {
      let cancel = (): void => {}
      const wait: SnapshotWait = {
        source,
        lastProgressMs: started,
        resolve: (r) => {
          cancel()
          resolve(r)
        },
      }
      const check = (): void => {
        const silentMs = this.clock.now() - wait.lastProgressMs
        if (silentMs >= this.snapshotTimeoutMs) {
          resolve({ kind: 'failed', reason: `no snapshot data for ${this.snapshotTimeoutMs} ms` })
          return
        }
        cancel = this.clock.setTimeout(check, this.snapshotTimeoutMs - silentMs)
      }
      cancel = this.clock.setTimeout(check, this.snapshotTimeoutMs)
      this.snapshotWait = wait
    })
    this.snapshotWait = undefined
    if (result.kind === 'failed') {
      this.swarm.cancelSnapshot(source)
      this.emit({ type: 'log', level: 'warn', message: `no snapshot from ${source}: ${result.reason}` })
      return false
    }
    try {
      await this.importSnapshot(source, result.bytes, result.slot, result.startStep, started)
      return true
    } catch (error) {
      if (!isCoreError(error)) throw error
      this.emit({
        type: 'log',
        level: 'warn',
        message: `snapshot from ${source} refused: ${describe(error)}`,
      })
      return false
    }
  }

  private async importSnapshot(
    source: string,
    bytes: Uint8Array,
    slot: number,
    startStep: number,
    startedMs: number,
  ): Promise<void> {
    const snapshot = decodeSnapshot(bytes, this.model.layout.totalSize)
    if (snapshot.step !== startStep) {
      throw new CoreError(
        'ERR_BAD_CHECKPOINT',
        `snapshot of step ${snapshot.step} was announced for step ${startStep}`,
      )
    }
    const algo = this.createAlgorithm(slot)
    algo.importState(snapshot.state, { mode: 'catch-up', params: snapshot.params })
    if (algo.step !== startStep) {
      throw new CoreError(
        'ERR_BAD_CHECKPOINT',
        `algorithm state is at step ${algo.step}, the snapshot at ${startStep}`,
      )
    }
    await this.model.writeParams(snapshot.params)
    this.params.set(snapshot.params)
    if (snapshot.optimizer.kind === this.model.optimizerKind) {
      await this.model.importOptimizerState(snapshot.optimizer.tensors)
    } else {
      this.emit({
        type: 'log',
        level: 'info',
        message: `keeping a fresh ${this.model.optimizerKind} state (the source uses ${snapshot.optimizer.kind})`,
      })
    }
    this.algo = algo
    this.slot = slot
    this.hasStarted = true
    this.swarm.setMembership({ slot, startStep })
    for (const b of this.buffered.splice(0)) this.deliver(algo, b.peer, b.slot, { ...b.message, to: [slot] })
    this.emit({
      type: 'training-started',
      slot,
      step: startStep,
      workerSlots: this.swarm.manifest.workerSlots,
    })
    if (this.o.evaluateAfterCatchUp !== false) {
      const score = await this.model.evaluate(this.o.test)
      this.catchUpAccuracy = score.accuracy
      this.emit({
        type: 'catch-up',
        from: source,
        slot,
        step: startStep,
        bytes: bytes.length,
        ms: Math.round(this.clock.now() - startedMs),
        testAccuracy: score.accuracy,
        testLoss: score.loss,
      })
    }
  }

  // ---- training -------------------------------------------------------------------------------

  /** Runs the local epochs; true when stopped early by the AbortSignal. */
  private async trainLoop(): Promise<boolean> {
    const { train, batchSize, seed, epochs } = this.o
    const batchesPerEpoch = batchCount(train.count, batchSize)
    const progressMs = this.o.progressIntervalMs ?? NODE_DEFAULTS.progressIntervalMs
    let windowStart = this.clock.now()
    let windowLoss = 0
    let windowBatches = 0
    let windowExamples = 0
    const start = this.startPosition
    for (let epoch = start.epoch; epoch < epochs; epoch++) {
      let epochStart = this.clock.now()
      let epochLoss = 0
      let epochBatchesDone = 0
      let batch = 0
      const skip = epoch === start.epoch ? start.batchInEpoch : 0
      for (const b of epochBatches(train, { batchSize, seed, epoch })) {
        if (batch < skip) {
          batch++
          continue
        }
        if (this.isPausedFlag && !this.isAborted) {
          const pausedAt = this.clock.now()
          await this.waitWhilePaused()
          const pausedMs = this.clock.now() - pausedAt
          epochStart += pausedMs
          windowStart += pausedMs
        }
        if (this.isAborted) {
          await this.checkpoint(epoch, batch, 'stopped')
          return true
        }
        if (this.isConflicted) await this.yieldSlot()
        const loss = await this.step(b.x, b.y)
        batch++
        epochLoss += loss
        epochBatchesDone++
        windowLoss += loss
        windowBatches++
        windowExamples += b.size
        const now = this.clock.now()
        if (now - windowStart >= progressMs) {
          const algo = this.algo
          this.emit({
            type: 'step',
            step: algo?.step ?? 0,
            epoch,
            batch,
            batchesPerEpoch,
            loss: windowLoss / windowBatches,
            examplesPerSec: (windowExamples * 1000) / Math.max(1, now - windowStart),
            round: algo?.stats().round ?? 0,
            present: this.swarm.present(algo?.step ?? 0),
          })
          windowStart = now
          windowLoss = 0
          windowBatches = 0
          windowExamples = 0
        }
      }
      const test = await this.model.evaluate(this.o.test)
      this.lastTestAccuracy = test.accuracy
      this.emit({
        type: 'epoch',
        epoch: epoch + 1,
        epochs,
        step: this.algo?.step ?? 0,
        trainLoss: epochBatchesDone > 0 ? epochLoss / epochBatchesDone : 0,
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        seconds: (this.clock.now() - epochStart) / 1000,
      })
      await this.checkpoint(epoch + 1, 0, 'epoch')
    }
    return false
  }

  /** Idles between steps until resumed or stopped; joiners still get snapshots meanwhile. */
  private async waitWhilePaused(): Promise<void> {
    this.emit({
      type: 'log',
      level: 'info',
      message: `paused at step ${this.algo?.step ?? 0}; staying in the room`,
    })
    while (this.isPausedFlag && !this.isAborted) {
      const algo = this.algo
      if (
        algo !== undefined &&
        this.snapshotRequests.size > 0 &&
        (algo.step === 0 || algo.shouldCommunicate(algo.step - 1))
      ) {
        await this.serveSnapshots(algo)
      }
      await this.waker.wait(1000)
    }
    if (!this.isAborted)
      this.emit({ type: 'log', level: 'info', message: `resumed at step ${this.algo?.step ?? 0}` })
  }

  /** Hands the state at this step boundary to `onCheckpoint`; a failure is a warning, not a stop. */
  private async checkpoint(epoch: number, batchInEpoch: number, reason: 'epoch' | 'stopped'): Promise<void> {
    const save = this.o.onCheckpoint
    const algo = this.algo
    if (save === undefined || algo === undefined) return
    try {
      const state: NodeTrainingState = {
        step: algo.step,
        epoch,
        batchInEpoch,
        params: this.params.slice(),
        algorithm: algo.exportState(),
        optimizer: { kind: this.model.optimizerKind, tensors: await this.model.exportOptimizerState() },
        ...(this.lastTestAccuracy !== undefined && { testAccuracy: this.lastTestAccuracy }),
      }
      await save(state, reason)
    } catch (error) {
      this.emit({ type: 'log', level: 'warn', message: `checkpoint not saved: ${describe(error)}` })
    }
  }

  private async yieldSlot(): Promise<void> {
    this.isConflicted = false
    this.emit({
      type: 'log',
      level: 'warn',
      message: `another member holds slot ${this.slot}; joining again`,
    })
    this.algo = undefined
    this.slot = null
    this.swarm.setMembership(NO_MEMBERSHIP)
    this.role = 'joiner'
    await this.joinTraining()
  }

  /** One step of the driver contract (algorithm.ts steps 1-4); returns the batch loss. */
  private async step(x: Float32Array, y: Int32Array): Promise<number> {
    const algo = this.algo
    if (algo === undefined) throw new Error('Assertion failed: step without an algorithm')
    const k = algo.step
    if (this.snapshotRequests.size > 0 && (k === 0 || algo.shouldCommunicate(k - 1))) {
      await this.serveSnapshots(algo)
    }
    const ctx = { step: k, present: this.swarm.present(k), learningRate: this.model.learningRate }
    algo.beforeLocalStep(ctx, this.params)
    let loss: number
    if (algo.exchangeKind === 'gradient') {
      loss = await this.model.computeGradients(x, y, this.grad)
      this.send(algo.submitGradient(ctx, this.grad))
      await this.waitLoop(algo, k, { params: this.params, grad: this.grad })
      await this.model.applyGradients(this.grad)
    } else {
      loss = await this.model.trainStep(x, y)
    }
    if (!Number.isFinite(loss)) {
      throw new CoreError(
        'ERR_NON_FINITE',
        `training diverged: loss is ${loss} at step ${k}; lower the learning rate`,
      )
    }
    await this.model.readParams(this.params)
    this.shadow.set(this.params)
    this.send(algo.afterLocalStep(ctx, this.params))
    await this.waitLoop(algo, k, { params: this.params })
    if (!sameValues(this.params, this.shadow)) await this.model.writeParams(this.params)
    this.localSteps++
    this.swarm.setRound(algo.stats().round)
    // Let frames, heartbeats and timers in between steps (a step blocks the event loop).
    await new Promise<void>((resolve) => this.clock.setTimeout(resolve, 0))
    return loss
  }

  /** The contract's wait loop (step 4), with a deadline per (kind, round). */
  private async waitLoop(algo: DistributedAlgorithm, k: number, buffers: CompletionBuffers): Promise<void> {
    let key = ''
    let deadlineAt = Number.POSITIVE_INFINITY
    let deadlinePassed = false
    let waitedMs = 0
    for (;;) {
      const present = this.swarm.present(k)
      const c = algo.tryComplete({ present, deadlinePassed }, buffers)
      this.send(c.messages)
      if (c.status === 'ready') {
        for (const outcome of c.outcomes) this.recordOutcome(outcome, Math.round(waitedMs), present)
        return
      }
      const next = `${c.kind}:${c.round}`
      if (next !== key) {
        key = next
        deadlinePassed = false
        deadlineAt = this.clock.now() + this.roundTimeoutMs
      } else if (deadlinePassed) {
        throw new Error(`Assertion failed: ${algo.name} still waits for ${key} after its deadline`)
      }
      const remaining = deadlineAt - this.clock.now()
      if (remaining <= 0 || this.isAborted) {
        deadlinePassed = true
        continue
      }
      const before = this.clock.now()
      await this.waker.wait(remaining)
      waitedMs += this.clock.now() - before
    }
  }

  private recordOutcome(outcome: RoundOutcome, waitedMs: number, present: readonly number[]): void {
    if (outcome.kind === 'averaged') this.averagedRounds++
    else this.localOnlyRounds++
    this.emit({ type: 'round', outcome, waitedMs, present })
    const key = `${outcome.messageKind}:${outcome.round}`
    const sent = this.sentSlots.get(key)
    this.sentSlots.delete(key)
    if (this.slot === null) return
    this.emit({
      type: 'topology',
      round: outcome.round,
      slot: this.slot,
      sentTo: [...(sent ?? [])].sort((a, b) => a - b),
      receivedFrom: outcome.kind === 'averaged' ? [...outcome.peers].sort((a, b) => a - b) : [],
    })
  }

  /** Remembers the slots a round's message went to, for that round's 'topology' event. */
  private noteSent(message: AlgorithmMessage, peers: readonly string[]): void {
    const key = `${message.kind}:${message.round}`
    let slots = this.sentSlots.get(key)
    if (slots === undefined) {
      slots = new Set()
      this.sentSlots.set(key, slots)
      // Rounds whose outcome never comes (a leave, a hand-over) must not pile up.
      while (this.sentSlots.size > MAX_TRACKED_ROUNDS) {
        const oldest = this.sentSlots.keys().next().value
        if (oldest === undefined) break
        this.sentSlots.delete(oldest)
      }
    }
    for (const peer of peers) {
      const slot = this.swarm.slotOf(peer)
      if (slot !== null) slots.add(slot)
    }
  }

  private send(messages: readonly AlgorithmMessage[]): void {
    for (const original of messages) {
      let message = original
      let fingerprint: string | undefined
      const fault = this.o.fault
      if (fault !== undefined && !this.isFaultDone && isFaultTarget(fault, original)) {
        this.isFaultDone = true
        this.emit({
          type: 'log',
          level: 'warn',
          message: `TEST FAULT: sending a ${fault.kind} for round ${fault.round}`,
        })
        if (fault.kind === 'nan-delta') message = withNaN(original)
        else fingerprint = otherFingerprint(this.model.layout.fingerprint)
      }
      const frame = this.swarm.encode(algorithmToFrameMessage(message), fingerprint)
      const sentTo = this.swarm.sendToSlots(message.to, frame)
      this.noteSent(message, sentTo)
      if (message.to === 'all' && this.resendCacheSize > 0) {
        this.sentCache.push({ frame, step: this.algo?.step ?? 0, sentTo: new Set(sentTo) })
        this.sentCacheBytes += frame.length
        while (
          this.sentCache.length > this.resendCacheSize ||
          (this.sentCache.length > 0 && this.sentCacheBytes > NODE_DEFAULTS.resendCacheBytes)
        ) {
          this.sentCacheBytes -= this.sentCache.shift()?.frame.length ?? 0
        }
      }
    }
  }

  private async serveSnapshots(algo: DistributedAlgorithm): Promise<void> {
    const peers = [...this.snapshotRequests].filter((p) => this.swarm.membershipOf(p) !== undefined)
    this.snapshotRequests.clear()
    if (peers.length === 0) return
    const step = algo.step
    const state = algo.exportState()
    const tensors = await this.model.exportOptimizerState()
    const bytes = encodeSnapshot({
      step,
      params: this.params,
      state,
      optimizer: { kind: this.model.optimizerKind, tensors },
    })
    for (const peer of peers) {
      const slot = this.swarm.serveSnapshot(peer, bytes, step)
      if (slot !== undefined) this.emit({ type: 'snapshot-served', peer, slot, step, bytes: bytes.length })
    }
  }

  private emitPeers(): void {
    const staleness = new Map<number, number>()
    const algo = this.algo
    const stats = algo?.stats()
    for (const p of stats?.peers ?? []) staleness.set(p.peer, p.roundsBehind)
    // One compressor serves every peer: its last ratio is what messages to any member get.
    const compressionRatio =
      stats !== undefined && stats.lastCompressionRatio > 0 ? stats.lastCompressionRatio : undefined
    const peers: PeerMetrics[] = this.swarm.peerStats({ includeGone: false }).map((s) => {
      const c = this.countersOf(s.peer)
      const behind = s.slot === null ? undefined : staleness.get(s.slot)
      return {
        peer: s.peer,
        state: s.state,
        slot: s.slot,
        ...(behind !== undefined && { stalenessRounds: behind }),
        ...(s.peerRound !== undefined && { peerRound: s.peerRound }),
        ...(s.lastMessageAgeMs !== undefined && { lastMessageAgeMs: Math.round(s.lastMessageAgeMs) }),
        ...(s.rttMs !== undefined && { rttMs: s.rttMs }),
        ...(s.iceRttMs !== undefined && { iceRttMs: s.iceRttMs }),
        bytesSent: s.bytesSent,
        bytesReceived: s.bytesReceived,
        sendRateBytesPerSec: Math.round(s.sendRateBytesPerSec),
        receiveRateBytesPerSec: Math.round(s.receiveRateBytesPerSec),
        ...(s.connectionType !== undefined && { connectionType: s.connectionType }),
        ...(s.slot !== null && compressionRatio !== undefined && { compressionRatio }),
        protocolErrors: s.protocolErrors,
        rejectedMessages: c.rejected,
        lateMessages: c.late,
      }
    })
    this.emit({ type: 'peers', round: stats?.round ?? 0, peers })
  }
}
