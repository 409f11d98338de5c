/**
 * `topk:<ratio>`: keep the k = max(1, round(ratio · d)) entries of largest magnitude, exactly,
 * and send them as (index, value) pairs. Biased: use it with error feedback.
 *
 * Selection is a radix select on the float32 bits, not a sort. For non-negative floats the
 * bit pattern orders like the value, so |p_j| is compared as the integer bits & 0x7fffffff:
 *   1. one pass builds a 2048-bin histogram of the top 11 magnitude bits (exponent and 3
 *      mantissa bits) and finds the bin holding the k-th largest magnitude;
 *   2. a second pass collects the entries at or above that bin, in index order (usually
 *      k plus a fraction of a percent of d); two more small histograms over those candidates
 *      (next 11 bits, last 9 bits) give the exact k-th largest bit pattern T;
 *   3. every candidate above T is kept, and the first (lowest-index) ones equal to T until
 *      exactly k are kept.
 * When the candidates would overflow the preallocated candidate buffer (many equal
 * magnitudes), steps 2 and 3 run over the whole vector instead: two more passes, no
 * allocation. Ties at the threshold go to the lowest indices, so the choice is deterministic.
 * The NaN/Infinity check is free: those bit patterns land in the histogram's top 8 bins.
 *
 * Wire layout (little-endian):
 *   0          common header (wire-format.ts), d = entries
 *   8          u32       k (0 ≤ k ≤ d)
 *   12         k × u32   indices, strictly increasing, each < d
 *   12 + 4k    k × f32   values p_j, finite
 * Total: 12 + 8k bytes. The receiver writes the values at their indices and zeros elsewhere.
 */
import { CoreError } from '../errors.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { CompressContext, Compressor } from './compressor.ts'
import {
  COMPRESSOR_WIRE_IDS,
  HEADER_BYTES,
  KERNEL_CHUNK,
  PayloadAligner,
  badMessage,
  bitsOf,
  checkInputSize,
  checkOutputSize,
  expectLength,
  f32View,
  getU32,
  nonFiniteError,
  readHeader,
  requireLittleEndian,
  setU32,
  u32View,
  writeHeader,
} from './wire-format.ts'

const ENTRIES_OFFSET = HEADER_BYTES + 4
const MAGNITUDE_MASK = 0x7fffffff
const LEVEL1_SHIFT = 20
const LEVEL2_SHIFT = 9
const LEVEL2_MASK = 0x7ff
const LEVEL3_MASK = 0x1ff
/** Level-1 bins at and above this one hold Infinity and NaN bit patterns. */
const NON_FINITE_BIN = 0x7f800000 >>> LEVEL1_SHIFT
/**
 * Extra candidate slots beyond 2k. Increase if profiles show the full-vector fallback on
 * real deltas (it costs two extra passes over d).
 */
const CANDIDATE_SLACK = 65536

/** k for a ratio of d: at least 1 entry of a non-empty vector, at most d. */
export function topKCount(ratio: number, d: number): number {
  if (d === 0) return 0
  return Math.min(d, Math.max(1, Math.round(ratio * d)))
}

export interface TopKCompressorOptions {
  readonly layout: ParamLayout
  /** Fraction of entries to keep, in (0, 1]. */
  readonly ratio: number
}

/** Sends the k largest-magnitude entries with their indices: 8 bytes per kept entry. */
export class TopKCompressor implements Compressor {
  readonly spec: string
  readonly wireId = COMPRESSOR_WIRE_IDS.topk
  readonly layout: ParamLayout
  readonly isLossless: boolean
  readonly isUnbiased = false
  readonly ratio: number
  readonly k: number
  lastPayloadBytes = 0
  private readonly payload: Uint8Array
  private readonly outIndices: Uint32Array
  private readonly outValues: Float32Array
  private readonly histogram = new Int32Array(2048)
  private readonly candidateIndices: Uint32Array
  private readonly candidateBits: Uint32Array
  private readonly aligner = new PayloadAligner()
  // Results of the last threshold search (fields, not a returned tuple: no allocation).
  private thresholdBits = 0
  private tiesAtThreshold = 0

  constructor(options: TopKCompressorOptions) {
    requireLittleEndian()
    const ratio = options.ratio
    if (!(ratio > 0 && ratio <= 1)) {
      throw new CoreError('ERR_BAD_SPEC', `topk ratio must be in (0, 1], got ${ratio}`)
    }
    this.ratio = ratio
    this.spec = `topk:${ratio}`
    this.layout = options.layout
    const d = options.layout.totalSize
    this.k = topKCount(ratio, d)
    this.isLossless = this.k === d
    this.payload = new Uint8Array(ENTRIES_OFFSET + 8 * this.k)
    this.outIndices = u32View(this.payload, ENTRIES_OFFSET, this.k)
    this.outValues = f32View(this.payload, ENTRIES_OFFSET + 4 * this.k, this.k)
    const capacity = Math.min(d, 2 * this.k + CANDIDATE_SLACK)
    this.candidateIndices = new Uint32Array(capacity)
    this.candidateBits = new Uint32Array(capacity)
  }

  compress(values: Float32Array, _context: CompressContext): Uint8Array {
    checkInputSize(this.spec, this.layout, values)
    const d = values.length
    const k = this.k
    const payload = this.payload
    writeHeader(payload, this.wireId, d)
    setU32(payload, HEADER_BYTES, k)
    this.lastPayloadBytes = payload.length
    if (k === 0) return payload

    const bits = bitsOf(values)
    const hist = this.histogram
    hist.fill(0)
    for (let start = 0; start < d; start += KERNEL_CHUNK)
      histogram(bits, hist, start, Math.min(d, start + KERNEL_CHUNK))
    for (let bin = NON_FINITE_BIN; bin < hist.length; bin++) {
      if (hist[bin] !== 0) throw nonFiniteError(this.spec, values)
    }
    let above = 0
    let bin1 = NON_FINITE_BIN - 1
    while (above + hist[bin1]! < k) above += hist[bin1--]!
    const candidateCount = above + hist[bin1]!

    const outIndices = this.outIndices
    const outValues = this.outValues
    let kept = 0
    if (candidateCount <= this.candidateIndices.length) {
      const lowest = bin1 << LEVEL1_SHIFT
      const candidateIndices = this.candidateIndices
      const candidateBits = this.candidateBits
      let n = 0
      for (let start = 0; start < d; start += KERNEL_CHUNK) {
        n = collect(
          bits,
          lowest,
          candidateIndices,
          candidateBits,
          n,
          start,
          Math.min(d, start + KERNEL_CHUNK),
        )
      }
      this.findThreshold(candidateBits, n, bin1, above)
      const threshold = this.thresholdBits
      let ties = this.tiesAtThreshold
      for (let j = 0; j < n; j++) {
        const a = candidateBits[j]!
        if (a > threshold || (a === threshold && ties-- > 0)) {
          const i = candidateIndices[j]!
          outIndices[kept] = i
          outValues[kept] = values[i]!
          kept++
        }
      }
    } else {
      this.findThreshold(bits, d, bin1, above)
      const threshold = this.thresholdBits
      let ties = this.tiesAtThreshold
      for (let i = 0; i < d; i++) {
        const a = bits[i]! & MAGNITUDE_MASK
        if (a > threshold || (a === threshold && ties-- > 0)) {
          outIndices[kept] = i
          outValues[kept] = values[i]!
          kept++
        }
      }
    }
    if (kept !== k) throw new Error(`Assertion failed: top-k kept ${kept} entries, expected ${k}`)
    return payload
  }

  /**
   * Levels 2 and 3 of the radix select over `source[0..n)` (magnitude bits, sign masked here),
   * given the level-1 bin and how many entries lie above it. Sets `thresholdBits` to the k-th
   * largest magnitude pattern and `tiesAtThreshold` to how many entries equal to it to keep.
   */
  private findThreshold(source: Uint32Array, n: number, bin1: number, aboveBin1: number): void {
    const hist = this.histogram
    const k = this.k
    hist.fill(0)
    for (let start = 0; start < n; start += KERNEL_CHUNK) {
      histogramWithin(
        source,
        hist,
        LEVEL1_SHIFT,
        bin1,
        LEVEL2_SHIFT,
        LEVEL2_MASK,
        start,
        Math.min(n, start + KERNEL_CHUNK),
      )
    }
    let above = aboveBin1
    let bin2 = LEVEL2_MASK
    while (above + hist[bin2]! < k) above += hist[bin2--]!
    const prefix2 = (bin1 << 11) | bin2

    hist.fill(0, 0, LEVEL3_MASK + 1)
    for (let start = 0; start < n; start += KERNEL_CHUNK) {
      histogramWithin(
        source,
        hist,
        LEVEL2_SHIFT,
        prefix2,
        0,
        LEVEL3_MASK,
        start,
        Math.min(n, start + KERNEL_CHUNK),
      )
    }
    let bin3 = LEVEL3_MASK
    while (above + hist[bin3]! < k) above += hist[bin3--]!
    this.thresholdBits = (prefix2 << LEVEL2_SHIFT) | bin3
    this.tiesAtThreshold = k - above
  }

  decompress(payload: Uint8Array, out: Float32Array, _context: CompressContext): void {
    checkOutputSize(this.spec, this.layout, out)
    const d = out.length
    readHeader(payload, this.spec, this.wireId, d, ENTRIES_OFFSET)
    const k = getU32(payload, HEADER_BYTES)
    if (k > d) throw badMessage(this.spec, `k = ${k} exceeds d = ${d}`)
    expectLength(payload, this.spec, ENTRIES_OFFSET + 8 * k)
    const aligned = this.aligner.align(payload)
    const indices = u32View(aligned, ENTRIES_OFFSET, k)
    const values = f32View(aligned, ENTRIES_OFFSET + 4 * k, k)
    out.fill(0)
    let previous = -1
    for (let j = 0; j < k; j++) {
      const i = indices[j]!
      if (i <= previous || i >= d) {
        throw badMessage(this.spec, `index ${i} at position ${j} is not strictly increasing and below ${d}`)
      }
      const v = values[j]!
      if (!Number.isFinite(v)) throw badMessage(this.spec, `value ${v} at index ${i} is not finite`)
      out[i] = v
      previous = i
    }
  }
}

// Hot loops as small functions called per chunk: see KERNEL_CHUNK in wire-format.ts.

function histogram(bits: Uint32Array, hist: Int32Array, start: number, end: number): void {
  for (let i = start; i < end; i++) hist[(bits[i]! & MAGNITUDE_MASK) >>> LEVEL1_SHIFT]!++
}

/** Histogram of (a >>> shift) & mask over the entries whose a >>> prefixShift equals prefix. */
function histogramWithin(
  source: Uint32Array,
  hist: Int32Array,
  prefixShift: number,
  prefix: number,
  shift: number,
  mask: number,
  start: number,
  end: number,
): void {
  for (let j = start; j < end; j++) {
    const a = source[j]! & MAGNITUDE_MASK
    if (a >>> prefixShift === prefix) hist[(a >>> shift) & mask]!++
  }
}

/** Appends (index, magnitude bits) of entries at or above `lowest`; returns the new count. */
function collect(
  bits: Uint32Array,
  lowest: number,
  indices: Uint32Array,
  magnitudes: Uint32Array,
  count: number,
  start: number,
  end: number,
): number {
  let n = count
  for (let i = start; i < end; i++) {
    const a = bits[i]! & MAGNITUDE_MASK
    if (a >= lowest) {
      indices[n] = i
      magnitudes[n] = a
      n++
    }
  }
  return n
}
