/**
 * What every compressor payload shares: the wire ids, the common header, and the checks every
 * compressor runs on its input and on received payloads.
 *
 * Common header (8 bytes, little-endian), at the start of every payload:
 *
 *   offset 0  u8   wire id of the compressor that wrote it (COMPRESSOR_WIRE_IDS)
 *   offset 1  u8   payload format version: PAYLOAD_VERSION (1), or the compressor's own
 *                  version when its layout changed since (top-k: 2, delta-varint indices)
 *   offset 2  u16  reserved, must be 0
 *   offset 4  u32  d: how many float32 entries the payload decodes to
 *
 * The compressor's own fields follow at offset 8. Each file documents its layout; every
 * multi-byte field sits at an offset that is a multiple of its size, so a payload that starts
 * at an aligned address can be read through typed-array views without copying.
 *
 * Byte order: all multi-byte fields are little-endian. The encoders write them through typed
 * arrays, which use the host's byte order, so the compressors refuse to run on a big-endian
 * host (no JS engine Longhaul targets is one) instead of silently writing the wrong order.
 */
import { CoreError } from '../errors.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { CompressContext } from './compressor.ts'

/**
 * Stable small integers that name a compressor in frame headers. Explicit values: never
 * renumber or reuse one; append new compressors with new numbers.
 */
export const COMPRESSOR_WIRE_IDS = {
  none: 1,
  fp16: 2,
  topk: 3,
  randk: 4,
  qsgd: 5,
  sign: 6,
  int8: 7,
  powersgd: 8,
} as const

/** A compressor family name as it appears at the start of a spec string. */
export type CompressorName = keyof typeof COMPRESSOR_WIRE_IDS

export const HEADER_BYTES = 8
export const PAYLOAD_VERSION = 1

/** True when typed arrays on this host store multi-byte values little-endian. */
export const IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1

/** Called by every compressor constructor; see the byte-order note in the header comment. */
export function requireLittleEndian(): void {
  if (!IS_LITTLE_ENDIAN) {
    throw new CoreError(
      'ERR_BACKEND_UNAVAILABLE',
      'compressors need a little-endian host for their wire format',
    )
  }
}

export function badMessage(name: string, what: string): CoreError {
  return new CoreError('ERR_BAD_MESSAGE', `${name} payload: ${what}`)
}

export function setU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff
  bytes[offset + 1] = (value >>> 8) & 0xff
  bytes[offset + 2] = (value >>> 16) & 0xff
  bytes[offset + 3] = (value >>> 24) & 0xff
}

export function getU32(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>>
    0
  )
}

const scalarView = new DataView(new ArrayBuffer(4))

export function setF32(bytes: Uint8Array, offset: number, value: number): void {
  scalarView.setFloat32(0, value, true)
  setU32(bytes, offset, scalarView.getUint32(0, true))
}

export function getF32(bytes: Uint8Array, offset: number): number {
  scalarView.setUint32(0, getU32(bytes, offset), true)
  return scalarView.getFloat32(0, true)
}

export function writeHeader(bytes: Uint8Array, wireId: number, d: number, version = PAYLOAD_VERSION): void {
  bytes[0] = wireId
  bytes[1] = version
  bytes[2] = 0
  bytes[3] = 0
  setU32(bytes, 4, d)
}

/**
 * Checks the common header against what the receiver expects and that at least `minBytes`
 * are present. Throws CoreError('ERR_BAD_MESSAGE') naming the first mismatch.
 */
export function readHeader(
  payload: Uint8Array,
  name: string,
  wireId: number,
  d: number,
  minBytes: number,
  version = PAYLOAD_VERSION,
): void {
  if (payload.length < Math.max(HEADER_BYTES, minBytes)) {
    throw badMessage(
      name,
      `${payload.length} bytes is shorter than the ${Math.max(HEADER_BYTES, minBytes)}-byte minimum`,
    )
  }
  if (payload[0] !== wireId) throw badMessage(name, `wire id ${payload[0]} is not ${wireId}`)
  if (payload[1] !== version) throw badMessage(name, `format version ${payload[1]} is not ${version}`)
  if (payload[2] !== 0 || payload[3] !== 0) throw badMessage(name, 'reserved header bytes are not zero')
  const payloadD = getU32(payload, 4)
  if (payloadD !== d) throw badMessage(name, `it decodes to ${payloadD} values but this layout has ${d}`)
}

/** Throws unless the payload is exactly `expectedBytes` long (no truncation, no trailing bytes). */
export function expectLength(payload: Uint8Array, name: string, expectedBytes: number): void {
  if (payload.length !== expectedBytes) {
    throw badMessage(name, `${payload.length} bytes where its fields need exactly ${expectedBytes}`)
  }
}

/**
 * Received payloads may start at any byte offset (a slice of a network frame); typed views
 * need alignment. `align` returns the payload itself when it is 4-byte aligned, otherwise a
 * copy in a scratch buffer that is reused across calls and grows only when a larger payload
 * arrives.
 */
export class PayloadAligner {
  private scratch = new Uint8Array(0)

  align(payload: Uint8Array): Uint8Array {
    if (payload.byteOffset % 4 === 0) return payload
    if (this.scratch.length < payload.length) this.scratch = new Uint8Array(payload.length)
    const copy = this.scratch.subarray(0, payload.length)
    copy.set(payload)
    return copy
  }
}

/** Float32 view of `count` values at `byteOffset` (a multiple of 4) of an aligned payload. */
export function f32View(aligned: Uint8Array, byteOffset: number, count: number): Float32Array {
  return new Float32Array(aligned.buffer, aligned.byteOffset + byteOffset, count)
}

/** Uint32 view of `count` values at `byteOffset` (a multiple of 4) of an aligned payload. */
export function u32View(aligned: Uint8Array, byteOffset: number, count: number): Uint32Array {
  return new Uint32Array(aligned.buffer, aligned.byteOffset + byteOffset, count)
}

/** The raw IEEE-754 bits of a float32 vector, without copying. */
export function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length)
}

/**
 * Entries per call of a hot-loop kernel. Long loops run as repeated calls of a small function
 * over chunks: V8 then optimises the kernel as a whole function with complete type feedback,
 * instead of on-stack-replacing one long loop, whose cached OSR code deoptimises at the loop
 * exit on every call and sends the next call back to the interpreter (measured 5-30x slower).
 */
export const KERNEL_CHUNK = 16384

/** OR over a chunk of (exponent + 1): bit 8 is set iff some entry is NaN or ±Infinity. */
function exponentFlags(bits: Uint32Array, start: number, end: number): number {
  let acc = 0
  for (let i = start; i < end; i++) acc |= ((bits[i]! >>> 23) & 0xff) + 1
  return acc
}

/** Index of the first NaN or ±Infinity in `values`, or -1 when all are finite. */
export function firstNonFinite(values: Float32Array): number {
  // Integer test on the bits: small integers only, one OR per entry, no branch per entry.
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length)
  const n = bits.length
  for (let start = 0; start < n; start += KERNEL_CHUNK) {
    const end = Math.min(n, start + KERNEL_CHUNK)
    if ((exponentFlags(bits, start, end) & 0x100) !== 0) {
      for (let i = start; i < end; i++) if (!Number.isFinite(values[i]!)) return i
    }
  }
  return -1
}

export function nonFiniteError(name: string, values: Float32Array): CoreError {
  const at = firstNonFinite(values)
  return new CoreError('ERR_NON_FINITE', `${name} refuses to encode ${values[at]} at index ${at}`)
}

/** Throws CoreError('ERR_NON_FINITE') when any entry is NaN or ±Infinity. */
export function assertAllFinite(name: string, values: Float32Array): void {
  if (firstNonFinite(values) >= 0) throw nonFiniteError(name, values)
}

export function checkInputSize(name: string, layout: ParamLayout, values: Float32Array): void {
  if (values.length !== layout.totalSize) {
    throw new CoreError(
      'ERR_SHAPE_MISMATCH',
      `${name}: input has ${values.length} values but the layout ${layout.fingerprint} has ${layout.totalSize}`,
    )
  }
}

export function checkOutputSize(name: string, layout: ParamLayout, out: Float32Array): void {
  if (out.length !== layout.totalSize) {
    throw new CoreError(
      'ERR_SHAPE_MISMATCH',
      `${name}: output buffer has ${out.length} values but the layout ${layout.fingerprint} has ${layout.totalSize}`,
    )
  }
}

/** Seeded compressors need integer seeds and rounds; anything else is a caller bug. */
export function checkContext(name: string, context: CompressContext): void {
  if (!Number.isSafeInteger(context.seed)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `${name}: context.seed must be a safe integer, got ${context.seed}`,
    )
  }
  if (!Number.isSafeInteger(context.round) || context.round < 0) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `${name}: context.round must be an integer >= 0, got ${context.round}`,
    )
  }
  const sender = context.senderIndex
  if (sender !== undefined && (!Number.isSafeInteger(sender) || sender < 0)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `${name}: context.senderIndex must be an integer >= 0, got ${sender}`,
    )
  }
}
