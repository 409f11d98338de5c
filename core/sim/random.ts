/**
 * Counter-based random draws for the network model: a draw is a pure function of its name
 * (seed, purpose and integer parts such as sender, receiver, message id, chunk index), not of
 * how many draws came before it. So the live simulation and the replay of its trace under
 * the same network draw the same jitter and losses for the same message, whatever order the
 * events were processed in. The mixer is murmur3's 32-bit finaliser folded over the parts
 * (Math.imul only: bit-identical on every JS engine). Not for security.
 */

function fmix32(value: number): number {
  let h = value >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A 32-bit hash of integer parts (each taken modulo 2^32, with its high 21 bits folded in). */
export function hashParts(parts: readonly number[]): number {
  let h = 0x9e3779b9
  for (const part of parts) {
    const low = part >>> 0
    const high = Math.floor(part / 2 ** 32) >>> 0
    h = fmix32(h ^ fmix32(low + 0x7f4a7c15))
    h = fmix32(h ^ fmix32(high + 0x2545f491))
  }
  return h
}

/** Uniform in [0, 1) named by integer parts (53 bits of resolution from two hashes). */
export function uniformAt(...parts: number[]): number {
  const a = hashParts(parts)
  const b = hashParts([...parts, 0x5bd1e995])
  return ((a >>> 5) * 67108864 + (b >>> 6)) / 9007199254740992
}
