/**
 * Image-folder datasets: one sub-folder per class holding PNG or JPEG files, decoded and
 * resized with sharp (libvips). Two layouts:
 *   root/<class>/<image>                 -> test split generated (seeded, stratified)
 *   root/train/<class>/<image> + root/test/<class>/<image>   -> test split given
 * Class names are the folder names sorted by code point (or the `classes` option, so peers
 * with partial data agree on label indices). Only `.png`, `.jpg`, `.jpeg` files are read
 * (any case); hidden entries and other files are skipped. Every image is resized to one
 * size (default: the first image's, after EXIF orientation) with `fit: fill`, alpha is flattened onto black, and
 * the channel count is 1 when every image is grayscale, else 3.
 * The whole folder is decoded before anything is returned; the first failure throws.
 */
import { readdir } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import sharp from 'sharp'
import type { Metadata, OutputInfo } from 'sharp'
import { CoreError } from '../errors.ts'
import type { Dataset, Split } from './dataset.ts'
import {
  assertDatasetConsistent,
  buildManifest,
  DEFAULT_TEST_FRACTION,
  hashPixelDataset,
  pixelsToUnitFloats,
  stratifiedSplitIndices,
} from './dataset.ts'

const IMAGE_EXTENSION = /\.(png|jpe?g)$/i

/** Images decoded at once; sharp runs each on the libuv thread pool. */
const DECODE_CONCURRENCY = 8

export interface ImageSize {
  readonly width: number
  readonly height: number
}

export interface LoadImageFolderOptions {
  /** Manifest name; default: the folder's base name. */
  readonly name?: string
  /** Target size (a number means square); default: the size of the first image. */
  readonly size?: number | ImageSize
  /** Class names in label order; folders not listed are an error, listed ones may be missing. */
  readonly classes?: readonly string[]
  /** Share held out as test split when the folder has no train/test layout; default 0.1. */
  readonly testFraction?: number
  /** Seed of the generated test split; default 0. */
  readonly seed?: number
}

interface LabelledFile {
  readonly file: string
  readonly label: number
}

function bad(path: string, what: string): CoreError {
  return new CoreError('ERR_BAD_DATASET', `${path}: ${what}`)
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

async function listEntries(dir: string): Promise<{ dirs: string[]; files: string[] }> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    const code =
      err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : errorText(err)
    throw new CoreError(
      code === 'ENOENT' ? 'ERR_NOT_FOUND' : 'ERR_BAD_DATASET',
      `${dir}: cannot read (${code})`,
      {
        cause: err,
      },
    )
  }
  const dirs: string[] = []
  const files: string[] = []
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue
    if (entry.isDirectory()) dirs.push(entry.name)
    else if (entry.isFile() || entry.isSymbolicLink()) files.push(entry.name)
  }
  const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
  return { dirs: dirs.sort(byCodePoint), files: files.sort(byCodePoint) }
}

/** Lists the images of every class folder under `root`, validating the layout. */
async function listClassFolders(root: string, classFolders: readonly string[], classes: readonly string[]) {
  const out: LabelledFile[] = []
  for (const folder of classFolders) {
    const label = classes.indexOf(folder)
    if (label < 0) {
      throw bad(
        join(root, folder),
        `class folder "${folder}" is not one of the given classes (${classes.join(', ')})`,
      )
    }
    const dir = join(root, folder)
    const { files } = await listEntries(dir)
    const images = files.filter((f) => IMAGE_EXTENSION.test(f))
    if (images.length === 0) {
      const skipped = files.length > 0 ? ` (${files.length} other files skipped)` : ''
      throw bad(dir, `empty class folder: no PNG or JPEG images${skipped}`)
    }
    for (const image of images) out.push({ file: join(dir, image), label })
  }
  return out
}

function isGrayscale(meta: Metadata): boolean {
  return meta.channels <= 2 || meta.space === 'b-w' || meta.space === 'grey16'
}

/** Runs `task` over `items` with bounded concurrency; resolves in input order or rejects with the first failure. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, i: number) => Promise<R>,
) {
  const results = new Array<R>(items.length)
  let next = 0
  let failure: { error: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++
      try {
        results[i] = await task(items[i]!, i)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  if (failure !== undefined) throw failure.error
  return results
}

function normaliseSize(size: number | ImageSize): ImageSize {
  const s = typeof size === 'number' ? { width: size, height: size } : size
  if (!Number.isInteger(s.width) || !Number.isInteger(s.height) || s.width < 1 || s.height < 1) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `image size must be positive integers, got ${s.width}×${s.height}`,
    )
  }
  return s
}

/**
 * Loads an image folder completely or throws: ERR_NOT_FOUND for a missing folder,
 * ERR_BAD_DATASET naming the folder or file for an empty class folder or an unreadable image.
 */
export async function loadImageFolder(root: string, options: LoadImageFolderOptions = {}): Promise<Dataset> {
  const top = await listEntries(root)
  let trainFolders = top.dirs
  let testFolders: string[] = []
  // train/ and test/ holding folders (not images) is the split layout; otherwise they are classes.
  let isTrainTest = false
  if (top.dirs.includes('train') && top.dirs.includes('test')) {
    const inTrain = (await listEntries(join(root, 'train'))).dirs
    if (inTrain.length > 0) {
      isTrainTest = true
      trainFolders = inTrain
      testFolders = (await listEntries(join(root, 'test'))).dirs
    }
  }
  if (trainFolders.length === 0) {
    const where = isTrainTest ? join(root, 'train') : root
    throw bad(where, 'no class sub-folders (expected one folder per class holding PNG or JPEG images)')
  }
  const classes = options.classes ?? trainFolders
  const trainFiles = await listClassFolders(isTrainTest ? join(root, 'train') : root, trainFolders, classes)
  const testFiles = isTrainTest ? await listClassFolders(join(root, 'test'), testFolders, classes) : []
  const allFiles = [...trainFiles, ...testFiles]

  // Header-only pass: picks the channel count and the default size without decoding pixels.
  const metas = await mapLimited(allFiles, DECODE_CONCURRENCY, async ({ file }) => {
    try {
      const meta = await sharp(file).metadata()
      if (meta.format !== 'png' && meta.format !== 'jpeg')
        throw new Error(`format ${meta.format} is not PNG or JPEG`)
      return meta
    } catch (err) {
      throw bad(file, `unreadable image (${errorText(err)})`)
    }
  })
  const channels = metas.every(isGrayscale) ? 1 : 3
  const first = metas[0]!
  // Size as displayed: a phone photo's EXIF orientation swaps width and height.
  const size = normaliseSize(
    options.size ?? { width: first.autoOrient.width, height: first.autoOrient.height },
  )
  const pixelsPerImage = size.width * size.height * channels

  const pixels = new Uint8Array(allFiles.length * pixelsPerImage)
  await mapLimited(allFiles, DECODE_CONCURRENCY, async ({ file }, i) => {
    let data: Buffer
    let info: OutputInfo
    try {
      ;({ data, info } = await sharp(file, { autoOrient: true })
        .resize(size.width, size.height, { fit: 'fill' })
        .flatten({ background: '#000000' })
        .toColourspace(channels === 1 ? 'b-w' : 'srgb')
        .raw()
        .toBuffer({ resolveWithObject: true }))
    } catch (err) {
      throw bad(file, `unreadable image (${errorText(err)})`)
    }
    if (info.channels !== channels || data.length !== pixelsPerImage) {
      throw bad(
        file,
        `decoded to ${info.width}×${info.height}×${info.channels}, expected ${size.width}×${size.height}×${channels}`,
      )
    }
    pixels.set(data, i * pixelsPerImage)
  })

  const labels = Int32Array.from(allFiles, (f) => f.label)
  let trainIdx: Int32Array
  let testIdx: Int32Array
  if (isTrainTest) {
    trainIdx = Int32Array.from(trainFiles, (_, i) => i)
    testIdx = Int32Array.from(testFiles, (_, i) => trainFiles.length + i)
  } else {
    const split = stratifiedSplitIndices(
      labels,
      classes.length,
      options.testFraction ?? DEFAULT_TEST_FRACTION,
      options.seed ?? 0,
    )
    trainIdx = split.keep
    testIdx = split.holdOut
  }
  const gather = (indices: Int32Array): { pixels: Uint8Array; labels: Int32Array } => {
    const out = new Uint8Array(indices.length * pixelsPerImage)
    indices.forEach((src, k) =>
      out.set(pixels.subarray(src * pixelsPerImage, (src + 1) * pixelsPerImage), k * pixelsPerImage),
    )
    return { pixels: out, labels: Int32Array.from(indices, (src) => labels[src]!) }
  }
  const trainRaw = gather(trainIdx)
  const testRaw = gather(testIdx)
  const inputShape = [size.height, size.width, channels]
  const toSplit = (raw: { pixels: Uint8Array; labels: Int32Array }): Split => ({
    x: pixelsToUnitFloats(raw.pixels),
    y: raw.labels,
    count: raw.labels.length,
  })
  const train = toSplit(trainRaw)
  const test = toSplit(testRaw)
  const dataset: Dataset = {
    manifest: buildManifest({
      name: options.name ?? basename(resolve(root)),
      source: 'image-folder',
      inputShape,
      classes,
      split: isTrainTest ? 'given' : 'generated',
      // Over the decoded, resized pixels in final split order: two copies of the same images
      // hash alike whatever their file encoding, and a different split hashes differently.
      contentHash: hashPixelDataset(inputShape, classes, [trainRaw, testRaw]),
      train,
      test,
    }),
    train,
    test,
  }
  assertDatasetConsistent(dataset)
  return dataset
}
