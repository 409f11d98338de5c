import { describe, expect, it } from 'vitest'
import { Float16Compressor } from '../../../../core/compress/float16.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { CONTEXT, flatLayout, normalVector } from './helpers.ts'

/** Reference binary16 decode, written independently of the compressor's table. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exponent = (h >>> 10) & 0x1f
  const mantissa = h & 0x3ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}

/** All finite non-negative binary16 values in increasing order (index = bit pattern). */
const POSITIVE_HALVES = Array.from({ length: 0x7c00 }, (_, h) => halfToNumber(h))

/** Reference round-to-nearest-even into binary16, saturating at ±65504. */
function referenceHalf(x: number): number {
  const a = Math.abs(x)
  let lo = 0
  let hi = POSITIVE_HALVES.length - 1
  if (a >= POSITIVE_HALVES[hi]!) return Math.sign(x) * POSITIVE_HALVES[hi]!
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (POSITIVE_HALVES[mid]! <= a) lo = mid
    else hi = mid
  }
  const below = POSITIVE_HALVES[lo]!
  const above = POSITIVE_HALVES[hi]!
  const pick = a - below < above - a ? lo : a - below > above - a ? hi : lo % 2 === 0 ? lo : hi
  const value = POSITIVE_HALVES[pick]!
  return x < 0 || Object.is(x, -0) ? -value : value
}

function roundTrip(values: Float32Array): Float32Array {
  const compressor = new Float16Compressor({ layout: flatLayout(values.length) })
  const out = new Float32Array(values.length)
  compressor.decompress(compressor.compress(values, CONTEXT), out, CONTEXT)
  return out
}

describe('Float16Compressor', () => {
  it('round-trips every finite binary16 value exactly (all 63 488 of them, both signs)', () => {
    const values = new Float32Array(2 * POSITIVE_HALVES.length)
    POSITIVE_HALVES.forEach((v, i) => {
      values[2 * i] = v
      values[2 * i + 1] = -v
    })
    const outBits = new Uint32Array(roundTrip(values).buffer)
    const inBits = new Uint32Array(values.buffer)
    let mismatches = 0
    for (let i = 0; i < inBits.length; i++) if (outBits[i] !== inBits[i]) mismatches++
    expect(mismatches).toBe(0)
  })

  it('rounds to the nearest binary16 with ties to even on random values of every magnitude', () => {
    const count = 4000
    const normal = normalVector(count, 5)
    const values = new Float32Array(count)
    for (let i = 0; i < count; i++) values[i] = normal[i]! * 2 ** ((i % 50) - 30)
    const out = roundTrip(values)
    const mismatches = [...values].filter((v, i) => !Object.is(out[i], referenceHalf(v)))
    expect(mismatches).toEqual([])
  })

  it('rounds exact ties to the even neighbour in the normal and subnormal ranges', () => {
    const ties = Float32Array.of(
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      2 ** -25,
      3 * 2 ** -25,
      -(5 * 2 ** -25),
      2048 + 1,
      2048 + 3,
    )
    expect([...roundTrip(ties)]).toEqual([1, 1 + 2 ** -9, 0, 2 * 2 ** -24, -(2 * 2 ** -24), 2048, 2052])
  })

  it('saturates finite values beyond the binary16 range to ±65504 instead of Infinity', () => {
    const out = roundTrip(Float32Array.of(65504, 65519, 65520, 70000, -1e30, 3.4028234e38))
    expect([...out]).toEqual([65504, 65504, 65504, 65504, -65504, 65504])
  })

  it('keeps the relative error within 2^-11 for values in the normal binary16 range', () => {
    const values = normalVector(5000, 9, 100)
    const out = roundTrip(values)
    let worst = 0
    values.forEach((v, i) => {
      if (Math.abs(v) >= 2 ** -14) worst = Math.max(worst, Math.abs(out[i]! - v) / Math.abs(v))
    })
    expect(worst).toBeLessThanOrEqual(2 ** -11)
    expect(worst).toBeGreaterThan(2 ** -13)
  })

  it('sends 8 + 2d bytes', () => {
    const compressor = new Float16Compressor({ layout: flatLayout(1001) })
    expect(compressor.compress(normalVector(1001, 1), CONTEXT).length).toBe(8 + 2 * 1001)
  })

  it.each([0x7c00, 0xfc00, 0x7e00, 0x7c01])(
    'rejects the Infinity/NaN pattern %i in a payload with ERR_BAD_MESSAGE',
    (h) => {
      const compressor = new Float16Compressor({ layout: flatLayout(4) })
      const payload = compressor.compress(Float32Array.of(1, 2, 3, 4), CONTEXT).slice()
      payload[8 + 2 * 2] = h & 0xff
      payload[8 + 2 * 2 + 1] = h >>> 8
      let caught: unknown
      try {
        compressor.decompress(payload, new Float32Array(4), CONTEXT)
      } catch (error) {
        caught = error
      }
      expect(isCoreError(caught, 'ERR_BAD_MESSAGE')).toBe(true)
    },
  )
})
