/**
 * Seeded, fast, deterministic random numbers for compressors (random-k indices, QSGD's
 * stochastic rounding, PowerSGD's initial Q) and anyone else who needs a reproducible stream.
 *
 * Generator: xoshiro128** (Blackman & Vigna), 128-bit state, period 2^128 - 1. Seeding mixes
 * any number of integer parts (room seed, round, sender, purpose tag) through splitmix32, so
 * streams for neighbouring rounds or senders are uncorrelated.
 *
 * Determinism across runtimes is the point: only 32-bit integer operations (`Math.imul`,
 * shifts, xor) and exact double arithmetic are used, never `Math.log`/`Math.exp`, whose
 * results may differ between JS engines. Both ends of a random-k exchange derive the same
 * indices from this stream, in Node and in any browser.
 *
 * Not for security.
 */
import { CoreError } from '../errors.ts'

const TWO_POW_32 = 0x1_0000_0000
const INV_TWO_POW_32 = 1 / TWO_POW_32

/** Purpose tags: each use gets its own stream even with equal room seed and round. */
export const PRNG_STREAMS = {
  randomK: 0x5241_4e44,
  qsgd: 0x5153_4744,
  powerSgdInit: 0x5053_4744,
} as const

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

/** One splitmix32 output for a 32-bit input: a strong avalanche mix. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/**
 * xoshiro128** with its state in four plain fields. `nextU32` is small enough for V8 to
 * inline into hot loops; QSGD calls it once per vector entry.
 */
export class Xoshiro128 {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  /**
   * Seeds from integer parts (each a safe integer, negative allowed); the same parts give the
   * same stream in every runtime. Throws CoreError('ERR_INVALID_ARGUMENT') for a non-integer part.
   */
  constructor(...parts: readonly number[]) {
    let h = 0x6a09e667
    for (const part of parts) {
      if (!Number.isSafeInteger(part)) {
        throw new CoreError('ERR_INVALID_ARGUMENT', `PRNG seed parts must be safe integers, got ${part}`)
      }
      // Split into low and high 32 bits so seeds above 2^32 still matter.
      const lo = part >>> 0
      const hi = Math.floor(part / TWO_POW_32) >>> 0
      h = mix32(h ^ lo)
      h = mix32(h ^ hi)
    }
    // Kept as int32 so V8 keeps the fields unboxed.
    this.s0 = mix32(h) | 0
    this.s1 = mix32(this.s0 ^ 0x243f6a88) | 0
    this.s2 = mix32(this.s1 ^ 0x85a308d3) | 0
    this.s3 = mix32(this.s2 ^ 0x13198a2e) | 0
    // The all-zero state is the generator's only fixed point.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** Uniform unsigned 32-bit integer. */
  nextU32(): number {
    const s1 = this.s1
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0
    const t = s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= s1
    this.s1 = s1 ^ this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform float in [0, 1) with 32 random bits. */
  nextFloat(): number {
    return this.nextU32() * INV_TWO_POW_32
  }

  /**
   * Uniform integer in [0, n) with no modulo bias (rejection sampling); `n` must be an integer
   * in [1, 2^32]. Exact double arithmetic only, so the result is the same in every runtime.
   */
  nextBelow(n: number): number {
    // Largest multiple of n that fits in 2^32; draws at or above it are rejected.
    const limit = TWO_POW_32 - (TWO_POW_32 % n)
    for (;;) {
      const r = this.nextU32()
      if (r < limit) return r % n
    }
  }

  /** The 128-bit state as four u32 words, for checkpoints. */
  getState(): Uint32Array {
    return Uint32Array.of(this.s0, this.s1, this.s2, this.s3)
  }

  /** Restores a state from `getState`; refuses the all-zero state. */
  setState(state: ArrayLike<number>): void {
    if (state.length !== 4) {
      throw new CoreError('ERR_INVALID_ARGUMENT', `PRNG state needs 4 words, got ${state.length}`)
    }
    const [a, b, c, d] = [state[0] ?? 0, state[1] ?? 0, state[2] ?? 0, state[3] ?? 0]
    if ((a | b | c | d) >>> 0 === 0)
      throw new CoreError('ERR_INVALID_ARGUMENT', 'PRNG state must not be all zero')
    this.s0 = a | 0
    this.s1 = b | 0
    this.s2 = c | 0
    this.s3 = d | 0
  }
}

/**
 * Counter-based random u32 for position `index` under `key`: murmur3's fmix32 finaliser of
 * (index · 0x9e3779b9 + key). For a uniformly random key every output is exactly uniform
 * (fmix32 and the odd multiply are bijections), and there is no state to carry from one index
 * to the next, so a loop over indices pipelines (QSGD draws one per vector entry).
 */
export function counterHash(index: number, key: number): number {
  let h = (Math.imul(index, 0x9e3779b9) + key) | 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
