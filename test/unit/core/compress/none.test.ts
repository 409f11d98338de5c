import { describe, expect, it } from 'vitest'
import { NoCompressor } from '../../../../core/compress/none.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { CONTEXT, flatLayout } from './helpers.ts'

describe('NoCompressor', () => {
  const special = Float32Array.of(
    0,
    -0,
    1,
    -1,
    1.5e-45,
    -1.5e-45,
    1.17549435e-38,
    3.4028234e38,
    -3.4028234e38,
    Math.PI,
  )
  const layout = flatLayout(special.length)

  it('round-trips every bit exactly, including -0, subnormals and the float32 extremes', () => {
    const compressor = new NoCompressor({ layout })
    const out = new Float32Array(special.length)
    compressor.decompress(compressor.compress(special, CONTEXT), out, CONTEXT)
    expect(new Uint32Array(out.buffer)).toEqual(new Uint32Array(special.buffer))
    expect(compressor.isLossless).toBe(true)
    expect(compressor.lastPayloadBytes).toBe(8 + 4 * special.length)
  })

  it('rejects a payload carrying NaN with ERR_BAD_MESSAGE', () => {
    const compressor = new NoCompressor({ layout })
    const payload = compressor.compress(special, CONTEXT).slice()
    new DataView(payload.buffer).setFloat32(8 + 4 * 3, NaN, true)
    let caught: unknown
    try {
      compressor.decompress(payload, new Float32Array(special.length), CONTEXT)
    } catch (error) {
      caught = error
    }
    expect(isCoreError(caught, 'ERR_BAD_MESSAGE')).toBe(true)
  })
})
