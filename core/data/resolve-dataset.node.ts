/**
 * `loadDataset(spec)`: the one entry point the CLI, the engine and benchmarks use.
 *
 * spec is a built-in name (`shapes`, `fashion-mnist`) or a path: a `.csv` file, a folder of
 * IDX files, or a folder of class sub-folders (detected by the IDX file names).
 * Fashion-MNIST is looked for in, in order: $LONGHAUL_DATA_DIR/fashion-mnist,
 * ~/.cache/longhaul/datasets/fashion-mnist, /usr/share/datasets/fashion-mnist (Debian package
 * `dataset-fashion-mnist`); then it is downloaded (verified, atomically) into the first of
 * those two user folders.
 */
import { stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { CoreError, isCoreError } from '../errors.ts'
import { loadCsvFile } from './csv.node.ts'
import type { Dataset } from './dataset.ts'
import type { DownloadProgress } from './download.node.ts'
import { downloadDatasetFiles, formatDownloadProgress } from './download.node.ts'
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_FILES,
  FASHION_MNIST_MIRRORS,
  FASHION_MNIST_NAME,
} from './fashion-mnist.ts'
import { findIdxFiles, loadIdxFolder, looksLikeIdxFolder } from './idx-files.node.ts'
import type { ImageSize } from './image-folder.node.ts'
import { loadImageFolder } from './image-folder.node.ts'
import type { ShapesOptions } from './shapes.ts'
import { generateShapes, SHAPES_NAME } from './shapes.ts'

/** Names `loadDataset` resolves without a path. */
export const BUILTIN_DATASETS: readonly string[] = [SHAPES_NAME, FASHION_MNIST_NAME]

/** System folders searched for packaged datasets (each holds one folder per dataset). */
export const DEFAULT_SYSTEM_DATA_DIRS: readonly string[] = ['/usr/share/datasets']

export interface LoadDatasetOptions {
  /** Seed of generated test splits and of `shapes`; default 0. */
  readonly seed?: number
  /** Test share for sources without a test split (image folders, CSV); default 0.1. */
  readonly testFraction?: number
  /** Image-folder target size (a number means square); default: the first image's size. */
  readonly size?: number | ImageSize
  /** CSV label column; default `label`. */
  readonly labelColumn?: string
  /** Class names in label order for image folders and IDX folders (keeps peers' labels aligned). */
  readonly classes?: readonly string[]
  /** Options of the generated `shapes` dataset (its seed defaults to `seed`). */
  readonly shapes?: ShapesOptions
  /** Download progress: a ready-made one-line bar plus the numbers behind it. */
  readonly onProgress?: (line: string, progress: DownloadProgress) => void
  readonly signal?: AbortSignal
  /** User data folder; default $LONGHAUL_DATA_DIR. Searched first, and downloaded into when set. */
  readonly dataDir?: string
  /** Download cache; default ~/.cache/longhaul/datasets. */
  readonly cacheDir?: string
  /** Read-only system folders; default /usr/share/datasets. */
  readonly systemDirs?: readonly string[]
  /** Allow downloading a missing built-in dataset; default true. */
  readonly allowDownload?: boolean
  /** Download mirrors (base URLs); default the dataset's canonical mirrors. */
  readonly mirrors?: readonly string[]
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch
}

/** The default download cache folder. */
export function defaultCacheDir(): string {
  return join(homedir(), '.cache', 'longhaul', 'datasets')
}

async function statOrUndefined(path: string): Promise<Awaited<ReturnType<typeof stat>> | undefined> {
  try {
    return await stat(path)
  } catch {
    return undefined
  }
}

/**
 * Loads a dataset completely or throws a CoreError: ERR_NOT_FOUND (no such path, or the
 * built-in data is absent and cannot be downloaded), ERR_BAD_DATASET (naming the file and
 * the problem), ERR_DOWNLOAD_FAILED, ERR_ABORTED.
 */
export async function loadDataset(spec: string, options: LoadDatasetOptions = {}): Promise<Dataset> {
  const seed = options.seed ?? 0
  if (spec === SHAPES_NAME) return generateShapes({ seed, ...options.shapes })
  if (spec === FASHION_MNIST_NAME) return loadFashionMnist(options)

  const path = resolve(spec)
  const info = await statOrUndefined(path)
  if (info === undefined) {
    throw new CoreError(
      'ERR_NOT_FOUND',
      `${spec}: no such file or folder, and not a built-in dataset (${BUILTIN_DATASETS.join(', ')})`,
    )
  }
  if (info.isFile()) {
    if (!/\.csv$/i.test(path)) {
      throw new CoreError('ERR_BAD_DATASET', `${path}: not a dataset (expected a .csv file or a folder)`)
    }
    return loadCsvFile(path, { labelColumn: options.labelColumn, testFraction: options.testFraction, seed })
  }
  if (await looksLikeIdxFolder(path)) return loadIdxFolder(path, { classes: options.classes })
  return loadImageFolder(path, {
    size: options.size,
    classes: options.classes,
    testFraction: options.testFraction,
    seed,
  })
}

/** Where Fashion-MNIST is looked for, in order, and where a download goes. */
export function fashionMnistLocations(options: LoadDatasetOptions = {}): {
  search: string[]
  downloadTo: string
} {
  const dataDir = options.dataDir ?? nonEmpty(process.env['LONGHAUL_DATA_DIR'])
  const cacheDir = options.cacheDir ?? defaultCacheDir()
  const systemDirs = options.systemDirs ?? DEFAULT_SYSTEM_DATA_DIRS
  const userDirs = [...(dataDir === undefined ? [] : [dataDir]), cacheDir]
  return {
    search: [...userDirs, ...systemDirs].map((d) => join(d, FASHION_MNIST_NAME)),
    downloadTo: join(userDirs[0]!, FASHION_MNIST_NAME),
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

async function loadFashionMnist(options: LoadDatasetOptions): Promise<Dataset> {
  const { search, downloadTo } = fashionMnistLocations(options)
  const idxOptions = { name: FASHION_MNIST_NAME, source: 'builtin', classes: FASHION_MNIST_CLASSES } as const
  for (const dir of search) {
    try {
      await findIdxFiles(dir)
    } catch (err) {
      // Absent or incomplete folder: try the next place. Corrupt files are not skipped (below).
      if (isCoreError(err, 'ERR_NOT_FOUND')) continue
      throw err
    }
    return loadIdxFolder(dir, idxOptions)
  }
  const searched = search.join(', ')
  if (options.allowDownload === false) {
    throw new CoreError('ERR_NOT_FOUND', `${FASHION_MNIST_NAME} not found in ${searched} (download disabled)`)
  }
  const onProgress = options.onProgress
  try {
    await downloadDatasetFiles({
      destDir: downloadTo,
      files: FASHION_MNIST_FILES,
      baseUrls: options.mirrors ?? FASHION_MNIST_MIRRORS,
      onProgress: onProgress && ((p) => onProgress(formatDownloadProgress(p), p)),
      signal: options.signal,
      fetch: options.fetch,
    })
  } catch (err) {
    if (!isCoreError(err) || err.code === 'ERR_ABORTED') throw err
    throw new CoreError(
      err.code,
      `${FASHION_MNIST_NAME} not found in ${searched}, and downloading it failed: ${err.message}`,
      {
        cause: err,
      },
    )
  }
  return loadIdxFolder(downloadTo, idxOptions)
}
