/**
 * Splitting one dataset across n simulated workers for experiments.
 *
 * - IID: stratified dealing. Each class's samples are shuffled and dealt round-robin,
 *   continuing the turn across classes, so every worker's class histogram is within ±1 of
 *   the global proportions and worker sizes differ by at most 1.
 * - Dirichlet(α) non-IID (Hsu, Qi & Brown 2019): for each class, proportions
 *   p ~ Dir(α·1_n) decide how that class's shuffled samples are cut between workers. Small
 *   α gives each worker few classes; large α approaches IID.
 *
 * Both return one sorted Int32Array of sample indices per worker; every index appears in
 * exactly one worker's list.
 */
import { CoreError } from '../errors.ts'
import type { Prng } from './prng.ts'
import { createPrng, shuffleInPlace } from './prng.ts'

export { subsetSplit } from './dataset.ts'

// Purpose tags: a partition never shares a random stream with shuffling or splitting.
const IID_SALT = 0x696964
const DIRICHLET_SALT = 0x646972

/** Retries for a Dirichlet draw that leaves a worker below `minSamplesPerWorker`. */
const MAX_DIRICHLET_ATTEMPTS = 1000

function checkWorkers(workers: number, samples: number): void {
  if (!Number.isInteger(workers) || workers < 1) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `worker count must be a positive integer, got ${workers}`)
  }
  if (workers > samples) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `cannot give ${workers} workers a sample each from ${samples} samples`,
    )
  }
}

function indicesByClass(labels: ArrayLike<number>): number[][] {
  const byClass: number[][] = []
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!
    if (!Number.isInteger(label) || label < 0) {
      throw new CoreError('ERR_INVALID_ARGUMENT', `label ${label} at index ${i} is not a class index`)
    }
    while (byClass.length <= label) byClass.push([])
    byClass[label]!.push(i)
  }
  return byClass
}

function finish(parts: number[][]): Int32Array[] {
  return parts.map((p) => Int32Array.from(p).sort())
}

/** IID partition (stratified round-robin); deterministic for a seed. */
export function partitionIid(labels: ArrayLike<number>, workers: number, seed: number): Int32Array[] {
  checkWorkers(workers, labels.length)
  const prng = createPrng(seed, IID_SALT)
  const parts: number[][] = Array.from({ length: workers }, () => [])
  let turn = 0
  for (const members of indicesByClass(labels)) {
    shuffleInPlace(members, prng)
    for (const index of members) {
      parts[turn]!.push(index)
      turn = (turn + 1) % workers
    }
  }
  return finish(parts)
}

export interface DirichletOptions {
  /** Redraw until every worker holds at least this many samples; default 1. */
  readonly minSamplesPerWorker?: number
}

/**
 * Dirichlet(α) non-IID partition; deterministic for a seed. Throws ERR_INVALID_ARGUMENT for
 * α ≤ 0, or when 1000 draws cannot give every worker `minSamplesPerWorker` samples (lower
 * it, raise α, or use fewer workers).
 */
export function partitionDirichlet(
  labels: ArrayLike<number>,
  workers: number,
  alpha: number,
  seed: number,
  options: DirichletOptions = {},
): Int32Array[] {
  checkWorkers(workers, labels.length)
  if (!(alpha > 0) || !Number.isFinite(alpha)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `Dirichlet alpha must be a positive finite number, got ${alpha}`,
    )
  }
  const minSamples = options.minSamplesPerWorker ?? 1
  if (!Number.isInteger(minSamples) || minSamples < 0 || minSamples * workers > labels.length) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `minSamplesPerWorker ${minSamples} × ${workers} workers exceeds the ${labels.length} samples`,
    )
  }
  const prng = createPrng(seed, DIRICHLET_SALT)
  const byClass = indicesByClass(labels)
  for (let attempt = 0; attempt < MAX_DIRICHLET_ATTEMPTS; attempt++) {
    const parts: number[][] = Array.from({ length: workers }, () => [])
    for (const members of byClass) {
      if (members.length === 0) continue
      shuffleInPlace(members, prng)
      const p = sampleDirichlet(workers, alpha, prng)
      // Cut points from cumulative proportions; the last worker takes the rest, so every sample lands once.
      let start = 0
      let cumulative = 0
      for (let w = 0; w < workers; w++) {
        cumulative += p[w]!
        const end =
          w === workers - 1
            ? members.length
            : Math.min(members.length, Math.round(cumulative * members.length))
        for (let k = start; k < end; k++) parts[w]!.push(members[k]!)
        start = Math.max(start, end)
      }
    }
    if (parts.every((part) => part.length >= minSamples)) return finish(parts)
  }
  throw new CoreError(
    'ERR_INVALID_ARGUMENT',
    `no Dirichlet(${alpha}) draw in ${MAX_DIRICHLET_ATTEMPTS} gave each of ${workers} workers ≥ ${minSamples} samples`,
  )
}

/**
 * log Gamma(shape, 1) variate by Marsaglia & Tsang (2000). For shape < 1 it uses
 * Gamma(a) = Gamma(a + 1) · U^(1/a), kept in log space: for small α, U^(1/a) underflows
 * to 0 in floating point and every proportion would come out 0.
 */
export function sampleLogGamma(shape: number, prng: Prng): number {
  if (shape < 1) {
    const u = 1 - prng.nextFloat()
    return sampleLogGamma(shape + 1, prng) + Math.log(u) / shape
  }
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = prng.nextNormal()
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = 1 - prng.nextFloat()
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return Math.log(d) + Math.log(v)
  }
}

/** One draw of Dir(α·1_k): k non-negative proportions summing to 1. */
export function sampleDirichlet(k: number, alpha: number, prng: Prng): Float64Array {
  const logs = new Float64Array(k)
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < k; i++) {
    logs[i] = sampleLogGamma(alpha, prng)
    max = Math.max(max, logs[i]!)
  }
  // Normalise with the log-sum-exp shift so tiny gammas do not all round to zero.
  let sum = 0
  for (let i = 0; i < k; i++) {
    logs[i] = Math.exp(logs[i]! - max)
    sum += logs[i]!
  }
  for (let i = 0; i < k; i++) logs[i] = logs[i]! / sum
  return logs
}
