/**
 * The comparison every GPU route must pass: the same model, the same starting parameters, the same
 * batches and plain SGD on the route and on the in-process `cpu` backend; then the losses of every
 * step and the final flat parameters must agree within a float32 tolerance, while the parameters
 * have moved far more than that tolerance (so agreement is not two untouched copies).
 *
 * Why SGD: Adam's update is about lr * sign(g) where a gradient is near zero, so rounding-level
 * differences between backends flip whole updates; SGD keeps differences proportional to rounding.
 */
import type { AsyncTrainer } from '../../../core/browser/async-trainer.ts'
import { generateShapes } from '../../../core/data/shapes.ts'
import { openRouteTrainer } from '../../../core/platform/backends.node.ts'
import type { RouteTrainerSpec } from '../../../core/platform/backends.node.ts'
import type { EvaluationResult, LabelledSplit } from '../../../core/training/trainer.ts'

/** Largest accepted |loss(route) - loss(cpu)| per step. Observed on WebGL/SwiftShader: 2.4e-7. */
export const LOSS_TOLERANCE = 1e-5
/** Largest accepted |param(route) - param(cpu)| after the steps. Observed on WebGL/SwiftShader: 3e-8. */
export const PARAM_TOLERANCE = 1e-5
/**
 * Largest accepted |gradient(route) - gradient(cpu)| per element for one batch at the trained
 * parameters, and |evaluation loss difference| on the test split. Observed: see docs/gpu-routes.md.
 */
export const GRADIENT_TOLERANCE = 1e-5
/** The parameters must move at least this much, 100x the tolerance, for the comparison to mean anything. */
export const MIN_MOVEMENT = 100 * PARAM_TOLERANCE

export interface ComparisonCase {
  readonly model: 'mlp' | 'cnn'
  /** Image side: the CNN uses small images so the cpu reference stays quick. */
  readonly size: number
  readonly steps: number
  readonly batchSize: number
}

export const MLP_CASE: ComparisonCase = { model: 'mlp', size: 28, steps: 8, batchSize: 16 }
export const CNN_CASE: ComparisonCase = { model: 'cnn', size: 12, steps: 4, batchSize: 8 }

/** The fixed seed of the `shapes` data every comparison trains on. */
export const COMPARISON_SEED = 7

export interface Comparison {
  readonly route: string
  readonly description: string
  readonly steps: number
  readonly maxLossDiff: number
  readonly maxParamDiff: number
  /** Largest parameter change of the cpu reference over the steps. */
  readonly movement: number
  readonly routeLosses: Float32Array
  readonly cpuLosses: Float32Array
  /** computeGradients of the first batch after the steps: max element difference, and the gradient's max. */
  readonly maxGradientDiff: number
  readonly maxGradient: number
  /** evaluate() on the test split after the steps. */
  readonly evalLossDiff: number
  readonly evalAccuracyDiff: number
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`)
  let max = 0
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs((a[i] ?? 0) - (b[i] ?? 0)))
  return max
}

interface Trained {
  readonly losses: Float32Array
  readonly params: Float32Array
  readonly gradient: Float32Array
  readonly evaluation: EvaluationResult
}

/** Steps, then reads the parameters, one batch's gradient and the test evaluation: every read path. */
async function train(
  trainer: AsyncTrainer,
  start: Float32Array,
  data: { train: LabelledSplit; test: LabelledSplit },
  batchSize: number,
): Promise<Trained> {
  try {
    await trainer.writeParams(start)
    const losses = await trainer.trainSteps(data.train.x, data.train.y, batchSize)
    const params = await trainer.readParams()
    const gradient = new Float32Array(trainer.totalSize)
    const exampleSize = data.train.x.length / data.train.count
    await trainer.computeGradients(
      data.train.x.subarray(0, batchSize * exampleSize),
      data.train.y.subarray(0, batchSize),
      gradient,
    )
    const evaluation = await trainer.evaluate(data.test)
    return { losses, params, gradient, evaluation }
  } finally {
    await trainer.close()
  }
}

/** Trains `testCase` on `route` and on cpu from the same start; returns the differences. */
export async function compareWithCpu(route: string, testCase: ComparisonCase): Promise<Comparison> {
  const count = testCase.steps * testCase.batchSize
  const data = generateShapes({ count, testCount: 32, seed: COMPARISON_SEED, size: testCase.size })
  const spec: RouteTrainerSpec = {
    model: testCase.model,
    inputShape: [testCase.size, testCase.size, 1],
    classCount: 10,
    optimizer: { kind: 'sgd', learningRate: 0.05 },
  }
  const cpu = await openRouteTrainer('cpu', spec)
  // The cpu model's random initial weights are the shared start.
  const start = await cpu.trainer.readParams()
  const reference = await train(cpu.trainer, start, data, testCase.batchSize)
  const opened = await openRouteTrainer(route, spec)
  const description = opened.trainer.description
  const result = await train(opened.trainer, start, data, testCase.batchSize)
  return {
    route,
    description,
    steps: result.losses.length,
    maxLossDiff: maxAbsDiff(result.losses, reference.losses),
    maxParamDiff: maxAbsDiff(result.params, reference.params),
    movement: maxAbsDiff(reference.params, start),
    routeLosses: result.losses,
    cpuLosses: reference.losses,
    maxGradientDiff: maxAbsDiff(result.gradient, reference.gradient),
    maxGradient: maxAbsDiff(reference.gradient, new Float32Array(reference.gradient.length)),
    evalLossDiff: Math.abs(result.evaluation.loss - reference.evaluation.loss),
    evalAccuracyDiff: Math.abs(result.evaluation.accuracy - reference.evaluation.accuracy),
  }
}
