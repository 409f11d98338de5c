import { describe, expect, it } from 'vitest'
import { ScaledSignCompressor } from '../../../../core/compress/scaled-sign.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { CONTEXT, flatLayout, normalVector } from './helpers.ts'

describe('ScaledSignCompressor', () => {
  it('sends (‖p‖₁ / d) · sign(p) for every entry', () => {
    const d = 1003
    const values = normalVector(d, 4)
    values[5] = 0
    values[6] = -0
    const compressor = new ScaledSignCompressor({ layout: flatLayout(d) })
    const out = new Float32Array(d)
    compressor.decompress(compressor.compress(values, CONTEXT), out, CONTEXT)
    const scale = Math.fround(values.reduce((s, v) => s + Math.abs(v), 0) / d)
    values.forEach((v, i) => {
      const isNegative = v < 0 || Object.is(v, -0)
      expect(out[i]).toBe(isNegative ? -scale : scale)
    })
  })

  it('sends 12 + ceil(d / 8) bytes', () => {
    const compressor = new ScaledSignCompressor({ layout: flatLayout(1003) })
    expect(compressor.compress(normalVector(1003, 1), CONTEXT).length).toBe(12 + 126)
  })

  it('decodes an all-zero vector to zeros', () => {
    const compressor = new ScaledSignCompressor({ layout: flatLayout(10) })
    const out = new Float32Array(10).fill(5)
    compressor.decompress(compressor.compress(new Float32Array(10), CONTEXT), out, CONTEXT)
    expect([...out]).toEqual(new Array(10).fill(0))
  })

  it.each([
    ['a set padding bit', (p: Uint8Array) => (p[p.length - 1]! |= 0x80)],
    ['a negative scale', (p: Uint8Array) => new DataView(p.buffer).setFloat32(8, -1, true)],
    ['a NaN scale', (p: Uint8Array) => new DataView(p.buffer).setFloat32(8, NaN, true)],
  ])('rejects a payload with %s with ERR_BAD_MESSAGE', (_what, corrupt) => {
    const d = 1003
    const compressor = new ScaledSignCompressor({ layout: flatLayout(d) })
    const payload = compressor.compress(normalVector(d, 1), CONTEXT).slice()
    corrupt(payload)
    let caught: unknown
    try {
      compressor.decompress(payload, new Float32Array(d), CONTEXT)
    } catch (error) {
      caught = error
    }
    expect(isCoreError(caught, 'ERR_BAD_MESSAGE')).toBe(true)
  })
})
