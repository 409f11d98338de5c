import { describe, expect, it } from 'vitest'
import { Int8BlockwiseCompressor } from '../../../../core/compress/int8-blockwise.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { CONTEXT, flatLayout, normalVector } from './helpers.ts'

function roundTrip(values: Float32Array, blockSize?: number): Float32Array {
  const compressor = new Int8BlockwiseCompressor({ layout: flatLayout(values.length), blockSize })
  const out = new Float32Array(values.length)
  compressor.decompress(compressor.compress(values, CONTEXT), out, CONTEXT)
  return out
}

function decodeCode(payload: Uint8Array, d: number): string | undefined {
  try {
    new Int8BlockwiseCompressor({ layout: flatLayout(d) }).decompress(payload, new Float32Array(d), CONTEXT)
  } catch (error) {
    return isCoreError(error) ? error.code : 'other'
  }
  return undefined
}

describe('Int8BlockwiseCompressor', () => {
  it('keeps every entry within half a quantisation step (max|block| / 254) of its input', () => {
    const d = 5000 // not a multiple of the block size: the last block is partial
    const values = normalVector(d, 3, 10)
    const blockSize = 256
    const out = roundTrip(values, blockSize)
    let worstRatio = 0
    for (let start = 0; start < d; start += blockSize) {
      const block = values.subarray(start, Math.min(d, start + blockSize))
      const step = block.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 127
      block.forEach((v, j) => {
        worstRatio = Math.max(worstRatio, Math.abs(out[start + j]! - v) / step)
      })
    }
    expect(worstRatio).toBeLessThanOrEqual(0.5 + 1e-5)
    expect(worstRatio).toBeGreaterThan(0.4)
  })

  it('reconstructs each block maximum almost exactly (level ±127)', () => {
    const values = Float32Array.of(0.1, -7.5, 3, 0.25)
    const out = roundTrip(values, 4)
    expect(out[1]).toBeCloseTo(-7.5, 5)
  })

  it('scales blocks independently so a block of tiny values keeps its precision', () => {
    const values = new Float32Array(2048)
    for (let i = 0; i < 1024; i++) values[i] = 1e6 * Math.sin(i)
    for (let i = 1024; i < 2048; i++) values[i] = 1e-6 * Math.sin(i)
    const out = roundTrip(values, 1024)
    for (let i = 1024; i < 2048; i++)
      expect(Math.abs(out[i]! - values[i]!)).toBeLessThanOrEqual(1e-6 / 254 + 1e-13)
  })

  it('decodes an all-zero block to zeros and tiny subnormal blocks exactly', () => {
    const values = Float32Array.of(0, 0, 0, 0, 3e-45, -1.4e-45, 7e-45, 0)
    expect([...roundTrip(values, 4)]).toEqual([...values].map((v) => (v === 0 ? 0 : v)))
  })

  it('keeps the sign and half-step accuracy when a subnormal scale rounds below max / 127', () => {
    // max = 190 · 2^-149: max / 127 rounds to the subnormal 2^-149, which would need level 190.
    const ulp = 2 ** -149
    const values = Float32Array.of(190 * ulp, -3 * ulp, 77 * ulp, 0)
    for (const kernels of ['scalar', 'wasm-simd'] as const) {
      const compressor = new Int8BlockwiseCompressor({ layout: flatLayout(4), blockSize: 4, kernels })
      const out = new Float32Array(4)
      const payload = compressor.compress(values, CONTEXT)
      compressor.decompress(payload, out, CONTEXT)
      const scale = new DataView(payload.buffer, payload.byteOffset).getFloat32(12, true)
      expect(scale).toBe(2 * ulp)
      values.forEach((v, i) => expect(Math.abs(out[i]! - v)).toBeLessThanOrEqual(scale / 2))
    }
  })

  it('sends 12 + 4 ceil(d / blockSize) + d bytes and names non-default block sizes in its spec', () => {
    const compressor = new Int8BlockwiseCompressor({ layout: flatLayout(1000), blockSize: 64 })
    expect(compressor.compress(normalVector(1000, 1), CONTEXT).length).toBe(12 + 4 * 16 + 1000)
    expect(compressor.spec).toBe('int8:64')
  })

  it.each([
    ['a negative scale', (p: DataView) => p.setFloat32(12, -1, true)],
    ['a NaN scale', (p: DataView) => p.setFloat32(12, NaN, true)],
    ['an infinite scale', (p: DataView) => p.setFloat32(12, Infinity, true)],
    ['block size 0', (p: DataView) => p.setUint32(8, 0, true)],
    ['another block size than the bytes fit', (p: DataView) => p.setUint32(8, 512, true)],
  ])('rejects a payload with %s with ERR_BAD_MESSAGE', (_what, corrupt) => {
    const d = 2000
    const payload = new Int8BlockwiseCompressor({ layout: flatLayout(d) })
      .compress(normalVector(d, 2), CONTEXT)
      .slice()
    expect(decodeCode(payload, d)).toBeUndefined()
    corrupt(new DataView(payload.buffer))
    expect(decodeCode(payload, d)).toBe('ERR_BAD_MESSAGE')
  })
})
