/**
 * `longhaul train`: single-node training on real data, with progress, per-epoch evaluation,
 * atomic checkpoints, resume and model export.
 */
import * as path from 'node:path'
import { CoreError } from '../errors.ts'
import type { Dataset } from '../data/dataset.ts'
import { epochBatches, batchCount } from '../data/batching.ts'
import { loadDataset } from '../data/resolve-dataset.node.ts'
import { MODEL_ZOO } from '../tensor/models.ts'
import type { Checkpoint } from '../training/checkpoint.ts'
import { loadLatestCheckpoint, saveCheckpoint } from '../training/checkpoint-files.node.ts'
import { runLocalTraining, type TrainingPosition } from '../training/local-training.ts'
import type { AsyncTrainer } from '../browser/async-trainer.ts'
import { DEFAULT_LEARNING_RATES } from '../training/trainer.ts'
import { backendHelpLines, setupRouteTrainer } from '../training/trainer-setup.node.ts'
import { limitSamples, roundTo } from './model-setup.ts'
import { booleanFlag, parseCommandArgs, stringFlag, type OptionSpec } from './args.ts'
import type { CliIo } from './io.ts'
import { formatDuration, progressLine } from './progress.ts'
import { parseTrainingFlags, TRAINING_FLAG_OPTIONS } from './training-flags.ts'

const OPTIONS: OptionSpec = {
  data: { type: 'string' },
  ...TRAINING_FLAG_OPTIONS,
  backend: { type: 'string' },
  'checkpoint-dir': { type: 'string' },
  resume: { type: 'boolean' },
  export: { type: 'string' },
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
${backendHelpLines()}
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
  const {
    modelSpec,
    epochs,
    batchSize,
    optimizer: optimizerKind,
    learningRate,
    seed,
    maxTrainSamples,
  } = parseTrainingFlags(values, { epochs: 5 })
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
  const setup = await setupRouteTrainer({
    modelSpec,
    shape,
    optimizer: { kind: optimizerKind, learningRate },
    backend: stringFlag(values, 'backend'),
    log: (line) => io.err(line),
  })
  try {
    return await trainOn(setup.trainer, setup.backend, {
      dataset,
      train,
      modelSpec,
      epochs,
      batchSize,
      seed,
      optimizerKind,
      learningRate,
      checkpointDir,
      exportDir,
      isResumed: booleanFlag(values, 'resume'),
      isJson,
      started,
      exportModel: (dir) => setup.exportModel(dir),
      io,
    })
  } finally {
    await setup.close()
  }
}

interface TrainRun {
  readonly dataset: Dataset
  readonly train: Dataset['train']
  readonly modelSpec: string
  readonly epochs: number
  readonly batchSize: number
  readonly seed: number
  readonly optimizerKind: string
  readonly learningRate: number
  readonly checkpointDir: string
  readonly exportDir: string
  readonly isResumed: boolean
  readonly isJson: boolean
  readonly started: number
  exportModel(dir: string): Promise<string>
  readonly io: CliIo
}

async function trainOn(trainer: AsyncTrainer, backendName: string, run: TrainRun): Promise<number> {
  const { dataset, train, modelSpec, epochs, batchSize, seed, optimizerKind, learningRate, io } = run
  const { checkpointDir, exportDir, isJson, started } = run
  io.err(
    `model: ${modelSpec}, ${trainer.totalSize.toLocaleString('en-US')} parameters (layout ${trainer.fingerprint}); optimizer ${optimizerKind} lr ${learningRate}`,
  )

  let start: TrainingPosition | undefined
  if (run.isResumed) {
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
    trainer: {
      // One step per request: a browser route answers each with its loss (one value, no JSON).
      trainStep: async (x, y) => (await trainer.trainSteps(x, y, y.length))[0]!,
      evaluate: (split) => trainer.evaluate(split),
    },
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
  const final = result.epochs.at(-1)?.test ?? (await trainer.evaluate(dataset.test))
  const modelFile = await run.exportModel(exportDir)
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
  return result.isStopped ? 130 : 0
}

async function resumeFrom(
  dir: string,
  trainer: AsyncTrainer,
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
  if (meta.layoutFingerprint !== trainer.fingerprint) {
    throw new CoreError(
      'ERR_BAD_CHECKPOINT',
      `${loaded.file} was written for model layout ${meta.layoutFingerprint} (${meta.modelName}), not ${trainer.fingerprint} (${modelSpec})`,
    )
  }
  if (meta.datasetHash !== dataset.manifest.contentHash) {
    throw new CoreError(
      'ERR_BAD_CHECKPOINT',
      `${loaded.file} was trained on dataset ${meta.datasetName} (hash ${meta.datasetHash}), not ${dataset.manifest.name} (hash ${dataset.manifest.contentHash})`,
    )
  }
  await trainer.writeParams(params)
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
  trainer: AsyncTrainer,
  dataset: Dataset,
  modelSpec: string,
  position: TrainingPosition,
  config: Record<string, unknown>,
): Promise<Checkpoint> {
  const optimizerState = await trainer.exportOptimizerState()
  return {
    meta: {
      layoutFingerprint: trainer.fingerprint,
      modelName: modelSpec,
      datasetName: dataset.manifest.name,
      datasetHash: dataset.manifest.contentHash,
      epoch: position.epoch,
      step: position.step,
      createdAtMs: Date.now(),
      extra: { batchInEpoch: position.batchInEpoch, config },
    },
    params: await trainer.readParams(),
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
