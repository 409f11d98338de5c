import { describe, expect, it } from 'vitest'
import type { AlgorithmConfig, BaseAlgorithmConfig } from '../../../../core/algorithms/config.ts'
import { resolveAlgorithmConfig } from '../../../../core/algorithms/config.ts'
import { SlowMo } from '../../../../core/algorithms/slowmo.ts'
import { runWorkers } from './helpers/driver.ts'
import {
  lossGap,
  makeQuadratic,
  maxAbsDiff,
  meanOf,
  TEST_LAYOUT,
  type Objective,
} from './helpers/objective.ts'

const D = TEST_LAYOUT.totalSize

/** Reference: Local SGD (plain SGD inside) with H = τ plus the SlowMo outer update, in float64. */
function referenceSlowMo(
  objective: Objective,
  opts: {
    workers: number
    tau: number
    outer: number
    lr: (k: number) => number
    alpha: number
    beta: number
    nesterov: boolean
    scaled: boolean
  },
): Float64Array {
  let x = new Float64Array(D)
  const u = new Float64Array(D)
  const g = new Float32Array(D)
  for (let t = 0; t < opts.outer; t++) {
    const locals: Float32Array[] = []
    for (let i = 0; i < opts.workers; i++) {
      const xi = Float32Array.from(x)
      for (let k = 0; k < opts.tau; k++) {
        objective.gradient(i, xi, t * opts.tau + k, g)
        const lr = opts.lr(t * opts.tau + k)
        for (let j = 0; j < D; j++) xi[j] = (xi[j] ?? 0) - lr * (g[j] ?? 0)
      }
      locals.push(xi)
    }
    const avg = meanOf(locals)
    const gamma = opts.scaled ? opts.lr(t * opts.tau + opts.tau - 1) : 1
    const next = new Float64Array(D)
    for (let j = 0; j < D; j++) {
      const scaled = ((x[j] ?? 0) - (avg[j] ?? 0)) / gamma
      u[j] = opts.beta * (u[j] ?? 0) + scaled
      const dir = opts.nesterov ? scaled + opts.beta * (u[j] ?? 0) : (u[j] ?? 0)
      next[j] = (x[j] ?? 0) - opts.alpha * gamma * dir
    }
    x = next
  }
  return x
}

describe('SlowMo', () => {
  it.each<[string, BaseAlgorithmConfig, number]>([
    ['sync', { kind: 'sync' }, 5],
    ['local H=4', { kind: 'local', H: 4 }, 8],
    ['local H=4 with warm-up', { kind: 'local', H: 4, warmupSteps: 4 }, 4],
  ])('equals its base (%s) when alpha = 1 and beta = 0', (_name, base, tau) => {
    const objective = makeQuadratic({ workers: 3, dim: D, seed: 41, noise: 0.1 })
    const common = { objective, layout: TEST_LAYOUT, steps: 40, lr: 0.05, momentum: 0.5 }
    const plain = runWorkers({ ...common, config: base }, 3)
    const slow = runWorkers({ ...common, config: { kind: 'slowmo', base, alpha: 1, beta: 0, tau } }, 3)
    for (let i = 0; i < 3; i++) {
      expect(maxAbsDiff(plain.workers[i]?.params ?? [], slow.workers[i]?.params ?? [])).toBeLessThan(1e-6)
    }
  })

  it('applies u ← βu + (x₀ − x_τ)/γ and x ← x₀ − αγu every τ steps, identically on every worker', () => {
    const objective = makeQuadratic({ workers: 3, dim: D, seed: 42 })
    const lr = (k: number): number => 0.1 / (1 + k / 20)
    const run = runWorkers(
      {
        config: { kind: 'slowmo', base: { kind: 'local', H: 3 }, alpha: 0.8, beta: 0.6, tau: 3 },
        objective,
        layout: TEST_LAYOUT,
        steps: 12,
        lr,
      },
      3,
    )
    const ref = referenceSlowMo(objective, {
      workers: 3,
      tau: 3,
      outer: 4,
      lr,
      alpha: 0.8,
      beta: 0.6,
      nesterov: false,
      scaled: true,
    })
    for (const w of run.workers) expect(maxAbsDiff(w.params, ref)).toBeLessThan(1e-5)
    const u0 = run.workers[0]?.algo instanceof SlowMo ? run.workers[0].algo.slowMomentum : null
    expect(u0).not.toBeNull()
    for (const w of run.workers) {
      if (!(w.algo instanceof SlowMo)) throw new Error('not slowmo')
      expect(Array.from(w.algo.slowMomentum)).toEqual(Array.from(u0 ?? []))
    }
  })

  it('resolves the diloco preset to outer Nesterov (lr 0.7, momentum 0.9) on the unscaled pseudo-gradient', () => {
    expect(resolveAlgorithmConfig({ kind: 'diloco', tau: 4 })).toEqual({
      kind: 'slowmo',
      base: { kind: 'local', H: 4, warmupSteps: 0, compressor: 'none', errorFeedback: true },
      alpha: 0.7,
      beta: 0.9,
      tau: 4,
      nesterov: true,
      scaleByLearningRate: false,
    })
    const objective = makeQuadratic({ workers: 2, dim: D, seed: 43 })
    const lr = (k: number): number => 0.1 / (1 + k / 10)
    const config: AlgorithmConfig = { kind: 'diloco', tau: 4 }
    const run = runWorkers({ config, objective, layout: TEST_LAYOUT, steps: 16, lr }, 2)
    const ref = referenceSlowMo(objective, {
      workers: 2,
      tau: 4,
      outer: 4,
      lr,
      alpha: 0.7,
      beta: 0.9,
      nesterov: true,
      scaled: false,
    })
    for (const w of run.workers) expect(maxAbsDiff(w.params, ref)).toBeLessThan(1e-5)
  })

  it.each<[string, BaseAlgorithmConfig, number]>([
    ['sgp', { kind: 'sgp', peers: 1, overlapDelay: 1 }, 20],
    ['olco3', { kind: 'olco3', H: 2, staleness: 1, compressor: 'topk:0.3' }, 20],
    // Outer steps after steps 5, 11, 17, ...; Local SGD (H = 4) is itself synchronised after 11, 23, ...
    ['local with tau not a multiple of H', { kind: 'local', H: 4 }, 10],
  ])(
    'averages the models exactly at the outer step over a non-exact base (%s)',
    (_name, base, exactAverages) => {
      const objective = makeQuadratic({ workers: 4, dim: D, seed: 44 })
      const lr = (k: number): number => 0.1 / (1 + k / 50)
      const run = runWorkers(
        {
          config: { kind: 'slowmo', base, alpha: 1, beta: 0.5, tau: 6 },
          objective,
          layout: TEST_LAYOUT,
          steps: 120,
          lr,
        },
        4,
      )
      const w0 = run.workers[0]?.params ?? new Float32Array()
      for (const w of run.workers) expect(Array.from(w.params)).toEqual(Array.from(w0))
      expect(run.workers[0]?.outcomes.filter((o) => o.messageKind === 'model')).toHaveLength(exactAverages)
      expect(lossGap(objective, w0)).toBeLessThan(0.02 * lossGap(objective, new Float32Array(D)))
    },
  )
})
