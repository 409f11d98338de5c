/**
 * `longhaul train`: single-node training on real data, with progress, per-epoch evaluation,
 * atomic checkpoints, resume and model export.
 */
import * as path from 'node:path'
import { CoreError } from '../errors.ts'
import type { Dataset } from '../data/dataset.ts'
import { epochBatches, batchCount } from '../data/batching.ts'
import { loadDataset } from '../data/resolve-dataset.node.ts'
import { exportModel } from '../tensor/model-files.node.ts'
import { MODEL_ZOO } from '../tensor/models.ts'
import type { Checkpoint } from '../training/checkpoint.ts'
import { loadLatestCheckpoint, saveCheckpoint } from '../training/checkpoint-files.node.ts'
import { runLocalTraining, type TrainingPosition } from '../training/local-training.ts'
import type { Trainer } from '../training/trainer.ts'
import { DEFAULT_LEARNING_RATES, parseOptimizerKind } from '../training/trainer.ts'
import { limitSamples, roundTo, setupTrainer } from './model-setup.ts'
import { booleanFlag, numberFlag, parseCommandArgs, stringFlag, type OptionSpec } from './args.ts'
import type { CliIo } from './io.ts'
import { formatDuration, progressLine } from './progress.ts'

const OPTIONS: OptionSpec = {
  data: { type: 'string' },
  model: { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  optimizer: { type: 'string' },
  backend: { type: 'string' },
  seed: { type: 'string' },
  'checkpoint-dir': { type: 'string' },
  resume: { type: 'boolean' },
  export: { type: 'string' },
  'max-train-samples': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
}

export const TRAIN_HELP = `Usage: longhaul train --data <dir|file|name> [options]

Train one model on this machine. Progress goes to stderr; with --json the last stdout line
is one JSON object: {"testAccuracy", "epochs", "examplesPerSec", "backend", "seconds"}.

Options:
  --data <spec>            built-in name (shapes, fashion-mnist), a folder of IDX files,
                           a folder with one sub-folder of images per class, or a .csv file
  --model <name|path>      ${Object.keys(MODEL_ZOO).join(', ')}, or a tfjs model.json (default: mlp)
  --epochs <n>             local epochs over the training split (default: 5)
  --batch <n>              batch size (default: 64)
  --optimizer <name>       adam, momentum or sgd (default: adam)
  --lr <rate>              learning rate (default: adam ${DEFAULT_LEARNING_RATES.adam}, momentum ${DEFAULT_LEARNING_RATES.momentum}, sgd ${DEFAULT_LEARNING_RATES.sgd})
  --backend <name>         force a tensor backend: tensorflow, wasm, cpu (env LONGHAUL_BACKEND)
  --seed <n>               seed for shuffling and generated data (default: 1)
  --checkpoint-dir <dir>   where checkpoints go (default: .longhaul/runs/<data>-<model>)
  --resume                 continue from the newest valid checkpoint in --checkpoint-dir
  --export <dir>           where the trained model is written in tfjs format
                           (default: <checkpoint-dir>/model)
  --max-train-samples <n>  train on the first n shuffled samples only (quick runs)
  --json                   print the result as JSON on the last stdout line
  -h, --help               show this help
`

export interface TrainSummary {
  readonly testAccuracy: number
  readonly epochs: number
  readonly examplesPerSec: number
  readonly backend: string
  readonly seconds: number
}

export async function runTrainCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('train', args, OPTIONS)
  if (booleanFlag(values, 'help')) {
    io.out(TRAIN_HELP)
    return 0
  }
  const dataSpec = stringFlag(values, 'data')
  if (!dataSpec)
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      '--data is required (try --data shapes). Run "longhaul train --help" for the options.',
    )
  const modelSpec = stringFlag(values, 'model') ?? 'mlp'
  const epochs = numberFlag(values, 'epochs', 5, { integer: true, min: 1 })
  const batchSize = numberFlag(values, 'batch', 64, { integer: true, min: 1, max: 65536 })
  const optimizerKind = parseOptimizerKind(stringFlag(values, 'optimizer') ?? 'adam')
  const learningRate = numberFlag(values, 'lr', DEFAULT_LEARNING_RATES[optimizerKind], {
    min: Number.MIN_VALUE,
  })
  const seed = numberFlag(values, 'seed', 1, { integer: true, min: 0, max: 2 ** 31 - 1 })
  const maxTrainSamples = numberFlag(values, 'max-train-samples', Number.POSITIVE_INFINITY, {
    integer: true,
    min: 1,
  })
  const isJson = booleanFlag(values, 'json')
  const checkpointDir =
    stringFlag(values, 'checkpoint-dir') ??
    path.join('.longhaul', 'runs', `${safeName(dataSpec)}-${safeName(modelSpec)}`)
  const exportDir = stringFlag(values, 'export') ?? path.join(checkpointDir, 'model')
  const started = performance.now()

  const dataset = await loadDataset(dataSpec, { seed, onProgress: (line: string) => io.status(line) })
  const train = limitSamples(dataset.train, maxTrainSamples)
  const { manifest } = dataset
  io.err(
    `data: ${manifest.name}: ${train.count} training / ${manifest.testCount} test examples, input [${manifest.inputShape.join(', ')}], ${manifest.classes.length} classes (hash ${manifest.contentHash})`,
  )

  const shape = { inputShape: manifest.inputShape, classCount: manifest.classes.length }
  const { trainer, backend: backendName } = await setupTrainer({
    modelSpec,
    shape,
    optimizer: { kind: optimizerKind, learningRate },
    backend: stringFlag(values, 'backend'),
    log: (line) => io.err(line),
  })
  io.err(
    `model: ${modelSpec}, ${trainer.params.layout.totalSize.toLocaleString('en-US')} parameters (layout ${trainer.params.layout.fingerprint}); optimizer ${optimizerKind} lr ${learningRate}`,
  )

  let start: TrainingPosition | undefined
  if (booleanFlag(values, 'resume')) {
    start = await resumeFrom(checkpointDir, trainer, dataset, modelSpec, io)
  }

  const batches = batchCount(train.count, batchSize)
  const controller = new AbortController()
  const onSignal = (): void => {
    io.err('\nstopping after this batch (press Ctrl-C again to abort at once)...')
    controller.abort()
    process.once('SIGINT', () => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  const result = await runLocalTraining({
    trainer,
    test: dataset.test,
    epochs,
    batchesPerEpoch: batches,
    epochBatches: (epoch) => epochBatches(train, { batchSize, seed, epoch }),
    ...(start ? { start } : {}),
    signal: controller.signal,
    onProgress: (p) => io.status(progressLine(p, epochs)),
    onEpochEnd: async (report, position) => {
      io.err(
        `epoch ${report.epoch}/${epochs}: train loss ${report.trainLoss.toFixed(4)}, test loss ${report.test.loss.toFixed(4)}, test accuracy ${(report.test.accuracy * 100).toFixed(2)}%, ${formatDuration(report.seconds)} (${Math.round(report.examplesPerSec)} examples/s)`,
      )
      await saveCheckpoint(
        checkpointDir,
        await checkpointOf(trainer, dataset, modelSpec, position, {
          seed,
          batchSize,
          optimizer: optimizerKind,
          learningRate,
        }),
      )
    },
  }).finally(() => process.removeListener('SIGINT', onSignal))

  if (result.isStopped) {
    await saveCheckpoint(
      checkpointDir,
      await checkpointOf(trainer, dataset, modelSpec, result.position, {
        seed,
        batchSize,
        optimizer: optimizerKind,
        learningRate,
      }),
    )
    io.err(
      `stopped at epoch ${result.position.epoch + 1}, batch ${result.position.batchInEpoch}; checkpoint saved to ${checkpointDir} (continue with --resume)`,
    )
  }
  const final = result.epochs.at(-1)?.test ?? trainer.evaluate(dataset.test)
  const modelFile = await exportModel(trainer.model, exportDir)
  io.err(`checkpoints: ${checkpointDir}; model exported to ${modelFile}`)
  const summary: TrainSummary = {
    testAccuracy: roundTo(final.accuracy, 4),
    epochs: result.position.epoch,
    examplesPerSec: Math.round(result.examplesPerSec),
    backend: backendName,
    seconds: roundTo((performance.now() - started) / 1000, 2),
  }
  if (isJson) io.out(JSON.stringify(summary))
  else
    io.out(
      `test accuracy ${(summary.testAccuracy * 100).toFixed(2)}% after ${summary.epochs} epochs on ${summary.backend} (${summary.examplesPerSec} examples/s, ${formatDuration(summary.seconds)})`,
    )
  trainer.close()
  return result.isStopped ? 130 : 0
}

async function resumeFrom(
  dir: string,
  trainer: Trainer,
  dataset: Dataset,
  modelSpec: string,
  io: CliIo,
): Promise<TrainingPosition | undefined> {
  const loaded = await loadLatestCheckpoint(dir)
  if (!loaded) {
    io.err(`resume: no checkpoint in ${dir} yet, starting from scratch`)
    return undefined
  }
  if (loaded.fallbackReason) io.err(`resume: ${loaded.fallbackReason}; using ${loaded.file} instead`)
  const { meta, params, blocks } = loaded.checkpoint
  if (meta.layoutFingerprint !== trainer.params.layout.fingerprint) {
    throw new CoreError(
      'ERR_BAD_CHECKPOINT',
      `${loaded.file} was written for model layout ${meta.layoutFingerprint} (${meta.modelName}), not ${trainer.params.layout.fingerprint} (${modelSpec})`,
    )
  }
  if (meta.datasetHash !== dataset.manifest.contentHash) {
    throw new CoreError(
      'ERR_BAD_CHECKPOINT',
      `${loaded.file} was trained on dataset ${meta.datasetName} (hash ${meta.datasetHash}), not ${dataset.manifest.name} (hash ${dataset.manifest.contentHash})`,
    )
  }
  trainer.params.write(params)
  await trainer.importOptimizerState(
    blocks
      .filter((b) => b.name.startsWith('optimizer:'))
      .map((b) => ({ name: b.name.slice('optimizer:'.length), shape: b.shape, values: b.values })),
  )
  const batchInEpoch = typeof meta.extra['batchInEpoch'] === 'number' ? meta.extra['batchInEpoch'] : 0
  io.err(`resume: ${loaded.file}: epoch ${meta.epoch}, batch ${batchInEpoch}, step ${meta.step}`)
  return { epoch: meta.epoch, batchInEpoch, step: meta.step }
}

async function checkpointOf(
  trainer: Trainer,
  dataset: Dataset,
  modelSpec: string,
  position: TrainingPosition,
  config: Record<string, unknown>,
): Promise<Checkpoint> {
  const optimizerState = await trainer.exportOptimizerState()
  return {
    meta: {
      layoutFingerprint: trainer.params.layout.fingerprint,
      modelName: modelSpec,
      datasetName: dataset.manifest.name,
      datasetHash: dataset.manifest.contentHash,
      epoch: position.epoch,
      step: position.step,
      createdAtMs: Date.now(),
      extra: { batchInEpoch: position.batchInEpoch, config },
    },
    params: trainer.params.read(),
    blocks: optimizerState.map((s) => ({ name: `optimizer:${s.name}`, shape: s.shape, values: s.values })),
  }
}

function safeName(spec: string): string {
  return (
    path
      .basename(spec)
      .replace(/\.[a-z]+$/i, '')
      .replace(/[^A-Za-z0-9_-]+/g, '_') || 'data'
  )
}
