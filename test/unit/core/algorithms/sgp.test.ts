import { describe, expect, it } from 'vitest'
import { createCompressor } from '../../../../core/compress/registry.ts'
import { Sgp } from '../../../../core/algorithms/sgp.ts'
import { InProcessDriver, runWorkers, type DriverOptions } from './helpers/driver.ts'
import { lossGap, makeQuadratic, maxAbsDiff, meanOf, prng, TEST_LAYOUT } from './helpers/objective.ts'

const D = TEST_LAYOUT.totalSize
const none = createCompressor('none', TEST_LAYOUT)

/** Σ x and Σ w over live workers (buffered shares included) and the shares in flight to them. */
function totalMass(driver: InProcessDriver): { x: Float64Array; w: number } {
  const x = new Float64Array(D)
  let w = 0
  const scratch = new Float32Array(D)
  for (const worker of driver.live()) {
    if (!(worker.algo instanceof Sgp)) throw new Error('not an sgp worker')
    const mass = worker.algo.pushSumMass()
    for (let j = 0; j < D; j++) x[j] = (x[j] ?? 0) + (mass.x[j] ?? 0)
    w += mass.weight
  }
  for (const e of driver.inFlight) {
    if (driver.workers[e.to]?.phase === 'gone') continue
    none.decompress(e.message.payload, scratch, { seed: 0, round: e.message.round })
    for (let j = 0; j < D; j++) x[j] = (x[j] ?? 0) + (scratch[j] ?? 0)
    w += e.message.weight ?? 0
  }
  return { x, w }
}

function randomInit(worker: number): Float32Array {
  const r = prng(1000 + worker)
  return Float32Array.from({ length: D }, () => 4 * r() - 2)
}

/** Runs SGP and checks mass conservation at the end of every tick. */
function runCheckingMass(
  options: DriverOptions,
  n: number,
  expectedWeight: number,
): { driver: InProcessDriver; checks: number } {
  let checks = 0
  const initial = new Float64Array(D)
  for (let i = 0; i < n; i++) {
    const v = options.init?.(i) ?? new Float32Array(D)
    for (let j = 0; j < D; j++) initial[j] = (initial[j] ?? 0) + (v[j] ?? 0)
  }
  const driver = new InProcessDriver(
    {
      ...options,
      onTick: (d) => {
        const mass = totalMass(d)
        const expected = Float64Array.from(
          initial,
          (v, j) => v + d.workers.reduce((s, w) => s + (w.displacement[j] ?? 0), 0),
        )
        expect(maxAbsDiff(mass.x, expected)).toBeLessThan(1e-4)
        expect(Math.abs(mass.w - expectedWeight)).toBeLessThan(1e-9)
        checks++
      },
    },
    n,
  )
  driver.run()
  return { driver, checks }
}

describe('Sgp', () => {
  it('averages exactly in log2(n) steps of pure mixing and conserves mass and weight', () => {
    const objective = makeQuadratic({ workers: 8, dim: D, seed: 31 })
    const { driver, checks } = runCheckingMass(
      {
        config: { kind: 'sgp', peers: 1, overlapDelay: 0 },
        objective,
        layout: TEST_LAYOUT,
        steps: 3,
        lr: 0,
        init: randomInit,
      },
      8,
      8,
    )
    expect(checks).toBeGreaterThanOrEqual(6)
    const mean = meanOf(Array.from({ length: 8 }, (_, i) => randomInit(i)))
    for (const w of driver.workers) expect(maxAbsDiff(w.params, mean)).toBeLessThan(1e-6)
  })

  it('conserves mass and weight every step while training with overlap, 2 peers and random latency', () => {
    const objective = makeQuadratic({ workers: 6, dim: D, seed: 32, noise: 0.1 })
    const r = prng(77)
    const { driver, checks } = runCheckingMass(
      {
        config: { kind: 'sgp', peers: 2, overlapDelay: 2 },
        objective,
        layout: TEST_LAYOUT,
        steps: 60,
        lr: 0.05,
        init: randomInit,
        latency: () => Math.floor(r() * 3),
      },
      6,
      6,
    )
    expect(checks).toBeGreaterThanOrEqual(60)
    expect(
      driver.workers.some((w) => w.outcomes.some((o) => o.kind === 'averaged' && o.maxStaleness > 0)),
    ).toBe(true)
  })

  it('converges to the optimum of the average objective', () => {
    const objective = makeQuadratic({ workers: 8, dim: D, seed: 33 })
    const lr = (k: number): number => 0.1 / (1 + k / 50)
    const run = (steps: number) =>
      runWorkers(
        { config: { kind: 'sgp', peers: 1, overlapDelay: 0 }, objective, layout: TEST_LAYOUT, steps, lr },
        8,
      )
    const start = lossGap(objective, new Float32Array(D))
    const early = Math.max(...run(50).workers.map((w) => lossGap(objective, w.params)))
    const late = run(300)
    for (const w of late.workers) {
      expect(lossGap(objective, w.params)).toBeLessThan(0.02 * start)
      expect(lossGap(objective, w.params)).toBeLessThan(early)
    }
    // The de-biased models agree closely (consensus).
    const z0 = late.workers[0]?.params ?? new Float32Array()
    for (const w of late.workers) expect(maxAbsDiff(w.params, z0)).toBeLessThan(0.1)
  })

  it('hides latency with overlap where synchronous SGP waits', () => {
    const objective = makeQuadratic({ workers: 4, dim: D, seed: 34 })
    const ticks = (overlapDelay: number): number =>
      runWorkers(
        {
          config: { kind: 'sgp', peers: 1, overlapDelay },
          objective,
          layout: TEST_LAYOUT,
          steps: 30,
          lr: 0.05,
          latency: () => 2,
        },
        4,
      ).tick
    expect(ticks(0)).toBeGreaterThanOrEqual(30 * 3)
    expect(ticks(3)).toBeLessThan(30 + 10)
  })

  it('hands its mass over when a worker leaves gracefully, so total mass and weight stay conserved', () => {
    const objective = makeQuadratic({ workers: 4, dim: D, seed: 35 })
    const { driver, checks } = runCheckingMass(
      {
        config: { kind: 'sgp', peers: 1, overlapDelay: 0, peerLoss: 'keep-mass' },
        objective,
        layout: TEST_LAYOUT,
        steps: 40,
        lr: 0.05,
        init: randomInit,
        leave: { worker: 0, step: 10 },
      },
      4,
      4,
    )
    expect(checks).toBeGreaterThan(30)
    expect(driver.lost).toHaveLength(0)
    expect(driver.workers[0]?.phase).toBe('gone')
  })

  it.each([
    ['renormalise', 'ERR_TIMEOUT', 20],
    ['keep-mass', 'ERR_TIMEOUT', 20],
    ['renormalise', 'ERR_PEER_TIMEOUT', 0],
  ] as const)(
    'keeps the de-biased models sane when a peer crashes (%s, reported as %s)',
    (peerLoss, reason, detectedAfterTicks) => {
      const objective = makeQuadratic({ workers: 4, dim: D, seed: 36 })
      const survivors = makeQuadratic({ workers: 3, dim: D, seed: 36 })
      const lr = (k: number): number => 0.1 / (1 + k / 50)
      const run = runWorkers(
        {
          config: { kind: 'sgp', peers: 1, overlapDelay: 0, peerLoss },
          objective,
          layout: TEST_LAYOUT,
          steps: 300,
          lr,
          init: randomInit,
          crash: { worker: 3, step: 10, detectedAfterTicks },
          deadlineTicks: 3,
        },
        4,
      )
      const start = lossGap(survivors, new Float32Array(D))
      for (const w of run.live()) {
        expect(w.params.every(Number.isFinite)).toBe(true)
        expect(lossGap(survivors, w.params)).toBeLessThan(0.02 * start)
      }
      // Worker 0's in-peer at step 10 is the crashed worker 3: that step is reported, not thrown.
      expect(run.workers[0]?.outcomes.find((o) => o.round === 10)).toEqual({
        kind: 'local-only',
        messageKind: 'push-sum',
        round: 10,
        reason,
      })
      const total = run
        .live()
        .reduce((sum, w) => sum + (w.algo instanceof Sgp ? w.algo.pushSumWeight : NaN), 0)
      if (peerLoss === 'renormalise') expect(total).toBeCloseTo(3, 9)
      else expect(total).toBeLessThan(4 - 0.1)
    },
  )
})
