/**
 * The node's seam to local computation: one model on this machine, seen as a flat parameter
 * vector plus the optimizer that moves it. Two real ones: `TrainerModel` steps an in-process tfjs
 * Trainer synchronously (core/training/trainer.ts), `AsyncTrainerModel` drives an `AsyncTrainer`,
 * which may live in a browser page (the `webgl` and `webgpu-browser` routes) or read
 * asynchronously (WebGPU through Dawn). Tests drive the node with small pure-JS models through
 * the same interface, so the swarm and the algorithms are exercised without tensors.
 *
 * Every method may answer with a value or a promise (`MaybePromise`): the node awaits each, which
 * costs a synchronous model one microtask per call and nothing else.
 *
 * Order of a step stays the trainer's (STYLE.md §7): `trainStep` for algorithms that average
 * models, or `computeGradients` → network → `applyGradients` for gradient averaging.
 */
import type { AsyncTrainer } from '../browser/async-trainer.ts'
import { CoreError } from '../errors.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { EvaluationResult, LabelledSplit, OptimizerConfig, Trainer } from '../training/trainer.ts'
import type { OptimizerTensor } from './snapshot-codec.ts'

/** A result now or later. */
export type MaybePromise<T> = T | Promise<T>

export interface LocalModel {
  readonly layout: ParamLayout
  /** The optimizer's name ('adam', 'sgd', ...): optimizer state is only imported between equals. */
  readonly optimizerKind: string
  readonly learningRate: number
  /** Copies the current parameters into `out` (layout order). */
  readParams(out: Float32Array): MaybePromise<void>
  /** Replaces the parameters; fails with ERR_NON_FINITE / ERR_SHAPE_MISMATCH before touching the model. */
  writeParams(values: Float32Array): MaybePromise<void>
  /** One optimizer step on a batch; returns the batch's mean loss. */
  trainStep(x: Float32Array, y: Int32Array): MaybePromise<number>
  /** Gradient of the batch loss into `out`, without applying it; returns the loss. */
  computeGradients(x: Float32Array, y: Int32Array, out: Float32Array): MaybePromise<number>
  applyGradients(gradient: Float32Array): MaybePromise<void>
  evaluate(split: LabelledSplit): MaybePromise<EvaluationResult>
  exportOptimizerState(): Promise<OptimizerTensor[]>
  importOptimizerState(tensors: readonly OptimizerTensor[]): Promise<void>
}

/** `LocalModel` over an in-process tfjs `Trainer` on a route that reads synchronously. */
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

/**
 * `LocalModel` over an `AsyncTrainer`: every call is one request to wherever the trainer lives
 * (for a browser route, one trainer-protocol message whose vectors travel as ArrayBuffers).
 * `layout` is this process's view of the same architecture; it must match the trainer's.
 */
export class AsyncTrainerModel implements LocalModel {
  readonly optimizerKind: string
  readonly learningRate: number

  /** @throws CoreError ERR_SHAPE_MISMATCH when `layout` is not the trainer's. */
  constructor(
    readonly trainer: AsyncTrainer,
    readonly layout: ParamLayout,
    optimizer: OptimizerConfig,
  ) {
    if (layout.fingerprint !== trainer.fingerprint || layout.totalSize !== trainer.totalSize) {
      throw new CoreError(
        'ERR_SHAPE_MISMATCH',
        `the trainer (${trainer.description}) has model layout ${trainer.fingerprint} with ${trainer.totalSize} parameters, expected ${layout.fingerprint} with ${layout.totalSize}`,
      )
    }
    this.optimizerKind = optimizer.kind
    this.learningRate = optimizer.learningRate
  }

  async readParams(out: Float32Array): Promise<void> {
    await this.trainer.readParams(out)
  }

  writeParams(values: Float32Array): Promise<void> {
    return this.trainer.writeParams(values)
  }

  async trainStep(x: Float32Array, y: Int32Array): Promise<number> {
    // One batch as one train-steps request: its single loss comes back as a 4-byte buffer.
    const losses = await this.trainer.trainSteps(x, y, y.length)
    const loss = losses[0]
    if (losses.length !== 1 || loss === undefined) {
      throw new CoreError('ERR_REMOTE_TRAINER', `one batch answered with ${losses.length} losses`)
    }
    return loss
  }

  computeGradients(x: Float32Array, y: Int32Array, out: Float32Array): Promise<number> {
    return this.trainer.computeGradients(x, y, out)
  }

  applyGradients(gradient: Float32Array): Promise<void> {
    return this.trainer.applyGradients(gradient)
  }

  evaluate(split: LabelledSplit): Promise<EvaluationResult> {
    return this.trainer.evaluate(split)
  }

  async exportOptimizerState(): Promise<OptimizerTensor[]> {
    return this.trainer.exportOptimizerState()
  }

  importOptimizerState(tensors: readonly OptimizerTensor[]): Promise<void> {
    return this.trainer.importOptimizerState(
      tensors.map((t) => ({ name: t.name, shape: [...t.shape], values: t.values })),
    )
  }
}
