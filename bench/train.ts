/**
 * `npm run bench -- train [--quick] [--routes]`
 *
 * 1. Throughput: our Trainer loop vs a plain tfjs `model.fit` on the same backend, model,
 *    batch and examples, side by side (target: trainer >= 90% of model.fit).
 * 2. Fashion-MNIST accuracy: mlp (784-256-128-10) on wasm, 5 epochs (target >= 87%), seconds per epoch.
 * 3. Flat parameters: read+write time of a ~1M-parameter model, tensor count over 1,000 rounds.
 * 4. Every route (CUDA, WebGPU via Dawn and in Chromium, WebGL in Chromium, native, wasm, cpu):
 *    examples/s of the same Trainer for mlp and cnn, each labelled hardware or software.
 */
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import { epochBatches } from '../core/data/batching.ts'
import type { Split } from '../core/data/dataset.ts'
import { loadDataset } from '../core/data/resolve-dataset.node.ts'
import { isCoreError } from '../core/errors.ts'
import {
  closeBrowserHosts,
  initBackend,
  listRoutes,
  openRouteTrainer,
} from '../core/platform/backends.node.ts'
import { hardwareWords } from '../core/platform/gpu-adapter.ts'
import { FlatParams } from '../core/tensor/flat-params.ts'
import { MODEL_ZOO } from '../core/tensor/models.ts'
import { requiredTrainingKernels } from '../core/tensor/training-kernels.ts'
import { Trainer } from '../core/training/trainer.ts'
import { markdownTable, median } from './table.ts'

export async function benchTrain(args: string[]): Promise<void> {
  const isQuick = args.includes('--quick')
  const data = await loadDataset('fashion-mnist', { seed: 1 })
  if (args.includes('--routes')) {
    // Only the per-route table (it starts Chromium for the browser routes).
    await routeTable(data.train, isQuick)
    return
  }
  console.log(
    `# train benchmark${isQuick ? ' (--quick)' : ''}: Fashion-MNIST, ${data.train.count} train / ${data.test.count} test\n`,
  )
  await throughputTable(data.train, isQuick)
  await routeTable(data.train, isQuick)
  await accuracyTable(data.train, data.test, isQuick)
  await flatParamsTable(isQuick)
}

async function throughputTable(train: Split, isQuick: boolean): Promise<void> {
  const rows: Array<Array<string | number>> = []
  // model.fit runs in this process, so the browser routes get their own table (routeTable).
  const routes = listRoutes()
    .filter((r) => r.placement !== 'browser')
    .map((r) => r.name)
  for (const backendName of routes) {
    for (const modelName of ['mlp', 'cnn']) {
      const kernels = requiredTrainingKernels(MODEL_ZOO[modelName]!.layerClasses)
      let backendLabel: string
      try {
        const choice = await initBackend({ preferred: backendName, requiredKernels: kernels })
        backendLabel = `${choice.name} (${choice.isHardware ? 'hardware' : 'software'})`
      } catch (error) {
        if (!isCoreError(error)) throw error
        rows.push([backendName, modelName, '-', '-', '-', '>= 0.90', `skipped: ${error.message}`])
        continue
      }
      // The JS cpu backend trains conv nets at tens of examples/s: keep its sample small.
      const examples = modelName === 'cnn' ? (backendName === 'cpu' ? 256 : 1024) : isQuick ? 2048 : 8192
      const batchSize = 64
      const subset: Split = {
        x: train.x.subarray(0, examples * 784),
        y: train.y.subarray(0, examples),
        count: examples,
      }
      const reps = isQuick ? 1 : 3
      const ours: number[] = []
      const fit: number[] = []
      for (let r = 0; r < reps; r++) {
        ours.push(trainerExamplesPerSec(modelName, subset, batchSize))
        fit.push(await modelFitExamplesPerSec(modelName, subset, batchSize))
      }
      const ratio = median(ours) / median(fit)
      rows.push([
        backendLabel,
        modelName,
        Math.round(median(ours)),
        Math.round(median(fit)),
        ratio.toFixed(2),
        '>= 0.90',
        ratio >= 0.9 ? 'yes' : 'NO',
      ])
    }
  }
  console.log(
    '## Trainer throughput vs plain model.fit (examples/s, same backend, batch 64, one epoch over the sample)\n',
  )
  console.log(markdownTable(['backend', 'model', 'Trainer', 'model.fit', 'ratio', 'target', 'met'], rows))
  console.log()
}

function trainerExamplesPerSec(modelName: string, split: Split, batchSize: number): number {
  const trainer = new Trainer({
    model: MODEL_ZOO[modelName]!.build({ inputShape: [28, 28, 1], classCount: 10 }),
    classCount: 10,
    optimizer: { kind: 'adam', learningRate: 0.001 },
  })
  // Warm-up: first steps compile kernels and allocate optimizer slots.
  const warm = split.x.subarray(0, batchSize * 784)
  trainer.trainStep(warm, split.y.subarray(0, batchSize))
  const start = performance.now()
  for (const batch of epochBatches(split, { batchSize, seed: 1, epoch: 0 }))
    trainer.trainStep(batch.x, batch.y)
  const seconds = (performance.now() - start) / 1000
  trainer.close()
  return split.count / seconds
}

async function modelFitExamplesPerSec(modelName: string, split: Split, batchSize: number): Promise<number> {
  const model = MODEL_ZOO[modelName]!.build({ inputShape: [28, 28, 1], classCount: 10 })
  model.compile({
    optimizer: tf.train.adam(0.001),
    loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred),
  })
  const xs = tf.tensor(split.x, [split.count, 28, 28, 1])
  const ys = tf.oneHot(tf.tensor1d(split.y, 'int32'), 10)
  await model.fit(tf.slice(xs, 0, batchSize), tf.slice(ys, 0, batchSize), {
    batchSize,
    epochs: 1,
    verbose: 0,
  })
  const start = performance.now()
  await model.fit(xs, ys, { batchSize, epochs: 1, shuffle: true, verbose: 0 })
  const seconds = (performance.now() - start) / 1000
  xs.dispose()
  ys.dispose()
  model.dispose()
  return split.count / seconds
}

/** One note for a route's refusals: the reason once when both models share it, else per model. */
function refusalNote(refusals: ReadonlyMap<string, string>): string {
  const reasons = [...new Set(refusals.values())]
  if (reasons.length <= 1) return reasons[0] ?? ''
  return [...refusals].map(([model, why]) => `${model}: ${why}`).join(' / ')
}

/** Examples timed per route and model: software GPU and JS routes get small samples. */
function routeSampleSize(modelName: string, kind: string, isQuick: boolean): number {
  if (modelName === 'mlp') return isQuick ? 512 : 2048
  // The JS cpu backend trains conv nets at a few examples/s.
  if (kind === 'js') return isQuick ? 64 : 256
  return isQuick ? 128 : 512
}

async function routeTable(train: Split, isQuick: boolean): Promise<void> {
  const batchSize = 64
  const rows: Array<Array<string | number>> = []
  try {
    await measureRoutes(train, isQuick, batchSize, rows)
  } finally {
    // The browser routes started Chromium; the bench must not leave it running.
    await closeBrowserHosts()
  }
  console.log(
    '## Examples/s per route (same Trainer, adam, batch 64, Fashion-MNIST; browser routes include moving each batch to the page)\n',
  )
  console.log(markdownTable(['route', 'where', 'hardware', 'device', 'mlp ex/s', 'cnn ex/s', 'note'], rows))
  console.log()
}

async function measureRoutes(
  train: Split,
  isQuick: boolean,
  batchSize: number,
  rows: Array<Array<string | number>>,
): Promise<void> {
  for (const route of listRoutes()) {
    const cells: Record<string, string> = {}
    let where = route.placement === 'browser' ? 'Chromium page' : 'this process'
    let device = '-'
    let hardware = '-'
    const refusals = new Map<string, string>()
    for (const modelName of ['mlp', 'cnn']) {
      const spec = {
        model: modelName,
        inputShape: [28, 28, 1],
        classCount: 10,
        optimizer: { kind: 'adam' as const, learningRate: 0.001 },
      }
      let opened: Awaited<ReturnType<typeof openRouteTrainer>>
      try {
        opened = await openRouteTrainer(route.name, spec)
      } catch (error) {
        if (!isCoreError(error)) throw error
        cells[modelName] = '-'
        // "Tensor backend 'x' was requested (...) but it <why>; pick another ..." -> "<why>"
        refusals.set(modelName, /but it (.*?); pick another/.exec(error.message)?.[1] ?? error.message)
        continue
      }
      const { trainer, choice } = opened
      const chosen = choice.report.find((r) => r.chosen)
      if (chosen !== undefined) {
        device = chosen.adapter ?? chosen.detail ?? '-'
        // A GPU API on a software rasteriser is a CPU in disguise: the table says so in words.
        hardware =
          chosen.softwareRenderer !== undefined
            ? `${hardwareWords(chosen)}: software renderer, not a GPU`
            : hardwareWords(chosen)
        where = chosen.placement === 'browser' ? 'Chromium page' : 'this process'
      }
      const examples = Math.min(routeSampleSize(modelName, route.kind, isQuick), train.count)
      const x = train.x.subarray(0, examples * 784)
      const y = train.y.subarray(0, examples)
      try {
        // Warm-up: the first steps compile shaders and allocate optimizer slots.
        await trainer.trainSteps(x.subarray(0, 2 * batchSize * 784), y.subarray(0, 2 * batchSize), batchSize)
        const start = performance.now()
        const losses = await trainer.trainSteps(x, y, batchSize)
        const seconds = (performance.now() - start) / 1000
        const areFinite = losses.every((l) => Number.isFinite(l))
        cells[modelName] = areFinite ? String(Math.round(examples / seconds)) : 'NaN loss'
      } finally {
        await trainer.close()
      }
    }
    rows.push([
      route.name,
      where,
      hardware,
      device,
      cells['mlp'] ?? '-',
      cells['cnn'] ?? '-',
      refusalNote(refusals),
    ])
  }
}

async function accuracyTable(train: Split, test: Split, isQuick: boolean): Promise<void> {
  const choice = await initBackend({
    preferred: 'wasm',
    requiredKernels: requiredTrainingKernels(['Flatten', 'Dense']),
  })
  const epochs = isQuick ? 1 : 5
  const count = isQuick ? 10000 : train.count
  const subset: Split = { x: train.x.subarray(0, count * 784), y: train.y.subarray(0, count), count }
  const trainer = new Trainer({
    model: MODEL_ZOO['mlp']!.build({ inputShape: [28, 28, 1], classCount: 10 }),
    classCount: 10,
    optimizer: { kind: 'adam', learningRate: 0.001 },
  })
  const rows: Array<Array<string | number>> = []
  for (let epoch = 0; epoch < epochs; epoch++) {
    const start = performance.now()
    for (const batch of epochBatches(subset, { batchSize: 64, seed: 1, epoch }))
      trainer.trainStep(batch.x, batch.y)
    const seconds = (performance.now() - start) / 1000
    const result = trainer.evaluate(test)
    rows.push([
      epoch + 1,
      seconds.toFixed(1),
      Math.round(count / seconds),
      (result.accuracy * 100).toFixed(2),
    ])
  }
  trainer.close()
  const final = Number(rows.at(-1)![3])
  console.log(
    `## Fashion-MNIST, mlp 784-256-128-10, adam 1e-3, batch 64, ${choice.name} backend, ${count} training examples\n`,
  )
  console.log(markdownTable(['epoch', 'seconds', 'examples/s', 'test accuracy %'], rows))
  console.log(
    `\nTarget: >= 87% after 5 epochs on the full training set: ${isQuick ? 'not checked in --quick' : final >= 87 ? 'met' : 'NOT met'} (${final}%).\n`,
  )
}

async function flatParamsTable(isQuick: boolean): Promise<void> {
  await initBackend({ preferred: 'wasm' })
  // 1000 inputs -> 1000 units: 1,001,000 parameters in two tensors, the size the issue names.
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ inputShape: [1000], units: 1000, name: 'big' })],
  })
  const params = new FlatParams(model)
  const flat = params.read()
  const rounds = isQuick ? 200 : 1000
  const before = tf.memory().numTensors
  const readMs: number[] = []
  const writeMs: number[] = []
  for (let r = 0; r < rounds; r++) {
    let t = performance.now()
    params.read(flat)
    readMs.push(performance.now() - t)
    flat[r % flat.length] = flat[r % flat.length]! + 1e-3
    t = performance.now()
    params.write(flat)
    writeMs.push(performance.now() - t)
  }
  const after = tf.memory().numTensors
  model.dispose()
  console.log(
    `## Flat parameter vector, ${params.layout.totalSize.toLocaleString('en-US')} parameters, ${tf.getBackend()} backend, ${rounds} rounds\n`,
  )
  console.log(
    markdownTable(
      ['read ms (median)', 'write ms (median)', 'read+write ms', 'tensors before', 'tensors after', 'leak'],
      [
        [
          median(readMs).toFixed(2),
          median(writeMs).toFixed(2),
          (median(readMs) + median(writeMs)).toFixed(2),
          before,
          after,
          after === before ? 'none' : 'LEAK',
        ],
      ],
    ),
  )
  console.log()
}
