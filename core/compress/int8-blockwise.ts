/**
 * `int8[:<blockSize>]`: blockwise absmax quantisation to signed 8-bit integers.
 *
 * For each block of `blockSize` consecutive entries (the last block may be shorter):
 * scale = max|p| / 127 rounded to float32, q_j = round-half-up(p_j / scale) in [-127, 127], and the
 * receiver reconstructs c_j = q_j × scale in float32. A block whose max|p| is so small that
 * max|p| / 127 underflows float32 uses the smallest subnormal 2^-149 as its scale, which
 * represents every such value exactly. An all-zero block has scale 0.
 *
 * Wire layout (little-endian):
 *   0               common header (wire-format.ts), d = entries
 *   8               u32        blockSize (1 ≤ blockSize ≤ 2^20)
 *   12              nb × f32   scales, nb = ceil(d / blockSize); finite and ≥ 0
 *   12 + 4nb        d × i8     quantised values
 * Total: 12 + 4·nb + d bytes.
 */
import { CoreError } from '../errors.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { CompressContext, Compressor } from './compressor.ts'
import {
  COMPRESSOR_WIRE_IDS,
  HEADER_BYTES,
  PayloadAligner,
  badMessage,
  checkInputSize,
  checkOutputSize,
  expectLength,
  f32View,
  getU32,
  nonFiniteError,
  readHeader,
  requireLittleEndian,
  setU32,
  writeHeader,
} from './wire-format.ts'

/** Default block: small enough to adapt to per-layer scales, large enough that scales cost 0.4%. */
export const INT8_DEFAULT_BLOCK_SIZE = 1024
export const INT8_MIN_BLOCK_SIZE = 1
export const INT8_MAX_BLOCK_SIZE = 1 << 20
const FIELDS_BYTES = HEADER_BYTES + 4
const SMALLEST_SUBNORMAL = 2 ** -149

export interface Int8BlockwiseCompressorOptions {
  readonly layout: ParamLayout
  /** Entries per scale; default INT8_DEFAULT_BLOCK_SIZE. Smaller: more accurate, more bytes. */
  readonly blockSize?: number
}

/** 8-bit transport with one float32 scale per block: ~4x smaller than float32. */
export class Int8BlockwiseCompressor implements Compressor {
  readonly spec: string
  readonly wireId = COMPRESSOR_WIRE_IDS.int8
  readonly layout: ParamLayout
  readonly isLossless = false
  readonly isUnbiased = false
  readonly blockSize: number
  lastPayloadBytes = 0
  private readonly payload: Uint8Array
  private readonly scales: Float32Array
  private readonly quantised: Int8Array
  private readonly aligner = new PayloadAligner()

  constructor(options: Int8BlockwiseCompressorOptions) {
    requireLittleEndian()
    const blockSize = options.blockSize ?? INT8_DEFAULT_BLOCK_SIZE
    if (!Number.isInteger(blockSize) || blockSize < INT8_MIN_BLOCK_SIZE || blockSize > INT8_MAX_BLOCK_SIZE) {
      throw new CoreError(
        'ERR_BAD_SPEC',
        `int8 block size must be an integer in [${INT8_MIN_BLOCK_SIZE}, ${INT8_MAX_BLOCK_SIZE}], got ${blockSize}`,
      )
    }
    this.blockSize = blockSize
    this.spec = blockSize === INT8_DEFAULT_BLOCK_SIZE ? 'int8' : `int8:${blockSize}`
    this.layout = options.layout
    const d = options.layout.totalSize
    const blocks = Math.ceil(d / blockSize)
    this.payload = new Uint8Array(FIELDS_BYTES + 4 * blocks + d)
    this.scales = f32View(this.payload, FIELDS_BYTES, blocks)
    this.quantised = new Int8Array(this.payload.buffer, FIELDS_BYTES + 4 * blocks, d)
  }

  compress(values: Float32Array, _context: CompressContext): Uint8Array {
    checkInputSize(this.spec, this.layout, values)
    const d = values.length
    const blockSize = this.blockSize
    const scales = this.scales
    const q = this.quantised
    for (let b = 0, start = 0; start < d; b++, start += blockSize) {
      const scale = quantiseBlock(values, q, start, Math.min(d, start + blockSize))
      if (Number.isNaN(scale)) throw nonFiniteError(this.spec, values)
      scales[b] = scale
    }
    writeHeader(this.payload, this.wireId, d)
    setU32(this.payload, HEADER_BYTES, blockSize)
    this.lastPayloadBytes = this.payload.length
    return this.payload
  }

  decompress(payload: Uint8Array, out: Float32Array, _context: CompressContext): void {
    checkOutputSize(this.spec, this.layout, out)
    const d = out.length
    readHeader(payload, this.spec, this.wireId, d, FIELDS_BYTES)
    const blockSize = getU32(payload, HEADER_BYTES)
    if (blockSize < INT8_MIN_BLOCK_SIZE || blockSize > INT8_MAX_BLOCK_SIZE) {
      throw badMessage(
        this.spec,
        `block size ${blockSize} is outside [${INT8_MIN_BLOCK_SIZE}, ${INT8_MAX_BLOCK_SIZE}]`,
      )
    }
    const blocks = Math.ceil(d / blockSize)
    expectLength(payload, this.spec, FIELDS_BYTES + 4 * blocks + d)
    const aligned = this.aligner.align(payload)
    const scales = f32View(aligned, FIELDS_BYTES, blocks)
    for (let b = 0; b < blocks; b++) {
      const s = scales[b]!
      // `!(s >= 0)` also catches NaN.
      if (!(s >= 0) || s === Infinity) throw badMessage(this.spec, `block ${b} has scale ${s}`)
    }
    const q = new Int8Array(aligned.buffer, aligned.byteOffset + FIELDS_BYTES + 4 * blocks, d)
    for (let b = 0, start = 0; start < d; b++, start += blockSize) {
      dequantiseBlock(q, out, scales[b]!, start, Math.min(d, start + blockSize))
    }
  }
}

/**
 * Quantises entries [start, end) into `q` and returns the block's float32 scale, or NaN when
 * the block holds NaN or Infinity. A function per block: see KERNEL_CHUNK in wire-format.ts.
 */
function quantiseBlock(values: Float32Array, q: Int8Array, start: number, end: number): number {
  // Two independent max/check chains halve the loop-carried latency.
  let max0 = 0
  let max1 = 0
  let check0 = 0
  let check1 = 0
  let i = start
  for (; i + 2 <= end; i += 2) {
    const v0 = values[i]!
    const v1 = values[i + 1]!
    const a0 = Math.abs(v0)
    const a1 = Math.abs(v1)
    if (a0 > max0) max0 = a0
    if (a1 > max1) max1 = a1
    check0 += v0 * 0
    check1 += v1 * 0
  }
  if (i < end) {
    const v = values[i]!
    max0 = Math.max(max0, Math.abs(v))
    check0 += v * 0
  }
  if (check0 + check1 !== 0) return NaN
  const max = Math.max(max0, max1)
  let scale = Math.fround(max / 127)
  if (scale === 0 && max > 0) scale = SMALLEST_SUBNORMAL
  // Quantise against the float32 scale the receiver multiplies by. |v| / scale <= 127 up to
  // rounding, so v·inverse + 128.5 lies in [1.5, 255.5] and truncation is floor: the level
  // is round-half-up(v / scale) in [-127, 127] with no clamp and no Math.round (slow in V8).
  const inverse = scale > 0 ? 1 / scale : 0
  for (let j = start; j < end; j++) q[j] = ((values[j]! * inverse + 128.5) | 0) - 128
  return scale
}

function dequantiseBlock(q: Int8Array, out: Float32Array, scale: number, start: number, end: number): void {
  for (let i = start; i < end; i++) out[i] = q[i]! * scale
}
