/**
 * The simulator's workers as real tfjs models: one Trainer (model + optimizer state) per
 * worker, each reading its own shard of the training data in seeded batches, and one more
 * model that scores averaged parameters on the test split.
 *
 * The simulator owns every worker's flat params; a Trainer's model is only a place to
 * compute in. Before each call the model is brought up to date with the params (written only
 * when they differ from what the model holds, e.g. after an average), and afterwards the
 * params are read back. Optimizer state (momentum, Adam moments) stays in each worker's
 * Trainer and is never averaged, as ALGORITHMS.md §1 prescribes by default.
 *
 * Batches: worker i walks its shard epoch after epoch in the seeded order of
 * core/data/batching.ts (seed mixed with i), dropping an epoch's last short batch when the
 * shard holds at least one full batch, so every step sees `batchSize` samples.
 */
import type { LayersModel } from '@tensorflow/tfjs-layers'
import { Batcher, type Batch } from '../data/batching.ts'
import type { Split } from '../data/dataset.ts'
import { CoreError } from '../errors.ts'
import { FlatParams } from '../tensor/flat-params.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import { Trainer, type OptimizerConfig } from '../training/trainer.ts'
import type { EvaluationScore, ModelEvaluator, WorkerCompute } from './worker-compute.ts'

export interface TfjsWorkersOptions {
  /** Builds one model (called once per worker and once for the evaluator). */
  readonly buildModel: () => LayersModel
  readonly classCount: number
  readonly optimizer: OptimizerConfig
  /** The training data of each worker. */
  readonly shards: readonly Split[]
  readonly batchSize: number
  readonly seed: number
  /** Scored at checkpoints. */
  readonly test: Split
  /** Evaluation batch size; default 1000. */
  readonly evalBatchSize?: number
}

interface WorkerSlot {
  readonly trainer: Trainer
  readonly batcher: Batcher
  /** What the model's weights hold now. */
  readonly holds: Float32Array
  epoch: number
  batches: Generator<Batch, void, undefined>
}

export class TfjsWorkers implements WorkerCompute, ModelEvaluator {
  readonly paramCount: number
  readonly layout: ParamLayout
  private readonly slots: WorkerSlot[]
  private readonly evaluator: Trainer
  private readonly evaluatorHolds: Float32Array
  private readonly test: Split
  private readonly evalBatchSize: number
  private readonly learningRateValue: number
  private isClosed = false

  constructor(options: TfjsWorkersOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `batch size must be a positive integer, got ${options.batchSize}`,
      )
    }
    this.test = options.test
    this.evalBatchSize = options.evalBatchSize ?? 1000
    this.learningRateValue = options.optimizer.learningRate
    const empty = options.shards.findIndex((shard) => shard.count === 0)
    if (empty >= 0) throw new CoreError('ERR_INVALID_ARGUMENT', `worker ${empty} has no training data`)
    this.slots = options.shards.map((shard, i) => {
      const trainer = new Trainer({
        model: options.buildModel(),
        classCount: options.classCount,
        optimizer: options.optimizer,
      })
      const batcher = new Batcher(shard, {
        batchSize: options.batchSize,
        seed: (options.seed * 1009 + i * 7919) % 2 ** 31,
        dropRemainder: shard.count >= options.batchSize,
      })
      return { trainer, batcher, holds: trainer.params.read(), epoch: 0, batches: batcher.epoch(0) }
    })
    this.evaluator = new Trainer({
      model: options.buildModel(),
      classCount: options.classCount,
      optimizer: options.optimizer,
    })
    this.evaluatorHolds = this.evaluator.params.read()
    this.paramCount = this.evaluatorHolds.length
    this.layout = this.evaluator.params.layout
  }

  /**
   * The flat params of another model of the same architecture (the seeded initial model).
   * Throws ERR_SCHEMA_MISMATCH when its layout differs from the workers'.
   */
  readParams(model: LayersModel): Float32Array {
    const flat = new FlatParams(model)
    if (flat.layout.fingerprint !== this.layout.fingerprint) {
      throw new CoreError(
        'ERR_SCHEMA_MISMATCH',
        `model layout ${flat.layout.fingerprint} is not the workers' layout ${this.layout.fingerprint}`,
      )
    }
    return flat.read()
  }

  private slot(worker: number): WorkerSlot {
    if (this.isClosed) throw new CoreError('ERR_DESTROYED', 'the simulated workers are closed')
    const slot = this.slots[worker]
    if (slot === undefined) throw new CoreError('ERR_INVALID_ARGUMENT', `no worker ${worker}`)
    return slot
  }

  private nextBatch(slot: WorkerSlot): Batch {
    for (;;) {
      const next = slot.batches.next()
      if (next.done !== true) return next.value
      slot.epoch++
      slot.batches = slot.batcher.epoch(slot.epoch)
    }
  }

  /** Writes `params` into a model unless it already holds exactly them. */
  private static sync(trainer: Trainer, holds: Float32Array, params: Float32Array): void {
    let same = holds.length === params.length
    for (let j = 0; same && j < params.length; j++) same = holds[j] === params[j]
    if (same) return
    trainer.params.write(params)
    holds.set(params)
  }

  localStep(worker: number, _step: number, params: Float32Array): number {
    const slot = this.slot(worker)
    TfjsWorkers.sync(slot.trainer, slot.holds, params)
    const batch = this.nextBatch(slot)
    const loss = slot.trainer.trainStep(batch.x, batch.y)
    slot.trainer.params.read(params)
    slot.holds.set(params)
    return loss
  }

  gradient(worker: number, _step: number, params: Float32Array, grad: Float32Array): number {
    const slot = this.slot(worker)
    TfjsWorkers.sync(slot.trainer, slot.holds, params)
    const batch = this.nextBatch(slot)
    return slot.trainer.computeGradients(batch.x, batch.y, grad)
  }

  applyGradient(worker: number, _step: number, params: Float32Array, grad: Float32Array): void {
    const slot = this.slot(worker)
    TfjsWorkers.sync(slot.trainer, slot.holds, params)
    slot.trainer.applyGradients(grad)
    slot.trainer.params.read(params)
    slot.holds.set(params)
  }

  learningRate(_step: number): number {
    return this.learningRateValue
  }

  evaluate(params: Float32Array): EvaluationScore {
    if (this.isClosed) throw new CoreError('ERR_DESTROYED', 'the simulated workers are closed')
    TfjsWorkers.sync(this.evaluator, this.evaluatorHolds, params)
    const r = this.evaluator.evaluate(this.test, this.evalBatchSize)
    return { accuracy: r.accuracy, loss: r.loss }
  }

  /** Frees every model and optimizer. Safe to call twice. */
  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    for (const slot of this.slots) slot.trainer.close()
    this.evaluator.close()
  }
}
