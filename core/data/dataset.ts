/**
 * The in-memory dataset every reader produces and every trainer consumes. Runtime-agnostic:
 * flat typed arrays only, no tensors, no files.
 *
 * Invariants (checked by `assertDatasetConsistent`, relied on everywhere else):
 * - `split.x.length === split.count * featureSize(manifest.inputShape)`, row-major per sample
 *   (height, width, channels for images, the tfjs NHWC order);
 * - `split.y.length === split.count`, every label in [0, classes.length);
 * - `manifest.counts.*[c]` is the number of samples with label c in that split.
 */
import { assert, CoreError } from '../errors.ts'
import { Fnv1a64 } from '../hash.ts'
import { createPrng, shuffleInPlace } from './prng.ts'

/** One split of a dataset: N samples, features flattened, labels as class indices. */
export interface Split {
  /** N × prod(inputShape) features; images are scaled to [0, 1]. */
  readonly x: Float32Array
  /** N class indices. */
  readonly y: Int32Array
  /** N. */
  readonly count: number
}

export type DatasetSource = 'idx' | 'image-folder' | 'csv' | 'builtin'

/** What a dataset is, small enough to log, show in the UI and compare between peers. */
export interface DatasetManifest {
  readonly name: string
  readonly source: DatasetSource
  /** Shape of one sample: [height, width, channels] for images, [features] for CSV. */
  readonly inputShape: readonly number[]
  /** Class names; a label is an index into this list. */
  readonly classes: readonly string[]
  /** Samples per class, per split. */
  readonly counts: { readonly train: readonly number[]; readonly test: readonly number[] }
  readonly trainCount: number
  readonly testCount: number
  /** 'given' when the source has its own test split, 'generated' when we split it (seeded, stratified). */
  readonly split: 'given' | 'generated'
  /** FNV-1a 64 (hex) over the content; see each reader for exactly which bytes. */
  readonly contentHash: string
}

/** A loaded dataset: nothing half-loaded ever reaches this type. */
export interface Dataset {
  readonly manifest: DatasetManifest
  readonly train: Split
  readonly test: Split
}

/** Default share of samples held out as the test split when a source has none. */
export const DEFAULT_TEST_FRACTION = 0.1

// Purpose tag mixed into the seed so a split never shares a stream with shuffling or partitioning.
const SPLIT_SALT = 0x53504c54

/** Number of features of one sample. */
export function featureSize(inputShape: readonly number[]): number {
  let size = 1
  for (const d of inputShape) size *= d
  return size
}

/** Samples per class; labels must already be validated to lie in [0, numClasses). */
export function countPerClass(labels: ArrayLike<number>, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0)
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!
    counts[label] = (counts[label] ?? 0) + 1
  }
  return counts
}

/**
 * Stratified, seeded hold-out: per class, shuffle that class's indices and put
 * round(n_c × fraction) of them into the second list. Both lists come back sorted, so the
 * original order (and therefore the content hash) does not depend on set iteration order.
 */
export function stratifiedSplitIndices(
  labels: ArrayLike<number>,
  numClasses: number,
  fraction: number,
  seed: number,
): { keep: Int32Array; holdOut: Int32Array } {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `split fraction must be in [0, 1), got ${fraction}`)
  }
  const byClass: number[][] = Array.from({ length: numClasses }, () => [])
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i)
  const prng = createPrng(seed, SPLIT_SALT)
  const isHeldOut = new Uint8Array(labels.length)
  let holdOutCount = 0
  for (const members of byClass) {
    shuffleInPlace(members, prng)
    const take = Math.round(members.length * fraction)
    for (let k = 0; k < take; k++) isHeldOut[members[k]!] = 1
    holdOutCount += take
  }
  const keep = new Int32Array(labels.length - holdOutCount)
  const holdOut = new Int32Array(holdOutCount)
  let a = 0
  let b = 0
  for (let i = 0; i < labels.length; i++) {
    if (isHeldOut[i] === 1) holdOut[b++] = i
    else keep[a++] = i
  }
  return { keep, holdOut }
}

/** Copies the samples at `indices` (in that order) into a new split. */
export function subsetSplit(split: Split, indices: ArrayLike<number>): Split {
  const size = split.count === 0 ? 0 : split.x.length / split.count
  const x = new Float32Array(indices.length * size)
  const y = new Int32Array(indices.length)
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!
    assert(
      Number.isInteger(i) && i >= 0 && i < split.count,
      () => `index ${i} outside split of ${split.count}`,
    )
    x.set(split.x.subarray(i * size, (i + 1) * size), k * size)
    y[k] = split.y[i]!
  }
  return { x, y, count: indices.length }
}

/** Builds the manifest from finished splits, so counts always match the data. */
export function buildManifest(fields: {
  name: string
  source: DatasetSource
  inputShape: readonly number[]
  classes: readonly string[]
  split: 'given' | 'generated'
  contentHash: string
  train: Split
  test: Split
}): DatasetManifest {
  const numClasses = fields.classes.length
  return {
    name: fields.name,
    source: fields.source,
    inputShape: [...fields.inputShape],
    classes: [...fields.classes],
    counts: {
      train: countPerClass(fields.train.y, numClasses),
      test: countPerClass(fields.test.y, numClasses),
    },
    trainCount: fields.train.count,
    testCount: fields.test.count,
    split: fields.split,
    contentHash: fields.contentHash,
  }
}

/**
 * Checks the invariants listed at the top of this file. Readers call it before returning,
 * so a bug in a reader fails loudly instead of training on misaligned data.
 */
export function assertDatasetConsistent(dataset: Dataset): void {
  const { manifest } = dataset
  const size = featureSize(manifest.inputShape)
  for (const [name, split] of [
    ['train', dataset.train],
    ['test', dataset.test],
  ] as const) {
    assert(
      split.x.length === split.count * size,
      () => `${name}.x has ${split.x.length}, want ${split.count}×${size}`,
    )
    assert(split.y.length === split.count, () => `${name}.y has ${split.y.length}, want ${split.count}`)
    for (let i = 0; i < split.y.length; i++) {
      const label = split.y[i]!
      assert(label >= 0 && label < manifest.classes.length, () => `${name}.y[${i}] = ${label} out of range`)
    }
  }
  assert(manifest.trainCount === dataset.train.count, () => 'manifest.trainCount differs from train.count')
  assert(manifest.testCount === dataset.test.count, () => 'manifest.testCount differs from test.count')
}

/**
 * Content hash of a dataset held as 8-bit pixels (image folders, generated images):
 * shape, class names, then per split the pixel bytes and the labels (one byte each when
 * they fit, else 4 bytes little-endian), so a peer can tell "same data" from "same name".
 */
export function hashPixelDataset(
  inputShape: readonly number[],
  classes: readonly string[],
  splits: readonly { pixels: Uint8Array; labels: ArrayLike<number> }[],
): string {
  const h = new Fnv1a64()
  h.updateString(JSON.stringify({ inputShape, classes }))
  for (const { pixels, labels } of splits) {
    h.updateString(`|${labels.length}|`)
    h.update(pixels)
    h.update(labelBytes(labels, classes.length))
  }
  return h.digestHex()
}

function labelBytes(labels: ArrayLike<number>, numClasses: number): Uint8Array {
  if (numClasses <= 256) return Uint8Array.from(labels)
  const out = new Uint8Array(labels.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < labels.length; i++) view.setUint32(i * 4, labels[i]!, true)
  return out
}

/** Scales 8-bit pixels to [0, 1] floats. */
export function pixelsToUnitFloats(pixels: Uint8Array): Float32Array {
  const out = new Float32Array(pixels.length)
  // TypedArray.set converts natively; one multiply pass is cheaper than a lookup per pixel.
  out.set(pixels)
  const scale = 1 / 255
  for (let i = 0; i < out.length; i++) out[i] = out[i]! * scale
  return out
}
