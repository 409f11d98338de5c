import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FASHION_MNIST_CLASSES, FASHION_MNIST_FILES } from '../../../../core/data/fashion-mnist.ts'
import { encodeIdxImages, encodeIdxLabels } from '../../../../core/data/idx.ts'
import {
  defaultCacheDir,
  fashionMnistLocations,
  loadDataset,
} from '../../../../core/data/resolve-dataset.node.ts'
import { CoreError } from '../../../../core/errors.ts'

const DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
const hasDebianFiles = FASHION_MNIST_FILES.every((f) => existsSync(join(DEBIAN_DIR, f.file)))

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'longhaul-resolve-'))
})
afterEach(async () => {
  vi.unstubAllEnvs()
  await rm(dir, { recursive: true, force: true })
})

/** A tiny IDX set with `trainCount` samples so each test can tell which folder was loaded. */
async function writeTinyIdx(target: string, trainCount: number): Promise<void> {
  await mkdir(target, { recursive: true })
  const labels = Array.from({ length: trainCount }, (_, i) => i % 10)
  await writeFile(
    join(target, 'train-images-idx3-ubyte'),
    encodeIdxImages(new Uint8Array(trainCount * 4), trainCount, 2, 2),
  )
  await writeFile(join(target, 'train-labels-idx1-ubyte'), encodeIdxLabels(labels))
  await writeFile(join(target, 't10k-images-idx3-ubyte'), encodeIdxImages(new Uint8Array(8), 2, 2, 2))
  await writeFile(join(target, 't10k-labels-idx1-ubyte'), encodeIdxLabels([1, 2]))
}

async function failure(promise: Promise<unknown>): Promise<CoreError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof CoreError) return err
    throw err
  }
  throw new Error('expected loadDataset to fail')
}

describe('loadDataset routing', () => {
  it('generates shapes with the given seed and options', async () => {
    const ds = await loadDataset('shapes', { seed: 3, shapes: { count: 50, testCount: 10 } })
    expect(ds.manifest).toMatchObject({ name: 'shapes', trainCount: 50, testCount: 10 })
    const again = await loadDataset('shapes', { seed: 3, shapes: { count: 50, testCount: 10 } })
    expect(again.manifest.contentHash).toBe(ds.manifest.contentHash)
    const other = await loadDataset('shapes', { seed: 4, shapes: { count: 50, testCount: 10 } })
    expect(other.manifest.contentHash).not.toBe(ds.manifest.contentHash)
  })

  it('reads a .csv path as CSV (any case of the suffix)', async () => {
    const file = join(dir, 'Data.CSV')
    await writeFile(file, 'kind,a\nx,1\ny,2\n')
    const ds = await loadDataset(file, { labelColumn: 'kind', testFraction: 0 })
    expect(ds.manifest).toMatchObject({ source: 'csv', name: 'Data', classes: ['x', 'y'] })
  })

  it('reads a folder with IDX files as IDX', async () => {
    await writeTinyIdx(join(dir, 'digits'), 20)
    const ds = await loadDataset(join(dir, 'digits'))
    expect(ds.manifest).toMatchObject({ source: 'idx', name: 'digits', trainCount: 20 })
  })

  it('reads a folder of class folders as images', async () => {
    const png = await sharp(Buffer.alloc(9, 7), { raw: { width: 3, height: 3, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer()
    await mkdir(join(dir, 'pics', 'a'), { recursive: true })
    await writeFile(join(dir, 'pics', 'a', '1.png'), png)
    const ds = await loadDataset(join(dir, 'pics'), { testFraction: 0, size: 5 })
    expect(ds.manifest).toMatchObject({ source: 'image-folder', inputShape: [5, 5, 1] })
  })

  it('throws ERR_NOT_FOUND for a path that does not exist, listing the built-in names', async () => {
    const err = await failure(loadDataset(join(dir, 'nothing')))
    expect(err.code).toBe('ERR_NOT_FOUND')
    expect(err.message).toBe(
      `${join(dir, 'nothing')}: no such file or folder, and not a built-in dataset (shapes, fashion-mnist)`,
    )
  })

  it('throws ERR_BAD_DATASET for a file that is not CSV', async () => {
    await writeFile(join(dir, 'x.json'), '{}')
    const err = await failure(loadDataset(join(dir, 'x.json')))
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toMatch(/x\.json: not a dataset/)
  })
})

describe('loadDataset fashion-mnist search order', () => {
  const locations = () => ({
    dataDir: join(dir, 'data'),
    cacheDir: join(dir, 'cache'),
    systemDirs: [join(dir, 'system')],
    allowDownload: false,
  })

  it('prefers the data folder over the cache and system folders', async () => {
    await writeTinyIdx(join(dir, 'data', 'fashion-mnist'), 11)
    await writeTinyIdx(join(dir, 'cache', 'fashion-mnist'), 12)
    await writeTinyIdx(join(dir, 'system', 'fashion-mnist'), 13)
    const ds = await loadDataset('fashion-mnist', locations())
    expect(ds.manifest).toMatchObject({
      name: 'fashion-mnist',
      source: 'builtin',
      trainCount: 11,
      classes: FASHION_MNIST_CLASSES,
    })
  })

  it('uses the cache before the system folder', async () => {
    await writeTinyIdx(join(dir, 'cache', 'fashion-mnist'), 12)
    await writeTinyIdx(join(dir, 'system', 'fashion-mnist'), 13)
    expect((await loadDataset('fashion-mnist', locations())).manifest.trainCount).toBe(12)
  })

  it('skips an incomplete folder and falls through to the system copy', async () => {
    await mkdir(join(dir, 'cache', 'fashion-mnist'), { recursive: true })
    await writeFile(join(dir, 'cache', 'fashion-mnist', 'train-images-idx3-ubyte'), 'partial')
    await writeTinyIdx(join(dir, 'system', 'fashion-mnist'), 13)
    expect((await loadDataset('fashion-mnist', locations())).manifest.trainCount).toBe(13)
  })

  it('reports a corrupt copy instead of silently using another one', async () => {
    await writeTinyIdx(join(dir, 'data', 'fashion-mnist'), 11)
    const labels = join(dir, 'data', 'fashion-mnist', 'train-labels-idx1-ubyte')
    await writeFile(labels, encodeIdxLabels([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))
    await writeTinyIdx(join(dir, 'system', 'fashion-mnist'), 13)
    const err = await failure(loadDataset('fashion-mnist', locations()))
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toBe(`${labels}: label 10 at index 10 is out of range (10 classes: 0..9)`)
  })

  it('throws ERR_NOT_FOUND naming every searched folder when downloads are off', async () => {
    const err = await failure(loadDataset('fashion-mnist', locations()))
    expect(err.code).toBe('ERR_NOT_FOUND')
    expect(err.message).toBe(
      `fashion-mnist not found in ${join(dir, 'data', 'fashion-mnist')}, ${join(dir, 'cache', 'fashion-mnist')}, ${join(dir, 'system', 'fashion-mnist')} (download disabled)`,
    )
  })

  it('reads LONGHAUL_DATA_DIR and defaults the cache to ~/.cache/longhaul/datasets', () => {
    vi.stubEnv('LONGHAUL_DATA_DIR', '/srv/data')
    const { search, downloadTo } = fashionMnistLocations({ systemDirs: ['/usr/share/datasets'] })
    expect(search).toEqual([
      '/srv/data/fashion-mnist',
      join(defaultCacheDir(), 'fashion-mnist'),
      '/usr/share/datasets/fashion-mnist',
    ])
    expect(downloadTo).toBe('/srv/data/fashion-mnist')
    vi.stubEnv('LONGHAUL_DATA_DIR', '')
    expect(fashionMnistLocations().downloadTo).toBe(join(defaultCacheDir(), 'fashion-mnist'))
    expect(defaultCacheDir().endsWith(join('.cache', 'longhaul', 'datasets'))).toBe(true)
  })

  it('throws ERR_DOWNLOAD_FAILED naming the searched folders when every mirror fails', async () => {
    const err = await failure(
      loadDataset('fashion-mnist', { ...locations(), allowDownload: true, mirrors: ['http://127.0.0.1:9/'] }),
    )
    expect(err.code).toBe('ERR_DOWNLOAD_FAILED')
    expect(err.message).toMatch(
      /^fashion-mnist not found in .*system\/fashion-mnist, and downloading it failed: could not download train-images-idx3-ubyte\.gz: http:\/\/127\.0\.0\.1:9\/train-images-idx3-ubyte\.gz/,
    )
    expect(existsSync(join(dir, 'data'))).toBe(false)
  })

  it.skipIf(!hasDebianFiles)(
    'downloads into the data folder when nothing is found, then loads it',
    async () => {
      const files = new Map<string, Buffer>()
      for (const f of FASHION_MNIST_FILES)
        files.set(`/fm/${f.file}`, await readFile(join(DEBIAN_DIR, f.file)))
      const server = createServer((req, res) => {
        const body = files.get(req.url ?? '')
        if (body === undefined) res.writeHead(404).end()
        else res.writeHead(200, { 'content-length': String(body.length) }).end(body)
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      try {
        const port = (server.address() as AddressInfo).port
        const lines: string[] = []
        const ds = await loadDataset('fashion-mnist', {
          ...locations(),
          allowDownload: true,
          mirrors: [`http://127.0.0.1:${port}/fm/`],
          onProgress: (line) => lines.push(line),
        })
        expect(ds.manifest).toMatchObject({ trainCount: 60000, testCount: 10000, source: 'builtin' })
        expect(existsSync(join(dir, 'data', 'fashion-mnist', 'train-images-idx3-ubyte.gz'))).toBe(true)
        expect(
          lines.some((l) =>
            /^downloading train-images-idx3-ubyte\.gz \(1\/4\) \[#+\] 100% 26\.4\/26\.4 MB$/.test(l),
          ),
        ).toBe(true)
      } finally {
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      }
    },
  )
})
