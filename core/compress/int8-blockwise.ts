/**
 * `int8[:<blockSize>]`: blockwise absmax quantisation to signed 8-bit integers.
 *
 * For each block of `blockSize` consecutive entries (the last block may be shorter):
 * scale = max|p| / 127 rounded to float32, q_j = the float32 quotient p_j / scale rounded to the
 * nearest integer (ties to even), in [-127, 127], and the receiver reconstructs c_j = q_j × scale
 * in float32. (Float32 division, not float64: the SIMD kernel divides four lanes at once and
 * gets the same bits; the quotient's rounding adds at most 127 · 2^-24 of a level to the error.) A block whose max|p| is so small that
 * max|p| / 127 underflows float32 uses the smallest subnormal 2^-149 as its scale, which
 * represents every such value exactly, and a subnormal scale that rounded below max|p| / 127 is
 * raised by one ulp so no level exceeds 127. An all-zero block has scale 0.
 *
 * Wire layout (little-endian):
 *   0               common header (wire-format.ts), d = entries
 *   8               u32        blockSize (1 ≤ blockSize ≤ 2^20)
 *   12              nb × f32   scales, nb = ceil(d / blockSize); finite and ≥ 0
 *   12 + 4nb        d × i8     quantised values
 * Total: 12 + 4·nb + d bytes.
 *
 * Hot loops: a WebAssembly SIMD kernel (kernels/int8-blockwise.wat) where the runtime has one,
 * this file's scalar loops otherwise; both give the same bits, the scalar code is the reference.
 * A payload with another block size than this instance's is decoded by the scalar loops.
 */
import { CoreError } from '../errors.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { CompressContext, Compressor } from './compressor.ts'
import {
  createKernelWorkspace,
  type KernelChoice,
  type KernelPath,
  type KernelWorkspace,
} from './kernels/wasm-kernel.ts'
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
const SMALLEST_NORMAL = 2 ** -126
/** x + 1.5 · 2^52 - 1.5 · 2^52 is x rounded to the nearest integer, ties to even (|x| < 2^51). */
const ROUND_TO_INTEGER = 6755399441055744
const scaleBits = new Uint32Array(1)
const scaleFloat = new Float32Array(scaleBits.buffer)

export interface Int8BlockwiseCompressorOptions {
  readonly layout: ParamLayout
  /** Entries per scale; default INT8_DEFAULT_BLOCK_SIZE. Smaller: more accurate, more bytes. */
  readonly blockSize?: number
  /** Hot-loop implementation; default 'auto' (WebAssembly SIMD where available). */
  readonly kernels?: KernelChoice
}

/** kernels/int8-blockwise.wat; offsets are bytes in the workspace memory. */
interface Int8Kernel {
  /** Returns 1 when some entry is NaN or ±Infinity. */
  quantise(src: number, q: number, scales: number, n: number, blockSize: number): number
  dequantise(q: number, scales: number, dst: number, n: number, blockSize: number): void
}

/** 8-bit transport with one float32 scale per block: ~4x smaller than float32. */
export class Int8BlockwiseCompressor implements Compressor {
  readonly spec: string
  readonly wireId = COMPRESSOR_WIRE_IDS.int8
  readonly layout: ParamLayout
  readonly isLossless = false
  readonly isUnbiased = false
  readonly blockSize: number
  readonly kernelPath: KernelPath
  lastPayloadBytes = 0
  private readonly payload: Uint8Array
  private readonly scales: Float32Array
  private readonly quantised: Int8Array
  private readonly workspace: KernelWorkspace<Int8Kernel> | undefined
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
    const payloadBytes = FIELDS_BYTES + 4 * blocks + d
    this.workspace = createKernelWorkspace('int8Blockwise', options.kernels ?? 'auto', d, payloadBytes)
    this.kernelPath = this.workspace === undefined ? 'scalar' : 'wasm-simd'
    this.payload = this.workspace?.sent ?? new Uint8Array(payloadBytes)
    this.scales = f32View(this.payload, FIELDS_BYTES, blocks)
    this.quantised = new Int8Array(
      this.payload.buffer,
      this.payload.byteOffset + FIELDS_BYTES + 4 * blocks,
      d,
    )
  }

  compress(values: Float32Array, _context: CompressContext): Uint8Array {
    checkInputSize(this.spec, this.layout, values)
    const d = values.length
    const blockSize = this.blockSize
    const workspace = this.workspace
    if (workspace !== undefined) {
      workspace.loadValues(values)
      const scalesAt = workspace.sentOffset + FIELDS_BYTES
      const levelsAt = scalesAt + 4 * this.scales.length
      if (workspace.kernel.quantise(workspace.valuesOffset, levelsAt, scalesAt, d, blockSize) !== 0) {
        throw nonFiniteError(this.spec, values)
      }
      return this.finishPayload(d)
    }
    const scales = this.scales
    const q = this.quantised
    for (let b = 0, start = 0; start < d; b++, start += blockSize) {
      const scale = quantiseBlock(values, q, start, Math.min(d, start + blockSize))
      if (Number.isNaN(scale)) throw nonFiniteError(this.spec, values)
      scales[b] = scale
    }
    return this.finishPayload(d)
  }

  private finishPayload(d: number): Uint8Array {
    writeHeader(this.payload, this.wireId, d)
    setU32(this.payload, HEADER_BYTES, this.blockSize)
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
    const workspace = this.workspace
    if (workspace !== undefined && blockSize === this.blockSize) {
      const at = workspace.loadPayload(payload)
      const scalesAt = at + FIELDS_BYTES
      checkScales(this.spec, new Float32Array(workspace.values.buffer, scalesAt, blocks))
      workspace.kernel.dequantise(scalesAt + 4 * blocks, scalesAt, workspace.valuesOffset, d, blockSize)
      out.set(workspace.values)
      return
    }
    const aligned = this.aligner.align(payload)
    const scales = f32View(aligned, FIELDS_BYTES, blocks)
    checkScales(this.spec, scales)
    const q = new Int8Array(aligned.buffer, aligned.byteOffset + FIELDS_BYTES + 4 * blocks, d)
    for (let b = 0, start = 0; start < d; b++, start += blockSize) {
      dequantiseBlock(q, out, scales[b]!, start, Math.min(d, start + blockSize))
    }
  }
}

function checkScales(spec: string, scales: Float32Array): void {
  for (let b = 0; b < scales.length; b++) {
    const s = scales[b]!
    // `!(s >= 0)` also catches NaN.
    if (!(s >= 0) || s === Infinity) throw badMessage(spec, `block ${b} has scale ${s}`)
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
  // Subnormal scales are coarse: one rounded below max / 127 would give levels above 127.
  if (scale < SMALLEST_NORMAL && scale * 127 < max) scale = nextFloatUp(scale)
  // Quantise against the float32 scale the receiver multiplies by. Math.fround of the float64
  // quotient of two float32 values is the float32 quotient (float64 has more than twice the
  // bits, so the double rounding is harmless). |v| / scale <= 127 up to rounding, so the level
  // lies in [-127, 127] with no clamp; adding and subtracting 1.5 · 2^52 rounds it to nearest
  // even (Math.round rounds ties up, and is slow in V8). An all-zero block divides by 1.
  const divisor = scale > 0 ? scale : 1
  for (let j = start; j < end; j++)
    q[j] = Math.fround(values[j]! / divisor) + ROUND_TO_INTEGER - ROUND_TO_INTEGER
  return scale
}

function dequantiseBlock(q: Int8Array, out: Float32Array, scale: number, start: number, end: number): void {
  for (let i = start; i < end; i++) out[i] = q[i]! * scale
}

/** The next float32 above a non-negative float32. */
function nextFloatUp(x: number): number {
  scaleFloat[0] = x
  scaleBits[0] = scaleBits[0]! + 1
  return scaleFloat[0]
}
