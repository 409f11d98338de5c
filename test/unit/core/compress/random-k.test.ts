import { describe, expect, it } from 'vitest'
import { RandomKCompressor } from '../../../../core/compress/random-k.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { CONTEXT, flatLayout, normalVector } from './helpers.ts'

function decodeWith(
  compressor: RandomKCompressor,
  values: Float32Array,
  round: number,
  senderIndex = 0,
): Float32Array {
  const context = { seed: 77, round, senderIndex }
  const out = new Float32Array(values.length)
  compressor.decompress(compressor.compress(values, context).slice(), out, context)
  return out
}

function chosen(out: Float32Array): number[] {
  return [...out.keys()].filter((i) => out[i] !== 0)
}

describe('RandomKCompressor', () => {
  const d = 1000
  const ones = new Float32Array(d).fill(1)

  it('sends exactly k distinct entries with their exact values when unscaled', () => {
    const compressor = new RandomKCompressor({ layout: flatLayout(d), ratio: 0.05, isScaled: false })
    const values = normalVector(d, 3)
    const out = decodeWith(compressor, values, 1)
    const picked = chosen(out)
    expect(picked).toHaveLength(50)
    for (const i of picked) expect(out[i]).toBe(values[i])
  })

  it('multiplies the kept values by d / k by default', () => {
    const compressor = new RandomKCompressor({ layout: flatLayout(d), ratio: 0.05 })
    const out = decodeWith(compressor, ones, 1)
    expect(chosen(out).map((i) => out[i])).toEqual(new Array(50).fill(20))
    expect(compressor.isUnbiased).toBe(true)
  })

  it('draws the same indices at every peer and sender of a round, and new ones each round', () => {
    const options = { layout: flatLayout(d), ratio: 0.05, isScaled: false }
    const atSender0 = chosen(decodeWith(new RandomKCompressor(options), ones, 5, 0))
    const atSender3 = chosen(decodeWith(new RandomKCompressor(options), ones, 5, 3))
    const nextRound = chosen(decodeWith(new RandomKCompressor(options), ones, 6, 0))
    expect(atSender3).toEqual(atSender0)
    expect(nextRound).not.toEqual(atSender0)
  })

  it('decodes in a receiver that never compressed, from seed and round alone', () => {
    const context = { seed: 9, round: 12 }
    const sender = new RandomKCompressor({ layout: flatLayout(d), ratio: 0.1 })
    const payload = sender.compress(normalVector(d, 8), context).slice()
    const a = new Float32Array(d)
    const b = new Float32Array(d)
    sender.decompress(payload, a, context)
    new RandomKCompressor({ layout: flatLayout(d), ratio: 0.1 }).decompress(payload, b, context)
    expect(b).toEqual(a)
    // Another round gives other indices, so the same payload decodes differently.
    new RandomKCompressor({ layout: flatLayout(d), ratio: 0.1 }).decompress(payload, b, {
      seed: 9,
      round: 13,
    })
    expect(b).not.toEqual(a)
  })

  it('is unbiased: the mean over many rounds is within 5 standard errors of the input', () => {
    const n = 64
    const ratio = 0.25 // k = 16, each entry kept with probability 1/4, scaled by 4
    const rounds = 4000
    const values = normalVector(n, 21)
    const compressor = new RandomKCompressor({ layout: flatLayout(n), ratio })
    const sum = new Float64Array(n)
    const hits = new Float64Array(n)
    const out = new Float32Array(n)
    for (let r = 0; r < rounds; r++) {
      const context = { seed: 5, round: r }
      compressor.decompress(compressor.compress(values, context), out, context)
      out.forEach((v, i) => {
        sum[i]! += v
        if (v !== 0) hits[i]!++
      })
    }
    const scale = 1 / ratio
    for (let i = 0; i < n; i++) {
      const p = values[i]!
      // Var[c_i] = p² (d/k − 1); the mean's standard error is sqrt(Var / rounds).
      const standardError = Math.abs(p) * Math.sqrt((scale - 1) / rounds)
      expect(Math.abs(sum[i]! / rounds - p)).toBeLessThanOrEqual(5 * standardError + 1e-6 * Math.abs(p))
      // Inclusion frequency: Binomial(rounds, 1/4).
      const sd = Math.sqrt(rounds * ratio * (1 - ratio))
      expect(Math.abs(hits[i]! - rounds * ratio)).toBeLessThanOrEqual(5 * sd)
    }
  })

  it('sends 12 + 4k bytes and no indices', () => {
    const compressor = new RandomKCompressor({ layout: flatLayout(d), ratio: 0.05 })
    expect(compressor.compress(ones, CONTEXT).length).toBe(12 + 4 * 50)
  })

  it.each([
    ['k > d', (v: DataView) => v.setUint32(8, d + 1, true)],
    ['k that disagrees with the length', (v: DataView) => v.setUint32(8, 49, true)],
    ['a NaN value', (v: DataView) => v.setFloat32(12 + 4 * 7, NaN, true)],
  ])('rejects a payload with %s with ERR_BAD_MESSAGE', (_what, corrupt) => {
    const compressor = new RandomKCompressor({ layout: flatLayout(d), ratio: 0.05 })
    const payload = compressor.compress(ones, CONTEXT).slice()
    corrupt(new DataView(payload.buffer))
    let caught: unknown
    try {
      compressor.decompress(payload, new Float32Array(d), CONTEXT)
    } catch (error) {
      caught = error
    }
    expect(isCoreError(caught, 'ERR_BAD_MESSAGE')).toBe(true)
  })

  it('refuses a non-integer seed or a negative round with ERR_INVALID_ARGUMENT', () => {
    const compressor = new RandomKCompressor({ layout: flatLayout(d), ratio: 0.05 })
    expect(() => compressor.compress(ones, { seed: 0.5, round: 1 })).toThrow(/seed/)
    let caught: unknown
    try {
      compressor.compress(ones, { seed: 1, round: -1 })
    } catch (error) {
      caught = error
    }
    expect(isCoreError(caught, 'ERR_INVALID_ARGUMENT')).toBe(true)
  })
})
