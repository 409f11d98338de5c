import { describe, expect, it } from 'vitest'
import { createAlgorithm } from '../../../../core/algorithms/registry.ts'
import { isAlgorithmState, type AlgorithmState } from '../../../../core/algorithms/state.ts'
import { ALL_CONFIGS } from './helpers/configs.ts'
import { InProcessDriver, runWorkers, startedAlgorithm } from './helpers/driver.ts'
import { coreErrorCode } from './helpers/errors.ts'
import { makeQuadratic, TEST_LAYOUT } from './helpers/objective.ts'

const D = TEST_LAYOUT.totalSize
const N = 3

/** What a checkpoint file would hold: data through JSON, arrays copied. */
function throughDisk(state: AlgorithmState): AlgorithmState {
  const data: unknown = JSON.parse(JSON.stringify(state.data))
  const children = Object.fromEntries(Object.entries(state.children).map(([k, c]) => [k, throughDisk(c)]))
  const copy: unknown = {
    ...state,
    data,
    vectors: Object.fromEntries(Object.entries(state.vectors).map(([k, v]) => [k, v.slice()])),
    bytes: Object.fromEntries(Object.entries(state.bytes).map(([k, v]) => [k, v.slice()])),
    children,
  }
  if (!isAlgorithmState(copy)) throw new Error('state did not survive the round trip')
  return copy
}

function expectCoreError(fn: () => unknown, code: string): void {
  expect(coreErrorCode(fn)).toBe(code)
}

describe('exportState / importState', () => {
  it.each(ALL_CONFIGS)('continues bit for bit after a checkpoint round trip (%s)', (_name, config) => {
    const objective = makeQuadratic({ workers: N, dim: D, seed: 51, noise: 0.1 })
    const common = { config, objective, layout: TEST_LAYOUT, lr: 0.05, momentum: 0.5 }
    const straight = runWorkers({ ...common, steps: 22 }, N)
    const first = runWorkers({ ...common, steps: 9 }, N)
    const resumed = new InProcessDriver(
      {
        ...common,
        steps: 22,
        resume: {
          states: first.workers.map((w) => throughDisk(w.algo.exportState())),
          params: first.workers.map((w) => w.params),
          velocity: first.workers.map((w) => w.velocity),
          step: 9,
          inFlight: first.inFlight,
        },
      },
      N,
    ).run()
    for (let i = 0; i < N; i++) {
      expect(Array.from(resumed.workers[i]?.params ?? [])).toEqual(
        Array.from(straight.workers[i]?.params ?? []),
      )
      expect(resumed.workers[i]?.algo.step).toBe(22)
    }
  })

  it.each(ALL_CONFIGS)('lets a late joiner catch up from a peer and train on (%s)', (_name, config) => {
    const objective = makeQuadratic({ workers: N, dim: D, seed: 52 })
    const run = runWorkers(
      {
        config,
        objective,
        layout: TEST_LAYOUT,
        steps: 24,
        lr: 0.05,
        join: { worker: 2, from: 0, atStep: 8 },
      },
      N,
    )
    const joiner = run.workers[2]
    expect(joiner?.step).toBe(24)
    expect(joiner?.params.every(Number.isFinite)).toBe(true)
    const rounds = joiner?.outcomes.filter((o) => o.kind === 'averaged').length ?? 0
    expect(rounds).toBeGreaterThan(0)
    // Exact-averaging algorithms hold one common model again after the joiner's first rounds.
    if (config.kind === 'sync' || config.kind === 'local' || config.kind === 'diloco') {
      expect(Array.from(joiner?.params ?? [])).toEqual(Array.from(run.workers[0]?.params ?? []))
    }
  })

  it('rejects a state of another worker, layout or algorithm with ERR_BAD_CHECKPOINT', () => {
    const deps = { layout: TEST_LAYOUT, workerIndex: 0, workerCount: N, seed: 1 }
    const source = startedAlgorithm({ kind: 'local', H: 2 }, deps)
    const state = source.exportState()
    const other = createAlgorithm({ kind: 'local', H: 2 }, { ...deps, workerIndex: 1 })
    expectCoreError(() => other.importState(state), 'ERR_BAD_CHECKPOINT')
    const olco3 = createAlgorithm({ kind: 'olco3', H: 2, staleness: 1, compressor: 'none' }, deps)
    expectCoreError(() => olco3.importState(state), 'ERR_BAD_CHECKPOINT')
    const fresh = createAlgorithm({ kind: 'local', H: 2 }, deps)
    expectCoreError(
      () => fresh.importState({ ...state, layoutFingerprint: '0000000000000000' }),
      'ERR_BAD_CHECKPOINT',
    )
    expectCoreError(
      () =>
        fresh.importState({ ...state, vectors: { ...state.vectors, roundStart: new Float32Array(D - 1) } }),
      'ERR_BAD_CHECKPOINT',
    )
    const residual = new Float32Array(D)
    residual[3] = Number.NaN
    const compressed = startedAlgorithm({ kind: 'local', H: 2, compressor: 'topk:0.3' }, deps)
    const good = compressed.exportState()
    const target = createAlgorithm({ kind: 'local', H: 2, compressor: 'topk:0.3' }, deps)
    expectCoreError(
      () => target.importState({ ...good, vectors: { ...good.vectors, residual } }),
      'ERR_BAD_CHECKPOINT',
    )
    expectCoreError(
      () => target.importState({ ...good, data: { ...good.data, step: -4 } }),
      'ERR_BAD_CHECKPOINT',
    )
  })

  it('recognises only well-formed states', () => {
    const algo = startedAlgorithm(
      { kind: 'sgp', peers: 1, overlapDelay: 0 },
      { layout: TEST_LAYOUT, workerIndex: 0, workerCount: 2, seed: 1 },
    )
    const state = algo.exportState()
    expect(isAlgorithmState(state)).toBe(true)
    expect(isAlgorithmState({ ...state, vectors: { x: [1, 2, 3] } })).toBe(false)
    expect(isAlgorithmState({ ...state, data: { weight: Number.NaN } })).toBe(false)
    expect(isAlgorithmState({ ...state, version: '1' })).toBe(false)
    expect(isAlgorithmState(null)).toBe(false)
  })
})
