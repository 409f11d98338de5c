import { describe, expect, it } from 'vitest'
import { localRoundEndsAt, localRoundOfStep } from '../../../../core/algorithms/local-sgd.ts'
import { runWorkers } from './helpers/driver.ts'
import { lossGap, makeQuadratic, maxAbsDiff, meanOf, TEST_LAYOUT } from './helpers/objective.ts'

const D = TEST_LAYOUT.totalSize

describe('LocalSgd', () => {
  it('equals synchronous SGD when H = 1 (plain and heavy-ball momentum)', () => {
    for (const momentum of [0, 0.9]) {
      const objective = makeQuadratic({ workers: 4, dim: D, seed: 3, noise: 0.1 })
      const common = { objective, layout: TEST_LAYOUT, steps: 60, lr: 0.05, momentum }
      const sync = runWorkers({ ...common, config: { kind: 'sync' } }, 4)
      const local = runWorkers({ ...common, config: { kind: 'local', H: 1 } }, 4)
      for (let i = 0; i < 4; i++) {
        const a = sync.workers[i]?.params ?? new Float32Array()
        const b = local.workers[i]?.params ?? new Float32Array()
        expect(maxAbsDiff(a, b)).toBeLessThan(1e-6)
      }
      // Training did move the model: the comparison is not between two untouched vectors.
      expect(lossGap(objective, sync.workers[0]?.params ?? [])).toBeLessThan(
        0.05 * lossGap(objective, new Float32Array(D)),
      )
    }
  })

  it('averages the local models exactly at every round end when H = 4', () => {
    const objective = makeQuadratic({ workers: 3, dim: D, seed: 5 })
    // Reference: each worker runs 4 plain SGD steps from the common model, then the models are averaged.
    let ref = new Float32Array(D)
    const g = new Float32Array(D)
    for (let round = 0; round < 5; round++) {
      const locals: Float32Array[] = []
      for (let i = 0; i < 3; i++) {
        const x = ref.slice()
        for (let k = 0; k < 4; k++) {
          objective.gradient(i, x, round * 4 + k, g)
          for (let j = 0; j < D; j++) x[j] = (x[j] ?? 0) - 0.1 * (g[j] ?? 0)
        }
        locals.push(x)
      }
      ref = Float32Array.from(meanOf(locals))
    }
    const run = runWorkers(
      { config: { kind: 'local', H: 4 }, objective, layout: TEST_LAYOUT, steps: 20, lr: 0.1 },
      3,
    )
    const w0 = run.workers[0]?.params ?? new Float32Array()
    expect(maxAbsDiff(w0, ref)).toBeLessThan(1e-6)
    // Every worker holds the bit-identical common model after the last round.
    for (const w of run.workers) expect(Array.from(w.params)).toEqual(Array.from(w0))
    expect(run.workers[0]?.outcomes.filter((o) => o.kind === 'averaged')).toHaveLength(5)
  })

  it('keeps H = 1 during the post-local warm-up, then rounds of H steps', () => {
    const ends = Array.from({ length: 12 }, (_, k) => localRoundEndsAt(k, 4, 3))
    expect(ends).toEqual([true, true, true, false, false, false, true, false, false, false, true, false])
    expect(Array.from({ length: 12 }, (_, k) => localRoundOfStep(k, 4, 3))).toEqual([
      0, 1, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5,
    ])
    const objective = makeQuadratic({ workers: 2, dim: D, seed: 8 })
    const run = runWorkers(
      { config: { kind: 'local', H: 4, warmupSteps: 3 }, objective, layout: TEST_LAYOUT, steps: 11, lr: 0.1 },
      2,
    )
    expect(run.workers[0]?.outcomes.map((o) => o.round)).toEqual([0, 1, 2, 3, 4])
  })

  it('converges with top-k compression and error feedback under a decaying learning rate', () => {
    const objective = makeQuadratic({ workers: 4, dim: D, seed: 9 })
    const lr = (k: number): number => 0.1 / (1 + k / 50)
    const run = (compressor: string, steps: number) =>
      runWorkers(
        { config: { kind: 'local', H: 2, compressor }, objective, layout: TEST_LAYOUT, steps, lr },
        4,
      )
    const start = lossGap(objective, new Float32Array(D))
    const early = lossGap(objective, run('topk:0.2', 100).workers[0]?.params ?? [])
    const late = run('topk:0.2', 400)
    const gap = lossGap(objective, late.workers[0]?.params ?? [])
    expect(gap).toBeLessThan(5e-3 * start)
    expect(gap).toBeLessThan(early)
    // 3 of 15 entries sent: the payload is much smaller than raw float32.
    expect(late.workers[0]?.algo.stats().lastCompressionRatio).toBeGreaterThan(1.5)
  })
})
