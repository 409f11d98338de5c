import { describe, expect, it } from 'vitest'
import type { DistributedAlgorithm } from '../../../../core/algorithms/algorithm.ts'
import type { AlgorithmConfig } from '../../../../core/algorithms/config.ts'
import { Sgp } from '../../../../core/algorithms/sgp.ts'
import { ALL_CONFIGS } from './helpers/configs.ts'
import { startedAlgorithm } from './helpers/driver.ts'
import { coreErrorCode } from './helpers/errors.ts'
import { TEST_LAYOUT } from './helpers/objective.ts'

const D = TEST_LAYOUT.totalSize
const present = [1]

function started(config: AlgorithmConfig): DistributedAlgorithm {
  return startedAlgorithm(config, { layout: TEST_LAYOUT, workerIndex: 0, workerCount: 2, seed: 1 })
}

describe.each(ALL_CONFIGS)('driver contract (%s)', (_name, config) => {
  it('throws at once on calls out of order or with a wrong step', () => {
    const algo = started(config)
    const params = new Float32Array(D)
    expect(() => algo.start(params)).toThrow(/Assertion failed/)
    expect(() => algo.afterLocalStep({ step: 0, present }, params)).toThrow(/Assertion failed/)
    expect(() => algo.tryComplete({ present, deadlinePassed: false }, { params })).toThrow(/Assertion failed/)
    expect(() => algo.beforeLocalStep({ step: 1, present }, params)).toThrow(/Assertion failed/)
    algo.beforeLocalStep({ step: 0, present }, params)
    expect(() => algo.beforeLocalStep({ step: 0, present }, params)).toThrow(/Assertion failed/)
    expect(() => algo.exportState()).toThrow(/Assertion failed/)
    if (algo.exchangeKind === 'gradient') {
      expect(() => algo.afterLocalStep({ step: 0, present }, params)).toThrow(/Assertion failed/)
    } else {
      expect(() => algo.submitGradient({ step: 0, present }, params)).toThrow(/Assertion failed/)
    }
  })

  it('rejects vectors of the wrong size with ERR_SHAPE_MISMATCH', () => {
    const algo = started(config)
    expect(coreErrorCode(() => algo.beforeLocalStep({ step: 0, present }, new Float32Array(D + 1)))).toBe(
      'ERR_SHAPE_MISMATCH',
    )
  })

  it('refuses to encode a non-finite local model with ERR_NON_FINITE', () => {
    const algo = started(config)
    const params = new Float32Array(D)
    const code = coreErrorCode(() => {
      for (let k = 0; k < 8; k++) {
        const ctx = { step: k, present }
        const view = { present, deadlinePassed: true }
        algo.beforeLocalStep(ctx, params)
        params[2] = Number.NaN
        if (algo.exchangeKind === 'gradient') {
          algo.submitGradient(ctx, params)
          algo.tryComplete(view, { params, grad: params })
        }
        algo.afterLocalStep(ctx, params)
        algo.tryComplete(view, { params })
      }
    })
    expect(code).toBe('ERR_NON_FINITE')
  })

  it('answers nothing but rejections after leave()', () => {
    const algo = started(config)
    algo.leave(new Float32Array(D))
    expect(() => algo.beforeLocalStep({ step: 0, present }, new Float32Array(D))).toThrow(/Assertion failed/)
  })
})

describe('Sgp weight floor', () => {
  it('keeps z finite when its shares never come back', () => {
    const algo = started({ kind: 'sgp', peers: 1, overlapDelay: 0 })
    if (!(algo instanceof Sgp)) throw new Error('not sgp')
    const params = Float32Array.from({ length: D }, (_, j) => j / D)
    for (let k = 0; k < 50; k++) {
      algo.beforeLocalStep({ step: k, present }, params)
      for (let j = 0; j < D; j++) params[j] = (params[j] ?? 0) * 0.99
      algo.afterLocalStep({ step: k, present }, params)
      algo.tryComplete({ present, deadlinePassed: true }, { params })
      expect(algo.pushSumWeight).toBeGreaterThanOrEqual(algo.weightFloor)
    }
    // z moves by the optimizer step divided by w (the paper's x ← x − γ·g rule), so without the
    // floor it would overshoot and diverge; with it z shrinks towards 0 and stays finite.
    for (const v of params) {
      expect(Number.isFinite(v)).toBe(true)
      expect(Math.abs(v)).toBeLessThan(0.5)
    }
  })
})
