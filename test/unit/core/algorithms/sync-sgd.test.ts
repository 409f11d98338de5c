import { describe, expect, it } from 'vitest'
import { runWorkers } from './helpers/driver.ts'
import { lossGap, makeQuadratic, maxAbsDiff, TEST_LAYOUT } from './helpers/objective.ts'

const D = TEST_LAYOUT.totalSize

describe('SyncSgd', () => {
  it('equals single-process SGD on the averaged gradient, with bit-identical workers', () => {
    const objective = makeQuadratic({ workers: 4, dim: D, seed: 11, noise: 0.2 })
    const ref = new Float32Array(D)
    const g = new Float32Array(D)
    const avg = new Float64Array(D)
    for (let k = 0; k < 40; k++) {
      avg.fill(0)
      for (let i = 0; i < 4; i++) {
        objective.gradient(i, ref, k, g)
        for (let j = 0; j < D; j++) avg[j] = (avg[j] ?? 0) + (g[j] ?? 0) / 4
      }
      for (let j = 0; j < D; j++) ref[j] = (ref[j] ?? 0) - 0.1 * (avg[j] ?? 0)
    }
    const run = runWorkers(
      { config: { kind: 'sync' }, objective, layout: TEST_LAYOUT, steps: 40, lr: 0.1 },
      4,
    )
    const w0 = run.workers[0]?.params ?? new Float32Array()
    expect(maxAbsDiff(w0, ref)).toBeLessThan(1e-6)
    for (const w of run.workers) expect(Array.from(w.params)).toEqual(Array.from(w0))
    const outcomes = run.workers[2]?.outcomes ?? []
    expect(outcomes).toHaveLength(40)
    expect(outcomes[5]).toEqual({
      kind: 'averaged',
      messageKind: 'gradient',
      round: 5,
      peers: [0, 1, 3],
      maxStaleness: 0,
    })
  })

  it('converges with top-k compressed gradients and error feedback under a decaying learning rate', () => {
    const objective = makeQuadratic({ workers: 4, dim: D, seed: 12 })
    const lr = (k: number): number => 0.2 / (1 + k / 50)
    const run = (steps: number) =>
      runWorkers(
        { config: { kind: 'sync', compressor: 'topk:0.2' }, objective, layout: TEST_LAYOUT, steps, lr },
        4,
      )
    const start = lossGap(objective, new Float32Array(D))
    const early = lossGap(objective, run(50).workers[0]?.params ?? [])
    const gap = lossGap(objective, run(300).workers[0]?.params ?? [])
    expect(gap).toBeLessThan(5e-3 * start)
    expect(gap).toBeLessThan(early)
  })

  it('reports a local-only round when it is the only worker present', () => {
    const objective = makeQuadratic({ workers: 1, dim: D, seed: 13 })
    const run = runWorkers({ config: { kind: 'sync' }, objective, layout: TEST_LAYOUT, steps: 3, lr: 0.1 }, 1)
    expect(run.workers[0]?.outcomes).toEqual(
      [0, 1, 2].map((round) => ({
        kind: 'local-only',
        messageKind: 'gradient',
        round,
        reason: 'ERR_NO_PEERS',
      })),
    )
  })
})
