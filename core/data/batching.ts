/**
 * Seeded shuffling and batching. The order of an epoch depends only on (seed, epoch), so a
 * run resumed at epoch e, batch b sees exactly the batches it would have seen (the training
 * loop skips b batches of epoch e). "Epoch" here is a local epoch: one pass over this
 * worker's split.
 *
 * Batches are copied into two buffers owned by the Batcher and reused for every batch: a
 * yielded batch is valid until the iterator advances. Copy it to keep it.
 */
import { CoreError } from '../errors.ts'
import type { Split } from './dataset.ts'
import { stratifiedSplitIndices, subsetSplit } from './dataset.ts'
import { createPrng, shuffleInPlace } from './prng.ts'

/** One batch; `x` holds `size` samples row-major, `y` their labels. Views into reused buffers. */
export interface Batch {
  readonly x: Float32Array
  readonly y: Int32Array
  readonly size: number
}

export interface BatcherOptions {
  /** Samples per batch (the last batch of an epoch may be smaller unless `dropRemainder`). */
  readonly batchSize: number
  /** Seed of the shuffle; default 0. */
  readonly seed?: number
  /** Shuffle each epoch (default true); false keeps the split's order. */
  readonly shuffle?: boolean
  /** Skip the last, smaller batch of each epoch (default false). */
  readonly dropRemainder?: boolean
}

// Purpose tag: the epoch order never shares a stream with splits or partitions of the same seed.
const SHUFFLE_SALT = 0x73687566

/** Batches per epoch for `count` samples. */
export function batchCount(count: number, batchSize: number, dropRemainder = false): number {
  checkBatchSize(batchSize)
  return dropRemainder ? Math.floor(count / batchSize) : Math.ceil(count / batchSize)
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `batch size must be a positive integer, got ${batchSize}`)
  }
}

/** The sample order of one epoch: a permutation of 0..count−1 determined by (seed, epoch). */
export function epochOrder(count: number, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(count)
  fillEpochOrder(order, seed, epoch)
  return order
}

function fillEpochOrder(order: Int32Array, seed: number, epoch: number): void {
  for (let i = 0; i < order.length; i++) order[i] = i
  shuffleInPlace(order, createPrng(seed, SHUFFLE_SALT, epoch))
}

/** Iterates a split in seeded batches, reusing its buffers across batches and epochs. */
export class Batcher {
  readonly batchSize: number
  readonly batchesPerEpoch: number
  private readonly split: Split
  private readonly featureSize: number
  private readonly seed: number
  private readonly isShuffled: boolean
  private readonly order: Int32Array
  private readonly xBuffer: Float32Array
  private readonly yBuffer: Int32Array

  constructor(split: Split, options: BatcherOptions) {
    checkBatchSize(options.batchSize)
    this.split = split
    this.batchSize = options.batchSize
    this.seed = options.seed ?? 0
    this.isShuffled = options.shuffle ?? true
    this.batchesPerEpoch = batchCount(split.count, options.batchSize, options.dropRemainder ?? false)
    this.featureSize = split.count === 0 ? 0 : split.x.length / split.count
    this.order = new Int32Array(split.count)
    const capacity = Math.min(options.batchSize, split.count)
    this.xBuffer = new Float32Array(capacity * this.featureSize)
    this.yBuffer = new Int32Array(capacity)
  }

  /** The batches of local epoch `epoch` (0-based), in its seeded order. */
  *epoch(epoch: number): Generator<Batch, void, undefined> {
    const { order, split, featureSize, xBuffer, yBuffer, batchSize } = this
    if (this.isShuffled) fillEpochOrder(order, this.seed, epoch)
    else for (let i = 0; i < order.length; i++) order[i] = i
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      const start = b * batchSize
      const size = Math.min(batchSize, split.count - start)
      for (let k = 0; k < size; k++) {
        const i = order[start + k]!
        xBuffer.set(split.x.subarray(i * featureSize, (i + 1) * featureSize), k * featureSize)
        yBuffer[k] = split.y[i]!
      }
      const isFull = size === yBuffer.length
      yield {
        x: isFull ? xBuffer : xBuffer.subarray(0, size * featureSize),
        y: isFull ? yBuffer : yBuffer.subarray(0, size),
        size,
      }
    }
  }
}

/**
 * The batches of one epoch; shorthand for `new Batcher(split, options).epoch(options.epoch)`.
 * Allocates one batch of buffers per call; keep a Batcher to reuse them across epochs.
 */
export function epochBatches(
  split: Split,
  options: BatcherOptions & { readonly epoch: number },
): Generator<Batch, void, undefined> {
  return new Batcher(split, options).epoch(options.epoch)
}

/**
 * Holds out a stratified, seeded `fraction` of a split as validation data (copies).
 * Both parts keep the original sample order.
 */
export function splitTrainValidation(
  split: Split,
  fraction: number,
  seed: number,
): { train: Split; validation: Split } {
  let numClasses = 0
  for (let i = 0; i < split.y.length; i++) numClasses = Math.max(numClasses, split.y[i]! + 1)
  const { keep, holdOut } = stratifiedSplitIndices(split.y, numClasses, fraction, seed)
  return { train: subsetSplit(split, keep), validation: subsetSplit(split, holdOut) }
}
