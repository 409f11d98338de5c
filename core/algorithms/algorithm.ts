/**
 * The one interface every distributed training algorithm implements (sync all-reduce SGD,
 * Local SGD, OLCO3, SlowMo/DiLoCo, SGP). An algorithm is a per-worker state machine that
 * never does I/O: messages go out as return values and come in through `receive`, and the
 * driver decides when to wait, for whom and how long (like a PyTorch DDP comm hook: state in,
 * state out). Two drivers run the same instances unchanged: the simulator (many workers on a
 * virtual clock, core/sim) and the network node (one worker, peers over WebRTC, core/node).
 *
 * Vocabulary
 * - step: one local optimizer step, numbered 0, 1, 2, ... identically on every worker.
 * - round: one communication exchange, numbered by the algorithm (sync: round = step; Local
 *   SGD and OLCO3: one round per period of H steps; SGP: round = step; SlowMo's exact-average
 *   messages use the outer iteration index). Every message carries its round.
 * - params: the worker's flat model vector (`Float32Array`, ParamLayout order) — the values
 *   the trainer computes gradients at. The driver copies it to and from the model.
 * - present: the worker indices (0 <= i < workerCount) the membership layer currently sees
 *   in the room. Self may be listed or not; it is always implied.
 *
 * Driver contract, step by step (the simulator and the network node must both do exactly this)
 *
 *  0. `algo = createAlgorithm(config, deps)`; then `algo.start(params)` once with the initial
 *     model, which must be the same on every worker (a checkpoint or a peer's model), or
 *     `algo.importState(state)` instead of `start` to resume.
 *  For each step k = 0, 1, 2, ...:
 *  1. `algo.beforeLocalStep(ctx, params)` with `ctx = { step: k, present, learningRate }`.
 *  2. If `algo.exchangeKind === 'gradient'` (sync SGD):
 *       a. compute the gradient g at `params` (do not apply it);
 *       b. send every message of `algo.submitGradient(ctx, g)`;
 *       c. run the wait loop (step 4) with `buffers = { params, grad: g }`: when it reports
 *          ready, `g` holds the averaged gradient;
 *       d. apply the optimizer with that `g` to `params`.
 *     Otherwise ('model-delta', 'push-sum'): compute the gradient at `params` and apply the
 *     optimizer to `params` locally, as single-machine training would.
 *  3. Send every message of `algo.afterLocalStep(ctx, params)`.
 *  4. Wait loop: `c = algo.tryComplete(view, { params })` with
 *     `view = { present, deadlinePassed }`; send every message in `c.messages` (also when
 *     waiting: a completion can start another exchange); show `c.outcomes` when ready.
 *       - `c.status === 'ready'`: go on to step k + 1 (params may have been rewritten).
 *       - `c.status === 'waiting'`: it names the (kind, round) it waits for and the `missing`
 *         peers. Feed arriving messages to `algo.receive(from, message)` and call
 *         `tryComplete` again after each one, when membership changes, and once the driver's
 *         deadline for that (kind, round) passes (then with `deadlinePassed: true`, which makes
 *         the algorithm finish the round with what it has — it then answers 'ready' with a
 *         partial 'averaged' or a 'local-only' outcome, never an exception). Start a fresh
 *         deadline whenever the reported (kind, round) changes.
 *  Messages may arrive at any time, also during a local step: call `receive` whenever one
 *  arrives; it only buffers, it never touches `params`.
 *  5. To leave the room gracefully, send the messages of `algo.leave(params)` (SGP hands its
 *     push-sum mass to a peer; the other algorithms return none).
 *  Between steps (after a 'ready'): `exportState()` for a checkpoint, `importState(state)` to
 *  restore it; `stats()` any time for the UI (bytes, compression ratio, per-peer staleness).
 *  A late joiner copies a peer's params and state and calls
 *  `importState(peerState, { mode: 'catch-up', params })` instead of `start`, then runs from the
 *  peer's `step` (best at a round boundary), listed as present from that step on.
 *  Between `beforeLocalStep` and `afterLocalStep` only the optimizer may change `params`: the
 *  algorithms read the difference as the local update (SGP moves x by exactly that).
 *
 * Sending: `to: 'all'` means every present peer; otherwise the listed worker indices. Each
 * message's payload is a fresh copy owned by the message. An empty payload is valid and means
 * "no contribution to this round" (a late joiner abstaining), so transports must carry it.
 * Messages may be delayed, lost, duplicated or reordered; `receive` reports late, duplicate,
 * unknown-peer, malformed and non-finite messages as `{ kind: 'rejected', code }` without
 * touching the model, so one bad peer never throws out of the training loop (STYLE.md §5.3).
 *
 * Programmer mistakes (calls out of the order above, a wrong step number, buffers of the
 * wrong size) throw at once; expected failures from peers are results.
 */
import type { ErrorCode } from '../errors.ts'
import type { AlgorithmState } from './state.ts'

/** What the algorithm averages: gradients every step, model deltas per round, or push-sum shares. */
export type ExchangeKind = 'gradient' | 'model-delta' | 'push-sum'

/**
 * Message kinds on the wire.
 * - 'gradient': sync SGD's compressed gradient of one step.
 * - 'delta': Local SGD's / OLCO3's compressed model delta of one round.
 * - 'push-sum': SGP's share of (x, w) pushed to an out-peer.
 * - 'hand-over': SGP's whole (x, w) handed to a peer by a worker that leaves.
 * - 'model': a full model for an exact average (SlowMo's outer step over a non-exact base).
 */
export type MessageKind = 'gradient' | 'delta' | 'push-sum' | 'hand-over' | 'model'

export const MESSAGE_KINDS: readonly MessageKind[] = ['gradient', 'delta', 'push-sum', 'hand-over', 'model']

export interface AlgorithmMessage {
  readonly kind: MessageKind
  /** The round the payload belongs to, in the sending algorithm's numbering. */
  readonly round: number
  /** 'all' = every present peer; otherwise worker indices. */
  readonly to: 'all' | readonly number[]
  /** Compressed by the algorithm's compressor (core/compress); owned by this message. */
  readonly payload: Uint8Array
  /** Push-sum weight carried with the payload ('push-sum' and 'hand-over' only). */
  readonly weight?: number
}

export type ReceiveResult =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'rejected'; readonly code: ErrorCode; readonly message: string }

/**
 * How one round ended (STYLE.md §5.3): a result to show, never an exception.
 * `maxStaleness` is how many of this algorithm's rounds old the newest information applied
 * was (OLCO3: rounds between the averaged round and the current one; SGP: steps since the
 * oldest in-peer's newest message; 0 for exact synchronous averaging).
 */
export type RoundOutcome =
  | {
      readonly kind: 'averaged'
      readonly messageKind: MessageKind
      readonly round: number
      /** Peers whose contribution was averaged in (self not included). */
      readonly peers: readonly number[]
      readonly maxStaleness: number
    }
  | {
      readonly kind: 'local-only'
      readonly messageKind: MessageKind
      readonly round: number
      readonly reason: ErrorCode
    }

export interface StepContext {
  /** 0-based local step index, identical on every worker. */
  readonly step: number
  /** Worker indices present in the room now (self implied). */
  readonly present: readonly number[]
  /** The learning rate γ the optimizer uses at this step (SlowMo divides by it); default 1. */
  readonly learningRate?: number
}

export interface MembershipView {
  readonly present: readonly number[]
  /** True once the driver's deadline for the (kind, round) last reported as waiting passed. */
  readonly deadlinePassed: boolean
}

export interface CompletionBuffers {
  readonly params: Float32Array
  /** The gradient buffer, required while a 'gradient' exchange is pending. */
  readonly grad?: Float32Array
}

export type Completion =
  | {
      readonly status: 'waiting'
      readonly kind: MessageKind
      readonly round: number
      /** Present peers whose message for (kind, round) has not arrived. */
      readonly missing: readonly number[]
      readonly messages: readonly AlgorithmMessage[]
    }
  | {
      readonly status: 'ready'
      readonly outcomes: readonly RoundOutcome[]
      readonly messages: readonly AlgorithmMessage[]
    }

/** Per-peer view for the UI (ALGORITHMS.md §6). */
export interface PeerStaleness {
  readonly peer: number
  /** Newest round received from this peer, or -1. */
  readonly newestRound: number
  /** Rounds (SGP: steps) between this worker's current round and `newestRound`. */
  readonly roundsBehind: number
}

export interface AlgorithmStats {
  /** The algorithm's current round. */
  readonly round: number
  /** Payload bytes this worker produced (one count per message, whatever its fan-out). */
  readonly payloadBytesSent: number
  /** What those payloads would have taken as raw float32. */
  readonly rawBytesSent: number
  /** Raw f32 bytes / payload bytes of the last message sent (1 when uncompressed, 0 before any). */
  readonly lastCompressionRatio: number
  readonly peers: readonly PeerStaleness[]
}

export interface ImportOptions {
  /**
   * 'checkpoint' (default): restore this same worker exactly (same index, same inboxes).
   * 'catch-up': a late joiner adopts another worker's shared state (step and round counters,
   * SlowMo momentum) and starts its private state (residuals, inboxes, push-sum weight) fresh
   * from `params`, the model it copied from that peer. Best taken at a round boundary.
   */
  readonly mode?: 'checkpoint' | 'catch-up'
  /** Required for 'catch-up': the joiner's starting model (the source peer's params). */
  readonly params?: Float32Array
}

export interface DistributedAlgorithm {
  /** The registry name: 'sync' | 'local' | 'olco3' | 'slowmo' | 'sgp'. */
  readonly name: string
  readonly exchangeKind: ExchangeKind
  readonly workerIndex: number
  readonly workerCount: number
  /** The next step this worker will run. */
  readonly step: number

  /** Step 0 of the contract: adopt the initial model. */
  start(params: Float32Array): void
  /** True when step `step` ends with a communication round (for timing and UI). */
  shouldCommunicate(step: number): boolean
  beforeLocalStep(ctx: StepContext, params: Float32Array): void
  /** 'gradient' algorithms only: compress and send this step's gradient. */
  submitGradient(ctx: StepContext, grad: Float32Array): AlgorithmMessage[]
  afterLocalStep(ctx: StepContext, params: Float32Array): AlgorithmMessage[]
  receive(from: number, message: AlgorithmMessage): ReceiveResult
  tryComplete(view: MembershipView, buffers: CompletionBuffers): Completion
  /** Graceful leave; afterwards the instance only answers exportState/stats. */
  leave(params: Float32Array): AlgorithmMessage[]
  stats(): AlgorithmStats
  exportState(): AlgorithmState
  importState(state: AlgorithmState, options?: ImportOptions): void
}

/**
 * What SlowMo needs from the algorithm it wraps (every registry algorithm but SlowMo itself
 * provides it).
 */
export interface BaseAlgorithm extends DistributedAlgorithm {
  /** True when, after step `step` completes, every worker holds the same exactly averaged model. */
  isSynchronizedAfter(step: number): boolean
  /**
   * All workers' models were just replaced by the same vector `params` (SlowMo's outer step):
   * forget per-round references (round start, residuals, pending stale rounds, push-sum weight).
   */
  rebase(params: Float32Array): void
}
