import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MIN_PIECE_BYTES, expectedPieceLength, planSplit } from '../../../../core/protocol/split.ts'
import { expectCode } from './fixtures.ts'

describe('planSplit', () => {
  it('produces pieces the receiver rule accepts and that tile the blob exactly', () => {
    fc.assert(
      fc.property(
        fc.nat(1_000_000),
        fc.integer({ min: 2 * MIN_PIECE_BYTES, max: 70_000 }),
        (total, maxPiece) => {
          const { pieceCount, pieceBytes } = planSplit(total, maxPiece)
          expect(pieceCount).toBe(Math.max(1, Math.ceil(total / maxPiece)))
          // Every piece but the last has pieceBytes (checked at both ends and the middle), so
          // the pieces tile the blob when the last one holds the rest.
          const last = pieceCount - 1
          for (const i of new Set([0, last >> 1, Math.max(0, last - 1)])) {
            if (i < last) expect(expectedPieceLength(total, pieceCount, i)).toBe(pieceBytes)
          }
          const lastLength = expectedPieceLength(total, pieceCount, last)
          expect(lastLength).toBeDefined()
          expect(pieceBytes).toBeLessThanOrEqual(maxPiece)
          expect(lastLength).toBeLessThanOrEqual(pieceBytes)
          expect(last * pieceBytes + lastLength!).toBe(total)
          if (total > 0) expect(expectedPieceLength(total, pieceCount, pieceCount - 1)).toBeGreaterThan(0)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('balances the pieces when the blob is just over one piece', () => {
    expect(planSplit(101, 100)).toEqual({ pieceCount: 2, pieceBytes: 51 })
    expect(expectedPieceLength(101, 2, 1)).toBe(50)
  })

  it('makes one empty piece for an empty blob', () => {
    expect(planSplit(0, 100)).toEqual({ pieceCount: 1, pieceBytes: 0 })
    expect(expectedPieceLength(0, 1, 0)).toBe(0)
  })

  it('refuses a piece size below twice the minimum', () => {
    expectCode(() => planSplit(100, 2 * MIN_PIECE_BYTES - 1), 'ERR_INVALID_ARGUMENT')
  })
})

describe('expectedPieceLength', () => {
  it('refuses an index outside the piece count', () => {
    expect(expectedPieceLength(100, 2, 2)).toBeUndefined()
    expect(expectedPieceLength(100, 0, 0)).toBeUndefined()
  })

  it('refuses more pieces than bytes', () => {
    expect(expectedPieceLength(10, 11, 0)).toBeUndefined()
  })

  it('refuses plans whose last piece would be empty', () => {
    // ceil(10 / 6) = 2, and five pieces of 2 already cover all 10 bytes.
    expect(expectedPieceLength(10, 6, 5)).toBeUndefined()
  })

  it('refuses plans with pieces under the minimum', () => {
    expect(expectedPieceLength(100, 5, 0)).toBeUndefined()
    expect(expectedPieceLength(100, 4, 0)).toBe(25)
  })

  it('refuses several pieces for an empty blob', () => {
    expect(expectedPieceLength(0, 2, 0)).toBeUndefined()
  })

  it('bounds the piece count by the total over the minimum piece for any u32 inputs', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), fc.nat(0xffffffff), (total, count, index) => {
        const length = expectedPieceLength(total, count, index)
        if (length === undefined) return
        expect(count === 1 || count <= Math.ceil(total / MIN_PIECE_BYTES)).toBe(true)
        expect(length).toBeLessThanOrEqual(total)
      }),
      { numRuns: 2000 },
    )
  })
})
