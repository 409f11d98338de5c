/**
 * `randk:<ratio>[:unscaled]`: send k = max(1, round(ratio · d)) entries chosen uniformly at
 * random without replacement. The indices are not sent: both ends draw them from
 * Xoshiro128(PRNG_STREAMS.randomK, context.seed, context.round, d, k), so every peer of a room
 * picks the same coordinates in the same round (senderIndex is deliberately not part of it).
 *
 * Scaling: by default the kept values are multiplied by d / k, which makes the compressor
 * unbiased (E[c] = p) — use that without error feedback. With error feedback use
 * `:unscaled` (c_j = p_j on the kept entries): scaling by d / k would make the residual
 * e_j = (1 - d/k) p_j and blow up.
 *
 * Index draw: Robert Floyd's algorithm picks a uniform k-subset with k integer draws into a
 * d-bit bitset; scanning the bitset lists the indices in increasing order. Integer-only and
 * therefore identical in every JS runtime; O(k + d / 32) per round.
 *
 * Wire layout (little-endian):
 *   0    common header (wire-format.ts), d = entries
 *   8    u32       k (0 ≤ k ≤ d)
 *   12   k × f32   values, in increasing index order, already scaled; finite
 * Total: 12 + 4k bytes.
 */
import { CoreError } from '../errors.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { CompressContext, Compressor } from './compressor.ts'
import { PRNG_STREAMS, Xoshiro128 } from './prng.ts'
import { topKCount } from './top-k.ts'
import {
  COMPRESSOR_WIRE_IDS,
  HEADER_BYTES,
  PayloadAligner,
  assertAllFinite,
  badMessage,
  checkContext,
  checkInputSize,
  checkOutputSize,
  expectLength,
  f32View,
  getU32,
  readHeader,
  requireLittleEndian,
  setU32,
  writeHeader,
} from './wire-format.ts'

const VALUES_OFFSET = HEADER_BYTES + 4

export interface RandomKCompressorOptions {
  readonly layout: ParamLayout
  /** Fraction of entries to send, in (0, 1]. */
  readonly ratio: number
  /** Multiply kept values by d / k (unbiased, for use without error feedback). Default true. */
  readonly isScaled?: boolean
}

/**
 * Draws the k-subset for (seed, round) into `indices` (sorted ascending). `bitset` must hold
 * ceil(d / 32) zero words and is left zeroed.
 */
export function drawRandomIndices(
  seed: number,
  round: number,
  d: number,
  k: number,
  bitset: Uint32Array,
  indices: Uint32Array,
): void {
  const rng = new Xoshiro128(PRNG_STREAMS.randomK, seed, round, d, k)
  // Floyd: for j = d-k .. d-1 pick t in [0, j]; take t unless already taken, then take j.
  for (let j = d - k; j < d; j++) {
    const t = rng.nextBelow(j + 1)
    const word = t >>> 5
    const mask = 1 << (t & 31)
    if ((bitset[word]! & mask) === 0) bitset[word]! |= mask
    else bitset[j >>> 5]! |= 1 << (j & 31)
  }
  let n = 0
  for (let word = 0; word < bitset.length; word++) {
    let w = bitset[word]!
    if (w === 0) continue
    bitset[word] = 0
    while (w !== 0) {
      const lowest = w & -w
      indices[n++] = (word << 5) | (31 - Math.clz32(lowest))
      w ^= lowest
    }
  }
  if (n !== k) throw new Error(`Assertion failed: random-k drew ${n} indices, expected ${k}`)
}

/** Sends k seeded-random entries without their indices: 4 bytes per kept entry. */
export class RandomKCompressor implements Compressor {
  readonly spec: string
  readonly wireId = COMPRESSOR_WIRE_IDS.randk
  readonly layout: ParamLayout
  readonly isLossless: boolean
  readonly isUnbiased: boolean
  readonly ratio: number
  readonly k: number
  readonly isScaled: boolean
  lastPayloadBytes = 0
  private readonly payload: Uint8Array
  private readonly outValues: Float32Array
  private readonly bitset: Uint32Array
  private indices: Uint32Array
  private readonly aligner = new PayloadAligner()
  // Which (seed, round, k) `indices` currently holds: the sender's error feedback decodes its
  // own payload right after encoding it, and should not draw twice.
  private cachedSeed = NaN
  private cachedRound = NaN
  private cachedK = NaN

  constructor(options: RandomKCompressorOptions) {
    requireLittleEndian()
    const ratio = options.ratio
    if (!(ratio > 0 && ratio <= 1)) {
      throw new CoreError('ERR_BAD_SPEC', `randk ratio must be in (0, 1], got ${ratio}`)
    }
    this.ratio = ratio
    this.isScaled = options.isScaled ?? true
    this.spec = this.isScaled ? `randk:${ratio}` : `randk:${ratio}:unscaled`
    this.layout = options.layout
    const d = options.layout.totalSize
    this.k = topKCount(ratio, d)
    this.isLossless = this.k === d
    // Scaled: E[c_j] = (k/d)·(d/k)·p_j = p_j. Unscaled it is biased unless every entry is sent.
    this.isUnbiased = this.isScaled || this.isLossless
    this.payload = new Uint8Array(VALUES_OFFSET + 4 * this.k)
    this.outValues = f32View(this.payload, VALUES_OFFSET, this.k)
    this.bitset = new Uint32Array(Math.ceil(d / 32))
    this.indices = new Uint32Array(this.k)
  }

  private indicesFor(seed: number, round: number, k: number): Uint32Array {
    if (seed !== this.cachedSeed || round !== this.cachedRound || k !== this.cachedK) {
      // A received payload may carry another k than ours (a peer configured differently).
      if (this.indices.length < k) this.indices = new Uint32Array(k)
      this.cachedK = NaN
      drawRandomIndices(seed, round, this.layout.totalSize, k, this.bitset, this.indices)
      this.cachedSeed = seed
      this.cachedRound = round
      this.cachedK = k
    }
    return this.indices
  }

  compress(values: Float32Array, context: CompressContext): Uint8Array {
    checkInputSize(this.spec, this.layout, values)
    checkContext(this.spec, context)
    assertAllFinite(this.spec, values)
    const d = values.length
    const k = this.k
    const indices = this.indicesFor(context.seed, context.round, k)
    const out = this.outValues
    if (this.isScaled) {
      const scale = d / k
      let check = 0
      for (let j = 0; j < k; j++) {
        const v = values[indices[j]!]! * scale
        out[j] = v
        check += out[j]! * 0
      }
      if (check !== 0) {
        throw new CoreError('ERR_NON_FINITE', `${this.spec}: a value times d/k = ${scale} overflows float32`)
      }
    } else {
      for (let j = 0; j < k; j++) out[j] = values[indices[j]!]!
    }
    writeHeader(this.payload, this.wireId, d)
    setU32(this.payload, HEADER_BYTES, k)
    this.lastPayloadBytes = this.payload.length
    return this.payload
  }

  decompress(payload: Uint8Array, out: Float32Array, context: CompressContext): void {
    checkOutputSize(this.spec, this.layout, out)
    checkContext(this.spec, context)
    const d = out.length
    readHeader(payload, this.spec, this.wireId, d, VALUES_OFFSET)
    const k = getU32(payload, HEADER_BYTES)
    if (k > d) throw badMessage(this.spec, `k = ${k} exceeds d = ${d}`)
    expectLength(payload, this.spec, VALUES_OFFSET + 4 * k)
    const values = f32View(this.aligner.align(payload), VALUES_OFFSET, k)
    const indices = this.indicesFor(context.seed, context.round, k)
    out.fill(0)
    for (let j = 0; j < k; j++) {
      const v = values[j]!
      if (!Number.isFinite(v)) throw badMessage(this.spec, `value ${v} at position ${j} is not finite`)
      out[indices[j]!] = v
    }
  }
}
