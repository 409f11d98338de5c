import { describe, expect, it } from 'vitest'
import type { AlgorithmConfig } from '../../../../core/algorithms/config.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { NetworkModel, resolveNetwork, type NetworkSpec } from '../../../../core/sim/network.ts'
import { simulate, type SimulationOptions, type SimulationResult } from '../../../../core/sim/simulator.ts'
import { replayTrace } from '../../../../core/sim/trace.ts'
import { QuadraticWorkers, testLayout } from './helpers.ts'

const SIZE = 1000
const CLEAN: NetworkSpec = { name: 'clean', link: { rttMs: 40, jitterMs: 0, bandwidthMbit: 8, loss: 0 } }
const NOISY: NetworkSpec = {
  name: 'noisy',
  link: { rttMs: 120, jitterMs: 15, bandwidthMbit: 2, loss: 0.05 },
  chunkBytes: 512,
}

function run(overrides: Partial<SimulationOptions> & { algorithm: AlgorithmConfig }): {
  result: SimulationResult
  compute: QuadraticWorkers
} {
  const workers = overrides.workers ?? 4
  const compute = new QuadraticWorkers(workers, SIZE)
  const result = simulate({
    workers,
    steps: 12,
    layout: testLayout(SIZE),
    initialParams: new Float32Array(SIZE),
    compute,
    evaluator: compute,
    network: CLEAN,
    seed: 3,
    stepMs: 50,
    evalEvery: 4,
    ...overrides,
  })
  return { result, compute }
}

/** Payload bytes of one uncompressed message (header + float32 values), read from the trace. */
function firstPayloadBytes(result: SimulationResult): number {
  for (const op of result.trace.ops[0]!)
    if (op.op === 'send' && op.messages[0] !== undefined) return op.messages[0].bytes
  throw new Error('no message in the trace')
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return isCoreError(error) ? error.code : 'not a CoreError'
  }
  return undefined
}

describe('Simulation', () => {
  it('runs sync to the end with every worker on the same averaged model', () => {
    const { result, compute } = run({ algorithm: { kind: 'sync' } })
    expect(result.workerSteps).toEqual([12, 12, 12, 12])
    expect(result.rounds).toBe(12)
    expect(result.checkpoints.map((c) => c.step)).toEqual([4, 8, 12])
    expect(result.checkpoints.every((c) => c.workers === 4)).toBe(true)
    expect(result.localOnlyRounds).toBe(0)
    expect(result.rejected).toEqual({})
    // Sync SGD on a quadratic converges towards the global optimum.
    const losses = result.checkpoints.map((c) => c.loss)
    expect(losses[2]!).toBeLessThan(losses[0]!)
    expect(compute.calls.filter((c) => c.kind === 'gradient')).toHaveLength(48)
    expect(compute.calls.filter((c) => c.kind === 'apply')).toHaveLength(48)
  })

  it('takes steps x (compute + ring all-reduce) for sync on a clean network', () => {
    const { result } = run({ algorithm: { kind: 'sync' } })
    const bytes = firstPayloadBytes(result)
    expect(bytes).toBeGreaterThanOrEqual(4 * SIZE)
    const ring = 2 * 3 * (NetworkModel.serialiseMs(bytes / 4, 8) + 20)
    expect(result.simulatedMs).toBeCloseTo(12 * (50 + ring), 6)
    expect(result.bytesPerWorker).toBeCloseTo(12 * ((2 * 3) / 4) * bytes, 6)
  })

  it('waits for the straggler at every sync step', () => {
    const { result } = run({ algorithm: { kind: 'sync' }, slowdown: [1, 3, 1, 1] })
    const bytes = firstPayloadBytes(result)
    const ring = 2 * 3 * (NetworkModel.serialiseMs(bytes / 4, 8) + 20)
    expect(result.simulatedMs).toBeCloseTo(12 * (150 + ring), 6)
  })

  it('hides communication behind H*s steps of compute for olco3', () => {
    const fast: NetworkSpec = {
      name: 'fast',
      link: { rttMs: 100, jitterMs: 0, bandwidthMbit: 1000, loss: 0 },
    }
    const olco3 = run({
      algorithm: { kind: 'olco3', H: 2, staleness: 2, compressor: 'topk:0.1' },
      network: fast,
    }).result
    const local = run({ algorithm: { kind: 'local', H: 2 }, network: fast }).result
    // One message takes ~50 ms; OLCO3 has 2 rounds x 2 steps x 50 ms to hide it, Local SGD blocks.
    expect(olco3.simulatedMs).toBeCloseTo(12 * 50, 6)
    expect(local.simulatedMs).toBeGreaterThan(12 * 50 + 6 * 100)
    expect(olco3.rounds).toBe(6)
  })

  it('runs a straggler-bound olco3 at the straggler pace, with fast workers at most s rounds ahead', () => {
    const { result } = run({
      algorithm: { kind: 'olco3', H: 2, staleness: 1, compressor: 'topk:0.1' },
      slowdown: [1, 1, 4, 1],
    })
    expect(result.simulatedMs).toBeGreaterThanOrEqual(12 * 200)
    expect(result.simulatedMs).toBeLessThan(12 * 200 + 1000)
  })

  it('sends one compressed copy per peer per round for olco3', () => {
    const { result } = run({ algorithm: { kind: 'olco3', H: 3, staleness: 1, compressor: 'topk:0.1' } })
    // Top-k payloads vary in size (LEB128 index gaps): 12 + 4k + 1 to 2 bytes per gap here.
    const perWorker = result.trace.ops.map((ops) =>
      ops.flatMap((op) =>
        op.op === 'send' ? op.messages : op.op === 'wait' ? op.calls.flatMap((c) => c.sends) : [],
      ),
    )
    for (const messages of perWorker) {
      expect(messages.map((m) => m.to.length)).toEqual([3, 3, 3, 3])
      for (const m of messages) expect(m.bytes).toBeGreaterThanOrEqual(12 + 5 * 100)
      for (const m of messages) expect(m.bytes).toBeLessThanOrEqual(12 + 6 * 100 + 3)
    }
    const sent = perWorker.flat().reduce((sum, m) => sum + m.bytes * m.to.length, 0)
    expect(result.bytesPerWorker).toBe(sent / 4)
  })

  it('gives the identical result for the same seed and options', () => {
    const config: AlgorithmConfig = { kind: 'olco3', H: 2, staleness: 1, compressor: 'topk:0.2' }
    const a = run({ algorithm: config, network: NOISY, slowdown: [1, 2, 1, 1] }).result
    const b = run({ algorithm: config, network: NOISY, slowdown: [1, 2, 1, 1] }).result
    expect(JSON.stringify(b)).toBe(JSON.stringify(a))
    expect(a.lostChunks).toBeGreaterThan(0)
    const c = run({ algorithm: config, network: NOISY, slowdown: [1, 2, 1, 1], seed: 4 }).result
    expect(c.simulatedMs).not.toBe(a.simulatedMs)
  })

  it('reports progress up to every step of every worker', () => {
    const seen: number[] = []
    run({ algorithm: { kind: 'local', H: 3 }, onProgress: (p) => seen.push(p.stepsDone) })
    expect(seen).toHaveLength(48)
    expect(seen.at(-1)).toBe(48)
    expect(seen.every((v, i) => i === 0 || v > seen[i - 1]!)).toBe(true)
  })

  it('averages the workers models at each checkpoint', () => {
    const { result, compute } = run({ algorithm: { kind: 'local', H: 4 }, steps: 4, evalEvery: 0 })
    expect(result.checkpoints.map((c) => c.step)).toEqual([4])
    // After a Local SGD round every worker holds the average, so the checkpoint is that model.
    expect(compute.evaluated).toHaveLength(1)
    expect(result.final?.loss).toBeCloseTo(result.checkpoints[0]!.loss, 12)
  })

  it('uses measured compute time times the slowdown with a measure clock', () => {
    let t = 0
    const clock = (): number => {
      t += 3.5
      return t
    }
    const { result } = run({
      algorithm: { kind: 'olco3', H: 2, staleness: 3, compressor: 'topk:0.1' },
      measureClock: clock,
      network: resolveNetwork('lan'),
      slowdown: [2, 2, 2, 2],
    })
    // Each step reads the clock twice (3.5 ms apart), times 2.
    const computeOps = result.trace.ops[0]!.filter((op) => op.op === 'compute')
    expect(computeOps.every((op) => op.op === 'compute' && op.ms === 7)).toBe(true)
  })

  it('rejects invalid options with ERR_INVALID_ARGUMENT', () => {
    expect(codeOf(() => run({ algorithm: { kind: 'sync' }, steps: 0 }))).toBe('ERR_INVALID_ARGUMENT')
    expect(codeOf(() => run({ algorithm: { kind: 'sync' }, stepMs: 0 }))).toBe('ERR_INVALID_ARGUMENT')
    expect(codeOf(() => run({ algorithm: { kind: 'sync' }, slowdown: [1, 0] }))).toBe('ERR_INVALID_ARGUMENT')
    expect(
      codeOf(() =>
        run({ algorithm: { kind: 'sync' }, joins: [0, 1, 2, 3].map((worker) => ({ worker, atMs: 5 })) }),
      ),
    ).toBe('ERR_INVALID_ARGUMENT')
    expect(codeOf(() => run({ algorithm: { kind: 'sync' }, leaves: [{ worker: 9, atMs: 1 }] }))).toBe(
      'ERR_INVALID_ARGUMENT',
    )
  })
})

const TIMING_INDEPENDENT: ReadonlyArray<readonly [string, AlgorithmConfig]> = [
  ['sync', { kind: 'sync' }],
  ['sync topk', { kind: 'sync', compressor: 'topk:0.2' }],
  ['local', { kind: 'local', H: 3 }],
  ['olco3', { kind: 'olco3', H: 2, staleness: 2, compressor: 'topk:0.1' }],
  ['slowmo(local)', { kind: 'slowmo', base: { kind: 'local', H: 2 }, alpha: 1, beta: 0.5, tau: 4 }],
  [
    'slowmo(olco3)',
    {
      kind: 'slowmo',
      base: { kind: 'olco3', H: 2, staleness: 1, compressor: 'sign' },
      alpha: 1,
      beta: 0.5,
      tau: 6,
    },
  ],
  ['sgp', { kind: 'sgp', peers: 1, overlapDelay: 0 }],
  ['sgp 2-peer overlap fixed-delay', { kind: 'sgp', peers: 2, overlapDelay: 2 }],
]

describe.each(TIMING_INDEPENDENT)('replaying a %s trace', (_name, algorithm) => {
  it('gives the times of a live run on the other network', () => {
    const options = { algorithm, sgpDelivery: 'fixed-delay' as const, slowdown: [1, 1.5, 1, 1] }
    const onClean = run({ ...options, network: CLEAN }).result
    const onNoisy = run({ ...options, network: NOISY }).result
    expect(onClean.replayable).toEqual({ ok: true })
    expect(onNoisy.replayable).toEqual({ ok: true })
    // Same arithmetic on both networks ...
    expect(onNoisy.checkpoints.map((c) => c.loss)).toEqual(onClean.checkpoints.map((c) => c.loss))
    expect(onNoisy.bytesPerWorker).toBe(onClean.bytesPerWorker)
    // ... and the replay of one network's trace reproduces the other's live times exactly.
    const replayed = replayTrace(onClean.trace, NOISY)
    expect(replayed.simulatedMs).toBe(onNoisy.simulatedMs)
    for (const c of onNoisy.checkpoints) expect(replayed.checkpointMs.get(c.step)).toBe(c.timeMs)
    expect(onNoisy.simulatedMs).toBeGreaterThanOrEqual(onClean.simulatedMs)
  })
})

describe('SGP delivery', () => {
  const sgp: AlgorithmConfig = { kind: 'sgp', peers: 1, overlapDelay: 2 }
  const lan = resolveNetwork('lan')
  const wan = resolveNetwork('wan')

  it('makes overlap SGP depend on the network when shares are mixed on arrival', () => {
    const a = run({ algorithm: sgp, network: lan }).result
    const b = run({ algorithm: sgp, network: wan }).result
    expect(a.replayable.ok).toBe(false)
    expect(a.final?.loss).not.toBe(b.final?.loss)
  })

  it('makes overlap SGP the same on every network with fixed-delay delivery', () => {
    const a = run({ algorithm: sgp, network: lan, sgpDelivery: 'fixed-delay' }).result
    const b = run({ algorithm: sgp, network: NOISY, sgpDelivery: 'fixed-delay' }).result
    expect(a.replayable).toEqual({ ok: true })
    expect(a.final?.loss).toBe(b.final?.loss)
    expect(b.simulatedMs).toBeGreaterThan(a.simulatedMs)
  })
})

describe('membership', () => {
  it('lets a worker leave at its next step boundary while the others finish', () => {
    const { result } = run({ algorithm: { kind: 'local', H: 2 }, leaves: [{ worker: 2, atMs: 300 }] })
    expect(result.workerSteps[2]).toBeGreaterThan(0)
    expect(result.workerSteps[2]).toBeLessThan(12)
    expect([0, 1, 3].map((w) => result.workerSteps[w])).toEqual([12, 12, 12])
    const last = result.checkpoints.at(-1)!
    expect(last.step).toBe(12)
    expect(last.workers).toBe(3)
    expect(result.replayable.ok).toBe(false)
  })

  it('hands a leaving SGP worker mass to a peer', () => {
    const { result } = run({
      algorithm: { kind: 'sgp', peers: 1, overlapDelay: 0 },
      leaves: [{ worker: 1, atMs: 200 }],
    })
    const handOvers = result.trace.ops[1]!.flatMap((op) => (op.op === 'send' ? op.messages : [])).filter(
      (m) => m.key.startsWith('hand-over'),
    )
    expect(handOvers).toHaveLength(1)
    expect(result.workerSteps.filter((s) => s === 12)).toHaveLength(3)
    expect(Number.isFinite(result.final?.loss)).toBe(true)
  })

  it('catches a late joiner up from a peer at a round boundary', () => {
    const { result } = run({
      algorithm: { kind: 'local', H: 4 },
      joins: [{ worker: 3, atMs: 100 }],
      steps: 16,
    })
    const joinerSteps = result.workerSteps[3]!
    expect(joinerSteps).toBe(16)
    const firstCompute = result.trace.ops[3]!.findIndex((op) => op.op === 'compute')
    expect(firstCompute).toBe(0)
    const joinerComputes = result.trace.ops[3]!.filter((op) => op.op === 'compute').length
    expect(joinerComputes % 4).toBe(0)
    expect(joinerComputes).toBeLessThan(16)
    // Checkpoints before the join average 3 models, the last one 4.
    expect(result.checkpoints[0]!.workers).toBe(3)
    expect(result.checkpoints.at(-1)!.workers).toBe(4)
    // The source paid for the catch-up transfer (a full model at least).
    const sent = result.bytesSent.slice(0, 3)
    expect(Math.max(...sent) - Math.min(...sent)).toBeGreaterThan(4 * SIZE)
    expect(result.rejected).toEqual({})
  })

  it('catches a late olco3 joiner up without stalling its peers', () => {
    const { result } = run({
      algorithm: { kind: 'olco3', H: 2, staleness: 2, compressor: 'topk:0.1' },
      joins: [{ worker: 1, atMs: 250 }],
      network: resolveNetwork('wan'),
    })
    expect(result.workerSteps).toEqual([12, 12, 12, 12])
    expect(result.checkpoints.at(-1)!.workers).toBe(4)
  })

  it('turns waits past the deadline into local-only rounds', () => {
    const slow: NetworkSpec = { name: 'slow', link: { rttMs: 400, jitterMs: 0, bandwidthMbit: 1, loss: 0 } }
    const { result } = run({ algorithm: { kind: 'local', H: 2 }, network: slow, deadlineMs: 5, steps: 60 })
    expect(result.localOnlyRounds).toBeGreaterThan(0)
    expect(result.rejected['ERR_LATE_MESSAGE'] ?? 0).toBeGreaterThan(0)
    expect(result.replayable.ok).toBe(false)
    expect(result.simulatedMs).toBeLessThan(60 * 50 + 30 * 10)
  })
})
