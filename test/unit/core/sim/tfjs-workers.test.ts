import '@tensorflow/tfjs-backend-cpu'
import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { generateShapes } from '../../../../core/data/shapes.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { TfjsWorkers } from '../../../../core/sim/tfjs-workers.ts'
import { MODEL_ZOO } from '../../../../core/tensor/models.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

const data = generateShapes({ count: 96, testCount: 40, size: 8, seed: 4 })
const shape = { inputShape: data.manifest.inputShape, classCount: data.manifest.classes.length }

function workers(optimizer: 'sgd' | 'momentum' = 'sgd'): TfjsWorkers {
  const half = data.train.count / 2
  const take = (from: number) => ({
    x: data.train.x.subarray(from * 64, (from + half) * 64),
    y: data.train.y.subarray(from, from + half),
    count: half,
  })
  return new TfjsWorkers({
    buildModel: () => MODEL_ZOO['mlp']!.build(shape),
    classCount: shape.classCount,
    optimizer: { kind: optimizer, learningRate: 0.1 },
    shards: [take(0), take(half)],
    batchSize: 16,
    seed: 3,
    test: data.test,
  })
}

describe('TfjsWorkers', () => {
  it('trains from the params it is given, not from what its model held', () => {
    const w = workers()
    const start = new Float32Array(w.paramCount).map((_, j) => Math.sin(j) * 0.05)
    const a = start.slice()
    const loss = w.localStep(0, 0, a)
    expect(Number.isFinite(loss)).toBe(true)
    expect(a).not.toEqual(start)
    // Another worker (its own model and data) from the same params moves elsewhere.
    const b = start.slice()
    w.localStep(1, 0, b)
    expect(b).not.toEqual(a)
    // Rewinding worker 0 to `start` is honoured: its second step from `start` matches that of
    // a twin whose model held other weights before (plain SGD keeps no optimizer state).
    const rewound = start.slice()
    w.localStep(0, 1, rewound)
    const twin = workers()
    const other = start.map((v) => v + 0.01)
    twin.localStep(0, 0, other)
    const twinRewound = start.slice()
    twin.localStep(0, 1, twinRewound)
    expect(twinRewound).toEqual(rewound)
    expect(rewound).not.toEqual(a)
    twin.close()
    w.close()
  })

  it('applies a gradient as plain SGD does: params - lr * grad', () => {
    const w = workers('sgd')
    const params = new Float32Array(w.paramCount).map((_, j) => Math.cos(j) * 0.05)
    const grad = new Float32Array(w.paramCount)
    const loss = w.gradient(0, 0, params, grad)
    expect(Number.isFinite(loss)).toBe(true)
    expect(grad.some((g) => g !== 0)).toBe(true)
    const expected = params.map((p, j) => p - 0.1 * grad[j]!)
    w.applyGradient(0, 0, params, grad)
    for (let j = 0; j < params.length; j += 97) expect(params[j]).toBeCloseTo(expected[j]!, 5)
    w.close()
  })

  it('walks every shard epoch after epoch in full batches', () => {
    const w = workers()
    const params = new Float32Array(w.paramCount)
    // 48 samples, batch 16: 3 batches per epoch; 7 steps cross two epoch boundaries.
    for (let step = 0; step < 7; step++) expect(Number.isFinite(w.localStep(0, step, params))).toBe(true)
    w.close()
  })

  it('scores params on the test split', () => {
    const w = workers()
    const score = w.evaluate(new Float32Array(w.paramCount))
    expect(score.accuracy).toBeGreaterThanOrEqual(0)
    expect(score.accuracy).toBeLessThanOrEqual(1)
    expect(Number.isFinite(score.loss)).toBe(true)
    expect(w.learningRate(5)).toBe(0.1)
    w.close()
  })

  it('fails with ERR_DESTROYED after close and closes twice safely', () => {
    const w = workers()
    w.close()
    w.close()
    let error: unknown
    try {
      w.localStep(0, 0, new Float32Array(w.paramCount))
    } catch (e) {
      error = e
    }
    expect(isCoreError(error, 'ERR_DESTROYED')).toBe(true)
  })

  it('rejects a worker without data', () => {
    let error: unknown
    try {
      new TfjsWorkers({
        buildModel: () => MODEL_ZOO['mlp']!.build(shape),
        classCount: shape.classCount,
        optimizer: { kind: 'sgd', learningRate: 0.1 },
        shards: [{ x: new Float32Array(0), y: new Int32Array(0), count: 0 }],
        batchSize: 16,
        seed: 3,
        test: data.test,
      })
    } catch (e) {
      error = e
    }
    expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
  })
})
