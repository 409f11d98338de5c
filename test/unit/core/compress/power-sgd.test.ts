import { describe, expect, it } from 'vitest'
import { PowerSgdCompressor, powerSgdMatrixRank } from '../../../../core/compress/power-sgd.ts'
import { Xoshiro128 } from '../../../../core/compress/prng.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { buildLayout, type ParamLayout } from '../../../../core/tensor/param-layout.ts'
import { CONTEXT, normalVector } from './helpers.ts'

/** Orthonormal columns (count × length, each column a row of the result) by Gram–Schmidt. */
function orthonormal(count: number, length: number, seed: number): Float64Array[] {
  const rng = new Xoshiro128(seed)
  const columns: Float64Array[] = []
  while (columns.length < count) {
    const v = Float64Array.from({ length }, () => rng.nextFloat() - 0.5)
    for (const c of columns) {
      const dot = c.reduce((s, x, i) => s + x * v[i]!, 0)
      c.forEach((x, i) => (v[i]! -= dot * x))
    }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0))
    columns.push(v.map((x) => x / norm))
  }
  return columns
}

/**
 * Writes Σ_t σ_t u_t v_tᵀ (rows × cols) into `flat` the way a [.., rows] kernel is stored:
 * M[o][a] = flat[offset + a · rows + o].
 */
function writeMatrix(
  flat: Float32Array,
  offset: number,
  rows: number,
  cols: number,
  sigmas: number[],
  seed: number,
): void {
  const u = orthonormal(sigmas.length, rows, seed)
  const v = orthonormal(sigmas.length, cols, seed + 1)
  for (let a = 0; a < cols; a++) {
    for (let o = 0; o < rows; o++) {
      let sum = 0
      sigmas.forEach((s, t) => (sum += s * u[t]![o]! * v[t]![a]!))
      flat[offset + a * rows + o] = sum
    }
  }
}

function relativeError(actual: Float32Array, expected: Float32Array, from: number, to: number): number {
  let error = 0
  let norm = 0
  for (let i = from; i < to; i++) {
    error += (actual[i]! - expected[i]!) ** 2
    norm += expected[i]! ** 2
  }
  return Math.sqrt(error / norm)
}

function decode(compressor: PowerSgdCompressor, values: Float32Array): Float32Array {
  const out = new Float32Array(values.length)
  compressor.decompress(compressor.compress(values, CONTEXT), out, CONTEXT)
  return out
}

describe('PowerSgdCompressor', () => {
  const layout: ParamLayout = buildLayout([
    { name: 'dense/kernel', shape: [30, 20] }, // rows = 20 (out), cols = 30
    { name: 'dense/bias', shape: [20] },
    { name: 'conv/kernel', shape: [3, 3, 4, 8] }, // rows = 8 (out), cols = 36
    { name: 'scalar', shape: [] },
  ])
  const [dense, bias, conv, scalar] = layout.entries

  it('reconstructs rank-r dense and conv kernels in one round, and sends vectors exactly', () => {
    const values = new Float32Array(layout.totalSize)
    writeMatrix(values, dense!.offset, 20, 30, [5, 2, 0.7], 1)
    writeMatrix(values, conv!.offset, 8, 36, [3, 1], 2) // rank 2 < r = 3: a dependent column
    values.set(normalVector(bias!.size, 3), bias!.offset)
    values[scalar!.offset] = -4.25
    const out = decode(new PowerSgdCompressor({ layout, rank: 3 }), values)
    expect(relativeError(out, values, dense!.offset, dense!.offset + dense!.size)).toBeLessThan(1e-5)
    expect(relativeError(out, values, conv!.offset, conv!.offset + conv!.size)).toBeLessThan(1e-5)
    expect(out.subarray(bias!.offset, bias!.offset + bias!.size)).toEqual(
      values.subarray(bias!.offset, bias!.offset + bias!.size),
    )
    expect(out[scalar!.offset]).toBe(-4.25)
  })

  it('does not reconstruct a full-rank matrix in one round (it really is low-rank)', () => {
    const values = normalVector(layout.totalSize, 4)
    const out = decode(new PowerSgdCompressor({ layout, rank: 3 }), values)
    expect(relativeError(out, values, dense!.offset, dense!.offset + dense!.size)).toBeGreaterThan(0.3)
  })

  it('converges to the best rank-r approximation over rounds thanks to the warm-started Q', () => {
    const matrixLayout = buildLayout([{ name: 'w', shape: [30, 40] }])
    const sigmas = [10, 6, 3, 1, 0.5, 0.2]
    const values = new Float32Array(matrixLayout.totalSize)
    writeMatrix(values, 0, 40, 30, sigmas, 7)
    const compressor = new PowerSgdCompressor({ layout: matrixLayout, rank: 2 })
    const optimal = Math.sqrt(sigmas.slice(2).reduce((s, x) => s + x * x, 0))
    const norm = Math.sqrt(sigmas.reduce((s, x) => s + x * x, 0))
    const errors: number[] = []
    for (let round = 0; round < 20; round++)
      errors.push(relativeError(decode(compressor, values), values, 0, values.length))
    expect(errors[0]!).toBeGreaterThan((optimal / norm) * 1.05)
    expect(errors[19]!).toBeLessThan((optimal / norm) * 1.001)
    // A cold start every round (fresh instance) does not get there.
    const cold = relativeError(
      decode(new PowerSgdCompressor({ layout: matrixLayout, rank: 2, seed: 5 }), values),
      values,
      0,
      values.length,
    )
    expect(cold).toBeGreaterThan(errors[19]! * 1.01)
  })

  it('sends a matrix raw when its factors would be no smaller', () => {
    expect(powerSgdMatrixRank(4, 3, 2)).toBe(0) // (4 + 3)·2 = 14 ≥ 12
    expect(powerSgdMatrixRank(20, 30, 3)).toBe(3)
    expect(powerSgdMatrixRank(20, 30, 50)).toBe(0) // r clipped to 20: 50·20 ≥ 600
    const small = buildLayout([{ name: 'w', shape: [3, 4] }])
    const values = normalVector(12, 1)
    const compressor = new PowerSgdCompressor({ layout: small, rank: 2 })
    expect(compressor.isLossless).toBe(true)
    expect(decode(compressor, values)).toEqual(values)
  })

  it('sends 16 + 4 · (Σ raw sizes + Σ (rows + cols) · r) bytes', () => {
    const compressor = new PowerSgdCompressor({ layout, rank: 3 })
    const floats = (20 + 30) * 3 + 20 + (8 + 36) * 3 + 1
    expect(compressor.compress(normalVector(layout.totalSize, 1), CONTEXT).length).toBe(16 + 4 * floats)
  })

  it('continues exactly where another sender left off when its state is imported', () => {
    const values = normalVector(layout.totalSize, 8)
    const first = new PowerSgdCompressor({ layout, rank: 2 })
    first.compress(values, CONTEXT)
    const second = new PowerSgdCompressor({ layout, rank: 2, seed: 99 })
    second.importState(first.exportState())
    expect(second.compress(values, CONTEXT)).toEqual(first.compress(values, CONTEXT))
  })

  it('refuses a state of the wrong length or with NaN with ERR_BAD_CHECKPOINT', () => {
    const compressor = new PowerSgdCompressor({ layout, rank: 2 })
    const state = compressor.exportState()
    const code = (s: Float32Array): string | undefined => {
      try {
        compressor.importState(s)
      } catch (error) {
        return isCoreError(error) ? error.code : 'other'
      }
      return undefined
    }
    expect(code(state.subarray(1))).toBe('ERR_BAD_CHECKPOINT')
    state[0] = NaN
    expect(code(state)).toBe('ERR_BAD_CHECKPOINT')
  })

  it.each([
    ['rank 0', (v: DataView) => v.setUint32(8, 0, true)],
    ['another rank than the bytes fit', (v: DataView) => v.setUint32(8, 2, true)],
    ['another tensor count', (v: DataView) => v.setUint32(12, 3, true)],
    ['a NaN factor', (v: DataView) => v.setFloat32(16 + 4 * 5, NaN, true)],
  ])('rejects a payload with %s with ERR_BAD_MESSAGE', (_what, corrupt) => {
    const compressor = new PowerSgdCompressor({ layout, rank: 3 })
    const payload = compressor.compress(normalVector(layout.totalSize, 1), CONTEXT).slice()
    corrupt(new DataView(payload.buffer))
    let caught: unknown
    try {
      compressor.decompress(payload, new Float32Array(layout.totalSize), CONTEXT)
    } catch (error) {
      caught = error
    }
    expect(isCoreError(caught, 'ERR_BAD_MESSAGE')).toBe(true)
  })
})
