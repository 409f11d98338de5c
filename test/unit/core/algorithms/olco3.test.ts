import { describe, expect, it } from 'vitest'
import { runWorkers } from './helpers/driver.ts'
import { lossGap, makeQuadratic, maxAbsDiff, meanOf, TEST_LAYOUT } from './helpers/objective.ts'

const D = TEST_LAYOUT.totalSize

describe('Olco3', () => {
  it('equals Local SGD when s = 0 and the compressor is none', () => {
    const objective = makeQuadratic({ workers: 4, dim: D, seed: 21, noise: 0.1 })
    const common = { objective, layout: TEST_LAYOUT, steps: 60, lr: 0.05, momentum: 0.5 }
    const local = runWorkers({ ...common, config: { kind: 'local', H: 3 } }, 4)
    const olco3 = runWorkers(
      { ...common, config: { kind: 'olco3', H: 3, staleness: 0, compressor: 'none' } },
      4,
    )
    for (let i = 0; i < 4; i++) {
      expect(maxAbsDiff(local.workers[i]?.params ?? [], olco3.workers[i]?.params ?? [])).toBeLessThan(1e-6)
    }
  })

  it('equals synchronous SGD when H = 1, s = 0 and the compressor is none', () => {
    const objective = makeQuadratic({ workers: 3, dim: D, seed: 22, noise: 0.1 })
    const common = { objective, layout: TEST_LAYOUT, steps: 50, lr: 0.05 }
    const sync = runWorkers({ ...common, config: { kind: 'sync' } }, 3)
    const olco3 = runWorkers(
      { ...common, config: { kind: 'olco3', H: 1, staleness: 0, compressor: 'none' } },
      3,
    )
    expect(maxAbsDiff(sync.workers[1]?.params ?? [], olco3.workers[1]?.params ?? [])).toBeLessThan(1e-6)
  })

  it('swaps its own stale contribution for the global average (2 workers, H = 1, s = 1)', () => {
    const objective = makeQuadratic({ workers: 2, dim: D, seed: 23 })
    const lr = 0.1
    const run = runWorkers(
      {
        config: { kind: 'olco3', H: 1, staleness: 1, compressor: 'none' },
        objective,
        layout: TEST_LAYOUT,
        steps: 2,
        lr,
      },
      2,
    )
    // Round 0: x_i¹ = −γ g_i(0), no stale average yet. Round 1: x_i² = x_i¹ − γ g_i(x_i¹) + c_i⁰ − c̄⁰
    // with c_i⁰ = γ g_i(0), so x_i² = −γ ḡ(0) − γ g_i(x_i¹).
    const zero = new Float32Array(D)
    const g0 = [new Float32Array(D), new Float32Array(D)]
    objective.gradient(0, zero, 0, g0[0] ?? zero)
    objective.gradient(1, zero, 0, g0[1] ?? zero)
    for (let i = 0; i < 2; i++) {
      const x1 = Float32Array.from(g0[i] ?? zero, (g) => -lr * g)
      const g1 = new Float32Array(D)
      objective.gradient(i, x1, 1, g1)
      const expected = Float64Array.from({ length: D }, (_, j) => {
        const gbar = ((g0[0]?.[j] ?? 0) + (g0[1]?.[j] ?? 0)) / 2
        return -lr * gbar - lr * (g1[j] ?? 0)
      })
      expect(maxAbsDiff(run.workers[i]?.params ?? [], expected)).toBeLessThan(1e-6)
    }
    expect(run.workers[0]?.outcomes).toEqual([
      { kind: 'averaged', messageKind: 'delta', round: 0, peers: [1], maxStaleness: 1 },
    ])
  })

  it('keeps the mean model equal to the sum of all local steps (the swap is zero-mean)', () => {
    const objective = makeQuadratic({ workers: 4, dim: D, seed: 24, noise: 0.2 })
    const run = runWorkers(
      {
        config: { kind: 'olco3', H: 2, staleness: 2, compressor: 'topk:0.2' },
        objective,
        layout: TEST_LAYOUT,
        steps: 41,
        lr: 0.05,
      },
      4,
    )
    const mean = meanOf(run.workers.map((w) => w.params))
    const expected = meanOf(run.workers.map((w) => Float32Array.from(w.displacement)))
    expect(maxAbsDiff(mean, expected)).toBeLessThan(1e-5)
    // ...while the individual models differ (residuals and recent own updates).
    expect(maxAbsDiff(run.workers[0]?.params ?? [], run.workers[1]?.params ?? [])).toBeGreaterThan(1e-3)
  })

  it('converges with staleness 2 and top-k compression', () => {
    const objective = makeQuadratic({ workers: 4, dim: D, seed: 25 })
    const lr = (k: number): number => 0.1 / (1 + k / 50)
    const run = (steps: number) =>
      runWorkers(
        {
          config: { kind: 'olco3', H: 2, staleness: 2, compressor: 'topk:0.2' },
          objective,
          layout: TEST_LAYOUT,
          steps,
          lr,
        },
        4,
      )
    const start = lossGap(objective, new Float32Array(D))
    const early = lossGap(objective, meanOf(run(100).workers.map((w) => w.params)))
    const late = run(400)
    const gap = lossGap(objective, meanOf(late.workers.map((w) => w.params)))
    expect(gap).toBeLessThan(5e-3 * start)
    expect(gap).toBeLessThan(early)
    for (const w of late.workers) expect(lossGap(objective, w.params)).toBeLessThan(0.05 * start)
    // Round r's average is applied at the end of round r + 2.
    const outcomes = late.workers[0]?.outcomes ?? []
    expect(outcomes[0]).toMatchObject({ kind: 'averaged', round: 0, maxStaleness: 2 })
    expect(outcomes).toHaveLength(200 - 2)
  })

  it('hides latency up to H·s steps, where Local SGD waits every round', () => {
    const objective = makeQuadratic({ workers: 3, dim: D, seed: 26 })
    const ticks = (config: Parameters<typeof runWorkers>[0]['config'], latency: number): number =>
      runWorkers({ config, objective, layout: TEST_LAYOUT, steps: 40, lr: 0.05, latency: () => latency }, 3)
        .tick
    const olco3 = { kind: 'olco3', H: 2, staleness: 2, compressor: 'none' } as const
    const local = { kind: 'local', H: 2 } as const
    // A delta sent at the end of round r is needed H·s = 4 steps (ticks) later; it arrives 1 + L ticks later.
    expect(ticks(olco3, 3)).toBe(ticks(olco3, 0))
    expect(ticks(olco3, 6)).toBeGreaterThan(ticks(olco3, 0))
    expect(ticks(local, 3)).toBeGreaterThan(ticks(local, 0) + 3 * 15)
  })
})
