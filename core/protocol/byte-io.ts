/**
 * Bounds-checked little-endian reading and writing for the protocol codecs.
 *
 * Invariant: a `ByteReader` never reads past its end and never allocates more than the
 * caller asked for after the length was checked against the bytes that are really there.
 * Every failure is `CoreError('ERR_BAD_MESSAGE')` naming what was being read, so decoders
 * built on it throw nothing else. `bytes()` returns views (no copies): decoded payloads
 * alias the frame they came from.
 */
import { CoreError } from '../errors.ts'

const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const UTF8_ENCODER = new TextEncoder()

export class ByteReader {
  private readonly view: DataView
  private offset = 0

  constructor(
    private readonly data: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  }

  get remaining(): number {
    return this.data.length - this.offset
  }

  private take(byteCount: number, field: string): number {
    if (byteCount > this.remaining) {
      throw new CoreError(
        'ERR_BAD_MESSAGE',
        `${this.what}: ${field} needs ${byteCount} bytes at offset ${this.offset} but only ${this.remaining} remain`,
      )
    }
    const at = this.offset
    this.offset += byteCount
    return at
  }

  u8(field: string): number {
    return this.view.getUint8(this.take(1, field))
  }

  u16(field: string): number {
    return this.view.getUint16(this.take(2, field), true)
  }

  u32(field: string): number {
    return this.view.getUint32(this.take(4, field), true)
  }

  /** A u64 that must fit a JS safe integer (2^53 - 1); larger values are refused. */
  u64(field: string): number {
    const at = this.take(8, field)
    const lo = this.view.getUint32(at, true)
    const hi = this.view.getUint32(at + 4, true)
    if (hi > 0x1fffff) throw new CoreError('ERR_BAD_MESSAGE', `${this.what}: ${field} exceeds 2^53 - 1`)
    return hi * 0x100000000 + lo
  }

  /** A finite f64 (NaN and Infinity are refused: no field of ours may hold them). */
  f64(field: string): number {
    const value = this.view.getFloat64(this.take(8, field), true)
    if (!Number.isFinite(value))
      throw new CoreError('ERR_BAD_MESSAGE', `${this.what}: ${field} is not finite`)
    return value
  }

  /** A view of the next `byteCount` bytes. */
  bytes(byteCount: number, field: string): Uint8Array {
    const at = this.take(byteCount, field)
    return this.data.subarray(at, at + byteCount)
  }

  /** Everything that is left, as a view. */
  rest(): Uint8Array {
    const at = this.offset
    this.offset = this.data.length
    return this.data.subarray(at)
  }

  /** Lower-case hex of the next `byteCount` bytes (fingerprints, hashes). */
  hex(byteCount: number, field: string): string {
    return bytesToHex(this.bytes(byteCount, field))
  }

  /**
   * A UTF-8 string behind a u8 (`prefixBytes` 1) or u16 (2) length, at most `maxBytes`
   * long. The length is checked against the limit and the remaining bytes before decoding.
   */
  string(prefixBytes: 1 | 2, maxBytes: number, field: string): string {
    const length = prefixBytes === 1 ? this.u8(`${field} length`) : this.u16(`${field} length`)
    if (length > maxBytes) {
      throw new CoreError(
        'ERR_BAD_MESSAGE',
        `${this.what}: ${field} is ${length} bytes, more than ${maxBytes}`,
      )
    }
    const raw = this.bytes(length, field)
    try {
      return UTF8_DECODER.decode(raw)
    } catch (cause) {
      throw new CoreError('ERR_BAD_MESSAGE', `${this.what}: ${field} is not valid UTF-8`, { cause })
    }
  }

  /** Fails unless every byte was consumed: trailing garbage is a malformed message. */
  end(): void {
    if (this.remaining !== 0) {
      throw new CoreError('ERR_BAD_MESSAGE', `${this.what}: ${this.remaining} unexpected trailing bytes`)
    }
  }
}

/**
 * Writes into a buffer of a size computed up front, so encoding allocates exactly once.
 * Overrunning it is a programmer mistake in an encoder, not a wire failure.
 */
export class ByteWriter {
  readonly data: Uint8Array
  private readonly view: DataView
  private offset = 0

  constructor(byteCount: number) {
    this.data = new Uint8Array(byteCount)
    this.view = new DataView(this.data.buffer)
  }

  get position(): number {
    return this.offset
  }

  u8(value: number): this {
    this.view.setUint8(this.offset, value)
    this.offset += 1
    return this
  }

  u16(value: number): this {
    this.view.setUint16(this.offset, value, true)
    this.offset += 2
    return this
  }

  u32(value: number): this {
    this.view.setUint32(this.offset, value, true)
    this.offset += 4
    return this
  }

  u64(value: number): this {
    this.view.setUint32(this.offset, value % 0x100000000, true)
    this.view.setUint32(this.offset + 4, Math.floor(value / 0x100000000), true)
    this.offset += 8
    return this
  }

  f64(value: number): this {
    this.view.setFloat64(this.offset, value, true)
    this.offset += 8
    return this
  }

  bytes(bytes: Uint8Array): this {
    this.data.set(bytes, this.offset)
    this.offset += bytes.length
    return this
  }

  /** Writes an already-encoded UTF-8 string behind its u8 or u16 length. */
  string(prefixBytes: 1 | 2, utf8: Uint8Array): this {
    if (prefixBytes === 1) this.u8(utf8.length)
    else this.u16(utf8.length)
    return this.bytes(utf8)
  }
}

export function utf8(text: string): Uint8Array {
  return UTF8_ENCODER.encode(text)
}

const HEX_DIGITS = '0123456789abcdef'

export function bytesToHex(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += HEX_DIGITS[b >>> 4]! + HEX_DIGITS[b & 0x0f]!
  return out
}

/**
 * Parses exactly `byteCount` bytes of lower- or upper-case hex. Fails with
 * ERR_INVALID_ARGUMENT: hex strings come from our own callers, not from the wire.
 */
export function hexToBytes(hex: string, byteCount: number, what: string): Uint8Array {
  const out = new Uint8Array(byteCount)
  let valid = hex.length === byteCount * 2
  for (let i = 0; valid && i < byteCount; i++) {
    const hi = hexValue(hex.charCodeAt(2 * i))
    const lo = hexValue(hex.charCodeAt(2 * i + 1))
    valid = hi >= 0 && lo >= 0
    out[i] = (hi << 4) | lo
  }
  if (!valid) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `${what} must be ${byteCount * 2} hex digits, got '${hex.slice(0, 40)}'`,
    )
  }
  return out
}

/** 0-15 for a hex digit's char code, -1 otherwise. */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  if (code >= 0x61 && code <= 0x66) return code - 0x57
  if (code >= 0x41 && code <= 0x46) return code - 0x37
  return -1
}
