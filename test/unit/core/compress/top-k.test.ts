import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TopKCompressor, topKCount } from '../../../../core/compress/top-k.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { CONTEXT, flatLayout, normalVector } from './helpers.ts'

/** Reference: indices of the k largest |x|, ties broken by the lower index (a full sort). */
function referenceTopK(values: Float32Array, k: number): number[] {
  const order = [...values.keys()].sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!) || a - b)
  return order.slice(0, k).sort((a, b) => a - b)
}

function keptIndices(values: Float32Array, ratio: number): { kept: number[]; out: Float32Array; k: number } {
  const compressor = new TopKCompressor({ layout: flatLayout(values.length), ratio })
  const out = new Float32Array(values.length)
  compressor.decompress(compressor.compress(values, CONTEXT), out, CONTEXT)
  const kept: number[] = []
  const payload = compressor.compress(values, CONTEXT)
  const view = new DataView(payload.buffer, payload.byteOffset)
  for (let j = 0; j < compressor.k; j++) kept.push(view.getUint32(12 + 4 * j, true))
  return { kept, out, k: compressor.k }
}

describe('TopKCompressor', () => {
  it('keeps exactly the k largest magnitudes, with their exact values, and zeros elsewhere', () => {
    const values = normalVector(20_000, 11)
    const { kept, out, k } = keptIndices(values, 0.01)
    expect(k).toBe(200)
    expect(kept).toEqual(referenceTopK(values, k))
    const keptSet = new Set(kept)
    values.forEach((v, i) => expect(out[i]).toBe(keptSet.has(i) ? v : 0))
  })

  it('ranks by magnitude, so large negative entries are kept', () => {
    const values = Float32Array.of(1, -50, 3, 40, -2, 0.5, -60, 7)
    expect(keptIndices(values, 3 / 8).kept).toEqual([1, 3, 6])
  })

  it('keeps exactly k entries with ties at the threshold going to the lowest indices', () => {
    const values = Float32Array.of(5, 1, -1, 1, 9, -1, 1, 0)
    // k = 4: 9 and 5, then two of the five entries of magnitude 1 (indices 1, 2).
    expect(keptIndices(values, 0.5).kept).toEqual([0, 1, 2, 4])
  })

  it('stays exact on the full-vector path when most magnitudes share one histogram bin', () => {
    // 100 000 entries in [1, 1.0001): far more candidates than the 2k + 65 536 buffer holds.
    const d = 100_000
    const values = new Float32Array(d)
    for (let i = 0; i < d; i++) values[i] = (i % 2 ? -1 : 1) * (1 + ((i * 7919) % 1000) * 1e-7)
    values[123] = 4
    values[99_999] = -3
    const { kept, k } = keptIndices(values, 0.01)
    expect(kept).toEqual(referenceTopK(values, k))
    expect(kept).toContain(123)
    expect(kept).toContain(99_999)
  })

  it('keeps the k largest for arbitrary finite vectors (property)', () => {
    fc.assert(
      fc.property(
        fc.float32Array({ noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength: 300 }),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        (values, ratio) => {
          const { kept, k } = keptIndices(values, ratio)
          expect(k).toBe(topKCount(ratio, values.length))
          expect(kept).toEqual(referenceTopK(values, k))
        },
      ),
      { numRuns: 300, seed: 20240601 },
    )
  })

  it('keeps at least one entry and at most d', () => {
    expect(topKCount(1e-9, 1000)).toBe(1)
    expect(topKCount(1, 1000)).toBe(1000)
    expect(topKCount(0.5, 0)).toBe(0)
    expect(new TopKCompressor({ layout: flatLayout(10), ratio: 1 }).isLossless).toBe(true)
  })

  it('sends 12 + 8k bytes', () => {
    const compressor = new TopKCompressor({ layout: flatLayout(1000), ratio: 0.05 })
    expect(compressor.compress(normalVector(1000, 1), CONTEXT).length).toBe(12 + 8 * 50)
  })

  it.each([
    ['a repeated index', (v: DataView) => v.setUint32(12 + 4, v.getUint32(12, true), true)],
    ['decreasing indices', (v: DataView) => v.setUint32(12, v.getUint32(12 + 4, true) + 1, true)],
    ['an index >= d', (v: DataView) => v.setUint32(12 + 4 * 49, 1000, true)],
    ['a NaN value', (v: DataView) => v.setFloat32(12 + 4 * 50 + 8, NaN, true)],
    ['an infinite value', (v: DataView) => v.setFloat32(12 + 4 * 50, -Infinity, true)],
    ['k > d', (v: DataView) => v.setUint32(8, 1001, true)],
    ['k that disagrees with the length', (v: DataView) => v.setUint32(8, 49, true)],
  ])('rejects a payload with %s with ERR_BAD_MESSAGE', (_what, corrupt) => {
    const compressor = new TopKCompressor({ layout: flatLayout(1000), ratio: 0.05 })
    const payload = compressor.compress(normalVector(1000, 1), CONTEXT).slice()
    corrupt(new DataView(payload.buffer))
    let caught: unknown
    try {
      compressor.decompress(payload, new Float32Array(1000), CONTEXT)
    } catch (error) {
      caught = error
    }
    expect(isCoreError(caught, 'ERR_BAD_MESSAGE')).toBe(true)
  })
})
