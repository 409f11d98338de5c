/**
 * The few dense-vector loops the algorithms need, written once. Float64 accumulators keep sums
 * over many peers accurate and, because every worker adds the same terms in the same order
 * (ascending worker index), bit-identical across workers.
 */
import { CoreError } from '../errors.ts'

/** Index of the first NaN/Inf in `v`, or -1. */
export function firstNonFinite(v: ArrayLike<number>): number {
  for (let j = 0; j < v.length; j++) {
    if (!Number.isFinite(v[j])) return j
  }
  return -1
}

export function allFinite(v: ArrayLike<number>): boolean {
  return firstNonFinite(v) < 0
}

/** Throws ERR_SHAPE_MISMATCH unless `v` has `size` entries. */
export function checkSize(v: ArrayLike<number>, size: number, what: string): void {
  if (v.length !== size) {
    throw new CoreError(
      'ERR_SHAPE_MISMATCH',
      `${what} has ${v.length} values, the model layout needs ${size}`,
    )
  }
}

/** acc[j] += v[j] (each sum taken in float64, then stored in acc's precision). */
export function accumulate(acc: Float64Array | Float32Array, v: ArrayLike<number>): void {
  for (let j = 0; j < acc.length; j++) acc[j] = (acc[j] ?? 0) + (v[j] ?? 0)
}

/** out[j] = a[j] − b[j]. */
export function subtractInto(out: Float32Array, a: ArrayLike<number>, b: ArrayLike<number>): void {
  for (let j = 0; j < out.length; j++) out[j] = (a[j] ?? 0) - (b[j] ?? 0)
}

/** out[j] += a[j] − b[j] (the difference taken first, so equal a and b leave out unchanged). */
export function addDifference(out: Float32Array, a: ArrayLike<number>, b: ArrayLike<number>): void {
  for (let j = 0; j < out.length; j++) out[j] = (out[j] ?? 0) + ((a[j] ?? 0) - (b[j] ?? 0))
}

/** out[j] = acc[j] * scale, rounded to float32. */
export function scaleInto(out: Float32Array, acc: Float64Array, scale: number): void {
  for (let j = 0; j < out.length; j++) out[j] = (acc[j] ?? 0) * scale
}
