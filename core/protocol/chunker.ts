/**
 * Splits encoded frames into data-channel messages and puts them back together.
 *
 * Every data-channel message is one chunk: a 16-byte chunk header, then a piece of the frame.
 *
 * | offset | bytes | field        | rule                                               |
 * | -----: | ----: | ------------ | -------------------------------------------------- |
 * |      0 |     4 | frame id     | u32, chosen by the sender, unique among its frames in flight |
 * |      4 |     4 | chunk index  | u32, < chunk count                                 |
 * |      8 |     4 | chunk count  | u32, >= 1                                          |
 * |     12 |     4 | total bytes  | u32, the whole frame's length, >= 1                |
 *
 * Pieces follow the balanced rule of split.ts, so (total bytes, chunk count) fix where each
 * chunk goes and how long it must be: chunks may arrive in any order, and a chunk of the
 * wrong length is refused at once. 16 KiB messages are the size every browser pair delivers
 * (DEFAULT_CHUNK_BYTES); peers that both advertise more in their hello may use
 * `negotiateChunkBytes` to agree on larger ones.
 *
 * `Reassembler` holds one peer's partial frames. Its memory is bounded by construction:
 * at most `maxInFlightFrames` partial frames, each one buffer of exactly its declared total
 * (<= maxFrameBytes) plus one bit per chunk of bookkeeping (<= total / 192 bytes). A partial
 * frame that stops making progress for `incompleteTimeoutMs` is evicted.
 */
import { CoreError } from '../errors.ts'
import { DEFAULT_MAX_FRAME_BYTES, MAX_FRAME_BYTES_LIMIT } from './frame.ts'
import { MIN_PIECE_BYTES, expectedPieceLength, planSplit } from './split.ts'

/** Bytes of the chunk header in front of every piece. */
export const CHUNK_HEADER_BYTES = 16

/** The message size every WebRTC implementation pair delivers intact. */
export const DEFAULT_CHUNK_BYTES = 16 * 1024

/** Smallest chunk size a chunker accepts or a hello may advertise. */
export const MIN_CHUNK_BYTES = CHUNK_HEADER_BYTES + 2 * MIN_PIECE_BYTES

/**
 * Largest chunk size `negotiateChunkBytes` settles on: Chromium's SCTP max-message-size.
 * Larger advertised sizes are clamped, not refused.
 */
export const MAX_CHUNK_BYTES = 256 * 1024

/** Frame ids are u32 and wrap around. */
const FRAME_ID_MODULUS = 0x100000000

/**
 * Cuts `frame` into data-channel messages of at most `maxChunkBytes` bytes each (header
 * included), all tagged with `frameId`. Each chunk is a fresh buffer the caller may keep.
 * Fails with ERR_INVALID_ARGUMENT on an empty frame, a frame over 2^32 - 1 bytes, a
 * non-u32 frame id, or `maxChunkBytes` below MIN_CHUNK_BYTES.
 */
export function chunkFrame(frame: Uint8Array, frameId: number, maxChunkBytes: number): Uint8Array[] {
  if (!Number.isInteger(frameId) || frameId < 0 || frameId >= FRAME_ID_MODULUS) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `frame id must be a u32, got ${frameId}`)
  }
  if (!Number.isSafeInteger(maxChunkBytes) || maxChunkBytes < MIN_CHUNK_BYTES) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `maxChunkBytes must be an integer >= ${MIN_CHUNK_BYTES}, got ${maxChunkBytes}`,
    )
  }
  if (frame.length === 0 || frame.length > MAX_FRAME_BYTES_LIMIT) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `cannot chunk a frame of ${frame.length} bytes`)
  }
  const { pieceCount, pieceBytes } = planSplit(frame.length, maxChunkBytes - CHUNK_HEADER_BYTES)
  const chunks: Uint8Array[] = []
  for (let index = 0; index < pieceCount; index++) {
    const start = index * pieceBytes
    const piece = frame.subarray(start, Math.min(start + pieceBytes, frame.length))
    const chunk = new Uint8Array(CHUNK_HEADER_BYTES + piece.length)
    const view = new DataView(chunk.buffer)
    view.setUint32(0, frameId, true)
    view.setUint32(4, index, true)
    view.setUint32(8, pieceCount, true)
    view.setUint32(12, frame.length, true)
    chunk.set(piece, CHUNK_HEADER_BYTES)
    chunks.push(chunk)
  }
  return chunks
}

export interface ChunkerOptions {
  /** Largest data-channel message, chunk header included (default DEFAULT_CHUNK_BYTES). */
  readonly maxChunkBytes?: number
  /** First frame id to use (default 0); ids then count up and wrap at 2^32. */
  readonly firstFrameId?: number
}

/** One sender's chunker: hands out frame ids so a peer's frames never collide. */
export class Chunker {
  private maxChunkBytesValue: number
  private nextFrameId: number

  constructor(options: ChunkerOptions = {}) {
    this.maxChunkBytesValue = checkChunkBytes(options.maxChunkBytes ?? DEFAULT_CHUNK_BYTES)
    const first = options.firstFrameId ?? 0
    if (!Number.isInteger(first) || first < 0 || first >= FRAME_ID_MODULUS) {
      throw new CoreError('ERR_INVALID_ARGUMENT', `firstFrameId must be a u32, got ${first}`)
    }
    this.nextFrameId = first
  }

  get maxChunkBytes(): number {
    return this.maxChunkBytesValue
  }

  /** Switches to a newly negotiated chunk size; frames already split keep theirs. */
  setMaxChunkBytes(maxChunkBytes: number): void {
    this.maxChunkBytesValue = checkChunkBytes(maxChunkBytes)
  }

  /** Splits one encoded frame into the data-channel messages to send, in order. */
  split(frame: Uint8Array): Uint8Array[] {
    const chunks = chunkFrame(frame, this.nextFrameId, this.maxChunkBytesValue)
    this.nextFrameId = (this.nextFrameId + 1) % FRAME_ID_MODULUS
    return chunks
  }
}

function checkChunkBytes(maxChunkBytes: number): number {
  if (!Number.isSafeInteger(maxChunkBytes) || maxChunkBytes < MIN_CHUNK_BYTES) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `maxChunkBytes must be an integer >= ${MIN_CHUNK_BYTES}, got ${maxChunkBytes}`,
    )
  }
  return maxChunkBytes
}

/**
 * The chunk size two peers use: the smaller of what each advertised in its hello, capped
 * at MAX_CHUNK_BYTES. Never below MIN_CHUNK_BYTES (decodeMessage refuses hellos that
 * advertise less). Defaults to DEFAULT_CHUNK_BYTES when a side has not said.
 */
export function negotiateChunkBytes(localMaxChunkBytes: number, remoteMaxChunkBytes?: number): number {
  const local = checkChunkBytes(localMaxChunkBytes)
  const remote =
    remoteMaxChunkBytes === undefined ? DEFAULT_CHUNK_BYTES : checkChunkBytes(remoteMaxChunkBytes)
  return Math.min(local, remote, MAX_CHUNK_BYTES)
}

export interface ReassemblerOptions {
  /**
   * Largest frame accepted, header included (default DEFAULT_MAX_FRAME_BYTES). A chunk
   * declaring a larger total fails with ERR_FRAME_TOO_LARGE before anything is allocated.
   */
  readonly maxFrameBytes?: number
  /**
   * Partial frames held at once (default 4). A chunk that would start one more fails with
   * ERR_TOO_MANY_IN_FLIGHT. Increase it if a sender interleaves many frames on purpose.
   */
  readonly maxInFlightFrames?: number
  /**
   * A partial frame that receives no chunk for this long is evicted (default 30 000 ms).
   * Increase it on links slower than maxFrameBytes per this many milliseconds' worth of chunks.
   */
  readonly incompleteTimeoutMs?: number
  /** Milliseconds now; inject a fake in tests (default Date.now). */
  readonly clock?: () => number
}

export const DEFAULT_REASSEMBLER_OPTIONS = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxInFlightFrames: 4,
  incompleteTimeoutMs: 30_000,
  clock: (): number => Date.now(),
} as const satisfies Required<ReassemblerOptions>

interface PartialFrame {
  readonly buffer: Uint8Array
  readonly chunkCount: number
  /** One bit per chunk: set once that chunk has been copied in. */
  readonly received: Uint32Array
  receivedCount: number
  lastProgressMs: number
}

/**
 * Reassembles one peer's chunks into frames. Feed it every data-channel message from that
 * peer with `push`; it returns each frame once its last chunk arrives. Any chunk it refuses
 * (CoreError: ERR_BAD_MESSAGE, ERR_FRAME_TOO_LARGE, ERR_TOO_MANY_IN_FLIGHT) also discards the
 * partial frame it named, so a misbehaving peer cannot leave garbage behind.
 */
export class Reassembler {
  private readonly maxFrameBytes: number
  private readonly maxInFlightFrames: number
  private readonly incompleteTimeoutMs: number
  private readonly clock: () => number
  private readonly partials = new Map<number, PartialFrame>()
  private bufferedBytesValue = 0
  private evictedFramesValue = 0

  constructor(options: ReassemblerOptions = {}) {
    const d = DEFAULT_REASSEMBLER_OPTIONS
    const o = {
      maxFrameBytes: options.maxFrameBytes ?? d.maxFrameBytes,
      maxInFlightFrames: options.maxInFlightFrames ?? d.maxInFlightFrames,
      incompleteTimeoutMs: options.incompleteTimeoutMs ?? d.incompleteTimeoutMs,
      clock: options.clock ?? d.clock,
    }
    if (
      !Number.isSafeInteger(o.maxFrameBytes) ||
      o.maxFrameBytes < 1 ||
      o.maxFrameBytes > MAX_FRAME_BYTES_LIMIT
    ) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `maxFrameBytes must be an integer in [1, 2^32 - 1], got ${o.maxFrameBytes}`,
      )
    }
    if (!Number.isSafeInteger(o.maxInFlightFrames) || o.maxInFlightFrames < 1) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `maxInFlightFrames must be a positive integer, got ${o.maxInFlightFrames}`,
      )
    }
    if (!(o.incompleteTimeoutMs > 0)) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `incompleteTimeoutMs must be positive, got ${o.incompleteTimeoutMs}`,
      )
    }
    this.maxFrameBytes = o.maxFrameBytes
    this.maxInFlightFrames = o.maxInFlightFrames
    this.incompleteTimeoutMs = o.incompleteTimeoutMs
    this.clock = o.clock
  }

  /** Bytes held in partial-frame buffers now; never above maxInFlightFrames × maxFrameBytes. */
  get bufferedBytes(): number {
    return this.bufferedBytesValue
  }

  /** Partial frames held now. */
  get inFlightFrames(): number {
    return this.partials.size
  }

  /** Partial frames evicted by timeout since construction. */
  get evictedFrames(): number {
    return this.evictedFramesValue
  }

  /**
   * Takes one data-channel message. Returns the complete frame when this chunk finished one
   * (a view of `chunk` itself for single-chunk frames, else a fresh buffer), otherwise null.
   * Evicts timed-out partial frames first.
   */
  push(chunk: Uint8Array): Uint8Array | null {
    const nowMs = this.clock()
    this.sweep(nowMs)
    if (chunk.length < CHUNK_HEADER_BYTES) {
      throw new CoreError(
        'ERR_BAD_MESSAGE',
        `chunk of ${chunk.length} bytes is shorter than its ${CHUNK_HEADER_BYTES}-byte header`,
      )
    }
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const frameId = view.getUint32(0, true)
    const index = view.getUint32(4, true)
    const chunkCount = view.getUint32(8, true)
    const totalBytes = view.getUint32(12, true)
    const piece = chunk.subarray(CHUNK_HEADER_BYTES)
    const partial = this.partials.get(frameId)

    if (
      partial !== undefined &&
      (partial.chunkCount !== chunkCount || partial.buffer.length !== totalBytes)
    ) {
      this.discard(frameId, partial)
      throw new CoreError(
        'ERR_BAD_MESSAGE',
        `chunk of frame ${frameId} says ${chunkCount} chunks / ${totalBytes} bytes, earlier chunks said ${partial.chunkCount} / ${partial.buffer.length}`,
      )
    }
    if (totalBytes > this.maxFrameBytes) {
      throw new CoreError(
        'ERR_FRAME_TOO_LARGE',
        `frame ${frameId} declares ${totalBytes} bytes, over the ${this.maxFrameBytes}-byte limit`,
      )
    }
    const expectedLength = totalBytes === 0 ? undefined : expectedPieceLength(totalBytes, chunkCount, index)
    if (expectedLength === undefined || piece.length !== expectedLength) {
      if (partial !== undefined) this.discard(frameId, partial)
      throw new CoreError(
        'ERR_BAD_MESSAGE',
        `chunk ${index} of ${chunkCount} (frame ${frameId}, ${totalBytes} bytes) carries ${piece.length} bytes, which the split rule does not allow`,
      )
    }
    if (chunkCount === 1) return piece

    let target = partial
    if (target === undefined) {
      if (this.partials.size >= this.maxInFlightFrames) {
        throw new CoreError(
          'ERR_TOO_MANY_IN_FLIGHT',
          `peer already has ${this.partials.size} incomplete frames in flight`,
        )
      }
      target = {
        buffer: new Uint8Array(totalBytes),
        chunkCount,
        received: new Uint32Array(Math.ceil(chunkCount / 32)),
        receivedCount: 0,
        lastProgressMs: nowMs,
      }
      this.partials.set(frameId, target)
      this.bufferedBytesValue += totalBytes
    }
    const word = index >>> 5
    const bit = 1 << (index & 31)
    if ((target.received[word]! & bit) !== 0) {
      this.discard(frameId, target)
      throw new CoreError('ERR_BAD_MESSAGE', `chunk ${index} of frame ${frameId} arrived twice`)
    }
    target.received[word] = target.received[word]! | bit
    target.buffer.set(piece, index * Math.ceil(totalBytes / chunkCount))
    target.receivedCount++
    target.lastProgressMs = nowMs
    if (target.receivedCount < target.chunkCount) return null
    this.discard(frameId, target)
    return target.buffer
  }

  /**
   * Evicts partial frames that received nothing for incompleteTimeoutMs before `nowMs`
   * (default: the clock). Returns how many were evicted. A clock that steps back evicts
   * nothing until it passes the last progress time again.
   */
  sweep(nowMs: number = this.clock()): number {
    let evicted = 0
    for (const [frameId, partial] of this.partials) {
      if (nowMs - partial.lastProgressMs >= this.incompleteTimeoutMs) {
        this.discard(frameId, partial)
        evicted++
      }
    }
    this.evictedFramesValue += evicted
    return evicted
  }

  /** Drops every partial frame (e.g. when the peer's channel closes). */
  clear(): void {
    this.partials.clear()
    this.bufferedBytesValue = 0
  }

  private discard(frameId: number, partial: PartialFrame): void {
    if (this.partials.get(frameId) === partial) {
      this.partials.delete(frameId)
      this.bufferedBytesValue -= partial.buffer.length
    }
  }
}
