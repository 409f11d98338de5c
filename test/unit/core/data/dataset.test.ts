import { describe, expect, it } from 'vitest'
import type { Split } from '../../../../core/data/dataset.ts'
import {
  assertDatasetConsistent,
  buildManifest,
  countPerClass,
  featureSize,
  hashPixelDataset,
  pixelsToUnitFloats,
  stratifiedSplitIndices,
  subsetSplit,
} from '../../../../core/data/dataset.ts'
import { isCoreError } from '../../../../core/errors.ts'

function labelsWithCounts(counts: number[]): Int32Array {
  const out: number[] = []
  counts.forEach((n, c) => {
    for (let i = 0; i < n; i++) out.push(c)
  })
  // Interleave so classes are not contiguous.
  return Int32Array.from(
    out.map((l, i) => [l, (i * 7919) % out.length] as const).sort((a, b) => a[1] - b[1]),
    (p) => p[0],
  )
}

describe('stratifiedSplitIndices', () => {
  it('covers every index exactly once when splitting', () => {
    const labels = labelsWithCounts([50, 30, 20])
    const { keep, holdOut } = stratifiedSplitIndices(labels, 3, 0.1, 1)
    const all = [...keep, ...holdOut].sort((a, b) => a - b)
    expect(all).toEqual(Array.from({ length: labels.length }, (_, i) => i))
  })

  it('holds out round(n_c × fraction) of each class when stratifying', () => {
    const labels = labelsWithCounts([50, 30, 25, 4])
    const { holdOut } = stratifiedSplitIndices(labels, 4, 0.2, 3)
    const perClass = countPerClass(
      Array.from(holdOut, (i) => labels[i]!),
      4,
    )
    expect(perClass).toEqual([10, 6, 5, 1])
  })

  it('returns the same split for the same seed and a different one for another seed', () => {
    const labels = labelsWithCounts([100, 100])
    const a = stratifiedSplitIndices(labels, 2, 0.1, 5)
    const b = stratifiedSplitIndices(labels, 2, 0.1, 5)
    const c = stratifiedSplitIndices(labels, 2, 0.1, 6)
    expect([...a.holdOut]).toEqual([...b.holdOut])
    expect([...a.holdOut]).not.toEqual([...c.holdOut])
  })

  it('returns sorted index lists when splitting', () => {
    const { keep, holdOut } = stratifiedSplitIndices(labelsWithCounts([40, 40]), 2, 0.25, 2)
    for (const list of [keep, holdOut])
      for (let i = 1; i < list.length; i++) expect(list[i]!).toBeGreaterThan(list[i - 1]!)
  })

  it('rejects a fraction outside [0, 1) when asked to split', () => {
    for (const fraction of [-0.1, 1, 1.5, Number.NaN]) {
      let error: unknown
      try {
        stratifiedSplitIndices(Int32Array.of(0, 1), 2, fraction, 0)
      } catch (err) {
        error = err
      }
      expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
    }
  })
})

describe('subsetSplit', () => {
  it('copies the rows and labels at the given indices in order', () => {
    const split: Split = {
      x: Float32Array.from({ length: 12 }, (_, i) => i),
      y: Int32Array.of(0, 1, 2, 0),
      count: 4,
    }
    const sub = subsetSplit(split, [3, 1])
    expect(sub.count).toBe(2)
    expect([...sub.x]).toEqual([9, 10, 11, 3, 4, 5])
    expect([...sub.y]).toEqual([0, 1])
    sub.x[0] = -1
    expect(split.x[9]).toBe(9)
  })

  it('throws when an index is outside the split', () => {
    const split: Split = { x: new Float32Array(4), y: new Int32Array(2), count: 2 }
    expect(() => subsetSplit(split, [2])).toThrow(/outside split/)
  })
})

describe('buildManifest', () => {
  it('derives per-class counts and totals from the splits', () => {
    const train: Split = { x: new Float32Array(5 * 2), y: Int32Array.of(0, 1, 1, 2, 2), count: 5 }
    const test: Split = { x: new Float32Array(2 * 2), y: Int32Array.of(2, 0), count: 2 }
    const manifest = buildManifest({
      name: 't',
      source: 'csv',
      inputShape: [2],
      classes: ['a', 'b', 'c'],
      split: 'generated',
      contentHash: '0123456789abcdef',
      train,
      test,
    })
    expect(manifest.counts).toEqual({ train: [1, 2, 2], test: [1, 0, 1] })
    expect(manifest.trainCount).toBe(5)
    expect(manifest.testCount).toBe(2)
    expect(() => assertDatasetConsistent({ manifest, train, test })).not.toThrow()
  })

  it('fails the consistency check when a label is out of range', () => {
    const train: Split = { x: new Float32Array(2), y: Int32Array.of(0, 3), count: 2 }
    const test: Split = { x: new Float32Array(0), y: new Int32Array(0), count: 0 }
    const manifest = buildManifest({
      name: 't',
      source: 'csv',
      inputShape: [1],
      classes: ['a', 'b'],
      split: 'generated',
      contentHash: '0',
      train: { ...train, y: Int32Array.of(0, 1) },
      test,
    })
    expect(() => assertDatasetConsistent({ manifest, train, test })).toThrow(/out of range/)
  })
})

describe('pixelsToUnitFloats', () => {
  it('maps 0..255 onto [0, 1] when converting', () => {
    const out = pixelsToUnitFloats(Uint8Array.of(0, 51, 255))
    expect(out[0]).toBe(0)
    expect(out[1]).toBeCloseTo(0.2, 6)
    expect(out[2]).toBeCloseTo(1, 6)
  })
})

describe('hashPixelDataset', () => {
  it('changes when one pixel, one label or the class names change', () => {
    const pixels = Uint8Array.of(1, 2, 3, 4)
    const base = hashPixelDataset([2, 1, 1], ['a', 'b'], [{ pixels, labels: [0, 1] }])
    expect(
      hashPixelDataset([2, 1, 1], ['a', 'b'], [{ pixels: Uint8Array.of(1, 2, 3, 5), labels: [0, 1] }]),
    ).not.toBe(base)
    expect(hashPixelDataset([2, 1, 1], ['a', 'b'], [{ pixels, labels: [1, 1] }])).not.toBe(base)
    expect(hashPixelDataset([2, 1, 1], ['a', 'c'], [{ pixels, labels: [0, 1] }])).not.toBe(base)
    expect(hashPixelDataset([2, 1, 1], ['a', 'b'], [{ pixels, labels: [0, 1] }])).toBe(base)
  })
})

describe('featureSize', () => {
  it('multiplies the dimensions of the input shape', () => {
    expect(featureSize([28, 28, 1])).toBe(784)
    expect(featureSize([13])).toBe(13)
  })
})
