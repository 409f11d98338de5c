/**
 * The trainer as the engine sees it when the trainer may live in another context: every call is
 * asynchronous, vectors go in and come out as Float32Arrays. Two implementations: the local one
 * here (wraps the in-process Trainer) and RemoteTrainer (a browser context through a channel).
 * Both run the same Trainer code; `runTrainSteps`/`runTrainStepsAsync` are the one loop both use.
 *
 * How results are read follows the route (`Readback`): synchronously (dataSync) on backends where
 * that works, which keeps Node's cpu/wasm/tensorflow paths exactly as before, and asynchronously
 * (data()) on 'async-only' backends such as WebGPU, whose synchronous readback returns zeros.
 */
import { CoreError } from '../errors.ts'
import type { Readback } from '../tensor/backend-select.ts'
import type { EvaluationResult, LabelledSplit, OptimizerStateTensor, Trainer } from '../training/trainer.ts'

export interface AsyncTrainer {
  /** Where it runs, for people: "local wasm", "browser webgl (ANGLE ...)". */
  readonly description: string
  /** Flat parameter count (layout.totalSize). */
  readonly totalSize: number
  /** Layout fingerprint: equal in every context that builds the same architecture. */
  readonly fingerprint: string
  /**
   * Consecutive optimizer steps over `y.length` examples split into batches of `batchSize` (the last
   * may be smaller). Returns each step's mean loss.
   */
  trainSteps(x: Float32Array, y: Int32Array, batchSize: number): Promise<Float32Array>
  /** Gradient of one batch into `out`; returns the batch loss. */
  computeGradients(x: Float32Array, y: Int32Array, out: Float32Array): Promise<number>
  applyGradients(gradient: Float32Array): Promise<void>
  /** The current parameters (into `out` when given). */
  readParams(out?: Float32Array): Promise<Float32Array>
  writeParams(values: Float32Array): Promise<void>
  evaluate(split: LabelledSplit, batchSize?: number): Promise<EvaluationResult>
  /** The optimizer's state (Adam moments, iteration count), for checkpoints. */
  exportOptimizerState(): Promise<OptimizerStateTensor[]>
  importOptimizerState(state: readonly OptimizerStateTensor[]): Promise<void>
  /** Frees the trainer's tensors. Safe to call twice. */
  close(): Promise<void>
}

/** Batch size of `evaluate` when none is given (Trainer.evaluate's own default). */
export const DEFAULT_EVALUATE_BATCH = 1000

/** Validates the arguments of a train-steps call and yields each batch's views. */
function* trainBatches(
  trainer: Trainer,
  x: Float32Array,
  y: Int32Array,
  batchSize: number,
): Generator<{ x: Float32Array; y: Int32Array }> {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `batch size must be a positive integer, got ${batchSize}`)
  }
  const exampleSize = trainer.inputShape.reduce((a, b) => a * b, 1)
  if (x.length !== y.length * exampleSize) {
    throw new CoreError(
      'ERR_SHAPE_MISMATCH',
      `${x.length} input values are not ${y.length} examples of ${exampleSize} values each`,
    )
  }
  for (let start = 0; start < y.length; start += batchSize) {
    const end = Math.min(start + batchSize, y.length)
    yield { x: x.subarray(start * exampleSize, end * exampleSize), y: y.subarray(start, end) }
  }
}

/**
 * Runs `trainer.trainStep` over consecutive batches of `x`/`y`; returns the losses.
 *
 * @throws CoreError ERR_INVALID_ARGUMENT for a batch size < 1, ERR_SHAPE_MISMATCH when `x` does not
 *   hold `y.length` whole examples (both before any step).
 */
export function runTrainSteps(
  trainer: Trainer,
  x: Float32Array,
  y: Int32Array,
  batchSize: number,
): Float32Array {
  const batches = [...trainBatches(trainer, x, y, batchSize)]
  return Float32Array.from(batches.map((batch) => trainer.trainStep(batch.x, batch.y)))
}

/** `runTrainSteps` with `trainStepAsync` (same batches, same checks). */
export async function runTrainStepsAsync(
  trainer: Trainer,
  x: Float32Array,
  y: Int32Array,
  batchSize: number,
): Promise<Float32Array> {
  const batches = [...trainBatches(trainer, x, y, batchSize)]
  const losses = new Float32Array(batches.length)
  for (const [step, batch] of batches.entries()) losses[step] = await trainer.trainStepAsync(batch.x, batch.y)
  return losses
}

/**
 * The in-process Trainer behind the AsyncTrainer interface. `readback` is the route's: 'async-only'
 * routes (WebGPU) use the Trainer's async methods, every other route its synchronous ones.
 */
export function localAsyncTrainer(
  trainer: Trainer,
  description = 'local',
  readback: Readback = 'sync',
): AsyncTrainer {
  const run = async <T>(work: () => T | Promise<T>): Promise<T> => work()
  const isAsync = readback === 'async-only'
  return {
    description,
    totalSize: trainer.params.layout.totalSize,
    fingerprint: trainer.params.layout.fingerprint,
    trainSteps: (x, y, batchSize) =>
      run(() =>
        isAsync ? runTrainStepsAsync(trainer, x, y, batchSize) : runTrainSteps(trainer, x, y, batchSize),
      ),
    computeGradients: (x, y, out) =>
      run(() => (isAsync ? trainer.computeGradientsAsync(x, y, out) : trainer.computeGradients(x, y, out))),
    applyGradients: (gradient) => run(() => trainer.applyGradients(gradient)),
    readParams: (out) => run(() => (isAsync ? trainer.params.readAsync(out) : trainer.params.read(out))),
    writeParams: (values) => run(() => trainer.params.write(values)),
    evaluate: (split, batchSize) =>
      run(() =>
        isAsync
          ? trainer.evaluateAsync(split, batchSize ?? DEFAULT_EVALUATE_BATCH)
          : trainer.evaluate(split, batchSize ?? DEFAULT_EVALUATE_BATCH),
      ),
    exportOptimizerState: () => run(() => trainer.exportOptimizerState()),
    importOptimizerState: (state) => run(() => trainer.importOptimizerState(state)),
    close: () => run(() => trainer.close()),
  }
}

/**
 * The ArrayBuffer behind `values` when the array covers all of it (no copy), else a copy: what a
 * reply hands to a channel that may transfer it.
 */
export function wholeBuffer(values: Float32Array): ArrayBuffer {
  const { buffer } = values
  if (buffer instanceof ArrayBuffer && values.byteOffset === 0 && values.byteLength === buffer.byteLength) {
    return buffer
  }
  return values.slice().buffer
}
