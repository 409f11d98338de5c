import { describe, expect, it } from 'vitest'
import { Xoshiro128, counterHash } from '../../../../core/compress/prng.ts'
import { isCoreError } from '../../../../core/errors.ts'

describe('Xoshiro128', () => {
  it('matches the xoshiro128** reference outputs when the state is {1, 2, 3, 4}', () => {
    const rng = new Xoshiro128(0)
    rng.setState([1, 2, 3, 4])
    // Worked by hand from the reference C code (Blackman & Vigna): rotl(s1 * 5, 7) * 9.
    expect([rng.nextU32(), rng.nextU32(), rng.nextU32()]).toEqual([11520, 0, 5927040])
  })

  it('gives the same stream when seeded with the same parts', () => {
    const a = new Xoshiro128(7, 3, 2 ** 40)
    const b = new Xoshiro128(7, 3, 2 ** 40)
    const drawsA = Array.from({ length: 100 }, () => a.nextU32())
    const drawsB = Array.from({ length: 100 }, () => b.nextU32())
    expect(drawsA).toEqual(drawsB)
  })

  it('gives different streams when any part differs, including bits above 2^32', () => {
    const first = (...parts: number[]): number => new Xoshiro128(...parts).nextU32()
    const base = first(7, 3, 2 ** 40)
    expect(first(7, 4, 2 ** 40)).not.toBe(base)
    expect(first(8, 3, 2 ** 40)).not.toBe(base)
    expect(first(7, 3, 2 ** 41)).not.toBe(base)
    expect(first(7, 3)).not.toBe(base)
  })

  it('returns unsigned 32-bit integers and floats in [0, 1)', () => {
    const rng = new Xoshiro128(1)
    let outOfRange = 0
    let above2To31 = 0
    for (let i = 0; i < 10_000; i++) {
      const u = rng.nextU32()
      if (!(Number.isInteger(u) && u >= 0 && u < 2 ** 32)) outOfRange++
      if (u >= 2 ** 31) above2To31++
      const f = rng.nextFloat()
      if (!(f >= 0 && f < 1)) outOfRange++
    }
    expect(outOfRange).toBe(0)
    // The top bit is set about half the time (not a signed int32 in disguise).
    expect(above2To31).toBeGreaterThan(4700)
    expect(above2To31).toBeLessThan(5300)
  })

  it('draws every value of [0, n) about equally often when nextBelow is called many times', () => {
    const rng = new Xoshiro128(99)
    const n = 10
    const draws = 50_000
    const counts = new Array<number>(n).fill(0)
    for (let i = 0; i < draws; i++) {
      counts[rng.nextBelow(n)]!++
    }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(draws)
    // Chi-square with 9 degrees of freedom: P(X > 27.9) = 0.001.
    const expected = draws / n
    const chiSquare = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0)
    expect(chiSquare).toBeLessThan(27.9)
    expect(new Xoshiro128(1).nextBelow(1)).toBe(0)
  })

  it('continues the same stream when a state from getState is restored', () => {
    const a = new Xoshiro128(5)
    a.nextU32()
    const b = new Xoshiro128(6)
    b.setState(a.getState())
    expect(Array.from({ length: 10 }, () => b.nextU32())).toEqual(
      Array.from({ length: 10 }, () => a.nextU32()),
    )
  })

  it('refuses a non-integer seed part, an all-zero state and a short state with ERR_INVALID_ARGUMENT', () => {
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn()
      } catch (error) {
        return isCoreError(error) ? error.code : 'other'
      }
      return undefined
    }
    expect(code(() => new Xoshiro128(1.5))).toBe('ERR_INVALID_ARGUMENT')
    expect(code(() => new Xoshiro128(NaN))).toBe('ERR_INVALID_ARGUMENT')
    expect(code(() => new Xoshiro128(0).setState([0, 0, 0, 0]))).toBe('ERR_INVALID_ARGUMENT')
    expect(code(() => new Xoshiro128(0).setState([1, 2, 3]))).toBe('ERR_INVALID_ARGUMENT')
  })
})

describe('counterHash', () => {
  it('is uniform over keys at a fixed index and differs between neighbouring indices', () => {
    const keys = new Xoshiro128(3)
    const bins = new Array<number>(16).fill(0)
    let equalNeighbours = 0
    for (let n = 0; n < 32_000; n++) {
      const key = keys.nextU32() | 0
      const h = counterHash(1000, key)
      bins[h >>> 28]!++
      if (h === counterHash(1001, key)) equalNeighbours++
      if (!(Number.isInteger(h) && h >= 0 && h < 2 ** 32)) equalNeighbours += 1000
    }
    // Chi-square with 15 degrees of freedom: P(X > 37.7) = 0.001.
    const chiSquare = bins.reduce((sum, c) => sum + (c - 2000) ** 2 / 2000, 0)
    expect(chiSquare).toBeLessThan(37.7)
    expect(equalNeighbours).toBe(0)
  })
})
