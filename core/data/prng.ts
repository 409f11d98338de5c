/**
 * Seeded random numbers for data work (shuffling, splits, partitions, generated datasets,
 * simulated links). One generator for the whole engine: this extends the xoshiro128** of
 * core/compress/prng.ts with the draws data code needs. A stream is named by integer parts
 * (seed, purpose tag, epoch, ...), so every use gets an independent stream from one seed.
 * Not for security.
 */
import { Xoshiro128 } from '../compress/prng.ts'

/** A seeded stream of random numbers. */
export class Prng extends Xoshiro128 {
  /** Uniform unsigned 32-bit integer. */
  nextUint32(): number {
    return this.nextU32()
  }

  /** Uniform integer in [0, n) without modulo bias; `n` must be an integer in [1, 2^32]. */
  nextInt(n: number): number {
    return this.nextBelow(n)
  }

  /**
   * Standard normal N(0, 1) (Box–Muller, one value per call). Uses Math.log/cos, so the last
   * bit may differ between JS engines; never use it where two peers must agree bit for bit.
   */
  nextNormal(): number {
    // 1 − u keeps the log argument in (0, 1].
    const u = 1 - this.nextFloat()
    const v = this.nextFloat()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
}

/**
 * Creates the stream named by `seed` and optional `streams` parts (each a safe integer);
 * the same parts give the same stream everywhere. Throws ERR_INVALID_ARGUMENT otherwise.
 */
export function createPrng(seed: number, ...streams: number[]): Prng {
  return new Prng(seed, ...streams)
}

/** Fisher–Yates shuffle in place. */
export function shuffleInPlace(values: Int32Array | Uint32Array | number[], prng: Prng): void {
  for (let i = values.length - 1; i > 0; i--) {
    const j = prng.nextInt(i + 1)
    const tmp = values[i]!
    values[i] = values[j]!
    values[j] = tmp
  }
}

/** A seeded random permutation of 0..n−1. */
export function permutation(n: number, prng: Prng): Int32Array {
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) out[i] = i
  shuffleInPlace(out, prng)
  return out
}
