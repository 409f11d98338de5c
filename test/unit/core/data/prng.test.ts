import { describe, expect, it } from 'vitest'
import { createPrng, permutation, shuffleInPlace } from '../../../../core/data/prng.ts'
import { isCoreError } from '../../../../core/errors.ts'

describe('createPrng', () => {
  it('repeats the same stream when given the same seed', () => {
    const a = createPrng(42)
    const b = createPrng(42)
    for (let i = 0; i < 1000; i++) expect(a.nextUint32()).toBe(b.nextUint32())
  })

  it('gives different streams when seeds differ by one', () => {
    const a = Array.from(
      { length: 64 },
      (
        (p) => () =>
          p.nextUint32()
      )(createPrng(1)),
    )
    const b = Array.from(
      { length: 64 },
      (
        (p) => () =>
          p.nextUint32()
      )(createPrng(2)),
    )
    const same = a.filter((v, i) => v === b[i]).length
    expect(same).toBeLessThan(2)
  })

  it('produces uniform floats in [0, 1) when sampled many times', () => {
    const prng = createPrng(7)
    const bins = new Array<number>(10).fill(0)
    const n = 100_000
    let outside = 0
    for (let i = 0; i < n; i++) {
      const v = prng.nextFloat()
      if (!(v >= 0 && v < 1)) outside++
      else bins[Math.floor(v * 10)]!++
    }
    expect(outside).toBe(0)
    // Chi-square with 9 degrees of freedom: 27.9 is the 0.1% critical value.
    const expected = n / 10
    const chi2 = bins.reduce((s, c) => s + (c - expected) ** 2 / expected, 0)
    expect(chi2).toBeLessThan(27.9)
  })

  it('keeps nextInt inside [0, n) and hits every value when n is small', () => {
    const prng = createPrng(3)
    const seen = new Set<number>()
    let outside = 0
    for (let i = 0; i < 2000; i++) {
      const v = prng.nextInt(7)
      if (!(Number.isInteger(v) && v >= 0 && v < 7)) outside++
      seen.add(v)
    }
    expect(outside).toBe(0)
    expect(seen.size).toBe(7)
  })

  it('draws normals with mean 0 and variance 1 when sampled many times', () => {
    const prng = createPrng(11)
    const n = 50_000
    let sum = 0
    let sumSq = 0
    for (let i = 0; i < n; i++) {
      const v = prng.nextNormal()
      sum += v
      sumSq += v * v
    }
    const mean = sum / n
    expect(Math.abs(mean)).toBeLessThan(0.03)
    expect(Math.abs(sumSq / n - mean * mean - 1)).toBeLessThan(0.03)
  })
})

describe('createPrng streams', () => {
  it('gives distinct streams for distinct stream parts and equal ones for equal parts', () => {
    const firsts = new Set<number>()
    for (let epoch = 0; epoch < 1000; epoch++) firsts.add(createPrng(5, 1, epoch).nextUint32())
    expect(firsts.size).toBeGreaterThan(995)
    expect(createPrng(5, 1, 2).nextUint32()).toBe(createPrng(5, 1, 2).nextUint32())
    expect(createPrng(5, 1, 2).nextUint32()).not.toBe(createPrng(5, 2, 1).nextUint32())
  })

  it('rejects a seed that is not a safe integer', () => {
    for (const seed of [1.5, Number.NaN, 2 ** 60]) {
      let error: unknown
      try {
        createPrng(seed)
      } catch (err) {
        error = err
      }
      expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
    }
  })
})

describe('permutation', () => {
  it('contains every index exactly once when shuffled', () => {
    const p = permutation(1000, createPrng(9))
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i))
    // A shuffle that leaves most elements in place is broken.
    const fixed = p.filter((v, i) => v === i).length
    expect(fixed).toBeLessThan(10)
  })

  it('moves each position to each place about equally often when repeated', () => {
    const prng = createPrng(13)
    const counts = Array.from({ length: 4 }, () => new Array<number>(4).fill(0))
    for (let t = 0; t < 20_000; t++) {
      const v = [0, 1, 2, 3]
      shuffleInPlace(v, prng)
      v.forEach((value, place) => counts[value]![place]!++)
    }
    for (const row of counts) for (const c of row) expect(Math.abs(c - 5000)).toBeLessThan(300)
  })
})
