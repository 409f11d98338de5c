/**
 * The training flags `longhaul train` and `longhaul node` share (model, epochs, batch,
 * optimizer, learning rate, seed, sample limit): one option spec and one parser, so both
 * commands accept and refuse the same values with the same sentences.
 */
import type { TrainingSettings } from '../node/node-session.node.ts'
import { DEFAULT_LEARNING_RATES, parseOptimizerKind } from '../training/trainer.ts'
import { numberFlag, stringFlag, type OptionSpec, type ParsedArgs } from './args.ts'

export type { TrainingSettings } from '../node/node-session.node.ts'

export const TRAINING_FLAG_OPTIONS: OptionSpec = {
  model: { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  optimizer: { type: 'string' },
  seed: { type: 'string' },
  'max-train-samples': { type: 'string' },
}

/** Defaults shared by every command, except the number of epochs, which each command picks. */
export const TRAINING_DEFAULTS = {
  modelSpec: 'mlp',
  batchSize: 64,
  optimizer: 'adam',
  seed: 1,
  maxBatchSize: 65536,
  maxSeed: 2 ** 31 - 1,
} as const

/**
 * Reads the training flags; fails with CoreError('ERR_INVALID_ARGUMENT') naming the flag and
 * the accepted range (numberFlag), or the accepted optimizers.
 */
export function parseTrainingFlags(
  values: ParsedArgs['values'],
  defaults: { readonly epochs: number },
): TrainingSettings {
  const optimizer = parseOptimizerKind(stringFlag(values, 'optimizer') ?? TRAINING_DEFAULTS.optimizer)
  return {
    modelSpec: stringFlag(values, 'model') ?? TRAINING_DEFAULTS.modelSpec,
    epochs: numberFlag(values, 'epochs', defaults.epochs, { integer: true, min: 1 }),
    batchSize: numberFlag(values, 'batch', TRAINING_DEFAULTS.batchSize, {
      integer: true,
      min: 1,
      max: TRAINING_DEFAULTS.maxBatchSize,
    }),
    optimizer,
    learningRate: numberFlag(values, 'lr', DEFAULT_LEARNING_RATES[optimizer], { min: Number.MIN_VALUE }),
    seed: numberFlag(values, 'seed', TRAINING_DEFAULTS.seed, {
      integer: true,
      min: 0,
      max: TRAINING_DEFAULTS.maxSeed,
    }),
    maxTrainSamples: numberFlag(values, 'max-train-samples', Number.POSITIVE_INFINITY, {
      integer: true,
      min: 1,
    }),
  }
}
