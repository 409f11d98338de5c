import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TOPK_PAYLOAD_VERSION, TopKCompressor, topKCount } from '../../../../core/compress/top-k.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { CONTEXT, flatLayout, normalVector } from './helpers.ts'
import { decodeTopK, encodeTopK } from './top-k-reference.ts'
import { checkIndexGaps, writeIndexGaps } from '../../../../core/compress/index-gaps.ts'

/** Reference: indices of the k largest |x|, ties broken by the lower index (a full sort). */
function referenceTopK(values: Float32Array, k: number): number[] {
  const order = [...values.keys()].sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!) || a - b)
  return order.slice(0, k).sort((a, b) => a - b)
}

function keptIndices(values: Float32Array, ratio: number): { kept: number[]; out: Float32Array; k: number } {
  const compressor = new TopKCompressor({ layout: flatLayout(values.length), ratio })
  const out = new Float32Array(values.length)
  compressor.decompress(compressor.compress(values, CONTEXT), out, CONTEXT)
  const kept = decodeTopK(compressor.compress(values, CONTEXT)).indices
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

  it('keeps the k largest of long vectors, where a sampled threshold narrows the candidates (property)', () => {
    // d >= 32 768 takes the sampled path: normal, heavy-tailed, few distinct magnitudes
    // (ties), mostly zeros, sorted, and a block of large entries.
    const shapes = ['normal', 'cauchy', 'ties', 'sparse', 'sorted', 'block'] as const
    fc.assert(
      fc.property(
        fc.integer({ min: 32_768, max: 45_000 }),
        fc.constantFrom(...shapes),
        fc.constantFrom(0.001, 0.01, 0.05, 0.2),
        fc.nat(1000),
        (d, shape, ratio, seed) => {
          const base = normalVector(d, seed)
          const other = shape === 'cauchy' ? normalVector(d, seed + 1) : base
          const values = base.map((v, i) => {
            if (shape === 'cauchy') return v / (other[i] || 1)
            if (shape === 'ties') return Math.sign(v) * Math.round(Math.abs(v) * 2)
            if (shape === 'sparse') return i % 97 === 0 ? v : 0
            if (shape === 'sorted') return i / d - 0.5
            if (shape === 'block') return i >= d / 2 && i < d / 2 + 1000 ? 10 + v : v
            return v
          })
          const { kept, out, k } = keptIndices(values, ratio)
          expect(kept).toEqual(referenceTopK(values, k))
          for (const i of kept) expect(out[i]).toBe(values[i])
        },
      ),
      { numRuns: 12, seed: 20240602 },
    )
  })

  it('stays exact when the sample overestimates the threshold (fewer than k candidates)', () => {
    // Large values exactly at the sampled positions (the same xorshift32 strata as top-k.ts):
    // the sample's threshold is then far above the k-th largest, and the histogram path runs.
    const d = 40_000
    const m = 2048
    const values = normalVector(d, 3)
    let state = 0x9e3779b9
    for (let j = 0; j < m; j++) {
      state ^= state << 13
      state ^= state >>> 17
      state ^= state << 5
      values[Math.floor((j + (state >>> 0) / 4294967296) * (d / m))] = 100 + j
    }
    const { kept, k } = keptIndices(values, 0.01)
    expect(kept).toEqual(referenceTopK(values, k))
  })

  it('refuses NaN and Infinity on the sampled path, wherever they are', () => {
    const d = 50_000
    for (const at of [0, 1, 12_345, d - 1]) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const values = normalVector(d, at)
        values[at] = bad
        let caught: unknown
        try {
          new TopKCompressor({ layout: flatLayout(d), ratio: 0.01 }).compress(values, CONTEXT)
        } catch (error) {
          caught = error
        }
        expect(isCoreError(caught, 'ERR_NON_FINITE')).toBe(true)
      }
    }
  })

  it('keeps at least one entry and at most d', () => {
    expect(topKCount(1e-9, 1000)).toBe(1)
    expect(topKCount(1, 1000)).toBe(1000)
    expect(topKCount(0.5, 0)).toBe(0)
    expect(new TopKCompressor({ layout: flatLayout(10), ratio: 1 }).isLossless).toBe(true)
  })

  it('sends 12 bytes, the index gaps, 0-3 bytes of padding and 4k bytes of values', () => {
    const compressor = new TopKCompressor({ layout: flatLayout(1000), ratio: 0.05 })
    const payload = compressor.compress(normalVector(1000, 1), CONTEXT)
    const { indices, values, gapBytes } = decodeTopK(payload)
    expect(payload[1]).toBe(TOPK_PAYLOAD_VERSION)
    expect(payload.length).toBe(12 + gapBytes + ((4 - (gapBytes % 4)) % 4) + 4 * 50)
    expect(payload).toEqual(encodeTopK(1000, indices, values))
  })

  it('sends at most 5.5 bytes per entry at 1% density, against 8 for u32 indices', () => {
    const d = 100_000
    const compressor = new TopKCompressor({ layout: flatLayout(d), ratio: 0.01 })
    const payload = compressor.compress(normalVector(d, 5), CONTEXT)
    expect(payload.length).toBeLessThan(12 + 5.5 * 1000)
    expect(compressor.lastPayloadBytes).toBe(payload.length)
  })

  it('encodes gaps of every varint length, up to indices near 2^32, as the reference does', () => {
    // Gaps that take 1, 1, 2, 3, 4, 5 and 5 bytes; the last index is d - 1 with d near 2^32.
    const d = 0xffff_fff0
    const gaps = [0, 127, 128, 16_384, 2 ** 21, 2 ** 28, 0]
    const indices: number[] = []
    for (const gap of gaps.slice(0, -1)) indices.push((indices.at(-1) ?? -1) + 1 + gap)
    indices.push(d - 1)
    const reference = encodeTopK(
      d,
      indices,
      indices.map((_, j) => j + 0.5),
    )
    expect(decodeTopK(reference).gapBytes).toBe(1 + 1 + 2 + 3 + 4 + 5 + 5)
    const bytes = new Uint8Array(12 + 5 * indices.length)
    const end = writeIndexGaps(Uint32Array.from(indices), indices.length, bytes, 12)
    expect(end).toBe(12 + 21)
    expect(bytes.subarray(12, end)).toEqual(reference.subarray(12, 12 + 21))
    expect(checkIndexGaps(bytes, 12, end, indices.length, d, 'topk')).toBe(end)
    expect(() => checkIndexGaps(bytes, 12, end, indices.length, d - 1, 'topk')).toThrow(/not below/)
  })

  it('sends only the header and k when d = 0', () => {
    const compressor = new TopKCompressor({ layout: flatLayout(0), ratio: 0.5 })
    const payload = compressor.compress(new Float32Array(0), CONTEXT)
    expect(payload.length).toBe(12)
    compressor.decompress(payload, new Float32Array(0), CONTEXT)
  })

  /** A valid payload of d = 1000, k = 5 with gaps of 1, 2 and 1 bytes, built by hand. */
  const handMade = (): { bytes: number[]; valuesAt: number } => {
    // indices 3, 200 (gap 196: 0xc4 0x01), 201 (gap 0), 500 (gap 298: 0xaa 0x02), 999 (gap 498: 0xf2 0x03)
    const gaps = [0x03, 0xc4, 0x01, 0x00, 0xaa, 0x02, 0xf2, 0x03]
    const header = [3, TOPK_PAYLOAD_VERSION, 0, 0, 0xe8, 0x03, 0, 0, 5, 0, 0, 0]
    const values = [...new Uint8Array(Float32Array.of(1, -2, 3, -4, 5).buffer)]
    return { bytes: [...header, ...gaps, ...values], valuesAt: 20 }
  }

  it('accepts the hand-made reference payload', () => {
    const out = new Float32Array(1000).fill(9)
    new TopKCompressor({ layout: flatLayout(1000), ratio: 0.005 }).decompress(
      Uint8Array.from(handMade().bytes),
      out,
      CONTEXT,
    )
    expect([out[3], out[200], out[201], out[500], out[999]]).toEqual([1, -2, 3, -4, 5])
    expect(out.reduce((n, v) => n + (v === 0 ? 1 : 0), 0)).toBe(995)
  })

  it('accepts one zero byte of padding when the gaps end one byte short of a multiple of 4', () => {
    const bytes = handMade().bytes
    bytes.splice(18, 2, 0x63, 0x00)
    const out = new Float32Array(1000)
    new TopKCompressor({ layout: flatLayout(1000), ratio: 0.005 }).decompress(
      Uint8Array.from(bytes),
      out,
      CONTEXT,
    )
    expect([out[3], out[200], out[201], out[500], out[600], out[999]]).toEqual([1, -2, 3, -4, 5, 0])
  })

  it.each([
    ['version 1 (u32 indices)', (b: number[]) => (b[1] = 1)],
    ['a gap that is not in its shortest form', (b: number[]) => b.splice(12, 1, 0x83, 0x00)],
    ['a gap longer than 5 bytes', (b: number[]) => b.splice(12, 1, 0x83, 0x80, 0x80, 0x80, 0x80, 0x00)],
    ['an index >= d', (b: number[]) => b.splice(18, 2, 0xf3, 0x03)],
    ['a gap that runs into the values', (b: number[]) => (b[19] = 0x83)],
    ['an extra byte among the gaps', (b: number[]) => b.splice(19, 0, 0x00)],
    ['a missing gap byte', (b: number[]) => b.splice(19, 1)],
    // Last index 600 instead of 999: its gap (99) takes one byte, so one byte of padding follows.
    ['nonzero padding', (b: number[]) => b.splice(18, 2, 0x63, 0x01)],
    ['four bytes of padding', (b: number[]) => b.splice(20, 0, 0, 0, 0, 0)],
    ['a NaN value', (b: number[]) => b.splice(24, 4, 0, 0, 0xc0, 0x7f)],
    ['an infinite value', (b: number[]) => b.splice(20, 4, 0, 0, 0x80, 0xff)],
    ['k > d', (b: number[]) => (b[9] = 0x04)],
    ['k that disagrees with the length', (b: number[]) => (b[8] = 4)],
    ['k = 0 with entries', (b: number[]) => (b[8] = 0)],
    ['a truncated value', (b: number[]) => b.pop()],
    ['a trailing byte', (b: number[]) => b.push(0)],
  ])('rejects a payload with %s with ERR_BAD_MESSAGE and leaves the output untouched', (_what, corrupt) => {
    const bytes = handMade().bytes
    corrupt(bytes)
    const out = new Float32Array(1000).fill(9)
    let caught: unknown
    try {
      new TopKCompressor({ layout: flatLayout(1000), ratio: 0.005 }).decompress(
        Uint8Array.from(bytes),
        out,
        CONTEXT,
      )
    } catch (error) {
      caught = error
    }
    expect(isCoreError(caught, 'ERR_BAD_MESSAGE')).toBe(true)
    expect(out.every((v) => v === 9)).toBe(true)
  })
})
