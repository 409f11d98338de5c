/**
 * `runSimulation`: one simulated training run on a real dataset and model, timed under one or
 * more networks. The caller chooses and starts the tensor backend and loads the dataset (the
 * CLI and the benchmark do it in Node); everything here is runtime-agnostic.
 *
 * The first network is simulated live. Every further network is obtained by replaying the
 * live run's trace (trace.ts) when the run allows it (`SimulationResult.replayable`): same
 * arithmetic, same accuracy and bytes, only the times differ. Otherwise the whole run is
 * simulated again under that network, and its own accuracy is reported.
 */
import type { AlgorithmConfig } from '../algorithms/config.ts'
import type { Dataset, Split } from '../data/dataset.ts'
import { partitionDirichlet, partitionIid, subsetSplit } from '../data/partition.ts'
import { CoreError } from '../errors.ts'
import { checkModelFitsData, type ZooModel } from '../tensor/models.ts'
import type { OptimizerConfig } from '../training/trainer.ts'
import { replayTrace } from './trace.ts'
import type { NetworkSpec } from './network.ts'
import { withSeededMathRandom } from './seeded-init.ts'
import {
  simulate,
  type MembershipEvent,
  type SgpDelivery,
  type SimCheckpoint,
  type SimulationProgress,
  type SimulationResult,
} from './simulator.ts'
import { TfjsWorkers } from './tfjs-workers.ts'
import type { EvaluationScore } from './worker-compute.ts'

/** How the training set is split across workers (core/data/partition.ts). */
export type PartitionSpec = { readonly kind: 'iid' } | { readonly kind: 'dirichlet'; readonly alpha: number }

/**
 * Virtual compute time of one mlp step with batch 64, calibrated on the wasm backend (SIMD,
 * one thread, tfjs 4.22): 53 ms of CPU time per step measured with process.cpuUsage on the
 * development machine (a shared 2-core VM; about 1,200 examples/s per core). Steps of other
 * batch sizes scale linearly (the step is compute-bound: 26 ms at batch 16, 191 ms at 256).
 * Override with `stepMs` (`--step-ms`) for other models or machines.
 */
export const MLP_BATCH64_STEP_MS = 53

/** The default virtual step time for a batch size (MLP_BATCH64_STEP_MS scaled by batch). */
export function defaultStepMs(batchSize: number): number {
  return (MLP_BATCH64_STEP_MS * batchSize) / 64
}

export interface SimRunOptions {
  readonly dataset: Dataset
  readonly model: ZooModel
  readonly workers: number
  readonly algorithm: AlgorithmConfig
  /** Local steps per worker. */
  readonly steps: number
  readonly batchSize: number
  readonly optimizer: OptimizerConfig
  readonly partition: PartitionSpec
  readonly seed: number
  /** The first is simulated live; the others are replayed or simulated again. */
  readonly networks: readonly NetworkSpec[]
  /** Virtual ms per step at slowdown 1; default `defaultStepMs(batchSize)`. */
  readonly stepMs?: number
  readonly slowdown?: readonly number[]
  readonly measureClock?: () => number
  readonly evalEvery?: number
  /** Score checkpoints on the first n test samples only (quick runs); default all. */
  readonly testSamples?: number
  readonly leaves?: readonly MembershipEvent[]
  readonly joins?: readonly MembershipEvent[]
  readonly deadlineMs?: number
  readonly sgpDelivery?: SgpDelivery
  readonly onProgress?: (progress: SimulationProgress & { readonly network: string }) => void
  readonly onCheckpoint?: (checkpoint: SimCheckpoint & { readonly network: string }) => void
}

/** One network's view of the run. */
export interface NetworkRun {
  readonly network: string
  /** 'live': simulated; 'replay': times from the live run's trace. */
  readonly method: 'live' | 'replay'
  readonly simulatedMs: number
  /** Accuracy and loss of the averaged model, with this network's times. */
  readonly checkpoints: readonly SimCheckpoint[]
  readonly final: EvaluationScore | null
  readonly bytesPerWorker: number
}

export interface SimRunResult {
  /** The live simulation of the first network. */
  readonly live: SimulationResult
  /** One entry per requested network, in order (the first is the live run). */
  readonly networks: readonly NetworkRun[]
  readonly samplesPerWorker: readonly number[]
  readonly paramCount: number
  /** Training samples processed, all workers. */
  readonly samples: number
}

/** Splits the training data into one shard per worker. */
export function partitionShards(
  train: Split,
  workers: number,
  partition: PartitionSpec,
  seed: number,
  batchSize: number,
): Split[] {
  const parts =
    partition.kind === 'iid'
      ? partitionIid(train.y, workers, seed)
      : partitionDirichlet(train.y, workers, partition.alpha, seed, {
          minSamplesPerWorker: Math.min(batchSize, Math.floor(train.count / workers)),
        })
  return parts.map((indices) => subsetSplit(train, indices))
}

function liveRun(
  o: SimRunOptions,
  network: NetworkSpec,
  shards: readonly Split[],
  test: Split,
): { result: SimulationResult; paramCount: number } {
  const shape = { inputShape: o.dataset.manifest.inputShape, classCount: o.dataset.manifest.classes.length }
  const initial = withSeededMathRandom(o.seed, () => o.model.build(shape))
  checkModelFitsData(initial, shape, `model ${o.model.name}`)
  const workers = new TfjsWorkers({
    buildModel: () => o.model.build(shape),
    classCount: shape.classCount,
    optimizer: o.optimizer,
    shards,
    batchSize: o.batchSize,
    seed: o.seed,
    test,
  })
  try {
    const initialParams = workers.readParams(initial)
    initial.dispose()
    const result = simulate({
      algorithm: o.algorithm,
      workers: o.workers,
      steps: o.steps,
      layout: workers.layout,
      initialParams,
      compute: workers,
      evaluator: workers,
      network,
      seed: o.seed,
      stepMs: o.stepMs ?? defaultStepMs(o.batchSize),
      ...(o.slowdown !== undefined ? { slowdown: o.slowdown } : {}),
      ...(o.measureClock !== undefined ? { measureClock: o.measureClock } : {}),
      ...(o.evalEvery !== undefined ? { evalEvery: o.evalEvery } : {}),
      ...(o.leaves !== undefined ? { leaves: o.leaves } : {}),
      ...(o.joins !== undefined ? { joins: o.joins } : {}),
      ...(o.deadlineMs !== undefined ? { deadlineMs: o.deadlineMs } : {}),
      ...(o.sgpDelivery !== undefined ? { sgpDelivery: o.sgpDelivery } : {}),
      onProgress: (p) => o.onProgress?.({ ...p, network: network.name }),
      onCheckpoint: (c) => o.onCheckpoint?.({ ...c, network: network.name }),
    })
    return { result, paramCount: workers.paramCount }
  } finally {
    workers.close()
  }
}

/**
 * Runs the simulation under `networks[0]` and times it under every other network.
 * Throws ERR_INVALID_ARGUMENT for an empty network list or too few samples per worker, and
 * whatever the simulator, the data partitioning or the algorithm config throw.
 */
export function runSimulation(o: SimRunOptions): SimRunResult {
  const first = o.networks[0]
  if (first === undefined) throw new CoreError('ERR_INVALID_ARGUMENT', 'at least one network is needed')
  const shards = partitionShards(o.dataset.train, o.workers, o.partition, o.seed, o.batchSize)
  const testCount = Math.min(o.testSamples ?? o.dataset.test.count, o.dataset.test.count)
  const test =
    testCount === o.dataset.test.count
      ? o.dataset.test
      : subsetSplit(
          o.dataset.test,
          Int32Array.from({ length: testCount }, (_, i) => i),
        )
  const { result: live, paramCount } = liveRun(o, first, shards, test)
  const runs: NetworkRun[] = [
    {
      network: first.name,
      method: 'live',
      simulatedMs: live.simulatedMs,
      checkpoints: live.checkpoints,
      final: live.final,
      bytesPerWorker: live.bytesPerWorker,
    },
  ]
  for (const network of o.networks.slice(1)) {
    if (live.replayable.ok) {
      const replay = replayTrace(live.trace, network)
      runs.push({
        network: network.name,
        method: 'replay',
        simulatedMs: replay.simulatedMs,
        checkpoints: live.checkpoints.map((c) => ({
          ...c,
          timeMs: replay.checkpointMs.get(c.step) ?? Number.NaN,
        })),
        final: live.final,
        bytesPerWorker: live.bytesPerWorker,
      })
    } else {
      const { result } = liveRun(o, network, shards, test)
      runs.push({
        network: network.name,
        method: 'live',
        simulatedMs: result.simulatedMs,
        checkpoints: result.checkpoints,
        final: result.final,
        bytesPerWorker: result.bytesPerWorker,
      })
    }
  }
  const samplesPerWorker = live.workerSteps.map((s) => s * o.batchSize)
  return {
    live,
    networks: runs,
    samplesPerWorker,
    paramCount,
    samples: samplesPerWorker.reduce((a, b) => a + b, 0),
  }
}
