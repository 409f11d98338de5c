import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import * as tfl from '@tensorflow/tfjs-layers'
import { beforeAll, describe, expect, it } from 'vitest'
import { countPerClass } from '../../../../core/data/dataset.ts'
import { generateShapes, SHAPES_CLASSES } from '../../../../core/data/shapes.ts'
import { isCoreError } from '../../../../core/errors.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

describe('generateShapes', () => {
  it('produces byte-identical data for the same seed', () => {
    const a = generateShapes({ count: 200, testCount: 50, seed: 4 })
    const b = generateShapes({ count: 200, testCount: 50, seed: 4 })
    expect(b.manifest.contentHash).toBe(a.manifest.contentHash)
    expect(Buffer.from(b.train.x.buffer).equals(Buffer.from(a.train.x.buffer))).toBe(true)
    expect([...b.test.y]).toEqual([...a.test.y])
  })

  it('produces different data for another seed', () => {
    const a = generateShapes({ count: 100, testCount: 10, seed: 1 })
    const b = generateShapes({ count: 100, testCount: 10, seed: 2 })
    expect(b.manifest.contentHash).not.toBe(a.manifest.contentHash)
    expect([...b.train.y]).not.toEqual([...a.train.y])
  })

  it('balances the classes and describes itself in the manifest', () => {
    const ds = generateShapes({ count: 1000, testCount: 200, seed: 0 })
    expect(ds.manifest).toMatchObject({
      name: 'shapes',
      source: 'builtin',
      inputShape: [28, 28, 1],
      classes: SHAPES_CLASSES,
      trainCount: 1000,
      testCount: 200,
      split: 'given',
    })
    expect(ds.manifest.counts.train).toEqual(new Array(10).fill(100))
    expect(ds.manifest.counts.test).toEqual(new Array(10).fill(20))
    expect(countPerClass(ds.train.y, 10)).toEqual(ds.manifest.counts.train)
  })

  it('keeps pixels in [0, 1] with real contrast in every image', () => {
    const ds = generateShapes({ count: 300, testCount: 0, seed: 5, size: 20 })
    expect(ds.manifest.inputShape).toEqual([20, 20, 1])
    let outside = 0
    for (let n = 0; n < ds.train.count; n++) {
      const img = ds.train.x.subarray(n * 400, (n + 1) * 400)
      let min = 1
      let max = 0
      for (const v of img) {
        if (!(v >= 0 && v <= 1)) outside++
        min = Math.min(min, v)
        max = Math.max(max, v)
      }
      expect(max - min).toBeGreaterThan(0.3)
    }
    expect(outside).toBe(0)
  })

  it('draws the test split from another stream than train', () => {
    const ds = generateShapes({ count: 50, testCount: 50, seed: 3 })
    expect(Buffer.from(ds.test.x.buffer).equals(Buffer.from(ds.train.x.buffer))).toBe(false)
  })

  it('varies images within a class (position, size, noise)', () => {
    const ds = generateShapes({ count: 100, testCount: 0, seed: 6 })
    const circles = [...ds.train.y].flatMap((label, i) => (label === 0 ? [i] : []))
    const first = ds.train.x.subarray(circles[0]! * 784, circles[0]! * 784 + 784)
    const second = ds.train.x.subarray(circles[1]! * 784, circles[1]! * 784 + 784)
    let diff = 0
    for (let i = 0; i < 784; i++) diff += Math.abs(first[i]! - second[i]!)
    expect(diff / 784).toBeGreaterThan(0.05)
  })

  it('rejects counts and sizes out of range', () => {
    for (const options of [{ count: 0 }, { count: 1.5 }, { testCount: -1 }, { size: 4 }]) {
      let error: unknown
      try {
        generateShapes(options)
      } catch (err) {
        error = err
      }
      expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
    }
  })

  // The slowest test here (~7 s of CPU with the pure-JS backend): it is the evidence that the
  // demo's default dataset can be learned at all, so it stays.
  it('is learnable: a small MLP passes 90% test accuracy within two epochs', async () => {
    const ds = generateShapes({ count: 4000, testCount: 1000, seed: 3 })
    const tensorsBefore = tf.memory().numTensors
    const model = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [28, 28, 1] }),
        tfl.layers.dense({
          units: 32,
          activation: 'relu',
          kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
        }),
        tfl.layers.dense({
          units: 10,
          activation: 'softmax',
          kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }),
        }),
      ],
    })
    const optimizer = tf.train.adam(0.01)
    model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy' })
    const xs = tf.tensor4d(ds.train.x, [ds.train.count, 28, 28, 1])
    const ys = tf.tensor1d(ds.train.y, 'float32')
    await model.fit(xs, ys, { epochs: 2, batchSize: 64, shuffle: false, verbose: 0 })
    const predicted = tf.tidy(() => {
      const out = model.predict(tf.tensor4d(ds.test.x, [ds.test.count, 28, 28, 1]))
      if (Array.isArray(out)) throw new Error('expected one output')
      return tf.argMax(out, -1)
    })
    const labels = predicted.dataSync()
    let correct = 0
    for (let i = 0; i < ds.test.count; i++) if (labels[i] === ds.test.y[i]) correct++
    tf.dispose([xs, ys, predicted])
    model.dispose()
    optimizer.dispose()
    expect(correct / ds.test.count).toBeGreaterThan(0.9)
    expect(tf.memory().numTensors).toBe(tensorsBefore)
  }, 60_000)
})
