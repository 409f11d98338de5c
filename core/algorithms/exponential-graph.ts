/**
 * The time-varying directed exponential graph of SGP (Assran et al. 2019, "Stochastic Gradient
 * Push for Distributed Deep Learning", the topology of its experiments; ALGORITHMS.md §5).
 *
 * Members are the present workers in ascending index order (self included), n of them; a
 * worker at position p has L = ⌈log2 n⌉ candidate out-peers at positions p + 2^0, p + 2^1, ...,
 * p + 2^(L−1) (mod n), which are all distinct from p because 2^(L−1) < n. At step k a 1-peer
 * worker sends to candidate k mod L; an m-peer worker sends to candidates (m·k + j) mod L for
 * j < m (the rotation of the reference implementation's "phone book"), duplicates dropped
 * when L < m. Every worker computes the same graph from the same member list, so in-peers
 * follow from out-peers without any message.
 */
export function exponentialOffsets(n: number): number[] {
  if (n <= 1) return []
  const count = Math.ceil(Math.log2(n))
  const offsets: number[] = []
  for (let i = 0; i < count; i++) offsets.push(2 ** i)
  return offsets
}

/** Out-peers (worker indices) of `self` at `step`; `members` ascending and containing `self`. */
export function exponentialOutPeers(
  members: readonly number[],
  self: number,
  step: number,
  peersPerStep: number,
): number[] {
  const n = members.length
  const pos = members.indexOf(self)
  if (n <= 1 || pos < 0) return []
  const offsets = exponentialOffsets(n)
  const out: number[] = []
  for (let j = 0; j < peersPerStep; j++) {
    const offset = offsets[(peersPerStep * step + j) % offsets.length] ?? 1
    const peer = members[(pos + offset) % n]
    if (peer !== undefined && peer !== self && !out.includes(peer)) out.push(peer)
  }
  return out
}

/** In-peers of `self` at `step`: the members whose out-peers include `self`. */
export function exponentialInPeers(
  members: readonly number[],
  self: number,
  step: number,
  peersPerStep: number,
): number[] {
  return members.filter(
    (j) => j !== self && exponentialOutPeers(members, j, step, peersPerStep).includes(self),
  )
}
