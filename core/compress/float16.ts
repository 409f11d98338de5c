/**
 * `fp16`: IEEE-754 binary16, round to nearest even, 2 bytes per entry.
 *
 * Wire layout (little-endian):
 *   0   common header (wire-format.ts), d = entries
 *   8   d × u16   binary16 bit patterns
 * Total: 8 + 2d bytes.
 *
 * Encoding is bit manipulation on the float32 bits (no Math calls). Finite values beyond the
 * binary16 range (|x| >= 65520, which would round to Infinity) saturate to ±65504 instead, so
 * a finite input never decodes to Infinity; error feedback carries the clipped part. Values
 * below 2^-24 round to (signed) zero, subnormals are exact to binary16 precision. Payloads
 * holding Infinity or NaN patterns (exponent 31) are rejected on decode.
 *
 * Hot loops: a WebAssembly SIMD kernel (kernels/float16.wat) where the runtime has one, this
 * file's scalar loops otherwise; both give the same bits, the scalar code is the reference.
 * The scalar decode is one lookup in a 65 536-entry float32 table (256 KiB, built on first use);
 * the kernel computes the same bits arithmetically.
 */
import type { CoreError } from '../errors.ts'
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
  PayloadAligner,
  badMessage,
  bitsOf,
  checkInputSize,
  checkOutputSize,
  expectLength,
  nonFiniteError,
  readHeader,
  requireLittleEndian,
  writeHeader,
} from './wire-format.ts'

/** The largest finite binary16 value, 65504, as a bit pattern without sign. */
const HALF_MAX_BITS = 0x7bff
/** float32 bits of 65520: from here on round-to-nearest-even would give Infinity. */
const F32_HALF_OVERFLOW = 0x477ff000
/** float32 bits of 2^-14, the smallest normal binary16. */
const F32_HALF_MIN_NORMAL = 0x38800000
/** float32 bits of 2^-25: at or below it a value rounds to zero (2^-25 itself is a tie to even 0). */
const F32_HALF_ZERO_LIMIT = 0x33000000
const F32_EXPONENT_ALL_ONES = 0x7f800000

let decodeTable: Float32Array | undefined

/** binary16 bits → float32 for all 65 536 patterns; Infinity/NaN patterns map to NaN. */
function getDecodeTable(): Float32Array {
  if (decodeTable !== undefined) return decodeTable
  const table = new Float32Array(65536)
  const bits = new Uint32Array(table.buffer)
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16
    const exponent = (h >>> 10) & 0x1f
    const mantissa = h & 0x3ff
    if (exponent === 0x1f) {
      table[h] = NaN
    } else if (exponent === 0) {
      // Subnormal: mantissa × 2^-24, exact in double and in float32.
      const magnitude = mantissa / 16777216
      table[h] = sign !== 0 ? -magnitude : magnitude
    } else {
      bits[h] = (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0
    }
  }
  decodeTable = table
  return table
}

/** Encodes float32 bits to binary16 bits; returns -1 for NaN/Infinity. */
function encodeHalf(u: number): number {
  const sign = (u >>> 16) & 0x8000
  const a = u & 0x7fffffff
  if (a < F32_HALF_MIN_NORMAL) {
    if (a <= F32_HALF_ZERO_LIMIT) return sign
    // Subnormal binary16: k × 2^-24 with k = round(m × 2^(e - 126)), ties to even.
    const shift = 126 - (a >>> 23)
    const m = (a & 0x7fffff) | 0x800000
    let k = m >>> shift
    const rest = m & ((1 << shift) - 1)
    const half = 1 << (shift - 1)
    if (rest > half || (rest === half && (k & 1) === 1)) k++
    return sign | k
  }
  if (a < F32_HALF_OVERFLOW) {
    // Rebias the exponent (127 → 15) and round the 13 dropped mantissa bits to nearest even;
    // a carry out of the mantissa correctly bumps the exponent.
    return sign | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13)
  }
  if (a >= F32_EXPONENT_ALL_ONES) return -1
  return sign | HALF_MAX_BITS
}

export interface Float16CompressorOptions {
  readonly layout: ParamLayout
  /** Hot-loop implementation; default 'auto' (WebAssembly SIMD where available). */
  readonly kernels?: KernelChoice
}

/** kernels/float16.wat; offsets are bytes in the workspace memory. */
interface Float16Kernel {
  /** Returns 1 when some entry is NaN or ±Infinity. */
  encode(src: number, dst: number, n: number): number
  /** Returns 1 when some entry holds an Infinity/NaN pattern. */
  decode(src: number, dst: number, n: number): number
}

/** Half-precision transport: 2x smaller than float32, relative error <= 2^-11 in range. */
export class Float16Compressor implements Compressor {
  readonly spec = 'fp16'
  readonly wireId = COMPRESSOR_WIRE_IDS.fp16
  readonly layout: ParamLayout
  readonly isLossless = false
  readonly isUnbiased = false
  readonly kernelPath: KernelPath
  lastPayloadBytes = 0
  private readonly payload: Uint8Array
  private readonly payloadHalves: Uint16Array
  private readonly workspace: KernelWorkspace<Float16Kernel> | undefined
  private table: Float32Array | undefined
  private readonly aligner = new PayloadAligner()

  constructor(options: Float16CompressorOptions) {
    requireLittleEndian()
    this.layout = options.layout
    const d = options.layout.totalSize
    const payloadBytes = HEADER_BYTES + 2 * d
    this.workspace = createKernelWorkspace('float16', options.kernels ?? 'auto', d, payloadBytes)
    this.kernelPath = this.workspace === undefined ? 'scalar' : 'wasm-simd'
    this.payload = this.workspace?.sent ?? new Uint8Array(payloadBytes)
    this.payloadHalves = new Uint16Array(this.payload.buffer, this.payload.byteOffset + HEADER_BYTES, d)
  }

  compress(values: Float32Array, _context: CompressContext): Uint8Array {
    checkInputSize(this.spec, this.layout, values)
    const d = values.length
    const workspace = this.workspace
    if (workspace !== undefined) {
      workspace.loadValues(values)
      if (workspace.kernel.encode(workspace.valuesOffset, workspace.sentOffset + HEADER_BYTES, d) !== 0) {
        throw nonFiniteError(this.spec, values)
      }
      writeHeader(this.payload, this.wireId, d)
      this.lastPayloadBytes = this.payload.length
      return this.payload
    }
    const bits = bitsOf(values)
    for (let start = 0; start < d; start += KERNEL_CHUNK) {
      if (!encodeHalves(bits, this.payloadHalves, start, Math.min(d, start + KERNEL_CHUNK))) {
        throw nonFiniteError(this.spec, values)
      }
    }
    writeHeader(this.payload, this.wireId, d)
    this.lastPayloadBytes = this.payload.length
    return this.payload
  }

  decompress(payload: Uint8Array, out: Float32Array, _context: CompressContext): void {
    checkOutputSize(this.spec, this.layout, out)
    const d = out.length
    readHeader(payload, this.spec, this.wireId, d, HEADER_BYTES)
    expectLength(payload, this.spec, HEADER_BYTES + 2 * d)
    const workspace = this.workspace
    if (workspace !== undefined) {
      const at = workspace.loadPayload(payload)
      if (workspace.kernel.decode(at + HEADER_BYTES, workspace.valuesOffset, d) !== 0) {
        throw infinityPattern(this.spec, payload)
      }
      out.set(workspace.values)
      return
    }
    const aligned = this.aligner.align(payload)
    const halves = new Uint16Array(aligned.buffer, aligned.byteOffset + HEADER_BYTES, d)
    this.table ??= getDecodeTable()
    // (h & 0x7fff) + 0x400 reaches bit 15 exactly for exponent 31 (Infinity/NaN patterns).
    let check = 0
    for (let start = 0; start < d; start += KERNEL_CHUNK) {
      check |= decodeHalves(halves, out, this.table, start, Math.min(d, start + KERNEL_CHUNK))
    }
    if ((check & 0x8000) !== 0) throw infinityPattern(this.spec, payload)
  }
}

/** The error for a payload holding an exponent-31 (Infinity/NaN) pattern, naming the first. */
function infinityPattern(spec: string, payload: Uint8Array): CoreError {
  let at = 0
  for (let i = HEADER_BYTES + 1; i < payload.length; i += 2, at++) {
    if ((payload[i]! & 0x7c) === 0x7c) break
  }
  return badMessage(spec, `entry ${at} holds an Infinity/NaN binary16 pattern`)
}

/** Encodes entries [start, end); false when one of them is NaN or Infinity. */
function encodeHalves(bits: Uint32Array, halves: Uint16Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const u = bits[i]!
    const a = u & 0x7fffffff
    // Fast path, one unsigned compare: the result is a normal binary16 (the common case).
    if ((a - F32_HALF_MIN_NORMAL) >>> 0 < F32_HALF_OVERFLOW - F32_HALF_MIN_NORMAL) {
      halves[i] = ((u >>> 16) & 0x8000) | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13)
    } else {
      const h = encodeHalf(u)
      if (h < 0) return false
      halves[i] = h
    }
  }
  return true
}

/** Decodes entries [start, end) by table lookup; returns the OR of (h & 0x7fff) + 0x400. */
function decodeHalves(
  halves: Uint16Array,
  out: Float32Array,
  table: Float32Array,
  start: number,
  end: number,
): number {
  let check = 0
  for (let i = start; i < end; i++) {
    const h = halves[i]!
    out[i] = table[h]!
    check |= (h & 0x7fff) + 0x400
  }
  return check
}
