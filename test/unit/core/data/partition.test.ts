import { describe, expect, it } from 'vitest'
import { countPerClass } from '../../../../core/data/dataset.ts'
import {
  partitionDirichlet,
  partitionIid,
  sampleDirichlet,
  sampleLogGamma,
  subsetSplit,
} from '../../../../core/data/partition.ts'
import { createPrng } from '../../../../core/data/prng.ts'
import { isCoreError } from '../../../../core/errors.ts'

const CLASSES = 10

/** 5000 labels, unbalanced on purpose (class c has 300 + 20c samples), in a scrambled order. */
function labels(): Int32Array {
  const out: number[] = []
  for (let c = 0; c < CLASSES; c++) for (let k = 0; k < 300 + 20 * c; k++) out.push(c)
  const prng = createPrng(99)
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.nextInt(i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return Int32Array.from(out)
}

function expectDisjointCover(parts: Int32Array[], n: number): void {
  const seen = new Uint8Array(n)
  for (const part of parts) for (const i of part) seen[i]!++
  expect(seen.every((v) => v === 1)).toBe(true)
}

function shares(part: Int32Array, y: Int32Array): number[] {
  const counts = countPerClass(
    Array.from(part, (i) => y[i]!),
    CLASSES,
  )
  return counts.map((c) => c / part.length)
}

describe('partitionIid', () => {
  it('gives every sample to exactly one worker with sizes within one', () => {
    const y = labels()
    const parts = partitionIid(y, 7, 1)
    expectDisjointCover(parts, y.length)
    const sizes = parts.map((p) => p.length)
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
  })

  it('keeps each worker’s class proportions close to the global ones', () => {
    const y = labels()
    const global = countPerClass(y, CLASSES).map((c) => c / y.length)
    for (const part of partitionIid(y, 8, 2)) {
      shares(part, y).forEach((s, c) => expect(Math.abs(s - global[c]!)).toBeLessThan(0.01))
    }
  })

  it('returns the same partition for the same seed and another for a different seed', () => {
    const y = labels()
    const a = partitionIid(y, 4, 5)
    expect(partitionIid(y, 4, 5).map((p) => [...p])).toEqual(a.map((p) => [...p]))
    expect(partitionIid(y, 4, 6)[0]).not.toEqual(a[0])
  })

  it('rejects more workers than samples', () => {
    let error: unknown
    try {
      partitionIid(Int32Array.of(0, 1), 3, 0)
    } catch (err) {
      error = err
    }
    expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
  })
})

describe('partitionDirichlet', () => {
  it('gives every sample to exactly one worker', () => {
    const y = labels()
    expectDisjointCover(partitionDirichlet(y, 6, 0.3, 1), y.length)
  })

  it('skews per-worker class histograms when alpha is small', () => {
    const y = labels()
    const parts = partitionDirichlet(y, 10, 0.1, 3)
    // Share of each worker's largest class: about 0.1 for IID, near 1 when each worker sees few classes.
    const dominant = parts.map((p) => Math.max(...shares(p, y)))
    const mean = dominant.reduce((s, v) => s + v, 0) / dominant.length
    expect(mean).toBeGreaterThan(0.5)
  })

  it('approaches IID proportions when alpha is large', () => {
    const y = labels()
    const global = countPerClass(y, CLASSES).map((c) => c / y.length)
    for (const part of partitionDirichlet(y, 5, 1000, 4)) {
      shares(part, y).forEach((s, c) => expect(Math.abs(s - global[c]!)).toBeLessThan(0.03))
    }
  })

  it('returns the same partition for the same seed and another for a different seed', () => {
    const y = labels()
    const a = partitionDirichlet(y, 5, 0.5, 7).map((p) => [...p])
    expect(partitionDirichlet(y, 5, 0.5, 7).map((p) => [...p])).toEqual(a)
    expect(partitionDirichlet(y, 5, 0.5, 8).map((p) => [...p])).not.toEqual(a)
  })

  it('gives every worker at least minSamplesPerWorker samples', () => {
    const y = labels()
    const parts = partitionDirichlet(y, 20, 0.05, 2, { minSamplesPerWorker: 20 })
    for (const part of parts) expect(part.length).toBeGreaterThanOrEqual(20)
  })

  it('rejects a non-positive alpha', () => {
    for (const alpha of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      let error: unknown
      try {
        partitionDirichlet(Int32Array.of(0, 1, 1), 2, alpha, 0)
      } catch (err) {
        error = err
      }
      expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
    }
  })

  it('rejects a minimum no partition can meet', () => {
    let error: unknown
    try {
      partitionDirichlet(Int32Array.of(0, 1, 1, 0), 3, 1, 0, { minSamplesPerWorker: 2 })
    } catch (err) {
      error = err
    }
    expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
  })
})

describe('sampleLogGamma', () => {
  it.each([0.3, 1, 2.5, 9])('matches Gamma(%f, 1) mean and variance (both equal the shape)', (shape) => {
    const prng = createPrng(17)
    const n = 40_000
    let sum = 0
    let sumSq = 0
    for (let i = 0; i < n; i++) {
      const g = Math.exp(sampleLogGamma(shape, prng))
      sum += g
      sumSq += g * g
    }
    const mean = sum / n
    const variance = sumSq / n - mean * mean
    expect(Math.abs(mean - shape) / shape).toBeLessThan(0.03)
    expect(Math.abs(variance - shape) / shape).toBeLessThan(0.08)
  })

  it('stays finite when the shape is tiny', () => {
    const prng = createPrng(5)
    for (let i = 0; i < 1000; i++) expect(Number.isFinite(sampleLogGamma(0.001, prng))).toBe(true)
  })
})

describe('sampleDirichlet', () => {
  it('returns non-negative proportions that sum to 1 even for tiny alpha', () => {
    const prng = createPrng(8)
    for (const alpha of [0.001, 0.1, 1, 50]) {
      const p = sampleDirichlet(12, alpha, prng)
      expect(p.every((v) => v >= 0)).toBe(true)
      expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12)
    }
  })
})

describe('subsetSplit (re-exported for partitions)', () => {
  it('builds a worker split from a partition', () => {
    const split = { x: Float32Array.of(0, 1, 2, 3), y: Int32Array.of(0, 1, 0, 1), count: 4 }
    const parts = partitionIid(split.y, 2, 0)
    const sub = subsetSplit(split, parts[0]!)
    expect(sub.count).toBe(2)
    expect([...sub.x]).toEqual([...parts[0]!].map((i) => i))
  })
})
