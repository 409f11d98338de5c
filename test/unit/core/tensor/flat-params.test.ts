import '@tensorflow/tfjs-backend-cpu'
import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { FlatParams } from '../../../../core/tensor/flat-params.ts'
import { MODEL_ZOO } from '../../../../core/tensor/models.ts'
import { isCoreError } from '../../../../core/errors.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

describe('FlatParams', () => {
  it('round-trips every weight through the flat vector exactly', () => {
    const model = MODEL_ZOO['cnn']!.build({ inputShape: [28, 28, 1], classCount: 10 })
    const params = new FlatParams(model)
    const flat = params.read()
    expect(flat.length).toBe(model.countParams())
    const changed = flat.map((v, i) => v + (i % 7) * 0.001)
    params.write(changed)
    expect(params.read()).toEqual(changed)
    // Per-tensor check: the entry at each offset is that tensor's values.
    const entry = params.layout.entries[2]!
    const tensorValues = model.weights[2]!.read().dataSync()
    expect(Array.from(tensorValues)).toEqual(
      Array.from(changed.subarray(entry.offset, entry.offset + entry.size)),
    )
    model.dispose()
  })

  it('describes each tensor with name, shape and offset', () => {
    const model = MODEL_ZOO['mlp']!.build({ inputShape: [28, 28, 1], classCount: 10 })
    const { layout } = new FlatParams(model)
    expect(layout.entries.map((e) => e.name)).toEqual([
      'fc1/kernel',
      'fc1/bias',
      'fc2/kernel',
      'fc2/bias',
      'logits/kernel',
      'logits/bias',
    ])
    expect(layout.entries[0]).toMatchObject({ shape: [784, 256], offset: 0, size: 784 * 256 })
    expect(layout.entries[1]).toMatchObject({ shape: [256], offset: 784 * 256 })
    expect(layout.totalSize).toBe(784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10)
    model.dispose()
  })

  it('gives the same fingerprint to two builds of one architecture and another to a different one', () => {
    const a = MODEL_ZOO['mlp']!.build({ inputShape: [28, 28, 1], classCount: 10 })
    const b = MODEL_ZOO['mlp']!.build({ inputShape: [28, 28, 1], classCount: 10 })
    const c = MODEL_ZOO['mlp']!.build({ inputShape: [28, 28, 1], classCount: 5 })
    expect(new FlatParams(a).layout.fingerprint).toBe(new FlatParams(b).layout.fingerprint)
    expect(new FlatParams(a).layout.fingerprint).not.toBe(new FlatParams(c).layout.fingerprint)
    for (const m of [a, b, c]) m.dispose()
  })

  it('does not alias the caller vector after a write', () => {
    const model = MODEL_ZOO['mlp']!.build({ inputShape: [4], classCount: 2 })
    const params = new FlatParams(model)
    const flat = params.read()
    params.write(flat)
    flat[0] = 123
    expect(params.read()[0]).not.toBe(123)
    model.dispose()
  })

  it('rejects a vector of the wrong size without touching the model', () => {
    const model = MODEL_ZOO['mlp']!.build({ inputShape: [4], classCount: 2 })
    const params = new FlatParams(model)
    const before = params.read()
    let error: unknown
    try {
      params.write(new Float32Array(before.length + 1))
    } catch (e) {
      error = e
    }
    expect(isCoreError(error, 'ERR_SHAPE_MISMATCH')).toBe(true)
    expect(params.read()).toEqual(before)
    model.dispose()
  })

  it('rejects NaN and Infinity without touching the model', () => {
    const model = MODEL_ZOO['mlp']!.build({ inputShape: [4], classCount: 2 })
    const params = new FlatParams(model)
    const before = params.read()
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const values = before.slice()
      values[values.length - 1] = bad
      expect(() => params.write(values)).toThrowError(/index/)
      expect(params.read()).toEqual(before)
    }
    model.dispose()
  })

  it('keeps the tensor count constant over 1,000 read/write rounds', () => {
    const model = MODEL_ZOO['mlp']!.build({ inputShape: [28, 28, 1], classCount: 10 })
    const params = new FlatParams(model)
    const flat = params.allocate()
    params.read(flat)
    const before = tf.memory()
    for (let round = 0; round < 1000; round++) {
      params.read(flat)
      flat[round] = flat[round]! + 1
      params.write(flat)
    }
    const after = tf.memory()
    expect(after.numTensors).toBe(before.numTensors)
    expect(after.numBytes).toBe(before.numBytes)
    model.dispose()
  })
})

describe('MODEL_ZOO', () => {
  it.each(Object.entries(MODEL_ZOO))('lists exactly the layer classes %s is built from', (_name, zoo) => {
    const shape = zoo.usesConvolutions && zoo.name === 'resnet' ? [32, 32, 3] : [28, 28, 1]
    const model = zoo.build({ inputShape: shape, classCount: 10 })
    const built = new Set(model.layers.map((l) => l.getClassName()))
    // A Sequential model has no explicit InputLayer in .layers; a functional one does.
    expect(new Set(zoo.layerClasses.filter((c) => c !== 'InputLayer' || built.has('InputLayer')))).toEqual(
      built,
    )
    model.dispose()
  })
})
