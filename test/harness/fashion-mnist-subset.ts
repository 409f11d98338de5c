/**
 * A small real dataset for multi-process runs: the first `train` training and `test` test images
 * of Fashion-MNIST, written as an uncompressed IDX folder that `longhaul node --data <folder>`
 * reads. Every node process loads its data itself; the whole set (60,000 images, 188 MB as
 * float32 per process) would cost each of several tfjs processes on a small machine seconds and
 * hundreds of MB, and evaluating 10,000 test images after every short epoch would dominate a
 * benchmark's wall time. The records are Fashion-MNIST's own, unchanged, in the file's order
 * (which is shuffled, so the first n are close to balanced).
 *
 * The source is found where `loadDataset('fashion-mnist')` looks, without downloading:
 * $LONGHAUL_DATA_DIR/fashion-mnist, ~/.cache/longhaul/datasets/fashion-mnist,
 * /usr/share/datasets/fashion-mnist. The folder is built once per (train, test) in the system
 * temp dir and reused; it is written under a temporary name and renamed, so concurrent builders
 * never see half a folder.
 */
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import { findIdxFiles, type IdxFilePaths } from '../../core/data/idx-files.node.ts'
import { DEFAULT_SYSTEM_DATA_DIRS, defaultCacheDir } from '../../core/data/resolve-dataset.node.ts'

const gunzipAsync = promisify(gunzip)

/** Where the source Fashion-MNIST was looked for, in order. */
export function fashionMnistSearchDirs(): string[] {
  const dataDir = process.env['LONGHAUL_DATA_DIR']
  return [
    ...(dataDir === undefined ? [] : [path.join(dataDir, 'fashion-mnist')]),
    path.join(defaultCacheDir(), 'fashion-mnist'),
    ...DEFAULT_SYSTEM_DATA_DIRS.map((dir) => path.join(dir, 'fashion-mnist')),
  ]
}

async function findSource(): Promise<IdxFilePaths | undefined> {
  for (const dir of fashionMnistSearchDirs()) {
    if (!existsSync(dir)) continue
    try {
      return await findIdxFiles(dir)
    } catch {
      // Incomplete folder: look in the next one.
    }
  }
  return undefined
}

/** The file's bytes, gunzipped when they start with gzip's magic. */
async function readIdx(file: string): Promise<Buffer> {
  const bytes = await readFile(file)
  return bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipAsync(bytes) : bytes
}

/**
 * The first `count` records of an IDX file: the header with its record count replaced, then the
 * records' bytes. The record size is the product of the sizes after the first.
 */
function firstRecords(idx: Buffer, count: number, file: string): Buffer {
  const dims = idx[3] ?? 0
  const header = 4 + 4 * dims
  const total = idx.readUInt32BE(4)
  if (count > total) throw new Error(`${file} has ${total} records, fewer than the ${count} asked for`)
  let recordBytes = 1
  for (let d = 1; d < dims; d++) recordBytes *= idx.readUInt32BE(4 + 4 * d)
  const out = Buffer.from(idx.subarray(0, header + count * recordBytes))
  out.writeUInt32BE(count, 4)
  return out
}

/**
 * The IDX folder with the first `train` / `test` Fashion-MNIST images, or undefined (with the
 * folders searched) when Fashion-MNIST is not on this machine.
 */
export async function fashionMnistSubset(
  train: number,
  test: number,
): Promise<{ dir: string } | { dir: undefined; searched: string[] }> {
  const dir = path.join(tmpdir(), `longhaul-fashion-mnist-${train}-${test}`)
  if (existsSync(path.join(dir, 'COMPLETE'))) return { dir }
  const source = await findSource()
  if (source === undefined) return { dir: undefined, searched: fashionMnistSearchDirs() }
  const building = `${dir}.${process.pid}.tmp`
  await rm(building, { recursive: true, force: true })
  await mkdir(building, { recursive: true })
  const parts: ReadonlyArray<readonly [string, string, number]> = [
    [source.trainImages, 'train-images-idx3-ubyte', train],
    [source.trainLabels, 'train-labels-idx1-ubyte', train],
    [source.testImages, 't10k-images-idx3-ubyte', test],
    [source.testLabels, 't10k-labels-idx1-ubyte', test],
  ]
  for (const [from, name, count] of parts) {
    await writeFile(path.join(building, name), firstRecords(await readIdx(from), count, from))
  }
  await writeFile(path.join(building, 'COMPLETE'), '')
  try {
    await rename(building, dir)
  } catch {
    // Another process finished first: use its folder.
    await rm(building, { recursive: true, force: true })
  }
  return { dir }
}
