/**
 * Local training on one worker: forward, loss, gradients, optimizer update, evaluation.
 *
 * Runtime-agnostic: it only uses tfjs-core/-layers, so the same code runs in Node and in a
 * browser context. Gradients can be computed and applied in two separate calls
 * (computeGradients, then applyGradients) so a synchronous algorithm can average them over
 * the network in between (tfjs's own Optimizer.minimize split, STYLE.md §7).
 */
import * as tf from '@tensorflow/tfjs-core'
import type { LayersModel } from '@tensorflow/tfjs-layers'
import { CoreError } from '../errors.ts'
import { FlatParams, assertFinite } from '../tensor/flat-params.ts'
import { endsWithSoftmax } from '../tensor/models.ts'
import { checkFlatSize } from '../tensor/param-layout.ts'

export type OptimizerKind = 'sgd' | 'momentum' | 'adam'

export interface OptimizerConfig {
  readonly kind: OptimizerKind
  readonly learningRate: number
  /** Momentum coefficient for `momentum` (default 0.9). */
  readonly momentum?: number
}

export const DEFAULT_LEARNING_RATES: Readonly<Record<OptimizerKind, number>> = {
  sgd: 0.05,
  momentum: 0.02,
  adam: 0.001,
}

export interface EvaluationResult {
  readonly loss: number
  readonly accuracy: number
  readonly count: number
}

export interface LabelledSplit {
  readonly x: Float32Array
  readonly y: Int32Array
  readonly count: number
}

export interface TrainerOptions {
  readonly model: LayersModel
  readonly classCount: number
  readonly optimizer: OptimizerConfig
}

interface TrainableVariable {
  readonly entryIndex: number
  readonly variable: tf.Variable
}

export interface OptimizerStateTensor {
  readonly name: string
  readonly shape: number[]
  readonly values: Float32Array
}

export class Trainer {
  readonly model: LayersModel
  readonly params: FlatParams
  readonly classCount: number
  readonly inputShape: readonly number[]
  readonly optimizerConfig: OptimizerConfig
  private readonly exampleSize: number
  private readonly optimizer: tf.Optimizer
  private readonly trainable: readonly TrainableVariable[]
  private readonly outputIsProbabilities: boolean
  private isClosed = false

  constructor(options: TrainerOptions) {
    this.model = options.model
    this.classCount = options.classCount
    this.optimizerConfig = options.optimizer
    this.params = new FlatParams(options.model)
    const input = options.model.inputs[0]
    if (!input) throw new CoreError('ERR_BAD_MODEL', 'the model has no input')
    this.inputShape = input.shape.slice(1).map((d) => d ?? 1)
    this.exampleSize = this.inputShape.reduce((a, b) => a * b, 1)
    this.optimizer = createOptimizer(options.optimizer)
    this.outputIsProbabilities = endsWithSoftmax(options.model)
    const trainableIndices = this.params.trainableEntryIndices()
    this.trainable = trainableIndices.map((entryIndex) => {
      // LayerVariable.read() returns the underlying tf.Variable, which is what optimizers update.
      const variable = options.model.weights[entryIndex]!.read()
      if (!(variable instanceof tf.Variable))
        throw new Error(`weight ${entryIndex} is not backed by a tf.Variable`)
      return { entryIndex, variable }
    })
  }

  /** One local optimizer step on a batch; returns the batch's mean loss. */
  trainStep(x: Float32Array, y: Int32Array): number {
    this.guard()
    const lossTensor = tf.tidy(() => {
      const [xs, ys] = this.batchTensors(x, y)
      const cost = this.optimizer.minimize(
        () => this.loss(xs, ys),
        true,
        this.trainable.map((t) => t.variable),
      )
      if (!cost) throw new Error('optimizer.minimize returned no cost')
      return cost
    })
    return readScalarAndDispose(lossTensor)
  }

  /**
   * Gradients of the batch loss, written into `out` (the full layout; non-trainable entries
   * such as batch-norm statistics are zero). Returns the batch's mean loss.
   */
  computeGradients(x: Float32Array, y: Int32Array, out: Float32Array): number {
    this.guard()
    checkFlatSize(this.params.layout, out, 'the gradient vector')
    out.fill(0)
    const lossTensor = tf.tidy(() => {
      const [xs, ys] = this.batchTensors(x, y)
      const { value, grads } = this.optimizer.computeGradients(
        () => this.loss(xs, ys),
        this.trainable.map((t) => t.variable),
      )
      for (const t of this.trainable) {
        const grad = grads[t.variable.name]
        if (!grad) throw new Error(`no gradient for ${t.variable.name}`)
        out.set(grad.dataSync(), this.params.layout.entries[t.entryIndex]!.offset)
      }
      return value
    })
    return readScalarAndDispose(lossTensor)
  }

  /** Applies a flat gradient (e.g. the all-reduced average) with this trainer's optimizer. */
  applyGradients(gradient: Float32Array): void {
    this.guard()
    checkFlatSize(this.params.layout, gradient, 'the gradient vector')
    assertFinite(gradient, 'gradient')
    tf.tidy(() => {
      const named: tf.NamedTensorMap = {}
      for (const t of this.trainable) {
        const entry = this.params.layout.entries[t.entryIndex]!
        named[t.variable.name] = tf.tensor(gradient.slice(entry.offset, entry.offset + entry.size), [
          ...entry.shape,
        ])
      }
      this.optimizer.applyGradients(named)
    })
  }

  /** Loss and accuracy over a split, in batches so memory stays bounded. */
  evaluate(split: LabelledSplit, batchSize = 1000): EvaluationResult {
    this.guard()
    if (split.count === 0) return { loss: Number.NaN, accuracy: Number.NaN, count: 0 }
    let lossSum = 0
    let correct = 0
    for (let start = 0; start < split.count; start += batchSize) {
      const n = Math.min(batchSize, split.count - start)
      const x = split.x.subarray(start * this.exampleSize, (start + n) * this.exampleSize)
      const y = split.y.subarray(start, start + n)
      const sums = tf.tidy(() => {
        const [xs, ys] = this.batchTensors(x, y)
        const output = this.model.apply(xs, { training: false }) as tf.Tensor
        const lossSumBatch = tf.mul(this.lossFromOutput(output, ys), n)
        const hits = tf.sum(tf.cast(tf.equal(tf.argMax(output, 1), tf.tensor1d(y, 'int32')), 'float32'))
        return tf.stack([lossSumBatch, hits])
      })
      const [l, c] = sums.dataSync()
      sums.dispose()
      lossSum += l!
      correct += c!
    }
    return { loss: lossSum / split.count, accuracy: correct / split.count, count: split.count }
  }

  /** The optimizer's internal state (Adam moments, momentum buffers, iteration count), for checkpoints. */
  async exportOptimizerState(): Promise<OptimizerStateTensor[]> {
    this.guard()
    const weights = await this.optimizer.getWeights()
    const out: OptimizerStateTensor[] = []
    for (const w of weights) {
      out.push({ name: w.name, shape: [...w.tensor.shape], values: Float32Array.from(await w.tensor.data()) })
    }
    return out
  }

  async importOptimizerState(state: readonly OptimizerStateTensor[]): Promise<void> {
    this.guard()
    if (state.length === 0) return
    const named = state.map((s) => ({ name: s.name, tensor: tf.tensor(s.values, s.shape) }))
    await this.optimizer.setWeights(named)
    // setWeights copies into its own variables; the input tensors are ours to free.
    for (const n of named) n.tensor.dispose()
  }

  /** Frees the model's and optimizer's tensors. Safe to call twice. */
  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    this.optimizer.dispose()
    this.model.dispose()
  }

  private batchTensors(x: Float32Array, y: Int32Array): [tf.Tensor, tf.Tensor] {
    const n = y.length
    if (x.length !== n * this.exampleSize) {
      throw new CoreError(
        'ERR_SHAPE_MISMATCH',
        `batch has ${x.length} input values for ${n} labels of ${this.exampleSize} values each`,
      )
    }
    const xs = tf.tensor(x, [n, ...this.inputShape], 'float32')
    const ys = tf.oneHot(tf.tensor1d(y, 'int32'), this.classCount)
    return [xs, ys]
  }

  private loss(xs: tf.Tensor, ys: tf.Tensor): tf.Scalar {
    return this.lossFromOutput(this.model.apply(xs, { training: true }) as tf.Tensor, ys)
  }

  private lossFromOutput(output: tf.Tensor, ys: tf.Tensor): tf.Scalar {
    if (this.outputIsProbabilities) {
      const clipped = tf.clipByValue(output, 1e-7, 1 - 1e-7)
      return tf.neg(tf.mean(tf.sum(tf.mul(ys, tf.log(clipped)), -1))) as tf.Scalar
    }
    return tf.losses.softmaxCrossEntropy(ys, output)
  }

  private guard(): void {
    if (this.isClosed) throw new CoreError('ERR_DESTROYED', 'the trainer is closed')
  }
}

function createOptimizer(config: OptimizerConfig): tf.Optimizer {
  if (!(config.learningRate > 0) || !Number.isFinite(config.learningRate)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `learning rate must be a positive number, got ${config.learningRate}`,
    )
  }
  switch (config.kind) {
    case 'sgd':
      return tf.train.sgd(config.learningRate)
    case 'momentum':
      return tf.train.momentum(config.learningRate, config.momentum ?? 0.9)
    case 'adam':
      return tf.train.adam(config.learningRate)
  }
}

export function parseOptimizerKind(value: string): OptimizerKind {
  if (value === 'sgd' || value === 'momentum' || value === 'adam') return value
  throw new CoreError('ERR_INVALID_ARGUMENT', `unknown optimizer "${value}": choose sgd, momentum or adam`)
}

function readScalarAndDispose(t: tf.Tensor): number {
  const v = t.dataSync()[0]!
  t.dispose()
  return v
}
