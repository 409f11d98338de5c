/**
 * What `longhaul train` and `longhaul node` share before the first step: pick the tensor
 * backend from the kernels the model's layers need (before the model is built, so its
 * weights live on that backend from the start), build the zoo or file model, check it fits
 * the data, and wrap it in a `Trainer`. Also the small helpers both commands use on data.
 */
import type { LayersModel } from '@tensorflow/tfjs-layers'
import type { Split } from '../data/dataset.ts'
import { initBackend } from '../platform/backends.node.ts'
import { importModel, readModelLayerClasses } from '../tensor/model-files.node.ts'
import { checkModelFitsData, MODEL_ZOO, zooModel, type ModelShape } from '../tensor/models.ts'
import { requiredTrainingKernels } from '../tensor/training-kernels.ts'
import { Trainer, type OptimizerConfig } from '../training/trainer.ts'

export interface TrainerSetup {
  readonly trainer: Trainer
  /** The tensor backend in use (tensorflow, wasm, cpu, ...). */
  readonly backend: string
}

/**
 * Chooses the backend for `modelSpec` (a zoo name or a tfjs model.json), builds the model for
 * `shape` and returns a trainer. `backend` forces a route (else LONGHAUL_BACKEND, else the
 * first that works). Fails with ERR_BACKEND_UNAVAILABLE, ERR_BAD_MODEL or ERR_NOT_FOUND.
 */
export async function setupTrainer(options: {
  readonly modelSpec: string
  readonly shape: ModelShape
  readonly optimizer: OptimizerConfig
  readonly backend?: string
  readonly log: (line: string) => void
}): Promise<TrainerSetup> {
  const { modelSpec, shape } = options
  const isZoo = MODEL_ZOO[modelSpec] !== undefined
  const layerClasses = isZoo ? zooModel(modelSpec).layerClasses : await readModelLayerClasses(modelSpec)
  const backend = await initBackend({
    preferred: options.backend,
    requiredKernels: requiredTrainingKernels(layerClasses),
    log: options.log,
  })
  const model: LayersModel = isZoo ? zooModel(modelSpec).build(shape) : await importModel(modelSpec)
  checkModelFitsData(model, shape, `model ${modelSpec}`)
  const trainer = new Trainer({ model, classCount: shape.classCount, optimizer: options.optimizer })
  return { trainer, backend: backend.name }
}

/** The first `max` samples of a split (views, no copy); the split itself when it is smaller. */
export function limitSamples(split: Split, max: number): Split {
  if (max >= split.count) return split
  const size = split.x.length / split.count
  return { x: split.x.subarray(0, max * size), y: split.y.subarray(0, max), count: max }
}

/** Rounds to `digits` decimals (for JSON summaries). */
export function roundTo(value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
