/**
 * Model snapshots for catch-up: a late joiner receives a peer's current model as a series
 * of `snapshot.chunk` messages, each one frame, so no frame grows with the model.
 *
 * Chunks follow the balanced rule of split.ts (any order, lengths fixed by totalBytes and
 * chunkCount) and carry the FNV-1a 64 hash of the whole snapshot, which the assembler checks
 * before it hands the snapshot over. The assembler holds at most one snapshot of at most
 * `maxSnapshotBytes`; a chunk of another snapshot id starts over (the sender restarted).
 */
import { CoreError } from '../errors.ts'
import { Fnv1a64 } from '../hash.ts'
import type { SnapshotChunkMessage } from './messages.ts'
import { expectedPieceLength, planSplit } from './split.ts'

/** Snapshot bytes per chunk message by default: one 1 MiB frame, 64 data-channel chunks of 16 KiB. */
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 1024 * 1024

/** Default largest snapshot an assembler accepts; raise it for models over ~64M f32 parameters. */
export const DEFAULT_MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024

export interface SplitSnapshotOptions {
  /** u32 naming this transfer; the receiver starts over when it changes. */
  readonly snapshotId: number
  /** The round the snapshot was taken at. */
  readonly round: number
  /** Most snapshot bytes per chunk message (default DEFAULT_SNAPSHOT_CHUNK_BYTES, at least 48). */
  readonly chunkBytes?: number
}

/**
 * Cuts a snapshot into chunk messages ready for encodeMessage. Their `bytes` are views into
 * `snapshot` (no copies), so keep it unchanged until they are encoded. Fails with
 * ERR_INVALID_ARGUMENT on a snapshot of 2^32 bytes or more, or an out-of-range option.
 */
export function splitSnapshot(snapshot: Uint8Array, options: SplitSnapshotOptions): SnapshotChunkMessage[] {
  if (snapshot.length > 0xffffffff)
    throw new CoreError('ERR_INVALID_ARGUMENT', 'a snapshot must be under 4 GiB')
  if (!Number.isInteger(options.snapshotId) || options.snapshotId < 0 || options.snapshotId > 0xffffffff) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `snapshotId must be a u32, got ${options.snapshotId}`)
  }
  const { pieceCount, pieceBytes } = planSplit(
    snapshot.length,
    options.chunkBytes ?? DEFAULT_SNAPSHOT_CHUNK_BYTES,
  )
  const snapshotHash = new Fnv1a64().update(snapshot).digestHex()
  const chunks: SnapshotChunkMessage[] = []
  for (let chunkIndex = 0; chunkIndex < pieceCount; chunkIndex++) {
    const start = chunkIndex * pieceBytes
    chunks.push({
      type: 'snapshot.chunk',
      round: options.round,
      snapshotId: options.snapshotId,
      chunkIndex,
      chunkCount: pieceCount,
      totalBytes: snapshot.length,
      snapshotHash,
      bytes: snapshot.subarray(start, Math.min(start + pieceBytes, snapshot.length)),
    })
  }
  return chunks
}

export interface CompletedSnapshot {
  readonly snapshotId: number
  readonly round: number
  /** The whole snapshot, hash verified; a fresh buffer the caller owns. */
  readonly bytes: Uint8Array
}

export interface SnapshotAssemblerOptions {
  /** Largest snapshot accepted (default DEFAULT_MAX_SNAPSHOT_BYTES). */
  readonly maxSnapshotBytes?: number
}

interface PartialSnapshot {
  readonly snapshotId: number
  readonly round: number
  readonly chunkCount: number
  readonly snapshotHash: string
  readonly buffer: Uint8Array
  readonly received: Uint32Array
  receivedCount: number
}

/**
 * Collects the chunks of one snapshot from one peer. Any refused chunk (CoreError:
 * ERR_BAD_MESSAGE for inconsistent, duplicate or mis-sized chunks and hash mismatches,
 * ERR_FRAME_TOO_LARGE over the limit) discards the partial snapshot.
 */
export class SnapshotAssembler {
  private readonly maxSnapshotBytes: number
  private partial: PartialSnapshot | undefined

  constructor(options: SnapshotAssemblerOptions = {}) {
    const max = options.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `maxSnapshotBytes must be a non-negative integer, got ${max}`,
      )
    }
    this.maxSnapshotBytes = max
  }

  /** Bytes held for the snapshot in progress (its declared total), 0 when idle. */
  get bufferedBytes(): number {
    return this.partial?.buffer.length ?? 0
  }

  /** Chunks of the snapshot in progress received so far. */
  get receivedChunks(): number {
    return this.partial?.receivedCount ?? 0
  }

  /** Adds one chunk; returns the verified snapshot once its last chunk arrives, else null. */
  add(chunk: SnapshotChunkMessage): CompletedSnapshot | null {
    let p = this.partial
    if (p !== undefined && p.snapshotId !== chunk.snapshotId) {
      // A new transfer replaces the old one: the sender restarted, possibly at a newer round.
      this.partial = p = undefined
    }
    if (
      p !== undefined &&
      (p.chunkCount !== chunk.chunkCount ||
        p.buffer.length !== chunk.totalBytes ||
        p.snapshotHash !== chunk.snapshotHash ||
        p.round !== chunk.round)
    ) {
      this.partial = undefined
      throw new CoreError(
        'ERR_BAD_MESSAGE',
        `snapshot ${chunk.snapshotId}: chunk ${chunk.chunkIndex} disagrees with earlier chunks`,
      )
    }
    if (chunk.totalBytes > this.maxSnapshotBytes) {
      this.partial = undefined
      throw new CoreError(
        'ERR_FRAME_TOO_LARGE',
        `snapshot ${chunk.snapshotId} is ${chunk.totalBytes} bytes, over the ${this.maxSnapshotBytes}-byte limit`,
      )
    }
    const expected = expectedPieceLength(chunk.totalBytes, chunk.chunkCount, chunk.chunkIndex)
    if (expected === undefined || expected !== chunk.bytes.length) {
      this.partial = undefined
      throw new CoreError(
        'ERR_BAD_MESSAGE',
        `snapshot ${chunk.snapshotId}: chunk ${chunk.chunkIndex} has the wrong length`,
      )
    }
    if (p === undefined) {
      p = {
        snapshotId: chunk.snapshotId,
        round: chunk.round,
        chunkCount: chunk.chunkCount,
        snapshotHash: chunk.snapshotHash,
        buffer: new Uint8Array(chunk.totalBytes),
        received: new Uint32Array(Math.ceil(chunk.chunkCount / 32)),
        receivedCount: 0,
      }
      this.partial = p
    }
    const word = chunk.chunkIndex >>> 5
    const bit = 1 << (chunk.chunkIndex & 31)
    if ((p.received[word]! & bit) !== 0) {
      this.partial = undefined
      throw new CoreError(
        'ERR_BAD_MESSAGE',
        `snapshot ${chunk.snapshotId}: chunk ${chunk.chunkIndex} arrived twice`,
      )
    }
    p.received[word] = p.received[word]! | bit
    p.buffer.set(chunk.bytes, chunk.chunkIndex * Math.ceil(chunk.totalBytes / chunk.chunkCount))
    p.receivedCount++
    if (p.receivedCount < p.chunkCount) return null
    this.partial = undefined
    const actualHash = new Fnv1a64().update(p.buffer).digestHex()
    if (actualHash !== p.snapshotHash) {
      throw new CoreError(
        'ERR_BAD_MESSAGE',
        `snapshot ${p.snapshotId} hashes to ${actualHash}, the sender announced ${p.snapshotHash}`,
      )
    }
    return { snapshotId: p.snapshotId, round: p.round, bytes: p.buffer }
  }

  /** Drops the snapshot in progress (e.g. the catch-up timed out or the peer left). */
  reset(): void {
    this.partial = undefined
  }
}
