/**
 * The model's parameters seen as one flat Float32Array. The layout says where each named
 * tensor lives in that vector; its fingerprint is what peers compare before exchanging
 * deltas (two models with the same fingerprint have the same tensors in the same order).
 */
import { CoreError } from '../errors.ts'
import { fnv1a64Hex } from '../hash.ts'

export interface ParamEntry {
  readonly name: string
  readonly shape: readonly number[]
  /** Index of the first element in the flat vector. */
  readonly offset: number
  /** Number of elements: the product of `shape`. */
  readonly size: number
}

export interface ParamLayout {
  readonly entries: readonly ParamEntry[]
  readonly totalSize: number
  /** 16 hex digits; equal layouts have equal fingerprints. */
  readonly fingerprint: string
}

export function buildLayout(tensors: ReadonlyArray<{ name: string; shape: readonly number[] }>): ParamLayout {
  let offset = 0
  const entries: ParamEntry[] = []
  for (const t of tensors) {
    for (const dim of t.shape) {
      if (!Number.isInteger(dim) || dim < 0) {
        throw new CoreError(
          'ERR_INVALID_ARGUMENT',
          `tensor ${t.name} has an invalid shape [${t.shape.join(', ')}]`,
        )
      }
    }
    const size = t.shape.reduce((a, b) => a * b, 1)
    entries.push({ name: t.name, shape: [...t.shape], offset, size })
    offset += size
  }
  const canonical = entries.map((e) => `${e.name}:${e.shape.join('x')}`).join(';')
  return { entries, totalSize: offset, fingerprint: fnv1a64Hex(canonical) }
}

/** Fails with ERR_SHAPE_MISMATCH when `values` cannot be this layout's flat vector. */
export function checkFlatSize(layout: ParamLayout, values: ArrayLike<number>, what: string): void {
  if (values.length !== layout.totalSize) {
    throw new CoreError(
      'ERR_SHAPE_MISMATCH',
      `${what} has ${values.length} values but the model layout ${layout.fingerprint} needs ${layout.totalSize}`,
    )
  }
}
