/**
 * The part the all-reduce style algorithms share (sync SGD, Local SGD, OLCO3): each round every
 * worker compresses one vector through its DeltaChannel and sends it to all peers, files the
 * peers' payloads for that round in a RoundInbox and, once the round is decided
 * (round-decision.ts), averages its own payload with the received ones (Averager). Subclasses
 * number the rounds (`roundOfStep`), say which vector they send and what the average does to
 * the model; receiving, the inbox's bounds, per-peer staleness, the residual and inbox parts of
 * the state and a late joiner's fresh start are the same for all of them and live here.
 *
 * State written by `exportBody`: `vectors.residual` and `data.inbox` (plus the inbox's payloads
 * in `bytes`), after whatever the subclass wrote first.
 */
import type {
  AlgorithmMessage,
  MembershipView,
  MessageKind,
  ReceiveResult,
  StepContext,
} from './algorithm.ts'
import { AlgorithmCore, type AlgorithmDeps, type ImportHow } from './algorithm-core.ts'
import { Averager } from './averager.ts'
import { DeltaChannel } from './delta-channel.ts'
import { RoundInbox } from './round-inbox.ts'
import { decideRound, type RoundDecision } from './round-decision.ts'
import { readVector, type AlgorithmState, type JsonObject } from './state.ts'

export interface AllReduceOptions {
  /** The one message kind this exchange sends and accepts. */
  readonly messageKind: MessageKind
  /** Compressor spec (core/compress). */
  readonly compressor: string
  readonly errorFeedback: boolean
  /** How many rounds beyond the current one a peer's payload may be and still be kept. */
  readonly maxRoundsAhead: number
}

export abstract class AllReduceAlgorithm extends AlgorithmCore {
  protected readonly acceptedKinds: readonly MessageKind[]
  protected readonly messageKind: MessageKind
  readonly channel: DeltaChannel
  protected readonly inbox: RoundInbox
  private readonly averager: Averager
  /** Decode target for validating incoming payloads. */
  private readonly scratch: Float32Array

  constructor(deps: AlgorithmDeps, options: AllReduceOptions) {
    super(deps)
    this.messageKind = options.messageKind
    this.acceptedKinds = [options.messageKind]
    this.channel = new DeltaChannel({
      compressor: this.createCompressor(options.compressor, deps.layout),
      errorFeedback: options.errorFeedback,
      seed: deps.seed,
      workerIndex: deps.workerIndex,
    })
    this.inbox = new RoundInbox(options.maxRoundsAhead)
    this.averager = new Averager(this.size)
    this.scratch = new Float32Array(this.size)
  }

  /** The round step `step` belongs to. */
  protected abstract roundOfStep(step: number): number

  protected onStart(_params: Float32Array): void {
    this.inbox.setCurrent(0)
  }

  protected override onBeforeStep(ctx: StepContext, _params: Float32Array): void {
    this.inbox.setCurrent(this.roundOfStep(ctx.step))
  }

  /** Encodes this worker's contribution `v` to `round` and counts it; returns the payload and its message. */
  protected encodeContribution(
    v: Float32Array,
    round: number,
  ): { own: Uint8Array; message: AlgorithmMessage } {
    const { payload } = this.channel.encode(v, round)
    this.recordSent(payload)
    return { own: payload, message: { kind: this.messageKind, round, to: 'all', payload: payload.slice() } }
  }

  /** Whether `round` can be closed now, over the peers present (round-decision.ts). */
  protected decide(round: number, view: MembershipView, staleness: number): RoundDecision {
    return decideRound(this.inbox, this.messageKind, round, this.present, view.deadlinePassed, staleness)
  }

  /** out = the average of `own` and the `received` payloads of `round`; then closes the round. */
  protected averageAndClose(
    round: number,
    own: Uint8Array,
    received: ReadonlyArray<readonly [number, Uint8Array]>,
    out: Float32Array,
  ): void {
    this.averager.average(this.channel, round, this.workerIndex, own, received, out)
    this.inbox.finish(round)
  }

  protected onReceive(from: number, message: AlgorithmMessage): ReceiveResult {
    return this.inbox.accept(from, message, () => {
      // An empty payload abstains from the round (round-inbox.ts); anything else must decode.
      if (message.payload.length > 0) this.channel.decode(message.payload, message.round, from, this.scratch)
    })
  }

  protected currentRound(): number {
    return this.roundOfStep(this.stepIndex)
  }

  protected newestRoundFrom(peer: number): number {
    return this.inbox.newestFrom(peer)
  }

  /** Subclasses write their own fields first, then call this. */
  protected exportBody(
    data: JsonObject,
    vectors: Record<string, Float32Array>,
    bytes: Record<string, Uint8Array>,
  ): void {
    vectors.residual = this.channel.exportResidual()
    this.inbox.exportTo('inbox', data, bytes)
  }

  /**
   * Checkpoint: restores the residual and the inbox. Catch-up: starts both fresh at the round of
   * the source's step, so only payloads of rounds from then on are accepted.
   */
  protected importBody(state: AlgorithmState, how: ImportHow): void {
    if (how.mode === 'catch-up') {
      const round = this.roundOfStep(how.step)
      this.channel.resetResidual()
      this.inbox.clear(round - 1)
      this.inbox.setCurrent(round)
      return
    }
    this.channel.importResidual(readVector(state, 'residual', this.size))
    this.inbox.importFrom('inbox', state, this.workerCount)
  }
}
