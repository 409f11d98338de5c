import '@tensorflow/tfjs-backend-cpu'
import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { MODEL_ZOO } from '../../../../core/tensor/models.ts'
import { Trainer, type OptimizerConfig } from '../../../../core/training/trainer.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

/** Two Gaussian blobs in 8 dimensions: a problem an MLP must solve almost perfectly. */
function blobs(count: number, seed: number): { x: Float32Array; y: Int32Array; count: number } {
  let s = seed
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
  const x = new Float32Array(count * 8)
  const y = new Int32Array(count)
  for (let i = 0; i < count; i++) {
    const label = i % 2
    y[i] = label
    for (let j = 0; j < 8; j++) x[i * 8 + j] = (label === 1 ? 1 : -1) + (rand() - 0.5) * 1.5
  }
  return { x, y, count }
}

function makeTrainer(optimizer: OptimizerConfig): Trainer {
  const model = MODEL_ZOO['mlp']!.build({ inputShape: [8], classCount: 2 })
  return new Trainer({ model, classCount: 2, optimizer })
}

describe('Trainer', () => {
  it('lowers the loss and reaches high accuracy on a separable problem', () => {
    const trainer = makeTrainer({ kind: 'adam', learningRate: 0.01 })
    const data = blobs(256, 1)
    const before = trainer.evaluate(data)
    for (let epoch = 0; epoch < 5; epoch++) {
      for (let b = 0; b < 256; b += 32)
        trainer.trainStep(data.x.subarray(b * 8, (b + 32) * 8), data.y.subarray(b, b + 32))
    }
    const after = trainer.evaluate(data)
    expect(after.loss).toBeLessThan(before.loss * 0.5)
    expect(after.accuracy).toBeGreaterThan(0.95)
    trainer.close()
  })

  it('computeGradients + applyGradients equals one trainStep', () => {
    const a = makeTrainer({ kind: 'sgd', learningRate: 0.1 })
    const b = makeTrainer({ kind: 'sgd', learningRate: 0.1 })
    b.params.write(a.params.read())
    const data = blobs(32, 2)
    const lossA = a.trainStep(data.x, data.y)
    const grad = b.params.allocate()
    const lossB = b.computeGradients(data.x, data.y, grad)
    b.applyGradients(grad)
    expect(lossB).toBeCloseTo(lossA, 6)
    const pa = a.params.read()
    const pb = b.params.read()
    let maxDiff = 0
    for (let i = 0; i < pa.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pa[i]! - pb[i]!))
    expect(maxDiff).toBeLessThan(1e-6)
    a.close()
    b.close()
  })

  it('continues identically after exporting and importing optimizer state', async () => {
    const a = makeTrainer({ kind: 'adam', learningRate: 0.01 })
    const data = blobs(64, 3)
    for (let i = 0; i < 3; i++) a.trainStep(data.x, data.y)
    const state = await a.exportOptimizerState()
    expect(state.length).toBeGreaterThan(0)
    const b = makeTrainer({ kind: 'adam', learningRate: 0.01 })
    b.params.write(a.params.read())
    await b.importOptimizerState(state)
    a.trainStep(data.x, data.y)
    b.trainStep(data.x, data.y)
    expect(b.params.read()).toEqual(a.params.read())
    a.close()
    b.close()
  })

  it('leaks no tensors over many steps and evaluations', () => {
    const trainer = makeTrainer({ kind: 'momentum', learningRate: 0.05 })
    const data = blobs(64, 4)
    const grad = trainer.params.allocate()
    trainer.trainStep(data.x, data.y) // creates the optimizer's slots once
    const before = tf.memory().numTensors
    for (let i = 0; i < 20; i++) {
      trainer.trainStep(data.x, data.y)
      trainer.computeGradients(data.x, data.y, grad)
      trainer.applyGradients(grad)
      trainer.evaluate(data, 16)
    }
    expect(tf.memory().numTensors).toBe(before)
    trainer.close()
  })

  it('rejects a batch whose inputs do not match the labels', () => {
    const trainer = makeTrainer({ kind: 'sgd', learningRate: 0.1 })
    expect(() => trainer.trainStep(new Float32Array(7), new Int32Array(1))).toThrowError(
      /batch has 7 input values/,
    )
    trainer.close()
  })

  it('refuses a NaN gradient without changing the model', () => {
    const trainer = makeTrainer({ kind: 'sgd', learningRate: 0.1 })
    const before = trainer.params.read()
    const grad = trainer.params.allocate()
    grad[3] = Number.NaN
    expect(() => trainer.applyGradients(grad)).toThrowError(/NaN at index 3/)
    expect(trainer.params.read()).toEqual(before)
    trainer.close()
  })

  it('refuses calls after close', () => {
    const trainer = makeTrainer({ kind: 'sgd', learningRate: 0.1 })
    trainer.close()
    trainer.close()
    expect(() => trainer.evaluate(blobs(2, 1))).toThrowError(/closed/)
  })

  it('async forms give exactly the sync results without ever calling dataSync', async () => {
    const sync = makeTrainer({ kind: 'adam', learningRate: 0.01 })
    const async = makeTrainer({ kind: 'adam', learningRate: 0.01 })
    async.params.write(sync.params.read())
    const data = blobs(64, 5)
    const syncGrad = sync.params.allocate()
    const asyncGrad = async.params.allocate()
    const syncLosses = [sync.trainStep(data.x, data.y), sync.computeGradients(data.x, data.y, syncGrad)]
    const syncEval = sync.evaluate(data, 24)
    const syncParams = sync.params.read()
    // WebGPU's dataSync returns zeros and loses the device: the async forms must not touch it.
    const dataSync = vi.spyOn(tf.Tensor.prototype, 'dataSync').mockImplementation(() => {
      throw new Error('dataSync called on the async path')
    })
    try {
      const asyncLosses = [
        await async.trainStepAsync(data.x, data.y),
        await async.computeGradientsAsync(data.x, data.y, asyncGrad),
      ]
      expect(asyncLosses).toEqual(syncLosses)
      expect(asyncGrad).toEqual(syncGrad)
      expect(await async.evaluateAsync(data, 24)).toEqual(syncEval)
      expect(await async.params.readAsync()).toEqual(syncParams)
      expect(dataSync).not.toHaveBeenCalled()
    } finally {
      dataSync.mockRestore()
    }
    sync.close()
    async.close()
  })

  it('async forms leak no tensors, also when they fail', async () => {
    const trainer = makeTrainer({ kind: 'momentum', learningRate: 0.05 })
    const data = blobs(32, 6)
    const grad = trainer.params.allocate()
    await trainer.trainStepAsync(data.x, data.y)
    const before = tf.memory().numTensors
    for (let i = 0; i < 5; i++) {
      await trainer.trainStepAsync(data.x, data.y)
      await trainer.computeGradientsAsync(data.x, data.y, grad)
      await trainer.evaluateAsync(data, 10)
      await trainer.params.readAsync()
    }
    await expect(trainer.trainStepAsync(new Float32Array(7), new Int32Array(1))).rejects.toThrow(
      /batch has 7 input values/,
    )
    await expect(trainer.computeGradientsAsync(data.x, data.y, new Float32Array(3))).rejects.toThrow(
      /gradient vector/,
    )
    expect(tf.memory().numTensors).toBe(before)
    trainer.close()
    await expect(trainer.evaluateAsync(data)).rejects.toThrow(/closed/)
  })
})
