import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import * as tfl from '@tensorflow/tfjs-layers'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  localAsyncTrainer,
  runTrainSteps,
  runTrainStepsAsync,
  wholeBuffer,
} from '../../../../core/browser/async-trainer.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { Trainer } from '../../../../core/training/trainer.ts'

function tinyTrainer(): Trainer {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 3, name: 'out' })] })
  return new Trainer({ model, classCount: 3, optimizer: { kind: 'sgd', learningRate: 0.1 } })
}

const X = Float32Array.from([1, 0, 0, 1, 1, 1, 0.5, 0.5, 0, 0])
const Y = Int32Array.from([0, 1, 2, 1, 0])

let previousBackend: string | undefined

beforeAll(async () => {
  previousBackend = tf.engine().backendName ?? undefined
  await tf.setBackend('cpu')
})

afterAll(async () => {
  if (previousBackend !== undefined) await tf.setBackend(previousBackend)
})

describe('runTrainSteps', () => {
  it('takes one step per batch, the last one smaller, and matches stepping by hand', () => {
    const a = tinyTrainer()
    const b = tinyTrainer()
    b.params.write(a.params.read())
    const losses = runTrainSteps(a, X, Y, 2)
    expect(losses).toHaveLength(3)
    const byHand = [
      b.trainStep(X.subarray(0, 4), Y.subarray(0, 2)),
      b.trainStep(X.subarray(4, 8), Y.subarray(2, 4)),
      b.trainStep(X.subarray(8, 10), Y.subarray(4, 5)),
    ]
    expect([...losses]).toEqual(byHand.map((l) => Math.fround(l)))
    expect(a.params.read()).toEqual(b.params.read())
    a.close()
    b.close()
  })

  it('rejects a batch size below one or not an integer', () => {
    const trainer = tinyTrainer()
    for (const batchSize of [0, -2, 1.5, Number.NaN]) {
      expect(() => runTrainSteps(trainer, X, Y, batchSize)).toThrow(/batch size must be a positive integer/)
    }
    trainer.close()
  })

  it('rejects inputs that are not whole examples before taking any step', () => {
    const trainer = tinyTrainer()
    const before = trainer.params.read()
    let error: unknown
    try {
      runTrainSteps(trainer, X.subarray(0, 9), Y, 2)
    } catch (e) {
      error = e
    }
    expect(isCoreError(error, 'ERR_SHAPE_MISMATCH')).toBe(true)
    expect(trainer.params.read()).toEqual(before)
    trainer.close()
  })
})

describe('localAsyncTrainer', () => {
  it('exposes the layout and turns a throwing call into a rejection', async () => {
    const trainer = tinyTrainer()
    const wrapped = localAsyncTrainer(trainer, 'local cpu')
    expect(wrapped).toMatchObject({
      description: 'local cpu',
      totalSize: trainer.params.layout.totalSize,
      fingerprint: trainer.params.layout.fingerprint,
    })
    await expect(wrapped.writeParams(new Float32Array(1))).rejects.toSatisfy((e) =>
      isCoreError(e, 'ERR_SHAPE_MISMATCH'),
    )
    await wrapped.close()
    await expect(wrapped.trainSteps(X, Y, 2)).rejects.toSatisfy((e) => isCoreError(e, 'ERR_DESTROYED'))
  })
})

describe('localAsyncTrainer on an async-only route', () => {
  it('trains, reads and evaluates like the sync one without calling dataSync', async () => {
    const a = tinyTrainer()
    const b = tinyTrainer()
    b.params.write(a.params.read())
    const sync = localAsyncTrainer(a, 'local cpu')
    const expected = {
      losses: await sync.trainSteps(X, Y, 2),
      params: await sync.readParams(),
      evaluation: await sync.evaluate({ x: X, y: Y, count: 5 }),
    }
    const dataSync = vi.spyOn(tf.Tensor.prototype, 'dataSync').mockImplementation(() => {
      throw new Error('dataSync called on an async-only route')
    })
    try {
      const asyncOnly = localAsyncTrainer(b, 'local webgpu', 'async-only')
      expect(await asyncOnly.trainSteps(X, Y, 2)).toEqual(expected.losses)
      expect(await asyncOnly.readParams()).toEqual(expected.params)
      expect(await asyncOnly.evaluate({ x: X, y: Y, count: 5 })).toEqual(expected.evaluation)
      const gradient = new Float32Array(asyncOnly.totalSize)
      expect(await asyncOnly.computeGradients(X, Y, gradient)).toBeGreaterThan(0)
      expect(gradient.some((g) => g !== 0)).toBe(true)
      expect(dataSync).not.toHaveBeenCalled()
    } finally {
      dataSync.mockRestore()
    }
    a.close()
    b.close()
  })

  it('checks the batch size and shapes before any async step', async () => {
    const trainer = tinyTrainer()
    const before = trainer.params.read()
    await expect(runTrainStepsAsync(trainer, X, Y, 0)).rejects.toThrow(
      /batch size must be a positive integer/,
    )
    await expect(runTrainStepsAsync(trainer, X.subarray(0, 9), Y, 2)).rejects.toSatisfy((e) =>
      isCoreError(e, 'ERR_SHAPE_MISMATCH'),
    )
    expect(trainer.params.read()).toEqual(before)
    trainer.close()
  })
})

describe('wholeBuffer', () => {
  it('returns the backing buffer when the array covers it, a copy of the view otherwise', () => {
    const whole = Float32Array.from([1, 2, 3])
    expect(wholeBuffer(whole)).toBe(whole.buffer)
    const view = whole.subarray(1)
    const copied = wholeBuffer(view)
    expect(copied).not.toBe(whole.buffer)
    expect([...new Float32Array(copied)]).toEqual([2, 3])
  })
})
