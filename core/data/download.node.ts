/**
 * Downloads a dataset's files from a list of mirrors into a cache folder, all or nothing:
 * every file goes to a temporary folder beside the destination, is checked (decompressed
 * size and SHA-256 of the content), and only when all files passed are they renamed into
 * the destination one by one (rename is atomic within a file system). Any failure removes
 * the temporary folder, so a cache folder never holds a partial or unverified file.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, open, rename, rm, rmdir } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { createGunzip } from 'node:zlib'
import { CoreError, isCoreError } from '../errors.ts'
import type { DatasetFileChecksum } from './fashion-mnist.ts'

/** A stalled transfer (no bytes for this long) is abandoned and the next mirror tried. */
export const DOWNLOAD_IDLE_TIMEOUT_MS = 30_000

export interface DownloadProgress {
  readonly file: string
  readonly url: string
  /** 1-based position of this file and how many files the download has. */
  readonly fileIndex: number
  readonly fileCount: number
  readonly receivedBytes: number
  /** From Content-Length; undefined when the server does not say. */
  readonly totalBytes: number | undefined
}

export interface DownloadOptions {
  /** Final folder; created only once every file has been verified. */
  readonly destDir: string
  readonly files: readonly DatasetFileChecksum[]
  /** Base URLs tried in order for each file (a trailing slash is added when missing). */
  readonly baseUrls: readonly string[]
  /** Called as bytes arrive (at most once per percent, or per MiB without a length). */
  readonly onProgress?: (progress: DownloadProgress) => void
  readonly signal?: AbortSignal
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch
  readonly idleTimeoutMs?: number
}

/** One-line text progress bar, e.g. `train-images-idx3-ubyte.gz (1/4) [######------] 50% 13.2/26.4 MB`. */
export function formatDownloadProgress(p: DownloadProgress, barWidth = 24): string {
  const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)
  const head = `downloading ${p.file} (${p.fileIndex}/${p.fileCount})`
  if (p.totalBytes === undefined || p.totalBytes <= 0) return `${head} ${mb(p.receivedBytes)} MB`
  const ratio = Math.min(1, p.receivedBytes / p.totalBytes)
  const filled = Math.round(ratio * barWidth)
  const bar = `${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}`
  return `${head} [${bar}] ${Math.floor(ratio * 100)}% ${mb(p.receivedBytes)}/${mb(p.totalBytes)} MB`
}

function joinUrl(base: string, file: string): string {
  return base.endsWith('/') ? `${base}${file}` : `${base}/${file}`
}

function describe(err: unknown): string {
  if (isCoreError(err)) return err.message
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
    return `${err.message}${cause}`
  }
  return String(err)
}

/** Streams `url` into `target`, reporting progress; throws ERR_DOWNLOAD_FAILED / ERR_ABORTED. */
async function fetchToFile(
  url: string,
  target: string,
  options: DownloadOptions,
  report: (received: number, total: number | undefined) => void,
): Promise<void> {
  const doFetch = options.fetch ?? fetch
  const idleMs = options.idleTimeoutMs ?? DOWNLOAD_IDLE_TIMEOUT_MS
  const controller = new AbortController()
  const onAbort = (): void => controller.abort()
  options.signal?.addEventListener('abort', onAbort, { once: true })
  let timer: ReturnType<typeof setTimeout> | undefined
  let isIdle = false
  const armTimer = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      isIdle = true
      controller.abort()
    }, idleMs)
  }
  const file = await open(target, 'w')
  try {
    armTimer()
    const response = await doFetch(url, { signal: controller.signal, redirect: 'follow' })
    if (!response.ok || response.body === null) {
      throw new CoreError(
        'ERR_DOWNLOAD_FAILED',
        `${url}: HTTP ${response.status} ${response.statusText}`.trim(),
      )
    }
    const lengthHeader = Number(response.headers.get('content-length'))
    const total = Number.isFinite(lengthHeader) && lengthHeader > 0 ? lengthHeader : undefined
    let received = 0
    report(0, total)
    const reader = response.body.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      armTimer()
      await file.write(value)
      received += value.byteLength
      report(received, total)
    }
  } catch (err) {
    if (options.signal?.aborted)
      throw new CoreError('ERR_ABORTED', `${url}: download cancelled`, { cause: err })
    if (isIdle) throw new CoreError('ERR_DOWNLOAD_FAILED', `${url}: no data for ${idleMs} ms`, { cause: err })
    if (isCoreError(err)) throw err
    throw new CoreError('ERR_DOWNLOAD_FAILED', `${url}: ${describe(err)}`, { cause: err })
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
    await file.close()
  }
}

/** Gunzips `path` while hashing; stops early past the expected size. Throws ERR_BAD_DATASET. */
async function verifyContent(path: string, expected: DatasetFileChecksum, source: string): Promise<void> {
  const hash = createHash('sha256')
  let bytes = 0
  try {
    const gunzip = createReadStream(path).pipe(createGunzip())
    for await (const chunk of gunzip) {
      if (!(chunk instanceof Uint8Array)) throw new Error('gunzip produced a non-binary chunk')
      bytes += chunk.byteLength
      if (bytes > expected.contentBytes) {
        gunzip.destroy()
        break
      }
      hash.update(chunk)
    }
  } catch (err) {
    throw new CoreError('ERR_BAD_DATASET', `${source}: corrupt gzip data (${describe(err)})`, { cause: err })
  }
  if (bytes !== expected.contentBytes) {
    const what = bytes > expected.contentBytes ? `more than ${expected.contentBytes}` : String(bytes)
    throw new CoreError(
      'ERR_BAD_DATASET',
      `${source}: decompresses to ${what} bytes, expected ${expected.contentBytes}`,
    )
  }
  const actual = hash.digest('hex')
  if (actual !== expected.contentSha256) {
    throw new CoreError(
      'ERR_BAD_DATASET',
      `${source}: checksum mismatch: content SHA-256 ${actual}, expected ${expected.contentSha256}`,
    )
  }
}

/**
 * Downloads and verifies every file, then moves them into `destDir`. On failure nothing is
 * left behind and the error says what happened on each mirror: ERR_BAD_DATASET when some
 * mirror served wrong content, else ERR_DOWNLOAD_FAILED; ERR_ABORTED when `signal` fired.
 */
export async function downloadDatasetFiles(options: DownloadOptions): Promise<string> {
  if (options.baseUrls.length === 0) throw new CoreError('ERR_INVALID_ARGUMENT', 'no download mirrors given')
  const parent = dirname(options.destDir)
  const firstCreated = await mkdir(parent, { recursive: true })
  const tempDir = await mkdtemp(join(parent, `.${basename(options.destDir)}.download-`))
  let isInstalled = false
  try {
    for (const [index, entry] of options.files.entries()) {
      const target = join(tempDir, entry.file)
      const failures: { message: string; isBadContent: boolean }[] = []
      for (const base of options.baseUrls) {
        const url = joinUrl(base, entry.file)
        let lastPercent = -1
        let lastMiB = -1
        const report = (received: number, total: number | undefined): void => {
          if (!options.onProgress) return
          const isDone = total !== undefined && received >= total
          if (total !== undefined) {
            const percent = Math.floor((received / total) * 100)
            if (percent === lastPercent && !isDone) return
            lastPercent = percent
          } else {
            const mib = Math.floor(received / 2 ** 20)
            if (mib === lastMiB) return
            lastMiB = mib
          }
          options.onProgress({
            file: entry.file,
            url,
            fileIndex: index + 1,
            fileCount: options.files.length,
            receivedBytes: received,
            totalBytes: total,
          })
        }
        try {
          await fetchToFile(url, target, options, report)
          await verifyContent(target, entry, url)
          failures.length = 0
          break
        } catch (err) {
          if (isCoreError(err, 'ERR_ABORTED')) throw err
          failures.push({ message: describe(err), isBadContent: isCoreError(err, 'ERR_BAD_DATASET') })
        }
      }
      if (failures.length > 0) {
        const isBadContent = failures.some((f) => f.isBadContent)
        throw new CoreError(
          isBadContent ? 'ERR_BAD_DATASET' : 'ERR_DOWNLOAD_FAILED',
          `could not download ${entry.file}: ${failures.map((f) => f.message).join('; ')}`,
        )
      }
    }
    await mkdir(options.destDir, { recursive: true })
    for (const entry of options.files)
      await rename(join(tempDir, entry.file), join(options.destDir, entry.file))
    isInstalled = true
    return options.destDir
  } finally {
    await rm(tempDir, { recursive: true, force: true })
    if (!isInstalled && firstCreated !== undefined) await removeEmptyDirs(parent, firstCreated)
  }
}

/** Removes `from` and its parents up to `upTo` while they are empty: a failed download leaves no trace. */
async function removeEmptyDirs(from: string, upTo: string): Promise<void> {
  let dir = from
  for (;;) {
    try {
      await rmdir(dir)
    } catch {
      return
    }
    if (dir === upTo) return
    const up = dirname(dir)
    if (up === dir) return
    dir = up
  }
}
