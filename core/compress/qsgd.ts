/**
 * `qsgd:<levels>`: QSGD (Alistarh et al. 2017) with s = levels quantisation levels.
 *
 * unit = ‖p‖₂ / s (rounded to float32; 2^-149 if that underflows while ‖p‖₂ > 0). For each
 * entry x_j = |p_j| / unit ∈ [0, s], the level l_j = floor(x_j + u_j) with u_j uniform in
 * [0, 1) (stochastic rounding: l_j = ceil(x_j) with probability frac(x_j)), clamped to s;
 * x_j + u_j < 2^31, so truncation with `| 0` is the floor.
 * The receiver reconstructs c_j = sign(p_j) · l_j · unit, so E[c_j] = p_j: unbiased.
 * u_j = counterHash(j, key) · 2^-32 (prng.ts; written out inline in the loops below, because a
 * call that V8 does not inline boxes its u32 result on the heap: a GC per few thousand entries) with key = Xoshiro128(PRNG_STREAMS.qsgd, seed, round,
 * senderIndex).nextU32(): reproducible, different for each sender and round, exactly uniform
 * for each j over keys, and stateless per entry so the loop pipelines (a sequential generator
 * costs more than the rest of the encoding). The receiver needs no randomness.
 *
 * sign(p_j) is the IEEE sign bit, so -0 decodes as -0. x_j + u_j is exact in double
 * (x_j < 2^15, u_j has 32 bits), so the rounding probability is exact to 2^-32.
 *
 * Each entry is a code of b bits: the sign in the top bit, the level in the others, with
 * b = 1 + bits(s) rounded up to 2, 4, 8 or 16 so codes never straddle a byte:
 *   s = 1 → 2 bits; s ≤ 7 → 4 bits; s ≤ 127 → 8 bits; s ≤ 32767 → 16 bits.
 * This is before any entropy coding (the paper's Elias coding is not applied).
 *
 * Wire layout (little-endian):
 *   0    common header (wire-format.ts), d = entries
 *   8    f32    unit (finite, ≥ 0)
 *   12   u32    s, the number of levels (1 ≤ s ≤ 32767)
 *   16   codes: ceil(d · b / 8) bytes; entry j's code at bit (j · b) mod 8 of byte (j · b) >> 3
 *        (LSB first; b = 16 as a u16); levels must be ≤ s, unused trailing bits 0
 * Total: 16 + ceil(d · b / 8) bytes.
 *
 * Hot loops: a WebAssembly SIMD kernel (kernels/qsgd.wat) where the runtime has one, this
 * file's scalar loops otherwise; both give the same codes for the same (seed, round, sender)
 * (the counter hash is stateless, so four lanes compute it as one would), the scalar code is the
 * reference. A payload with another level count than this instance's is decoded by the scalar loops.
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
import { PRNG_STREAMS, Xoshiro128 } from './prng.ts'
import {
  COMPRESSOR_WIRE_IDS,
  HEADER_BYTES,
  KERNEL_CHUNK,
  badMessage,
  bitsOf,
  checkContext,
  checkInputSize,
  checkOutputSize,
  expectLength,
  getF32,
  getU32,
  nonFiniteError,
  readHeader,
  requireLittleEndian,
  setF32,
  setU32,
  writeHeader,
} from './wire-format.ts'

export const QSGD_MIN_LEVELS = 1
export const QSGD_MAX_LEVELS = 32767
const CODES_OFFSET = HEADER_BYTES + 8
const INV_TWO_POW_32 = 1 / 0x1_0000_0000
const SMALLEST_SUBNORMAL = 2 ** -149

/** Bits per code for s levels: sign + level bits, rounded up to 2, 4, 8 or 16. */
export function qsgdBitsPerEntry(levels: number): number {
  const needed = 1 + (32 - Math.clz32(levels))
  return needed <= 2 ? 2 : needed <= 4 ? 4 : needed <= 8 ? 8 : 16
}

function codeBytes(d: number, bitsPerEntry: number): number {
  return Math.ceil((d * bitsPerEntry) / 8)
}

export interface QsgdCompressorOptions {
  readonly layout: ParamLayout
  /** Quantisation levels s in [1, 32767]. More levels: less variance, more bits. */
  readonly levels: number
  /** Hot-loop implementation; default 'auto' (WebAssembly SIMD where available). */
  readonly kernels?: KernelChoice
}

/** kernels/qsgd.wat; offsets are bytes in the workspace memory. */
interface QsgdKernel {
  sumOfSquares(src: number, n: number): number
  encode(
    src: number,
    dst: number,
    n: number,
    inverseUnit: number,
    key: number,
    levels: number,
    b: number,
  ): void
  /** Returns the largest level seen. */
  decode(src: number, dst: number, n: number, unit: number, b: number): number
}

/** Stochastic quantisation to s levels of ‖p‖₂ / s; unbiased. */
export class QsgdCompressor implements Compressor {
  readonly spec: string
  readonly wireId = COMPRESSOR_WIRE_IDS.qsgd
  readonly layout: ParamLayout
  readonly isLossless = false
  readonly isUnbiased = true
  readonly levels: number
  readonly bitsPerEntry: number
  readonly kernelPath: KernelPath
  lastPayloadBytes = 0
  private readonly payload: Uint8Array
  private readonly workspace: KernelWorkspace<QsgdKernel> | undefined
  /** [+unit, -unit], indexed by the sign bit: a branch-free decode. */
  private readonly signedUnit = new Float64Array(2)

  constructor(options: QsgdCompressorOptions) {
    requireLittleEndian()
    const levels = options.levels
    if (!Number.isInteger(levels) || levels < QSGD_MIN_LEVELS || levels > QSGD_MAX_LEVELS) {
      throw new CoreError(
        'ERR_BAD_SPEC',
        `qsgd levels must be an integer in [${QSGD_MIN_LEVELS}, ${QSGD_MAX_LEVELS}], got ${levels}`,
      )
    }
    this.levels = levels
    this.bitsPerEntry = qsgdBitsPerEntry(levels)
    this.spec = `qsgd:${levels}`
    this.layout = options.layout
    const d = options.layout.totalSize
    const payloadBytes = CODES_OFFSET + codeBytes(d, this.bitsPerEntry)
    this.workspace = createKernelWorkspace('qsgd', options.kernels ?? 'auto', d, payloadBytes)
    this.kernelPath = this.workspace === undefined ? 'scalar' : 'wasm-simd'
    this.payload = this.workspace?.sent ?? new Uint8Array(payloadBytes)
  }

  compress(values: Float32Array, context: CompressContext): Uint8Array {
    checkInputSize(this.spec, this.layout, values)
    checkContext(this.spec, context)
    const d = values.length
    const s = this.levels
    const workspace = this.workspace
    // Σ p² over float32 inputs cannot overflow a double, so a non-finite sum means a
    // non-finite input: the finiteness check is free.
    let sum = 0
    if (workspace !== undefined) {
      workspace.loadValues(values)
      sum = workspace.kernel.sumOfSquares(workspace.valuesOffset, d)
    } else {
      for (let start = 0; start < d; start += KERNEL_CHUNK) {
        sum += sumOfSquares(values, start, Math.min(d, start + KERNEL_CHUNK))
      }
    }
    if (!Number.isFinite(sum)) throw nonFiniteError(this.spec, values)
    const norm = Math.sqrt(sum)
    let unit = Math.fround(norm / s)
    if (unit === Infinity) {
      throw new CoreError('ERR_NON_FINITE', `${this.spec}: ‖p‖₂ / s = ${norm / s} overflows float32`)
    }
    if (unit === 0 && norm > 0) unit = SMALLEST_SUBNORMAL
    const inverseUnit = unit > 0 ? 1 / unit : 0
    const key =
      new Xoshiro128(PRNG_STREAMS.qsgd, context.seed, context.round, context.senderIndex ?? 0).nextU32() | 0
    const out = this.payload
    const b = this.bitsPerEntry
    if (workspace !== undefined) {
      const { valuesOffset, sentOffset } = workspace
      workspace.kernel.encode(valuesOffset, sentOffset + CODES_OFFSET, d, inverseUnit, key, s, b)
    } else {
      const bits = bitsOf(values)
      // KERNEL_CHUNK is a multiple of 8, so every chunk starts on a byte boundary.
      for (let start = 0; start < d; start += KERNEL_CHUNK) {
        encodeCodes(values, bits, out, inverseUnit, key, s, b, start, Math.min(d, start + KERNEL_CHUNK))
      }
    }
    writeHeader(out, this.wireId, d)
    setF32(out, HEADER_BYTES, unit)
    setU32(out, HEADER_BYTES + 4, s)
    this.lastPayloadBytes = out.length
    return out
  }

  decompress(payload: Uint8Array, out: Float32Array, context: CompressContext): void {
    checkOutputSize(this.spec, this.layout, out)
    checkContext(this.spec, context)
    const d = out.length
    readHeader(payload, this.spec, this.wireId, d, CODES_OFFSET)
    const unit = getF32(payload, HEADER_BYTES)
    if (!(unit >= 0) || unit === Infinity) throw badMessage(this.spec, `unit ${unit} is not finite and >= 0`)
    const s = getU32(payload, HEADER_BYTES + 4)
    if (s < QSGD_MIN_LEVELS || s > QSGD_MAX_LEVELS) {
      throw badMessage(this.spec, `levels ${s} outside [${QSGD_MIN_LEVELS}, ${QSGD_MAX_LEVELS}]`)
    }
    const b = qsgdBitsPerEntry(s)
    expectLength(payload, this.spec, CODES_OFFSET + codeBytes(d, b))
    const usedBits = (d * b) % 8
    if (usedBits !== 0 && payload[payload.length - 1]! >>> usedBits !== 0) {
      throw badMessage(this.spec, 'padding bits of the last byte are not zero')
    }
    let maxLevel = 0
    const workspace = this.workspace
    if (workspace !== undefined && b === this.bitsPerEntry) {
      const at = workspace.loadPayload(payload)
      maxLevel = workspace.kernel.decode(at + CODES_OFFSET, workspace.valuesOffset, d, unit, b)
      if (maxLevel <= s) out.set(workspace.values)
    } else {
      this.signedUnit[0] = unit
      this.signedUnit[1] = -unit
      for (let start = 0; start < d; start += KERNEL_CHUNK) {
        const end = Math.min(d, start + KERNEL_CHUNK)
        maxLevel = Math.max(maxLevel, decodeCodes(payload, out, this.signedUnit, b, start, end))
      }
    }
    if (maxLevel > s) throw badMessage(this.spec, `a level ${maxLevel} exceeds s = ${s}`)
  }
}

// Hot loops live in small module functions: V8 optimises each on its own, with stable type
// feedback, instead of on-stack-replacing one large method whose untaken branches deoptimise.

function sumOfSquares(values: Float32Array, start: number, end: number): number {
  let q0 = 0
  let q1 = 0
  let q2 = 0
  let q3 = 0
  let i = start
  for (; i + 4 <= end; i += 4) {
    const v0 = values[i]!
    const v1 = values[i + 1]!
    const v2 = values[i + 2]!
    const v3 = values[i + 3]!
    q0 += v0 * v0
    q1 += v1 * v1
    q2 += v2 * v2
    q3 += v3 * v3
  }
  for (; i < end; i++) q0 += values[i]! * values[i]!
  return q0 + q1 + q2 + q3
}

/** The b-bit code of entry j: level by stochastic rounding (counterHash inline), sign on top. */
function codeOf(
  values: Float32Array,
  bits: Uint32Array,
  j: number,
  inverseUnit: number,
  key: number,
  levels: number,
  signShift: number,
): number {
  let h = (Math.imul(j, 0x9e3779b9) + key) | 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  let level = (Math.abs(values[j]!) * inverseUnit + ((h ^ (h >>> 16)) >>> 0) * INV_TWO_POW_32) | 0
  if (level > levels) level = levels
  return level | ((bits[j]! >>> 31) << signShift)
}

function encodeCodes(
  values: Float32Array,
  bits: Uint32Array,
  out: Uint8Array,
  inverseUnit: number,
  key: number,
  levels: number,
  b: number,
  from: number,
  to: number,
): void {
  const signShift = b - 1
  if (b === 16) {
    for (let j = from, at = CODES_OFFSET + 2 * from; j < to; j++, at += 2) {
      const code = codeOf(values, bits, j, inverseUnit, key, levels, signShift)
      out[at] = code & 0xff
      out[at + 1] = code >>> 8
    }
    return
  }
  if (b === 8) {
    for (let j = from; j < to; j++)
      out[CODES_OFFSET + j] = codeOf(values, bits, j, inverseUnit, key, levels, 7)
    return
  }
  const perByte = 8 / b
  let at = CODES_OFFSET + from / perByte
  for (let start = from; start < to; start += perByte) {
    const end = Math.min(to, start + perByte)
    let packed = 0
    for (let j = start, shift = 0; j < end; j++, shift += b) {
      packed |= codeOf(values, bits, j, inverseUnit, key, levels, signShift) << shift
    }
    out[at++] = packed
  }
}

/** Writes c_j = level · (±unit) for every entry; returns the largest level seen. */
function decodeCodes(
  payload: Uint8Array,
  out: Float32Array,
  signedUnit: Float64Array,
  b: number,
  from: number,
  to: number,
): number {
  const signShift = b - 1
  const levelMask = (1 << signShift) - 1
  let maxLevel = 0
  if (b === 16) {
    for (let i = from, at = CODES_OFFSET + 2 * from; i < to; i++, at += 2) {
      const code = payload[at]! | (payload[at + 1]! << 8)
      const level = code & levelMask
      if (level > maxLevel) maxLevel = level
      out[i] = level * signedUnit[code >>> signShift]!
    }
    return maxLevel
  }
  if (b === 8) {
    for (let i = from; i < to; i++) {
      const code = payload[CODES_OFFSET + i]!
      const level = code & 0x7f
      if (level > maxLevel) maxLevel = level
      out[i] = level * signedUnit[code >>> 7]!
    }
    return maxLevel
  }
  const perByte = 8 / b
  const codeMask = (1 << b) - 1
  let at = CODES_OFFSET + from / perByte
  for (let start = from; start < to; start += perByte) {
    const end = Math.min(to, start + perByte)
    const packed = payload[at++]!
    for (let i = start, shift = 0; i < end; i++, shift += b) {
      const code = (packed >>> shift) & codeMask
      const level = code & levelMask
      if (level > maxLevel) maxLevel = level
      out[i] = level * signedUnit[code >>> signShift]!
    }
  }
  return maxLevel
}
