/**
 * A per-worker quadratic objective with a known optimum, in plain JS (no tfjs):
 *   f_i(x) = ½ Σ_j a_ij (x_j − b_ij)²,   F(x) = (1/n) Σ_i f_i(x),
 *   x*_j = Σ_i a_ij b_ij / Σ_i a_ij.
 * Workers have different data (a_i, b_i), so local models drift apart between averages like
 * non-IID training. `noise` adds deterministic pseudo-random gradient noise per (worker, step).
 */
import { buildLayout, type ParamLayout } from '../../../../../core/tensor/param-layout.ts'

/** mulberry32: a tiny deterministic PRNG for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Two tensors (a 4×3 kernel and a bias of 3): 15 parameters. */
export const TEST_LAYOUT: ParamLayout = buildLayout([
  { name: 'dense/kernel', shape: [4, 3] },
  { name: 'dense/bias', shape: [3] },
])

export interface Objective {
  readonly dim: number
  readonly workers: number
  /** Writes ∇f_i(x) (+ noise of this step) into `out`. */
  gradient(worker: number, x: Float32Array, step: number, out: Float32Array): void
  /** F(x), the global objective. */
  loss(x: ArrayLike<number>): number
  readonly optimum: Float64Array
}

export function makeQuadratic(options: {
  workers: number
  dim: number
  seed: number
  noise?: number
}): Objective {
  const { workers, dim, seed } = options
  const noise = options.noise ?? 0
  const rand = prng(seed)
  const a: Float64Array[] = []
  const b: Float64Array[] = []
  for (let i = 0; i < workers; i++) {
    a.push(Float64Array.from({ length: dim }, () => 0.5 + rand()))
    b.push(Float64Array.from({ length: dim }, () => 2 * rand() - 1 + (i % 2 === 0 ? 0.5 : -0.5)))
  }
  const optimum = new Float64Array(dim)
  for (let j = 0; j < dim; j++) {
    let num = 0
    let den = 0
    for (let i = 0; i < workers; i++) {
      num += (a[i]?.[j] ?? 0) * (b[i]?.[j] ?? 0)
      den += a[i]?.[j] ?? 0
    }
    optimum[j] = num / den
  }
  return {
    dim,
    workers,
    optimum,
    gradient(worker, x, step, out) {
      const ai = a[worker]
      const bi = b[worker]
      if (ai === undefined || bi === undefined) throw new Error(`no data for worker ${worker}`)
      const r = noise > 0 ? prng(seed * 7919 + worker * 104729 + step * 31) : null
      for (let j = 0; j < dim; j++) {
        const g = (ai[j] ?? 0) * ((x[j] ?? 0) - (bi[j] ?? 0))
        out[j] = r === null ? g : g + noise * (2 * r() - 1)
      }
    },
    loss(x) {
      let total = 0
      for (let i = 0; i < workers; i++) {
        for (let j = 0; j < dim; j++) {
          const d = (x[j] ?? 0) - (b[i]?.[j] ?? 0)
          total += 0.5 * (a[i]?.[j] ?? 0) * d * d
        }
      }
      return total / workers
    },
  }
}

/** Mean of vectors, in float64. */
export function meanOf(vectors: readonly Float32Array[]): Float64Array {
  const first = vectors[0]
  if (first === undefined) throw new Error('meanOf needs at least one vector')
  const out = new Float64Array(first.length)
  for (const v of vectors) for (let j = 0; j < out.length; j++) out[j] = (out[j] ?? 0) + (v[j] ?? 0)
  for (let j = 0; j < out.length; j++) out[j] = (out[j] ?? 0) / vectors.length
  return out
}

/** max_j |a_j − b_j|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`)
  let m = 0
  for (let j = 0; j < a.length; j++) m = Math.max(m, Math.abs((a[j] ?? 0) - (b[j] ?? 0)))
  return m
}

/** F(x) − F(x*): how far from optimal a model is (0 at the optimum). */
export function lossGap(objective: Objective, x: ArrayLike<number>): number {
  return objective.loss(x) - objective.loss(objective.optimum)
}
