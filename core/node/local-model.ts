/**
 * The node's seam to local computation: one model on this machine, seen as a flat parameter
 * vector plus the optimizer that moves it. `TrainerModel` is the real one (tfjs, through
 * core/training/trainer.ts); tests drive the node with small pure-JS models through the same
 * interface, so the swarm and the algorithms are exercised without tensors.
 *
 * Order of a step stays the trainer's (STYLE.md §7): `trainStep` for algorithms that average
 * models, or `computeGradients` → network → `applyGradients` for gradient averaging.
 */
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { EvaluationResult, LabelledSplit, Trainer } from '../training/trainer.ts'
import type { OptimizerTensor } from './snapshot-codec.ts'

export interface LocalModel {
  readonly layout: ParamLayout
  /** The optimizer's name ('adam', 'sgd', ...): optimizer state is only imported between equals. */
  readonly optimizerKind: string
  readonly learningRate: number
  /** Copies the current parameters into `out` (layout order). */
  readParams(out: Float32Array): void
  /** Replaces the parameters; throws ERR_NON_FINITE / ERR_SHAPE_MISMATCH before touching the model. */
  writeParams(values: Float32Array): void
  /** One optimizer step on a batch; returns the batch's mean loss. */
  trainStep(x: Float32Array, y: Int32Array): number
  /** Gradient of the batch loss into `out`, without applying it; returns the loss. */
  computeGradients(x: Float32Array, y: Int32Array, out: Float32Array): number
  applyGradients(gradient: Float32Array): void
  evaluate(split: LabelledSplit): EvaluationResult
  exportOptimizerState(): Promise<OptimizerTensor[]>
  importOptimizerState(tensors: readonly OptimizerTensor[]): Promise<void>
}

/** `LocalModel` over a tfjs `Trainer`. */
export class TrainerModel implements LocalModel {
  constructor(readonly trainer: Trainer) {}

  get layout(): ParamLayout {
    return this.trainer.params.layout
  }

  get optimizerKind(): string {
    return this.trainer.optimizerConfig.kind
  }

  get learningRate(): number {
    return this.trainer.optimizerConfig.learningRate
  }

  readParams(out: Float32Array): void {
    this.trainer.params.read(out)
  }

  writeParams(values: Float32Array): void {
    this.trainer.params.write(values)
  }

  trainStep(x: Float32Array, y: Int32Array): number {
    return this.trainer.trainStep(x, y)
  }

  computeGradients(x: Float32Array, y: Int32Array, out: Float32Array): number {
    return this.trainer.computeGradients(x, y, out)
  }

  applyGradients(gradient: Float32Array): void {
    this.trainer.applyGradients(gradient)
  }

  evaluate(split: LabelledSplit): EvaluationResult {
    return this.trainer.evaluate(split)
  }

  async exportOptimizerState(): Promise<OptimizerTensor[]> {
    return (await this.trainer.exportOptimizerState()).map((t) => ({
      name: t.name,
      shape: t.shape,
      values: t.values,
    }))
  }

  async importOptimizerState(tensors: readonly OptimizerTensor[]): Promise<void> {
    await this.trainer.importOptimizerState(
      tensors.map((t) => ({ name: t.name, shape: [...t.shape], values: t.values })),
    )
  }
}
