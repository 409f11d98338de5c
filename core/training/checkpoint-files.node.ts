/**
 * Checkpoints on disk. A directory holds `latest.ckpt` and `previous.ckpt`.
 *
 * Writes are atomic: the new checkpoint goes to a temp file in the same directory, is
 * fsynced, then renamed over `latest.ckpt` (rename is atomic on POSIX and NTFS). The old
 * latest is first hard-linked as `previous.ckpt`, so a kill at any instant leaves at least
 * one complete checkpoint, and a corrupt latest (disk error, foreign file) falls back to
 * previous with the reason logged.
 */
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { CoreError, isCoreError } from '../errors.ts'
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint.ts'

export const LATEST_CHECKPOINT = 'latest.ckpt'
export const PREVIOUS_CHECKPOINT = 'previous.ckpt'

export async function saveCheckpoint(dir: string, checkpoint: Checkpoint): Promise<string> {
  await fs.mkdir(dir, { recursive: true })
  const bytes = encodeCheckpoint(checkpoint)
  const latest = path.join(dir, LATEST_CHECKPOINT)
  const temp = path.join(dir, `.${LATEST_CHECKPOINT}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const handle = await fs.open(temp, 'wx')
  try {
    await handle.writeFile(bytes)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    const previous = path.join(dir, PREVIOUS_CHECKPOINT)
    await fs.rm(previous, { force: true })
    await fs.link(latest, previous).catch((error: unknown) => {
      if (!isErrno(error, 'ENOENT')) throw error
    })
    await fs.rename(temp, latest)
  } catch (error) {
    await fs.rm(temp, { force: true })
    throw error
  }
  await syncDirectory(dir)
  return latest
}

export interface LoadedCheckpoint {
  readonly checkpoint: Checkpoint
  readonly file: string
  /** Set when latest.ckpt was unusable and previous.ckpt was loaded instead. */
  readonly fallbackReason?: string
}

/** Loads the newest valid checkpoint in `dir`, or returns undefined when there is none. */
export async function loadLatestCheckpoint(dir: string): Promise<LoadedCheckpoint | undefined> {
  const latest = path.join(dir, LATEST_CHECKPOINT)
  const previous = path.join(dir, PREVIOUS_CHECKPOINT)
  let latestProblem: string | undefined
  try {
    return { checkpoint: await readCheckpointFile(latest), file: latest }
  } catch (error) {
    if (!isCoreError(error, 'ERR_NOT_FOUND') && !isCoreError(error, 'ERR_BAD_CHECKPOINT')) throw error
    latestProblem = error.message
  }
  try {
    return { checkpoint: await readCheckpointFile(previous), file: previous, fallbackReason: latestProblem }
  } catch (error) {
    if (isCoreError(error, 'ERR_NOT_FOUND')) {
      if (latestProblem.includes('does not exist')) return undefined
      throw new CoreError('ERR_BAD_CHECKPOINT', latestProblem)
    }
    throw error
  }
}

export async function readCheckpointFile(file: string): Promise<Checkpoint> {
  let bytes: Uint8Array
  try {
    bytes = await fs.readFile(file)
  } catch (error) {
    if (isErrno(error, 'ENOENT')) throw new CoreError('ERR_NOT_FOUND', `${file} does not exist`)
    throw error
  }
  return decodeCheckpoint(bytes, file)
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes the rename durable on Linux; Windows cannot open directories, which is fine there.
  if (process.platform === 'win32') return
  const handle = await fs.open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && 'code' in error && error.code === code
}
