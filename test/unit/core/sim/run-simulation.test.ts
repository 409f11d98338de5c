import '@tensorflow/tfjs-backend-cpu'
import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import type { AlgorithmConfig } from '../../../../core/algorithms/config.ts'
import { generateShapes } from '../../../../core/data/shapes.ts'
import { resolveNetwork } from '../../../../core/sim/network.ts'
import { partitionShards, runSimulation, type SimRunOptions } from '../../../../core/sim/run-simulation.ts'
import { MODEL_ZOO } from '../../../../core/tensor/models.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

// 384 training images of 8x8: a few hundred samples, as small as a real run gets.
const dataset = generateShapes({ count: 384, testCount: 96, size: 8, seed: 2 })

function options(algorithm: AlgorithmConfig, extra: Partial<SimRunOptions> = {}): SimRunOptions {
  return {
    dataset,
    model: MODEL_ZOO['mlp']!,
    workers: 4,
    algorithm,
    steps: 4,
    batchSize: 16,
    optimizer: { kind: 'momentum', learningRate: 0.05 },
    partition: { kind: 'iid' },
    seed: 11,
    networks: [resolveNetwork('wan'), resolveNetwork('lan'), resolveNetwork('intercontinental')],
    evalEvery: 2,
    ...extra,
  }
}

describe('runSimulation', () => {
  it('gives the identical summary for the same seed on real tfjs training', () => {
    const a = runSimulation(options({ kind: 'olco3', H: 2, staleness: 1, compressor: 'topk:0.05' }))
    const b = runSimulation(options({ kind: 'olco3', H: 2, staleness: 1, compressor: 'topk:0.05' }))
    const summary = (r: typeof a): string =>
      JSON.stringify({
        networks: r.networks,
        bytes: r.live.bytesSent,
        rounds: r.live.rounds,
        samples: r.samples,
      })
    expect(summary(b)).toBe(summary(a))
    expect(a.samples).toBe(4 * 4 * 16)
    expect(a.live.final?.accuracy).toBeGreaterThanOrEqual(0)
    expect(a.live.final?.accuracy).toBeLessThanOrEqual(1)
  })

  it('frees its models whatever the number of steps', () => {
    const algorithm: AlgorithmConfig = { kind: 'local', H: 2 }
    const lan = [resolveNetwork('lan')]
    const t0 = tf.memory().numTensors
    runSimulation(options(algorithm, { networks: lan, steps: 2 }))
    const t1 = tf.memory().numTensors
    runSimulation(options(algorithm, { networks: lan, steps: 8 }))
    const t2 = tf.memory().numTensors
    // tfjs's momentum optimizer keeps one scalar after dispose(): at most one per Trainer
    // (4 workers + the evaluator), and never more for a longer run.
    expect(t1 - t0).toBeLessThanOrEqual(5)
    expect(t2 - t1).toBe(t1 - t0)
  })

  it('replays the other networks from one training run when the algorithm allows it', () => {
    const r = runSimulation(options({ kind: 'sync' }))
    expect(r.networks.map((n) => [n.network, n.method])).toEqual([
      ['wan', 'live'],
      ['lan', 'replay'],
      ['intercontinental', 'replay'],
    ])
    const [wan, lan, inter] = r.networks
    expect(lan!.simulatedMs).toBeLessThan(wan!.simulatedMs)
    expect(inter!.simulatedMs).toBeGreaterThan(wan!.simulatedMs)
    expect(lan!.final).toEqual(wan!.final)
    expect(lan!.checkpoints.map((c) => c.step)).toEqual([2, 4])
    expect(lan!.checkpoints.every((c, i) => c.timeMs < wan!.checkpoints[i]!.timeMs)).toBe(true)
  })

  it('trains again for each network when the arithmetic depends on timing', () => {
    const r = runSimulation(
      options(
        { kind: 'sgp', peers: 1, overlapDelay: 2 },
        { networks: [resolveNetwork('wan'), resolveNetwork('lan')] },
      ),
    )
    expect(r.live.replayable.ok).toBe(false)
    expect(r.networks.map((n) => n.method)).toEqual(['live', 'live'])
  })

  it('changes the result with the seed', () => {
    const a = runSimulation(options({ kind: 'local', H: 2 }, { networks: [resolveNetwork('lan')] }))
    const b = runSimulation(options({ kind: 'local', H: 2 }, { networks: [resolveNetwork('lan')], seed: 12 }))
    expect(b.live.final?.loss).not.toBe(a.live.final?.loss)
  })
})

describe('partitionShards', () => {
  it('gives every training sample to exactly one worker', () => {
    for (const partition of [{ kind: 'iid' } as const, { kind: 'dirichlet', alpha: 0.3 } as const]) {
      const shards = partitionShards(dataset.train, 4, partition, 3, 16)
      expect(shards.reduce((a, s) => a + s.count, 0)).toBe(dataset.train.count)
      for (const s of shards) expect(s.count).toBeGreaterThanOrEqual(16)
    }
  })

  it('skews class histograms with a small Dirichlet alpha', () => {
    const iid = partitionShards(dataset.train, 4, { kind: 'iid' }, 3, 16)
    const skewed = partitionShards(dataset.train, 4, { kind: 'dirichlet', alpha: 0.1 }, 3, 16)
    const maxShare = (shard: { y: Int32Array; count: number }): number => {
      const counts = new Map<number, number>()
      for (const y of shard.y) counts.set(y, (counts.get(y) ?? 0) + 1)
      return Math.max(...counts.values()) / shard.count
    }
    const iidMax = Math.max(...iid.map(maxShare))
    const skewedMax = Math.max(...skewed.map(maxShare))
    expect(skewedMax).toBeGreaterThan(iidMax + 0.2)
  })
})
