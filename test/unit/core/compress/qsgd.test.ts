import { describe, expect, it } from 'vitest'
import { QsgdCompressor, qsgdBitsPerEntry } from '../../../../core/compress/qsgd.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { CONTEXT, flatLayout, normalVector } from './helpers.ts'

function decode(
  compressor: QsgdCompressor,
  values: Float32Array,
  round: number,
  senderIndex = 0,
): Float32Array {
  const context = { seed: 3, round, senderIndex }
  const out = new Float32Array(values.length)
  compressor.decompress(compressor.compress(values, context), out, context)
  return out
}

describe('QsgdCompressor', () => {
  it('rounds every entry to one of the two neighbouring levels of ‖p‖₂ / s, with its sign', () => {
    const d = 999
    const values = normalVector(d, 13)
    for (const levels of [1, 7, 127, 1000]) {
      const compressor = new QsgdCompressor({ layout: flatLayout(d), levels })
      const out = decode(compressor, values, 1)
      const unit = Math.fround(Math.sqrt(values.reduce((s, v) => s + v * v, 0)) / levels)
      let bad = 0
      values.forEach((v, i) => {
        const x = Math.abs(v) / unit
        const level = Math.abs(out[i]!) / unit
        const isNeighbour = Math.abs(level - Math.floor(x)) < 1e-3 || Math.abs(level - Math.ceil(x)) < 1e-3
        const hasSign = out[i] === 0 || Math.sign(out[i]!) === Math.sign(v)
        if (!isNeighbour || !hasSign || level > levels + 1e-3) bad++
      })
      expect(bad).toBe(0)
    }
  })

  it('is unbiased: the mean over many seeded rounds is within 5 standard errors of the input', () => {
    const d = 64
    const levels = 3
    const rounds = 3000
    const values = normalVector(d, 17)
    const compressor = new QsgdCompressor({ layout: flatLayout(d), levels })
    const unit = Math.fround(Math.sqrt(values.reduce((s, v) => s + v * v, 0)) / levels)
    const sum = new Float64Array(d)
    for (let r = 0; r < rounds; r++) decode(compressor, values, r).forEach((v, i) => (sum[i]! += v))
    let zScoreSquares = 0
    for (let i = 0; i < d; i++) {
      const x = Math.abs(values[i]!) / unit
      const frac = x - Math.floor(x)
      // One draw is floor(x) or ceil(x) (times unit): Bernoulli variance unit² · frac · (1 − frac).
      const standardError = unit * Math.sqrt((frac * (1 - frac)) / rounds)
      const error = sum[i]! / rounds - values[i]!
      expect(Math.abs(error)).toBeLessThanOrEqual(5 * standardError + 1e-6 * Math.abs(values[i]!))
      if (standardError > 0) zScoreSquares += (error / standardError) ** 2
    }
    // Σ z² over 64 entries is about chi-square(64): below 110 with probability > 0.9997.
    expect(zScoreSquares).toBeLessThan(110)
  })

  it('keeps the variance within the QSGD bound min(d / s², √d / s) · ‖p‖²', () => {
    const d = 400
    const levels = 4
    const values = normalVector(d, 23)
    const compressor = new QsgdCompressor({ layout: flatLayout(d), levels })
    const normSquared = values.reduce((s, v) => s + v * v, 0)
    let squaredError = 0
    const rounds = 200
    for (let r = 0; r < rounds; r++) {
      const out = decode(compressor, values, r)
      values.forEach((v, i) => (squaredError += (out[i]! - v) ** 2))
    }
    const bound = Math.min(d / levels ** 2, Math.sqrt(d) / levels) * normSquared
    expect(squaredError / rounds).toBeLessThan(bound)
    expect(squaredError / rounds).toBeGreaterThan(0)
  })

  it('draws different roundings for different senders and rounds, and the same for the same ones', () => {
    const d = 500
    const values = normalVector(d, 2)
    const compressor = new QsgdCompressor({ layout: flatLayout(d), levels: 7 })
    const base = decode(compressor, values, 4, 0)
    expect(decode(compressor, values, 4, 0)).toEqual(base)
    expect(decode(compressor, values, 4, 1)).not.toEqual(base)
    expect(decode(compressor, values, 5, 0)).not.toEqual(base)
  })

  it('decodes a zero vector to zeros', () => {
    const compressor = new QsgdCompressor({ layout: flatLayout(10), levels: 7 })
    expect([...decode(compressor, new Float32Array(10), 0)].every((v) => v === 0)).toBe(true)
  })

  it.each([
    [1, 2],
    [2, 4],
    [7, 4],
    [8, 8],
    [127, 8],
    [128, 16],
    [32767, 16],
  ])('packs s = %i into %i-bit codes and sends 16 + ceil(d · bits / 8) bytes', (levels, bits) => {
    expect(qsgdBitsPerEntry(levels)).toBe(bits)
    const d = 1001
    const compressor = new QsgdCompressor({ layout: flatLayout(d), levels })
    expect(compressor.compress(normalVector(d, 1), CONTEXT).length).toBe(16 + Math.ceil((d * bits) / 8))
  })

  it.each([
    ['a level above s', (v: DataView) => v.setUint32(12, 4, true)],
    ['s = 0', (v: DataView) => v.setUint32(12, 0, true)],
    ['a negative unit', (v: DataView) => v.setFloat32(8, -1, true)],
    ['a NaN unit', (v: DataView) => v.setFloat32(8, NaN, true)],
    ['a set padding bit', (v: DataView) => v.setUint8(v.byteLength - 1, v.getUint8(v.byteLength - 1) | 0x80)],
  ])('rejects a payload with %s with ERR_BAD_MESSAGE', (_what, corrupt) => {
    // s = 7 and s = 4 both use 4-bit codes, so rewriting s to 4 keeps the length valid and
    // leaves the level-7 code of the dominant entry above s. d odd leaves 4 padding bits.
    const d = 1001
    const values = normalVector(d, 6)
    values[0] = 1000
    const compressor = new QsgdCompressor({ layout: flatLayout(d), levels: 7 })
    const payload = compressor.compress(values, CONTEXT).slice()
    expect(payload[16]! & 0x7).toBe(7)
    corrupt(new DataView(payload.buffer))
    let caught: unknown
    try {
      compressor.decompress(payload, new Float32Array(d), CONTEXT)
    } catch (error) {
      caught = error
    }
    expect(isCoreError(caught, 'ERR_BAD_MESSAGE')).toBe(true)
  })
})
