/**
 * Balanced splitting, shared by the data-channel chunker and model snapshots.
 *
 * Rule: a blob of `totalBytes` cut into pieces of at most `maxPieceBytes` has
 * `pieceCount = max(1, ceil(totalBytes / maxPieceBytes))` pieces; every piece but the last
 * is `pieceBytes = ceil(totalBytes / pieceCount)` long and the last holds the rest (at least
 * one byte, or zero for an empty blob). Because (totalBytes, pieceCount) alone fix every
 * piece's offset and length, a receiver can place a piece the moment it arrives, in any
 * order, and refuse any piece whose length is off, without a per-piece length field.
 *
 * A receiver also refuses plans with pieces under MIN_PIECE_BYTES (except the single-piece
 * case): that bounds its per-piece bookkeeping (one bit per piece) to totalBytes / 192. A
 * sender with `maxPieceBytes >= 2 * MIN_PIECE_BYTES` never produces such a plan.
 */
import { CoreError } from '../errors.ts'

/** Smallest non-last piece a receiver accepts when a blob is split in two or more. */
export const MIN_PIECE_BYTES = 24

export interface SplitPlan {
  readonly pieceCount: number
  /** Length of every piece but the last. */
  readonly pieceBytes: number
}

/** The sender's plan. Fails with ERR_INVALID_ARGUMENT on sizes a receiver would refuse. */
export function planSplit(totalBytes: number, maxPieceBytes: number): SplitPlan {
  if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `cannot split ${totalBytes} bytes`)
  }
  if (!Number.isSafeInteger(maxPieceBytes) || maxPieceBytes < 2 * MIN_PIECE_BYTES) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `pieces must allow at least ${2 * MIN_PIECE_BYTES} bytes, got ${maxPieceBytes}`,
    )
  }
  const pieceCount = Math.max(1, Math.ceil(totalBytes / maxPieceBytes))
  return { pieceCount, pieceBytes: Math.ceil(totalBytes / pieceCount) }
}

/**
 * The receiver's check: the length piece `index` must have under the balanced rule, or
 * undefined when (totalBytes, pieceCount, index) is not a plan any valid sender makes.
 * Pure arithmetic on the three numbers; safe on any u32 inputs.
 */
export function expectedPieceLength(
  totalBytes: number,
  pieceCount: number,
  index: number,
): number | undefined {
  if (pieceCount < 1 || index < 0 || index >= pieceCount) return undefined
  if (totalBytes === 0) return pieceCount === 1 ? 0 : undefined
  if (pieceCount > totalBytes) return undefined
  const pieceBytes = Math.ceil(totalBytes / pieceCount)
  const lastOffset = (pieceCount - 1) * pieceBytes
  if (lastOffset >= totalBytes) return undefined
  if (pieceCount > 1 && pieceBytes < MIN_PIECE_BYTES) return undefined
  return index === pieceCount - 1 ? totalBytes - lastOffset : pieceBytes
}
