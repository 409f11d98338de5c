import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { DownloadProgress } from '../../../../core/data/download.node.ts'
import { downloadDatasetFiles, formatDownloadProgress } from '../../../../core/data/download.node.ts'
import type { DatasetFileChecksum } from '../../../../core/data/fashion-mnist.ts'
import { FASHION_MNIST_FILES } from '../../../../core/data/fashion-mnist.ts'
import { createPrng } from '../../../../core/data/prng.ts'
import { CoreError } from '../../../../core/errors.ts'

const DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
const hasDebianFiles = FASHION_MNIST_FILES.every((f) => existsSync(join(DEBIAN_DIR, f.file)))

type Route = Uint8Array | 'stall' | 404
const SLICE_BYTES = 1 << 20
let server: Server
let baseUrl: string
let routes: Map<string, Route>
let dir: string

beforeEach(async () => {
  routes = new Map()
  dir = await mkdtemp(join(tmpdir(), 'longhaul-dl-'))
  server = createServer((req, res) => {
    const route = routes.get(req.url ?? '')
    if (route === undefined || route === 404) {
      res.writeHead(404).end('not found')
    } else if (route === 'stall') {
      res.writeHead(200, { 'content-length': '1000' })
      res.write(new Uint8Array(10))
    } else {
      // Send in slices, one per event-loop turn, so the client sees the body arrive in parts.
      res.writeHead(200, { 'content-length': String(route.length) })
      const sendFrom = (offset: number): void => {
        if (offset >= route.length) {
          res.end()
          return
        }
        res.write(route.subarray(offset, offset + SLICE_BYTES))
        setImmediate(() => sendFrom(offset + SLICE_BYTES))
      }
      sendFrom(0)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterEach(async () => {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await rm(dir, { recursive: true, force: true })
})

function synthetic(name: string, content: Uint8Array): { entry: DatasetFileChecksum; gz: Uint8Array } {
  return {
    entry: {
      file: name,
      contentBytes: content.length,
      contentSha256: createHash('sha256').update(content).digest('hex'),
    },
    gz: gzipSync(content),
  }
}

async function failure(promise: Promise<unknown>): Promise<CoreError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof CoreError) return err
    throw err
  }
  throw new Error('expected the download to fail')
}

describe('downloadDatasetFiles', () => {
  it('downloads, verifies and installs every file, reporting progress per file', async () => {
    // Random content compresses poorly, so the big file arrives in many chunks.
    const prng = createPrng(1)
    const noise = Uint8Array.from({ length: 3_000_000 }, () => prng.nextUint32() & 0xff)
    const parts = [synthetic('big.gz', noise), synthetic('small.gz', new TextEncoder().encode('small file'))]
    for (const p of parts) routes.set(`/mirror/${p.entry.file}`, p.gz)
    const destDir = join(dir, 'cache', 'set')
    const reports: DownloadProgress[] = []
    const result = await downloadDatasetFiles({
      destDir,
      files: parts.map((p) => p.entry),
      baseUrls: [`${baseUrl}/mirror`],
      onProgress: (p) => reports.push(p),
    })
    expect(result).toBe(destDir)
    expect((await readdir(destDir)).sort()).toEqual(['big.gz', 'small.gz'])
    for (const p of parts) expect((await readFile(join(destDir, p.entry.file))).equals(p.gz)).toBe(true)
    // Nothing but the final folder is left beside it.
    expect(await readdir(join(dir, 'cache'))).toEqual(['set'])
    for (const [i, p] of parts.entries()) {
      const mine = reports.filter((r) => r.file === p.entry.file)
      expect(mine.every((r) => r.fileIndex === i + 1 && r.fileCount === 2)).toBe(true)
      for (let k = 1; k < mine.length; k++)
        expect(mine[k]!.receivedBytes).toBeGreaterThan(mine[k - 1]!.receivedBytes)
      expect(mine.at(-1)!.receivedBytes).toBe(p.gz.length)
      expect(mine.at(-1)!.totalBytes).toBe(p.gz.length)
    }
    // At most one report per percent (plus the start) per file.
    expect(reports.filter((r) => r.file === 'big.gz').length).toBeGreaterThan(2)
    expect(reports.filter((r) => r.file === 'big.gz').length).toBeLessThanOrEqual(102)
  })

  it.skipIf(!hasDebianFiles)(
    'leaves nothing in the cache when a Fashion-MNIST file fails its checksum after another passed',
    async () => {
      for (const f of FASHION_MNIST_FILES)
        routes.set(`/m/${f.file}`, await readFile(join(DEBIAN_DIR, f.file)))
      // train-images (26 MB) downloads and verifies first; then train-labels has one label changed.
      const labels = gunzipSync(await readFile(join(DEBIAN_DIR, 'train-labels-idx1-ubyte.gz')))
      labels[100] = (labels[100]! + 1) % 10
      routes.set('/m/train-labels-idx1-ubyte.gz', gzipSync(labels))
      // The cache already holds another dataset: it must be left exactly as it was.
      await mkdir(join(dir, 'cache', 'other'), { recursive: true })
      await writeFile(join(dir, 'cache', 'other', 'keep.txt'), 'keep')
      const destDir = join(dir, 'cache', 'fashion-mnist')
      const err = await failure(
        downloadDatasetFiles({ destDir, files: FASHION_MNIST_FILES, baseUrls: [`${baseUrl}/m/`] }),
      )
      expect(err.code).toBe('ERR_BAD_DATASET')
      expect(err.message).toMatch(
        /^could not download train-labels-idx1-ubyte\.gz: http:\/\/127\.0\.0\.1:\d+\/m\/train-labels-idx1-ubyte\.gz: checksum mismatch: content SHA-256 [0-9a-f]{64}, expected bad3541b/,
      )
      expect(existsSync(destDir)).toBe(false)
      expect(await readdir(join(dir, 'cache'))).toEqual(['other'])
      expect(await readdir(join(dir, 'cache', 'other'))).toEqual(['keep.txt'])
    },
  )

  it('falls back to the next mirror when one answers 404', async () => {
    const a = synthetic('a.gz', new TextEncoder().encode('alpha'.repeat(100)))
    routes.set('/two/a.gz', a.gz)
    const destDir = join(dir, 'd')
    await downloadDatasetFiles({ destDir, files: [a.entry], baseUrls: [`${baseUrl}/one`, `${baseUrl}/two`] })
    expect((await readFile(join(destDir, 'a.gz'))).equals(a.gz)).toBe(true)
  })

  it('throws ERR_DOWNLOAD_FAILED listing every mirror when all answer 404', async () => {
    const a = synthetic('a.gz', new Uint8Array(10))
    const destDir = join(dir, 'new', 'cache', 'd')
    const err = await failure(
      downloadDatasetFiles({ destDir, files: [a.entry], baseUrls: [`${baseUrl}/x`, `${baseUrl}/y/`] }),
    )
    expect(err.code).toBe('ERR_DOWNLOAD_FAILED')
    expect(err.message).toContain(`${baseUrl}/x/a.gz: HTTP 404`)
    expect(err.message).toContain(`${baseUrl}/y/a.gz: HTTP 404`)
    // The parent folders it had to create are removed again.
    expect(await readdir(dir)).toEqual([])
  })

  it('gives up on a stalled transfer after the idle timeout', async () => {
    const a = synthetic('a.gz', new Uint8Array(10))
    routes.set('/s/a.gz', 'stall')
    const err = await failure(
      downloadDatasetFiles({
        destDir: join(dir, 'd'),
        files: [a.entry],
        baseUrls: [`${baseUrl}/s`],
        idleTimeoutMs: 200,
      }),
    )
    expect(err.code).toBe('ERR_DOWNLOAD_FAILED')
    expect(err.message).toContain('no data for 200 ms')
    expect(await readdir(dir)).toEqual([])
  })

  it('stops with ERR_ABORTED when the signal fires', async () => {
    const a = synthetic('a.gz', new Uint8Array(10))
    routes.set('/s/a.gz', 'stall')
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    const err = await failure(
      downloadDatasetFiles({
        destDir: join(dir, 'd'),
        files: [a.entry],
        baseUrls: [`${baseUrl}/s`],
        signal: controller.signal,
      }),
    )
    expect(err.code).toBe('ERR_ABORTED')
    expect(await readdir(dir)).toEqual([])
  })

  it('rejects content longer than expected before hashing all of it', async () => {
    const a = synthetic('a.gz', new Uint8Array(100))
    routes.set('/m/a.gz', gzipSync(new Uint8Array(5000)))
    const err = await failure(
      downloadDatasetFiles({ destDir: join(dir, 'd'), files: [a.entry], baseUrls: [`${baseUrl}/m`] }),
    )
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toContain('decompresses to more than 100 bytes, expected 100')
  })

  it('rejects a response that is not gzip', async () => {
    const a = synthetic('a.gz', new Uint8Array(100))
    routes.set('/m/a.gz', new TextEncoder().encode('<html>captive portal</html>'))
    const err = await failure(
      downloadDatasetFiles({ destDir: join(dir, 'd'), files: [a.entry], baseUrls: [`${baseUrl}/m`] }),
    )
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toContain('corrupt gzip data')
  })
})

describe('formatDownloadProgress', () => {
  it('draws a bar with percent and megabytes when the length is known', () => {
    const line = formatDownloadProgress(
      {
        file: 'f.gz',
        url: 'u',
        fileIndex: 1,
        fileCount: 4,
        receivedBytes: 13_210_928,
        totalBytes: 26_421_856,
      },
      10,
    )
    expect(line).toBe('downloading f.gz (1/4) [#####-----] 50% 13.2/26.4 MB')
  })

  it('shows only megabytes when the length is unknown', () => {
    const line = formatDownloadProgress({
      file: 'f.gz',
      url: 'u',
      fileIndex: 2,
      fileCount: 2,
      receivedBytes: 1_500_000,
      totalBytes: undefined,
    })
    expect(line).toBe('downloading f.gz (2/2) 1.5 MB')
  })
})
