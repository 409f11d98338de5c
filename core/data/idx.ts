/**
 * IDX parsing (the MNIST / Fashion-MNIST file format) from bytes already in memory.
 * Runtime-agnostic: file discovery and gunzip live in idx-files.node.ts.
 *
 * Layout, big-endian: a 4-byte magic `0x00 0x00 <type> <ndims>` (type 0x08 = unsigned byte),
 * then ndims u32 sizes, then the data. Images are `0x00000803` [N, rows, cols]; labels are
 * `0x00000801` [N]. Every size is checked exactly against the byte length before anything is
 * allocated, and errors name the file and what is wrong.
 */
import { CoreError } from '../errors.ts'
import { Fnv1a64 } from '../hash.ts'
import type { Dataset, Split } from './dataset.ts'
import { assertDatasetConsistent, buildManifest, pixelsToUnitFloats } from './dataset.ts'

export const IDX_IMAGES_MAGIC = 0x00000803
export const IDX_LABELS_MAGIC = 0x00000801

/** Images from an IDX3 file; `pixels` is a view into the input bytes (N × rows × cols). */
export interface IdxImages {
  readonly count: number
  readonly rows: number
  readonly cols: number
  readonly pixels: Uint8Array
}

function bad(file: string, what: string): CoreError {
  return new CoreError('ERR_BAD_DATASET', `${file}: ${what}`)
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`
}

function readHeader(bytes: Uint8Array, file: string, magic: number, dims: number, what: string): number[] {
  const headerBytes = 4 + 4 * dims
  if (bytes.length < 4) throw bad(file, `truncated: ${bytes.length} bytes is too short for an IDX header`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const found = view.getUint32(0, false)
  if (found !== magic) {
    throw bad(file, `wrong magic number ${hex32(found)}, expected ${hex32(magic)} (${what})`)
  }
  if (bytes.length < headerBytes) {
    throw bad(file, `truncated: ${bytes.length} bytes is shorter than the ${headerBytes}-byte IDX header`)
  }
  const sizes: number[] = []
  for (let d = 0; d < dims; d++) sizes.push(view.getUint32(4 + 4 * d, false))
  return sizes
}

function checkLength(
  bytes: Uint8Array,
  file: string,
  headerBytes: number,
  dataBytes: number,
  what: string,
): void {
  const expected = headerBytes + dataBytes
  if (bytes.length < expected) {
    throw bad(
      file,
      `truncated: header declares ${what} (${expected} bytes) but the file has ${bytes.length} bytes`,
    )
  }
  if (bytes.length > expected) {
    throw bad(
      file,
      `${bytes.length - expected} unexpected bytes after ${what} (expected exactly ${expected} bytes)`,
    )
  }
}

/** Parses an IDX3 unsigned-byte image file. Throws ERR_BAD_DATASET naming `file`. */
export function parseIdxImages(bytes: Uint8Array, file: string): IdxImages {
  const [count, rows, cols] = readHeader(
    bytes,
    file,
    IDX_IMAGES_MAGIC,
    3,
    'IDX images: unsigned byte, 3 dimensions',
  )
  if (count === undefined || rows === undefined || cols === undefined) throw bad(file, 'missing dimensions')
  if (rows === 0 || cols === 0) throw bad(file, `image size ${rows}×${cols} is empty`)
  const dataBytes = count * rows * cols
  checkLength(bytes, file, 16, dataBytes, `${count} images of ${rows}×${cols}`)
  return { count, rows, cols, pixels: bytes.subarray(16) }
}

/** Parses an IDX1 unsigned-byte label file; returns a view of the N labels. */
export function parseIdxLabels(bytes: Uint8Array, file: string): Uint8Array {
  const [count] = readHeader(bytes, file, IDX_LABELS_MAGIC, 1, 'IDX labels: unsigned byte, 1 dimension')
  if (count === undefined) throw bad(file, 'missing dimensions')
  checkLength(bytes, file, 8, count, `${count} labels`)
  return bytes.subarray(8)
}

/** One IDX split as raw (already decompressed) file contents plus the names used in errors. */
export interface IdxSplitBytes {
  readonly images: Uint8Array
  readonly labels: Uint8Array
  readonly imagesFile: string
  readonly labelsFile: string
}

export interface IdxDatasetInput {
  readonly name: string
  readonly source: 'idx' | 'builtin'
  readonly train: IdxSplitBytes
  readonly test: IdxSplitBytes
  /** Class names; labels must be below its length. Default: "0".."k−1" with k = max label + 1. */
  readonly classes?: readonly string[]
}

interface ParsedSplit {
  images: IdxImages
  labels: Uint8Array
}

function parseSplit(input: IdxSplitBytes): ParsedSplit {
  const images = parseIdxImages(input.images, input.imagesFile)
  const labels = parseIdxLabels(input.labels, input.labelsFile)
  if (images.count !== labels.length) {
    throw bad(
      input.labelsFile,
      `has ${labels.length} labels but ${input.imagesFile} has ${images.count} images; the counts must match`,
    )
  }
  return { images, labels }
}

function checkLabels(labels: Uint8Array, file: string, numClasses: number): void {
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!
    if (label >= numClasses) {
      throw bad(
        file,
        `label ${label} at index ${i} is out of range (${numClasses} classes: 0..${numClasses - 1})`,
      )
    }
  }
}

function toSplit(parsed: ParsedSplit): Split {
  return {
    x: pixelsToUnitFloats(parsed.images.pixels),
    y: Int32Array.from(parsed.labels),
    count: parsed.labels.length,
  }
}

/**
 * Builds a Dataset from the four IDX files of a train/test pair. Validates everything
 * (magic, exact sizes, equal counts, same image size in both splits, label range) before
 * converting, so nothing half-loaded is returned. The content hash is FNV-1a 64 over the
 * four decompressed files in the order train images, train labels, test images, test labels.
 */
export function datasetFromIdx(input: IdxDatasetInput): Dataset {
  const train = parseSplit(input.train)
  const test = parseSplit(input.test)
  if (train.images.rows !== test.images.rows || train.images.cols !== test.images.cols) {
    throw bad(
      input.test.imagesFile,
      `image size ${test.images.rows}×${test.images.cols} differs from ${input.train.imagesFile} ` +
        `(${train.images.rows}×${train.images.cols})`,
    )
  }
  let classes = input.classes
  if (classes === undefined) {
    let maxLabel = -1
    for (const labels of [train.labels, test.labels]) for (const l of labels) if (l > maxLabel) maxLabel = l
    classes = Array.from({ length: maxLabel + 1 }, (_, i) => String(i))
  }
  checkLabels(train.labels, input.train.labelsFile, classes.length)
  checkLabels(test.labels, input.test.labelsFile, classes.length)

  const hash = new Fnv1a64()
  for (const part of [input.train.images, input.train.labels, input.test.images, input.test.labels])
    hash.update(part)

  const trainSplit = toSplit(train)
  const testSplit = toSplit(test)
  const dataset: Dataset = {
    manifest: buildManifest({
      name: input.name,
      source: input.source,
      inputShape: [train.images.rows, train.images.cols, 1],
      classes,
      split: 'given',
      contentHash: hash.digestHex(),
      train: trainSplit,
      test: testSplit,
    }),
    train: trainSplit,
    test: testSplit,
  }
  assertDatasetConsistent(dataset)
  return dataset
}

/** Encodes images as an IDX3 file (tests, exporting generated data). */
export function encodeIdxImages(pixels: Uint8Array, count: number, rows: number, cols: number): Uint8Array {
  const out = new Uint8Array(16 + pixels.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, IDX_IMAGES_MAGIC, false)
  view.setUint32(4, count, false)
  view.setUint32(8, rows, false)
  view.setUint32(12, cols, false)
  out.set(pixels, 16)
  return out
}

/** Encodes labels as an IDX1 file. */
export function encodeIdxLabels(labels: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(8 + labels.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, IDX_LABELS_MAGIC, false)
  view.setUint32(4, labels.length, false)
  for (let i = 0; i < labels.length; i++) out[8 + i] = labels[i]!
  return out
}
