import '@tensorflow/tfjs-backend-cpu'
import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { withSeededMathRandom } from '../../../../core/sim/seeded-init.ts'
import { FlatParams } from '../../../../core/tensor/flat-params.ts'
import { MODEL_ZOO } from '../../../../core/tensor/models.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

function initialParams(seed: number): Float32Array {
  const model = withSeededMathRandom(seed, () =>
    MODEL_ZOO['mlp']!.build({ inputShape: [6, 6, 1], classCount: 3 }),
  )
  const params = new FlatParams(model).read()
  model.dispose()
  return params
}

describe('withSeededMathRandom', () => {
  it('builds identical initial weights for the same seed', () => {
    const a = initialParams(5)
    const b = initialParams(5)
    expect(b).toEqual(a)
    // The kernels are random (not all zero), the biases zero.
    expect(a.some((v) => v !== 0)).toBe(true)
  })

  it('builds different initial weights for different seeds', () => {
    const a = initialParams(5)
    const b = initialParams(6)
    let differing = 0
    for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) differing++
    expect(differing).toBeGreaterThan(a.length / 2)
  })

  it('restores Math.random afterwards, also when the build throws', () => {
    const original = Math.random
    expect(withSeededMathRandom(1, () => Math.random())).toBe(withSeededMathRandom(1, () => Math.random()))
    expect(Math.random).toBe(original)
    expect(() =>
      withSeededMathRandom(1, () => {
        throw new Error('boom')
      }),
    ).toThrow('boom')
    expect(Math.random).toBe(original)
  })
})
