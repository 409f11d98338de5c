/**
 * The single-node training loop: epochs of batches, progress, per-epoch evaluation and
 * checkpoint hooks. "Epoch" here always means a local epoch: one pass over this worker's
 * own training data.
 *
 * Resumable at batch granularity: a position {epoch, batchInEpoch, step} is what the
 * checkpoint stores, and the batch source must produce the same batch order for an epoch
 * every time (seeded), so skipping `batchInEpoch` batches lands exactly where it stopped.
 */
import { CoreError } from '../errors.ts'
import type { EvaluationResult, LabelledSplit } from './trainer.ts'

export interface Batch {
  readonly x: Float32Array
  readonly y: Int32Array
}

export interface TrainingPosition {
  /** Local epochs completed. */
  readonly epoch: number
  /** Batches already done in the current epoch. */
  readonly batchInEpoch: number
  /** Optimizer steps taken in total. */
  readonly step: number
}

export interface ProgressReport extends TrainingPosition {
  readonly batchesPerEpoch: number
  /** Mean loss over the batches since the previous report. */
  readonly loss: number
  /** Training examples per second since the previous report. */
  readonly examplesPerSec: number
}

export interface EpochReport {
  readonly epoch: number
  readonly trainLoss: number
  readonly test: EvaluationResult
  readonly seconds: number
  readonly examplesPerSec: number
}

/**
 * What the loop needs from a trainer: a step and an evaluation, either synchronous (an in-process
 * `Trainer`) or asynchronous (an AsyncTrainer, possibly in a browser page).
 */
export interface StepTrainer {
  trainStep(x: Float32Array, y: Int32Array): number | Promise<number>
  evaluate(split: LabelledSplit): EvaluationResult | Promise<EvaluationResult>
}

export interface LocalTrainingOptions {
  readonly trainer: StepTrainer
  readonly test: LabelledSplit
  readonly epochs: number
  readonly batchesPerEpoch: number
  /** The batches of an epoch in a fixed, seeded order. */
  epochBatches(epoch: number): Iterable<Batch>
  readonly start?: TrainingPosition
  /** How often `onProgress` fires, in milliseconds (default 250). */
  readonly progressIntervalMs?: number
  onProgress?(report: ProgressReport): void
  /** Awaited at the end of each epoch, after evaluation (checkpoint here). */
  onEpochEnd?(report: EpochReport, position: TrainingPosition): Promise<void>
  readonly signal?: AbortSignal
  /** Injected for tests; defaults to performance.now(). */
  readonly clock?: () => number
}

export interface LocalTrainingResult {
  readonly position: TrainingPosition
  readonly epochs: readonly EpochReport[]
  readonly examplesPerSec: number
  readonly trainingSeconds: number
  /** True when the signal stopped training before the last epoch. */
  readonly isStopped: boolean
}

export async function runLocalTraining(options: LocalTrainingOptions): Promise<LocalTrainingResult> {
  const clock = options.clock ?? (() => performance.now())
  const interval = options.progressIntervalMs ?? 250
  let { epoch, batchInEpoch, step } = options.start ?? { epoch: 0, batchInEpoch: 0, step: 0 }
  const reports: EpochReport[] = []
  let totalExamples = 0
  let totalTrainMs = 0
  let isStopped = false

  while (epoch < options.epochs && !isStopped) {
    const epochStart = clock()
    let epochExamples = 0
    let epochLossSum = 0
    let epochBatches = 0
    let windowStart = clock()
    let windowExamples = 0
    let windowLossSum = 0
    let windowBatches = 0
    let index = 0
    for (const batch of options.epochBatches(epoch)) {
      if (index++ < batchInEpoch) continue
      if (options.signal?.aborted) {
        isStopped = true
        break
      }
      const loss = await options.trainer.trainStep(batch.x, batch.y)
      if (!Number.isFinite(loss)) {
        throw new CoreError(
          'ERR_NON_FINITE',
          `training diverged: loss is ${loss} at epoch ${epoch + 1}, batch ${batchInEpoch + 1}; lower the learning rate`,
        )
      }
      step++
      batchInEpoch++
      epochBatches++
      epochExamples += batch.y.length
      epochLossSum += loss
      windowBatches++
      windowExamples += batch.y.length
      windowLossSum += loss
      const now = clock()
      if (options.onProgress && now - windowStart >= interval) {
        options.onProgress({
          epoch,
          batchInEpoch,
          step,
          batchesPerEpoch: options.batchesPerEpoch,
          loss: windowLossSum / windowBatches,
          examplesPerSec: (windowExamples * 1000) / Math.max(now - windowStart, 1e-9),
        })
        windowStart = now
        windowExamples = 0
        windowLossSum = 0
        windowBatches = 0
      }
      // Yield to the event loop now and then so signals, sockets and timers are served.
      if (step % 32 === 0) await new Promise<void>((resolve) => setTimeout(resolve, 0))
    }
    const trainMs = clock() - epochStart
    totalTrainMs += trainMs
    totalExamples += epochExamples
    if (isStopped) break
    const test = await options.trainer.evaluate(options.test)
    epoch++
    batchInEpoch = 0
    const report: EpochReport = {
      epoch,
      trainLoss: epochBatches > 0 ? epochLossSum / epochBatches : Number.NaN,
      test,
      seconds: trainMs / 1000,
      examplesPerSec: (epochExamples * 1000) / Math.max(trainMs, 1e-9),
    }
    reports.push(report)
    await options.onEpochEnd?.(report, { epoch, batchInEpoch, step })
  }
  return {
    position: { epoch, batchInEpoch, step },
    epochs: reports,
    examplesPerSec: totalTrainMs > 0 ? (totalExamples * 1000) / totalTrainMs : 0,
    trainingSeconds: totalTrainMs / 1000,
    isStopped,
  }
}
