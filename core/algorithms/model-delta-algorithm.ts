/**
 * The all-reduce algorithms that exchange model deltas (Local SGD, OLCO3): a round's
 * contribution is Δ = x(start of round) − x, what the local steps since the round began moved
 * the model by, sent as a 'delta' message. The round-start model is part of the state
 * (`vectors.roundStart`, written before the residual); a late joiner starts it from the model
 * it copied. What the average of the deltas does to the model is the subclass's business.
 */
import type { AlgorithmMessage } from './algorithm.ts'
import type { AlgorithmDeps, ImportHow } from './algorithm-core.ts'
import { AllReduceAlgorithm, type AllReduceOptions } from './all-reduce-algorithm.ts'
import { readVector, type AlgorithmState, type JsonObject } from './state.ts'
import { subtractInto } from './vector-ops.ts'

export abstract class ModelDeltaAlgorithm extends AllReduceAlgorithm {
  readonly exchangeKind = 'model-delta'
  /** The model the current round's delta is measured from. */
  protected readonly roundStart: Float32Array
  /** Decode target for the average of a round's deltas. */
  protected readonly average: Float32Array
  private readonly delta: Float32Array

  constructor(deps: AlgorithmDeps, options: Omit<AllReduceOptions, 'messageKind'>) {
    super(deps, { ...options, messageKind: 'delta' })
    this.roundStart = new Float32Array(this.size)
    this.average = new Float32Array(this.size)
    this.delta = new Float32Array(this.size)
  }

  protected override onStart(params: Float32Array): void {
    this.roundStart.set(params)
    super.onStart(params)
  }

  /** Encodes Δ = roundStart − params as this worker's contribution to `round` (counted in the stats). */
  protected encodeDelta(params: Float32Array, round: number): { own: Uint8Array; message: AlgorithmMessage } {
    subtractInto(this.delta, this.roundStart, params)
    return this.encodeContribution(this.delta, round)
  }

  protected override exportBody(
    data: JsonObject,
    vectors: Record<string, Float32Array>,
    bytes: Record<string, Uint8Array>,
  ): void {
    vectors.roundStart = this.roundStart.slice()
    super.exportBody(data, vectors, bytes)
  }

  protected override importBody(state: AlgorithmState, how: ImportHow): void {
    this.roundStart.set(how.mode === 'catch-up' ? how.params : readVector(state, 'roundStart', this.size))
    super.importBody(state, how)
  }
}
