import { describe, expect, it } from 'vitest'
import { ErrorFeedback } from '../../../../core/compress/error-feedback.ts'
import { createCompressor } from '../../../../core/compress/registry.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { modelLayout, normalVector } from './helpers.ts'

const layout = modelLayout()
const d = layout.totalSize

/** Half an ulp of a float32 value (for |x| in the normal range). */
function halfUlp(x: number): number {
  if (x === 0) return 2 ** -150
  return 2 ** (Math.floor(Math.log2(Math.abs(Math.fround(x)))) - 24)
}

function feedback(spec: string): ErrorFeedback {
  return new ErrorFeedback({ compressor: createCompressor(spec, layout), size: d })
}

function code(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return isCoreError(error) ? error.code : 'other'
  }
  return undefined
}

describe('ErrorFeedback', () => {
  // c_j is 0, p_j, or within a factor 2 of p_j for these: p − c is exact in float32 (Sterbenz).
  describe.each(['none', 'fp16', 'int8', 'int8:16', 'topk:0.05', 'randk:0.1:unscaled'])('with %s', (spec) => {
    it('keeps sent + new residual == delta + old residual exactly in float32, every entry, every round', () => {
      const ef = feedback(spec)
      let mismatches = 0
      for (let round = 0; round < 8; round++) {
        const delta = normalVector(d, 100 + round, 0.01 * (round + 1))
        const oldResidual = ef.residual.slice()
        const { sent } = ef.compress(delta, { seed: 1, round })
        for (let i = 0; i < d; i++) {
          if (Math.fround(sent[i]! + ef.residual[i]!) !== Math.fround(delta[i]! + oldResidual[i]!))
            mismatches++
        }
      }
      expect(mismatches).toBe(0)
    })
  })

  // c_j may be far from p_j: the residual is then the correctly rounded float32 difference.
  describe.each(['sign', 'qsgd:7', 'powersgd:2', 'randk:0.1'])('with %s', (spec) => {
    it('stores fl32(p − c) as the residual, within half an ulp of the exact difference', () => {
      const ef = feedback(spec)
      let wrong = 0
      for (let round = 0; round < 8; round++) {
        const delta = normalVector(d, 200 + round)
        const p = new Float32Array(d)
        for (let i = 0; i < d; i++) p[i] = delta[i]! + ef.residual[i]!
        const { sent } = ef.compress(delta, { seed: 1, round })
        for (let i = 0; i < d; i++) {
          const e = ef.residual[i]!
          // p − c of two float32 values in this range is exact in double.
          const exact = p[i]! - sent[i]!
          if (e !== Math.fround(exact) || Math.abs(sent[i]! + e - p[i]!) > halfUlp(e)) wrong++
        }
      }
      expect(wrong).toBe(0)
    })
  })

  it('loses nothing over many rounds: Σ sent + residual == Σ delta (top-k)', () => {
    const ef = feedback('topk:0.02')
    const sentTotal = new Float64Array(d)
    const deltaTotal = new Float64Array(d)
    for (let round = 0; round < 30; round++) {
      const delta = normalVector(d, 300 + round, 0.1)
      const { sent } = ef.compress(delta, { seed: 2, round })
      for (let i = 0; i < d; i++) {
        sentTotal[i]! += sent[i]!
        deltaTotal[i]! += delta[i]!
      }
    }
    let worst = 0
    for (let i = 0; i < d; i++)
      worst = Math.max(worst, Math.abs(sentTotal[i]! + ef.residual[i]! - deltaTotal[i]!))
    expect(worst).toBeLessThan(1e-5)
    // And the residual really carried something across rounds.
    expect(ef.residual.some((v) => v !== 0)).toBe(true)
  })

  it('leaves the residual unchanged when delta + residual holds NaN', () => {
    const ef = feedback('topk:0.05')
    ef.compress(normalVector(d, 1), { seed: 1, round: 0 })
    const before = ef.exportState()
    const bad = normalVector(d, 2)
    bad[17] = NaN
    expect(code(() => ef.compress(bad, { seed: 1, round: 1 }))).toBe('ERR_NON_FINITE')
    expect(ef.residual).toEqual(before)
  })

  it('throws ERR_SHAPE_MISMATCH for a delta of the wrong size', () => {
    expect(code(() => feedback('none').compress(new Float32Array(d - 1), { seed: 1, round: 0 }))).toBe(
      'ERR_SHAPE_MISMATCH',
    )
  })

  it('throws ERR_INVALID_ARGUMENT when its size is not the compressor layout size', () => {
    expect(code(() => new ErrorFeedback({ compressor: createCompressor('none', layout), size: d + 1 }))).toBe(
      'ERR_INVALID_ARGUMENT',
    )
  })

  it('forgets the residual on reset()', () => {
    const ef = feedback('sign')
    ef.compress(normalVector(d, 1), { seed: 1, round: 0 })
    expect(ef.residual.some((v) => v !== 0)).toBe(true)
    ef.reset()
    expect(ef.residual.every((v) => v === 0)).toBe(true)
  })

  it('resumes identically after exportState() / importState() into a new instance', () => {
    const a = feedback('topk:0.05')
    a.compress(normalVector(d, 1), { seed: 1, round: 0 })
    const state = a.exportState()
    state.fill(0, 0, 0) // the export is a copy: a later compress must not change it
    const b = feedback('topk:0.05')
    b.importState(state)
    const next = normalVector(d, 2)
    expect(b.compress(next, { seed: 1, round: 1 }).payload).toEqual(
      a.compress(next, { seed: 1, round: 1 }).payload,
    )
    expect(state).not.toEqual(a.residual)
  })

  it('refuses a state of the wrong length or holding Infinity with ERR_BAD_CHECKPOINT', () => {
    const ef = feedback('none')
    expect(code(() => ef.importState(new Float32Array(d - 1)))).toBe('ERR_BAD_CHECKPOINT')
    const state = new Float32Array(d)
    state[3] = Infinity
    expect(code(() => ef.importState(state))).toBe('ERR_BAD_CHECKPOINT')
    expect(ef.residual.every((v) => v === 0)).toBe(true)
  })

  it('returns what a receiver decodes from the payload as `sent`', () => {
    const ef = feedback('qsgd:7')
    const context = { seed: 4, round: 2, senderIndex: 1 }
    const { payload, sent } = ef.compress(normalVector(d, 5), context)
    const atReceiver = new Float32Array(d)
    createCompressor('qsgd:7', layout).decompress(payload, atReceiver, context)
    expect(atReceiver).toEqual(sent)
  })
})
