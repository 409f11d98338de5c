/**
 * Finds and reads the four IDX files of an MNIST-style folder (raw or gzip-compressed) and
 * hands the bytes to idx.ts. Accepted names, per part: `train-images-idx3-ubyte`,
 * `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, with `test`
 * for `t10k`, `.` for the `-` before `idx`, and an optional `.gz` suffix. Gzip is detected
 * by its magic bytes, so a mislabelled suffix does not matter.
 */
import { readdir, readFile } from 'node:fs/promises'
import { basename, resolve, join } from 'node:path'
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import { CoreError } from '../errors.ts'
import type { Dataset } from './dataset.ts'
import { datasetFromIdx } from './idx.ts'

const gunzipAsync = promisify(gunzip)

/** Decompressed files larger than this are refused (a gzip bomb, or not a dataset). */
export const MAX_IDX_FILE_BYTES = 1 << 30

export interface IdxFilePaths {
  readonly trainImages: string
  readonly trainLabels: string
  readonly testImages: string
  readonly testLabels: string
}

const PARTS = [
  ['trainImages', ['train'], 'images', 'idx3'],
  ['trainLabels', ['train'], 'labels', 'idx1'],
  ['testImages', ['t10k', 'test'], 'images', 'idx3'],
  ['testLabels', ['t10k', 'test'], 'labels', 'idx1'],
] as const

function candidateNames(prefixes: readonly string[], kind: string, idx: string): string[] {
  const names: string[] = []
  for (const prefix of prefixes) {
    for (const sep of ['-', '.']) {
      // Raw before gzip: no decompression needed when both are present.
      names.push(`${prefix}-${kind}${sep}${idx}-ubyte`, `${prefix}-${kind}${sep}${idx}-ubyte.gz`)
    }
  }
  return names
}

async function listDir(dir: string): Promise<Set<string>> {
  try {
    return new Set(await readdir(dir))
  } catch (err) {
    throw new CoreError('ERR_NOT_FOUND', `${dir}: cannot read the folder (${errorCode(err)})`, { cause: err })
  }
}

/** True if the folder holds at least one file named like an IDX part (so it is meant as IDX). */
export async function looksLikeIdxFolder(dir: string): Promise<boolean> {
  const entries = await listDir(dir)
  return PARTS.some(([, prefixes, kind, idx]) =>
    candidateNames(prefixes, kind, idx).some((n) => entries.has(n)),
  )
}

/** Locates the four parts; ERR_NOT_FOUND names the folder and the first missing part. */
export async function findIdxFiles(dir: string): Promise<IdxFilePaths> {
  const entries = await listDir(dir)
  const found: Partial<Record<keyof IdxFilePaths, string>> = {}
  for (const [key, prefixes, kind, idx] of PARTS) {
    const names = candidateNames(prefixes, kind, idx)
    const name = names.find((n) => entries.has(n))
    if (name === undefined) {
      throw new CoreError(
        'ERR_NOT_FOUND',
        `${dir}: no ${prefixes[0]}-${kind}-${idx}-ubyte[.gz] file (the IDX folder needs train and t10k images and labels)`,
      )
    }
    found[key] = join(dir, name)
  }
  const { trainImages, trainLabels, testImages, testLabels } = found
  if (!trainImages || !trainLabels || !testImages || !testLabels)
    throw new Error('unreachable: all parts found')
  return { trainImages, trainLabels, testImages, testLabels }
}

function errorCode(err: unknown): string {
  if (err instanceof Error) {
    const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined
    return code ?? err.message
  }
  return String(err)
}

/**
 * Reads a file and gunzips it when it starts with the gzip magic bytes. Missing file ->
 * ERR_NOT_FOUND; corrupt or truncated gzip -> ERR_BAD_DATASET; both name the file.
 */
export async function readMaybeGzip(file: string, maxBytes = MAX_IDX_FILE_BYTES): Promise<Uint8Array> {
  let raw: Buffer
  try {
    raw = await readFile(file)
  } catch (err) {
    const code = errorCode(err)
    throw new CoreError(
      code === 'ENOENT' ? 'ERR_NOT_FOUND' : 'ERR_BAD_DATASET',
      `${file}: cannot read (${code})`,
      {
        cause: err,
      },
    )
  }
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) {
    if (raw.length > maxBytes)
      throw new CoreError('ERR_BAD_DATASET', `${file}: larger than ${maxBytes} bytes`)
    return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength)
  }
  try {
    const out = await gunzipAsync(raw, { maxOutputLength: maxBytes })
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  } catch (err) {
    const code = errorCode(err)
    const what =
      code === 'Z_BUF_ERROR'
        ? 'truncated gzip data (unexpected end of file)'
        : code === 'ERR_BUFFER_TOO_LARGE'
          ? `decompresses to more than ${maxBytes} bytes`
          : `corrupt gzip data (${code})`
    throw new CoreError('ERR_BAD_DATASET', `${file}: ${what}`, { cause: err })
  }
}

export interface LoadIdxFolderOptions {
  /** Dataset name in the manifest; default: the folder's base name. */
  readonly name?: string
  readonly source?: 'idx' | 'builtin'
  /** Class names (label i -> classes[i]); default "0".."k−1". */
  readonly classes?: readonly string[]
}

/** Loads an IDX folder completely or throws; the four files are read and decompressed in parallel. */
export async function loadIdxFolder(dir: string, options: LoadIdxFolderOptions = {}): Promise<Dataset> {
  const paths = await findIdxFiles(dir)
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    readMaybeGzip(paths.trainImages),
    readMaybeGzip(paths.trainLabels),
    readMaybeGzip(paths.testImages),
    readMaybeGzip(paths.testLabels),
  ])
  return datasetFromIdx({
    name: options.name ?? basename(resolve(dir)),
    source: options.source ?? 'idx',
    classes: options.classes,
    train: {
      images: trainImages,
      labels: trainLabels,
      imagesFile: paths.trainImages,
      labelsFile: paths.trainLabels,
    },
    test: {
      images: testImages,
      labels: testLabels,
      imagesFile: paths.testImages,
      labelsFile: paths.testLabels,
    },
  })
}
