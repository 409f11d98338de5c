/**
 * Deterministic model initialisation. tfjs's initializers (heNormal, glorotUniform, ...) take
 * their seed from Math.random when the layer config gives none, and the zoo's layers give
 * none; so the simulator builds the initial model with Math.random replaced by a seeded
 * stream for the duration of the (synchronous) build. Same seed, same initial weights, on
 * every backend.
 */
import { createPrng } from '../data/prng.ts'

// Purpose tag: the init stream never shares draws with data shuffling or the network.
const INIT_SALT = 0x696e6974

/**
 * Runs `build` with Math.random drawing from the stream named by `seed`, and restores the
 * original Math.random afterwards (also when `build` throws). `build` must be synchronous:
 * anything scheduled for later would see the real Math.random.
 */
export function withSeededMathRandom<T>(seed: number, build: () => T): T {
  const prng = createPrng(seed, INIT_SALT)
  const original = Math.random
  // HACK: tfjs exposes no global seed; tfjs-core/dist/ops/rand_util.js falls back to Math.random().
  Math.random = () => prng.nextFloat()
  try {
    return build()
  } finally {
    Math.random = original
  }
}
