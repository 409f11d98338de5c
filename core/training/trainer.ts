/**
 * Local training on one worker: forward, loss, gradients, optimizer update, evaluation.
 *
 * Runtime-agnostic: it only uses tfjs-core/-layers, so the same code runs in Node and in a
 * browser context. Gradients can be computed and applied in two separate calls
 * (computeGradients, then applyGradients) so a synchronous algorithm can average them over
 * the network in between (tfjs's own Optimizer.minimize split, STYLE.md §7).
 *
 * Every method that reads results has a synchronous form (dataSync: what Node's backends and the
 * swarm use) and an `...Async` form (data(): what WebGPU needs, where synchronous readback returns
 * zeros). Both forms build the same tensors through the same private methods and differ only in how
 * they read them, so there is one copy of the training logic.
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
    return readScalarAndDispose(this.stepLoss(x, y))
  }

  /**
   * `trainStep` reading its loss asynchronously: the form for backends whose synchronous readback
   * is broken (tfjs-backend-webgpu 4.22), and the one that does not block a browser's event loop.
   */
  async trainStepAsync(x: Float32Array, y: Int32Array): Promise<number> {
    return readScalarAndDisposeAsync(this.stepLoss(x, y))
  }

  /**
   * Gradients of the batch loss, written into `out` (the full layout; non-trainable entries
   * such as batch-norm statistics are zero). Returns the batch's mean loss.
   */
  computeGradients(x: Float32Array, y: Int32Array, out: Float32Array): number {
    const { value, grads } = this.gradientTensors(x, y, out)
    try {
      this.writeGradients(
        out,
        grads.map((g) => g.dataSync()),
      )
      return value.dataSync()[0]!
    } finally {
      tf.dispose([value, ...grads])
    }
  }

  /** `computeGradients` reading the gradients and the loss asynchronously. */
  async computeGradientsAsync(x: Float32Array, y: Int32Array, out: Float32Array): Promise<number> {
    const { value, grads } = this.gradientTensors(x, y, out)
    try {
      const [loss, values] = await Promise.all([value.data(), Promise.all(grads.map((g) => g.data()))])
      this.writeGradients(out, values)
      return loss[0]!
    } finally {
      tf.dispose([value, ...grads])
    }
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
    const totals = { lossSum: 0, correct: 0 }
    for (const sums of this.evaluationSums(split, batchSize)) {
      try {
        addSums(totals, sums.dataSync())
      } finally {
        sums.dispose()
      }
    }
    return evaluationResult(totals, split.count)
  }

  /** `evaluate` reading each batch's sums asynchronously. */
  async evaluateAsync(split: LabelledSplit, batchSize = 1000): Promise<EvaluationResult> {
    const totals = { lossSum: 0, correct: 0 }
    for (const sums of this.evaluationSums(split, batchSize)) {
      try {
        addSums(totals, await sums.data())
      } finally {
        sums.dispose()
      }
    }
    return evaluationResult(totals, split.count)
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

  /** The optimizer step on a batch; returns the loss tensor, which the caller reads and disposes. */
  private stepLoss(x: Float32Array, y: Int32Array): tf.Tensor {
    this.guard()
    return tf.tidy(() => {
      const [xs, ys] = this.batchTensors(x, y)
      const cost = this.optimizer.minimize(
        () => this.loss(xs, ys),
        true,
        this.trainable.map((t) => t.variable),
      )
      if (!cost) throw new Error('optimizer.minimize returned no cost')
      return cost
    })
  }

  /**
   * The batch loss and one gradient tensor per trainable variable (in `trainable` order), kept
   * alive for the caller to read and dispose. Checks `out` first so a wrong size computes nothing.
   */
  private gradientTensors(
    x: Float32Array,
    y: Int32Array,
    out: Float32Array,
  ): { value: tf.Scalar; grads: tf.Tensor[] } {
    this.guard()
    checkFlatSize(this.params.layout, out, 'the gradient vector')
    return tf.tidy(() => {
      const [xs, ys] = this.batchTensors(x, y)
      const { value, grads } = this.optimizer.computeGradients(
        () => this.loss(xs, ys),
        this.trainable.map((t) => t.variable),
      )
      return {
        value,
        grads: this.trainable.map((t) => {
          const grad = grads[t.variable.name]
          if (!grad) throw new Error(`no gradient for ${t.variable.name}`)
          return grad
        }),
      }
    })
  }

  /** Writes the read gradients (in `trainable` order) into the full layout; other entries are zero. */
  private writeGradients(out: Float32Array, values: readonly ArrayLike<number>[]): void {
    out.fill(0)
    this.trainable.forEach((t, i) => out.set(values[i]!, this.params.layout.entries[t.entryIndex]!.offset))
  }

  /**
   * Per batch of the split: a tensor [loss sum, correct count], computed lazily so only one batch's
   * tensors live at a time. The consumer reads and disposes each.
   */
  private *evaluationSums(split: LabelledSplit, batchSize: number): Generator<tf.Tensor> {
    this.guard()
    for (let start = 0; start < split.count; start += batchSize) {
      const n = Math.min(batchSize, split.count - start)
      const x = split.x.subarray(start * this.exampleSize, (start + n) * this.exampleSize)
      const y = split.y.subarray(start, start + n)
      yield tf.tidy(() => {
        const [xs, ys] = this.batchTensors(x, y)
        const output = this.model.apply(xs, { training: false }) as tf.Tensor
        const lossSumBatch = tf.mul(this.lossFromOutput(output, ys), n)
        const hits = tf.sum(tf.cast(tf.equal(tf.argMax(output, 1), tf.tensor1d(y, 'int32')), 'float32'))
        return tf.stack([lossSumBatch, hits])
      })
    }
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
  try {
    return t.dataSync()[0]!
  } finally {
    t.dispose()
  }
}

async function readScalarAndDisposeAsync(t: tf.Tensor): Promise<number> {
  try {
    return (await t.data())[0]!
  } finally {
    t.dispose()
  }
}

function addSums(totals: { lossSum: number; correct: number }, sums: ArrayLike<number>): void {
  totals.lossSum += sums[0]!
  totals.correct += sums[1]!
}

function evaluationResult(totals: { lossSum: number; correct: number }, count: number): EvaluationResult {
  if (count === 0) return { loss: Number.NaN, accuracy: Number.NaN, count: 0 }
  return { loss: totals.lossSum / count, accuracy: totals.correct / count, count }
}
