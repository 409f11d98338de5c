/**
 * `topk:<ratio>`: keep the k = max(1, round(ratio · d)) entries of largest magnitude, exactly,
 * and send them as (index, value) pairs. Biased: use it with error feedback.
 *
 * Selection is a radix select on the float32 bits, not a sort. For non-negative floats the
 * bit pattern orders like the value, so |p_j| is compared as the integer bits & 0x7fffffff.
 *   1. A lower bound L for the k-th largest magnitude, so that few more than k entries reach
 *      it: on vectors of SAMPLE_MIN_D entries or more, the r-th largest of a fixed stratified
 *      sample of max(2048, d/1024) magnitudes, r chosen four standard deviations above the
 *      sample's expected share of the top k; one pass over the vector collects the entries
 *      at or above L, in index order (about 2% of d at ratio 0.01). That one pass is the
 *      only one over the whole vector, and it fails only when the sample misled it (fewer
 *      than k candidates, or more than the buffer holds, 2k + 65,536).
 *      Otherwise (small vectors, or that rare failure), L is exact: a pass builds a 2048-bin
 *      histogram of the top 11 magnitude bits (exponent and 3 mantissa bits), L is the
 *      lower edge of the bin holding the k-th largest, and a second pass collects.
 *   2. Over the candidates only: three small histograms (top 11 bits, next 11, last 9) give
 *      the exact k-th largest bit pattern T.
 *   3. Every candidate above T is kept, and the first (lowest-index) ones equal to T until
 *      exactly k are kept.
 * When the level-1 bin alone would overflow the candidate buffer (many equal magnitudes),
 * steps 2 and 3 run over the whole vector instead: two more passes, no allocation. Ties at
 * the threshold go to the lowest indices, so the choice is deterministic and does not depend
 * on which path ran. The NaN/Infinity check is free: those bit patterns sort above every
 * finite magnitude, so they are always candidates (or counted in the full histogram) and
 * land in its top 8 bins.
 *
 * Wire layout, format version 2 (little-endian):
 *   0          common header (wire-format.ts), version TOPK_PAYLOAD_VERSION, d = entries
 *   8          u32       k (0 ≤ k ≤ d)
 *   12         k         indices as LEB128 gaps (index-gaps.ts): strictly increasing, each < d,
 *                        1 to 5 bytes each, shortest form
 *   G          0–3 zero bytes, so that the values start at a multiple of 4
 *   V          k × f32   values p_j, finite; V = payload length − 4k
 * At 1% density most gaps fit one byte: about 5.3 bytes per kept entry instead of the 8 of
 * version 1 (u32 index + f32 value). Values stay exact float32, so error feedback's residual
 * is exactly what was not sent. The values end the payload (fault-injection.ts relies on it).
 * The receiver writes the values at their indices and zeros elsewhere.
 */
import { CoreError } from '../errors.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { CompressContext, Compressor } from './compressor.ts'
import { MAX_GAP_BYTES, checkIndexGaps, scatterByIndexGaps, writeIndexGaps } from './index-gaps.ts'
import {
  COMPRESSOR_WIRE_IDS,
  HEADER_BYTES,
  KERNEL_CHUNK,
  PayloadAligner,
  badMessage,
  bitsOf,
  checkInputSize,
  checkOutputSize,
  f32View,
  getU32,
  nonFiniteError,
  readHeader,
  requireLittleEndian,
  setU32,
  writeHeader,
} from './wire-format.ts'

/** Version 1 sent u32 indices; version 2 sends LEB128 gaps (layout above). */
export const TOPK_PAYLOAD_VERSION = 2
const GAPS_OFFSET = HEADER_BYTES + 4
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
/** Vectors at least this long estimate the threshold from a sample first (see compress). */
const SAMPLE_MIN_D = 32768
/** Sampled entries: this many, or d / 1024 when that is more. */
const SAMPLE_MIN_SIZE = 2048
/** xorshift32 state for the sample offsets: any nonzero constant; the same on every call. */
const SAMPLE_SEED = 0x9e3779b9

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

/** Sends the k largest-magnitude entries with their indices: about 5.3 bytes per kept entry at 1%. */
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
  /** The kept entries of the last compress, in index order, before they are encoded. */
  private readonly outIndices: Uint32Array
  /** Their values as raw float32 bits: candidates carry their bits, so no gather from the input. */
  private readonly outValueBits: Uint32Array
  private readonly outValueBytes: Uint8Array
  private readonly histogram = new Int32Array(2048)
  private readonly candidateIndices: Uint32Array
  private readonly candidateBits: Uint32Array
  private readonly aligner = new PayloadAligner()
  /** Sampled magnitudes for the threshold estimate (sampledThreshold). */
  private readonly sample: Uint32Array
  /** Rank of the sampled threshold from the top; 0 when the sample is not used. */
  private readonly sampleRank: number
  // Results of the last threshold search (fields, not a returned tuple: no allocation).
  private thresholdBits = 0
  private tiesAtThreshold = 0
  /** [entries kept so far, entries equal to the threshold still to keep], across kernel calls. */
  private readonly keepState = new Int32Array(2)

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
    this.payload = new Uint8Array(maxPayloadBytes(this.k))
    this.outIndices = new Uint32Array(this.k)
    this.outValueBits = new Uint32Array(this.k)
    this.outValueBytes = new Uint8Array(this.outValueBits.buffer)
    const capacity = Math.min(d, 2 * this.k + CANDIDATE_SLACK)
    this.candidateIndices = new Uint32Array(capacity)
    this.candidateBits = new Uint32Array(capacity)
    const m = d >= SAMPLE_MIN_D ? Math.max(SAMPLE_MIN_SIZE, Math.round(d / 1024)) : 0
    const expected = (m * this.k) / Math.max(1, d)
    const rank = Math.ceil(expected + 4 * Math.sqrt(expected) + 4)
    // A threshold that lets a quarter of the vector through saves nothing over the histogram.
    this.sampleRank = m > 0 && rank <= m / 4 ? rank : 0
    this.sample = new Uint32Array(this.sampleRank > 0 ? m : 0)
  }

  compress(values: Float32Array, _context: CompressContext): Uint8Array {
    checkInputSize(this.spec, this.layout, values)
    const d = values.length
    const k = this.k
    const payload = this.payload
    writeHeader(payload, this.wireId, d, TOPK_PAYLOAD_VERSION)
    setU32(payload, HEADER_BYTES, k)
    if (k === 0) {
      this.lastPayloadBytes = GAPS_OFFSET
      return payload.subarray(0, GAPS_OFFSET)
    }

    const bits = bitsOf(values)
    let n = this.sampleRank > 0 ? this.collect(bits, this.sampledThreshold(bits)) : -1
    if (n < k) {
      // No sample, or its threshold was too high (fewer than k candidates) or too low (more
      // than the buffer holds): take the exact level-1 bin from a histogram of the whole vector.
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
      n = above + hist[bin1]! <= this.candidateIndices.length ? this.collect(bits, bin1 << LEVEL1_SHIFT) : -1
      if (n < 0) {
        this.selectFromWholeVector(values, bin1, above)
        return this.encode()
      }
    }
    this.selectFromCandidates(values, n)
    return this.encode()
  }

  /**
   * The magnitude bits of the sampleRank-th largest of SAMPLE_SIZE sampled entries: about
   * sampleRank / sampleSize of the vector lies at or above it, with a margin of four standard
   * deviations over the k needed. One sample per stratum of d / sampleSize entries, at a
   * pseudo-random offset that is the same on every call.
   */
  private sampledThreshold(bits: Uint32Array): number {
    const sample = this.sample
    const m = sample.length
    const stride = bits.length / m
    let state = SAMPLE_SEED
    for (let j = 0; j < m; j++) {
      state ^= state << 13
      state ^= state >>> 17
      state ^= state << 5
      sample[j] = bits[Math.floor((j + (state >>> 0) / 4294967296) * stride)]! & MAGNITUDE_MASK
    }
    sample.sort()
    return sample[m - this.sampleRank]!
  }

  /**
   * Collects (index, raw bits) of every entry whose magnitude is at or above `lowest`, in index order, into
   * the candidate buffers. Returns how many, or -1 when they would not fit (it stops early).
   */
  private collect(bits: Uint32Array, lowest: number): number {
    const d = bits.length
    const capacity = this.candidateIndices.length
    let n = 0
    for (let start = 0; start < d && n <= capacity; start += KERNEL_CHUNK) {
      n = collect(
        bits,
        lowest,
        this.candidateIndices,
        this.candidateBits,
        n,
        capacity,
        start,
        Math.min(d, start + KERNEL_CHUNK),
      )
    }
    return n <= capacity ? n : -1
  }

  /**
   * Exact top-k among the n ≥ k candidates, which hold every entry at or above some magnitude
   * (so every entry of the top k, and every NaN or ±Infinity, which sort above all finite
   * magnitudes): a 3-level radix select over the candidates only, then one pass in index order.
   */
  private selectFromCandidates(values: Float32Array, n: number): void {
    const k = this.k
    const hist = this.histogram
    const candidateIndices = this.candidateIndices
    const candidateBits = this.candidateBits
    hist.fill(0)
    for (let start = 0; start < n; start += KERNEL_CHUNK)
      histogram(candidateBits, hist, start, Math.min(n, start + KERNEL_CHUNK))
    for (let bin = NON_FINITE_BIN; bin < hist.length; bin++) {
      if (hist[bin] !== 0) throw nonFiniteError(this.spec, values)
    }
    let above = 0
    let bin1 = NON_FINITE_BIN - 1
    while (above + hist[bin1]! < k) above += hist[bin1--]!
    this.findThreshold(candidateBits, n, bin1, above)
    const keep = this.keepState
    keep[0] = 0
    keep[1] = this.tiesAtThreshold
    for (let start = 0; start < n; start += KERNEL_CHUNK) {
      keepCandidates(
        candidateIndices,
        candidateBits,
        this.thresholdBits,
        keep,
        this.outIndices,
        this.outValueBits,
        start,
        Math.min(n, start + KERNEL_CHUNK),
      )
    }
    if (keep[0] !== k) throw new Error(`Assertion failed: top-k kept ${keep[0]} entries, expected ${k}`)
  }

  /** The fallback when the level-1 bin holds more candidates than the buffer: two more passes. */
  private selectFromWholeVector(values: Float32Array, bin1: number, above: number): void {
    const k = this.k
    const d = values.length
    const bits = bitsOf(values)
    this.findThreshold(bits, d, bin1, above)
    const keep = this.keepState
    keep[0] = 0
    keep[1] = this.tiesAtThreshold
    for (let start = 0; start < d; start += KERNEL_CHUNK) {
      keepEntries(
        bits,
        this.thresholdBits,
        keep,
        this.outIndices,
        this.outValueBits,
        start,
        Math.min(d, start + KERNEL_CHUNK),
      )
    }
    if (keep[0] !== k) throw new Error(`Assertion failed: top-k kept ${keep[0]} entries, expected ${k}`)
  }

  /** Writes the kept entries after the header and k (layout in the module comment). */
  private encode(): Uint8Array {
    const payload = this.payload
    let at = writeIndexGaps(this.outIndices, this.k, payload, GAPS_OFFSET)
    while (at % 4 !== 0) payload[at++] = 0
    payload.set(this.outValueBytes, at)
    const length = at + 4 * this.k
    this.lastPayloadBytes = length
    return payload.subarray(0, length)
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
    readHeader(payload, this.spec, this.wireId, d, GAPS_OFFSET, TOPK_PAYLOAD_VERSION)
    const k = getU32(payload, HEADER_BYTES)
    if (k > d) throw badMessage(this.spec, `k = ${k} exceeds d = ${d}`)
    // Every field is checked before anything is written: a bad payload leaves `out` as it was.
    const length = payload.length
    if (length < GAPS_OFFSET + 5 * k || length > maxPayloadBytes(k)) {
      throw badMessage(
        this.spec,
        `${length} bytes is outside [${GAPS_OFFSET + 5 * k}, ${maxPayloadBytes(k)}] for k = ${k}`,
      )
    }
    const valuesOffset = length - 4 * k
    const gapsEnd = checkIndexGaps(payload, GAPS_OFFSET, valuesOffset, k, d, this.spec)
    const padding = valuesOffset - gapsEnd
    if (valuesOffset % 4 !== 0 || padding > 3) {
      throw badMessage(this.spec, `${padding} bytes between the indices and the values, where 0-3 pad to 4`)
    }
    for (let at = gapsEnd; at < valuesOffset; at++) {
      if (payload[at] !== 0) throw badMessage(this.spec, 'padding before the values is not zero')
    }
    const aligned = this.aligner.align(payload)
    const values = f32View(aligned, valuesOffset, k)
    for (let j = 0; j < k; j++) {
      const v = values[j]!
      if (!Number.isFinite(v)) throw badMessage(this.spec, `value ${v} at position ${j} is not finite`)
    }
    out.fill(0)
    scatterByIndexGaps(aligned, GAPS_OFFSET, k, values, out)
  }
}

/** The longest payload k entries can take: every gap at its longest, the most padding. */
function maxPayloadBytes(k: number): number {
  return GAPS_OFFSET + MAX_GAP_BYTES * k + 3 + 4 * k
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

/**
 * Appends (index, raw float32 bits) of entries whose magnitude is at or above `lowest` while
 * they fit in `capacity`; returns the new count, which exceeds `capacity` when some did not fit.
 */
function collect(
  bits: Uint32Array,
  lowest: number,
  indices: Uint32Array,
  rawBits: Uint32Array,
  count: number,
  capacity: number,
  start: number,
  end: number,
): number {
  let n = count
  for (let i = start; i < end; i++) {
    const raw = bits[i]!
    if ((raw & MAGNITUDE_MASK) >= lowest) {
      if (n < capacity) {
        indices[n] = i
        rawBits[n] = raw
      }
      n++
    }
  }
  return n
}

/**
 * Appends the candidates above `threshold`, and those equal to it while state[1] > 0, to the
 * output; state = [kept so far, ties still to keep] carries over between chunks.
 */
function keepCandidates(
  candidateIndices: Uint32Array,
  candidateBits: Uint32Array,
  threshold: number,
  state: Int32Array,
  outIndices: Uint32Array,
  outValueBits: Uint32Array,
  start: number,
  end: number,
): void {
  let kept = state[0]!
  let ties = state[1]!
  for (let j = start; j < end; j++) {
    const raw = candidateBits[j]!
    const a = raw & MAGNITUDE_MASK
    if (a > threshold || (a === threshold && ties-- > 0)) {
      outIndices[kept] = candidateIndices[j]!
      outValueBits[kept] = raw
      kept++
    }
  }
  state[0] = kept
  state[1] = ties
}

/** keepCandidates over the whole vector (the fallback path): every entry is a candidate. */
function keepEntries(
  bits: Uint32Array,
  threshold: number,
  state: Int32Array,
  outIndices: Uint32Array,
  outValueBits: Uint32Array,
  start: number,
  end: number,
): void {
  let kept = state[0]!
  let ties = state[1]!
  for (let i = start; i < end; i++) {
    const raw = bits[i]!
    const a = raw & MAGNITUDE_MASK
    if (a > threshold || (a === threshold && ties-- > 0)) {
      outIndices[kept] = i
      outValueBits[kept] = raw
      kept++
    }
  }
  state[0] = kept
  state[1] = ties
}
