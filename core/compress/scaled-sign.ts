/**
 * `sign`: scaled sign compression, c = (‖p‖₁ / d) · sign(p), 1 bit per entry plus one float32.
 * Biased: use it with error feedback (EF-signSGD, Karimireddy et al. 2019).
 *
 * sign(p_j) is the IEEE sign bit: +0 sends +scale and -0 sends -scale. Reading the bit
 * directly keeps the packing loop branch-free.
 *
 * Wire layout (little-endian):
 *   0    common header (wire-format.ts), d = entries
 *   8    f32                  scale = ‖p‖₁ / d (finite, ≥ 0)
 *   12   ceil(d / 8) bytes    sign bits, entry j in byte j >> 3 at bit j & 7 (LSB first),
 *                            1 = negative; unused bits of the last byte must be 0
 * Total: 12 + ceil(d / 8) bytes.
 *
 * Hot loops: a WebAssembly SIMD kernel (kernels/scaled-sign.wat) where the runtime has one,
 * this file's scalar loops otherwise; both give the same bits, the scalar code is the reference.
 */
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
  KERNEL_CHUNK,
  badMessage,
  checkInputSize,
  checkOutputSize,
  expectLength,
  getF32,
  nonFiniteError,
  readHeader,
  requireLittleEndian,
  setF32,
  writeHeader,
} from './wire-format.ts'

const BITS_OFFSET = HEADER_BYTES + 4

export interface ScaledSignCompressorOptions {
  readonly layout: ParamLayout
  /** Hot-loop implementation; default 'auto' (WebAssembly SIMD where available). */
  readonly kernels?: KernelChoice
}

/** kernels/scaled-sign.wat; offsets are bytes in the workspace memory. */
interface ScaledSignKernel {
  /** Writes the sign bits, returns Σ|x| (non-finite when some entry is). */
  compress(src: number, dst: number, n: number): number
  decompress(src: number, dst: number, n: number, scaleBits: number): void
}

const scaleWord = new Float32Array(1)
const scaleWordBits = new Uint32Array(scaleWord.buffer)

/** One bit per entry, ~32x smaller than float32; needs error feedback to converge. */
export class ScaledSignCompressor implements Compressor {
  readonly spec = 'sign'
  readonly wireId = COMPRESSOR_WIRE_IDS.sign
  readonly layout: ParamLayout
  readonly isLossless = false
  readonly isUnbiased = false
  readonly kernelPath: KernelPath
  lastPayloadBytes = 0
  private readonly payload: Uint8Array
  private readonly workspace: KernelWorkspace<ScaledSignKernel> | undefined
  /** [+scale, -scale], indexed by the sign bit: a branch-free decode. */
  private readonly signedScale = new Float32Array(2)

  constructor(options: ScaledSignCompressorOptions) {
    requireLittleEndian()
    this.layout = options.layout
    const d = options.layout.totalSize
    const payloadBytes = BITS_OFFSET + Math.ceil(d / 8)
    this.workspace = createKernelWorkspace('scaledSign', options.kernels ?? 'auto', d, payloadBytes)
    this.kernelPath = this.workspace === undefined ? 'scalar' : 'wasm-simd'
    this.payload = this.workspace?.sent ?? new Uint8Array(payloadBytes)
  }

  compress(values: Float32Array, _context: CompressContext): Uint8Array {
    checkInputSize(this.spec, this.layout, values)
    const d = values.length
    const workspace = this.workspace
    if (workspace !== undefined) {
      workspace.loadValues(values)
      const sum = workspace.kernel.compress(workspace.valuesOffset, workspace.sentOffset + BITS_OFFSET, d)
      if (!Number.isFinite(sum)) throw nonFiniteError(this.spec, values)
      return this.finishPayload(d, sum)
    }
    // The sum of |p| over float32 inputs cannot overflow a double (d · 3.4e38 ≪ 1.8e308), so a
    // non-finite sum means a non-finite input: the finiteness check costs nothing extra.
    let sum = 0
    for (let start = 0; start < d; start += KERNEL_CHUNK)
      sum += absSum(values, start, Math.min(d, start + KERNEL_CHUNK))
    if (!Number.isFinite(sum)) throw nonFiniteError(this.spec, values)
    const bits = new Int32Array(values.buffer, values.byteOffset, d)
    const out = this.payload
    const fullBytes = d >>> 3
    // KERNEL_CHUNK is a multiple of 8, so chunks start on byte boundaries.
    for (let start = 0; start < fullBytes * 8; start += KERNEL_CHUNK) {
      packSigns(bits, out, start, Math.min(fullBytes * 8, start + KERNEL_CHUNK))
    }
    let i = fullBytes * 8
    if (i < d) {
      let last = 0
      for (let bit = 0; i < d; i++, bit++) last |= (bits[i]! >>> 31) << bit
      out[BITS_OFFSET + fullBytes] = last
    }
    return this.finishPayload(d, sum)
  }

  private finishPayload(d: number, absSum: number): Uint8Array {
    const out = this.payload
    writeHeader(out, this.wireId, d)
    setF32(out, HEADER_BYTES, d === 0 ? 0 : Math.fround(absSum / d))
    this.lastPayloadBytes = out.length
    return out
  }

  decompress(payload: Uint8Array, out: Float32Array, _context: CompressContext): void {
    checkOutputSize(this.spec, this.layout, out)
    const d = out.length
    readHeader(payload, this.spec, this.wireId, d, BITS_OFFSET)
    expectLength(payload, this.spec, BITS_OFFSET + Math.ceil(d / 8))
    const scale = getF32(payload, HEADER_BYTES)
    if (!(scale >= 0) || scale === Infinity)
      throw badMessage(this.spec, `scale ${scale} is not finite and >= 0`)
    const fullBytes = d >>> 3
    const tail = d & 7
    if (tail !== 0 && payload[BITS_OFFSET + fullBytes]! >>> tail !== 0) {
      throw badMessage(this.spec, 'padding bits of the last byte are not zero')
    }
    const workspace = this.workspace
    if (workspace !== undefined) {
      const at = workspace.loadPayload(payload)
      scaleWord[0] = scale
      workspace.kernel.decompress(at + BITS_OFFSET, workspace.valuesOffset, d, scaleWordBits[0]!)
      out.set(workspace.values)
      return
    }
    const signed = this.signedScale
    signed[0] = scale
    signed[1] = -scale
    for (let start = 0; start < fullBytes * 8; start += KERNEL_CHUNK) {
      unpackSigns(payload, out, signed, start, Math.min(fullBytes * 8, start + KERNEL_CHUNK))
    }
    let i = fullBytes * 8
    if (tail !== 0) {
      const b = payload[BITS_OFFSET + fullBytes]!
      for (let bit = 0; i < d; i++, bit++) out[i] = signed[(b >>> bit) & 1]!
    }
  }
}

function absSum(values: Float32Array, start: number, end: number): number {
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let i = start
  for (; i + 4 <= end; i += 4) {
    s0 += Math.abs(values[i]!)
    s1 += Math.abs(values[i + 1]!)
    s2 += Math.abs(values[i + 2]!)
    s3 += Math.abs(values[i + 3]!)
  }
  for (; i < end; i++) s0 += Math.abs(values[i]!)
  return s0 + s1 + s2 + s3
}

/** Packs the sign bits of entries [start, end) (multiples of 8) into bytes, LSB first. */
function packSigns(bits: Int32Array, out: Uint8Array, start: number, end: number): void {
  for (let i = start, at = BITS_OFFSET + (start >>> 3); i < end; i += 8, at++) {
    out[at] =
      (bits[i]! >>> 31) |
      ((bits[i + 1]! >>> 31) << 1) |
      ((bits[i + 2]! >>> 31) << 2) |
      ((bits[i + 3]! >>> 31) << 3) |
      ((bits[i + 4]! >>> 31) << 4) |
      ((bits[i + 5]! >>> 31) << 5) |
      ((bits[i + 6]! >>> 31) << 6) |
      ((bits[i + 7]! >>> 31) << 7)
  }
}

/** Writes ±scale for entries [start, end) (multiples of 8) from their sign bits. */
function unpackSigns(
  payload: Uint8Array,
  out: Float32Array,
  signed: Float32Array,
  start: number,
  end: number,
): void {
  for (let i = start, at = BITS_OFFSET + (start >>> 3); i < end; i += 8, at++) {
    const b = payload[at]!
    out[i] = signed[b & 1]!
    out[i + 1] = signed[(b >>> 1) & 1]!
    out[i + 2] = signed[(b >>> 2) & 1]!
    out[i + 3] = signed[(b >>> 3) & 1]!
    out[i + 4] = signed[(b >>> 4) & 1]!
    out[i + 5] = signed[(b >>> 5) & 1]!
    out[i + 6] = signed[(b >>> 6) & 1]!
    out[i + 7] = signed[b >>> 7]!
  }
}
