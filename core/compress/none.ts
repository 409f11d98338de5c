/**
 * `none`: the uncompressed baseline, raw float32. Lossless.
 *
 * Wire layout (little-endian):
 *   0   common header (wire-format.ts), d = entries
 *   8   d × f32   the values, bit for bit
 * Total: 8 + 4d bytes.
 */
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { CompressContext, Compressor } from './compressor.ts'
import {
  COMPRESSOR_WIRE_IDS,
  HEADER_BYTES,
  PayloadAligner,
  assertAllFinite,
  badMessage,
  checkInputSize,
  checkOutputSize,
  expectLength,
  f32View,
  firstNonFinite,
  readHeader,
  requireLittleEndian,
  writeHeader,
} from './wire-format.ts'

export interface NoCompressorOptions {
  readonly layout: ParamLayout
}

/** Sends the float32 vector as it is; the reference every other compressor is compared to. */
export class NoCompressor implements Compressor {
  readonly spec = 'none'
  readonly wireId = COMPRESSOR_WIRE_IDS.none
  readonly layout: ParamLayout
  readonly isLossless = true
  readonly isUnbiased = true
  lastPayloadBytes = 0
  private readonly payload: Uint8Array
  private readonly payloadValues: Float32Array
  private readonly aligner = new PayloadAligner()

  constructor(options: NoCompressorOptions) {
    requireLittleEndian()
    this.layout = options.layout
    const d = options.layout.totalSize
    this.payload = new Uint8Array(HEADER_BYTES + 4 * d)
    this.payloadValues = f32View(this.payload, HEADER_BYTES, d)
  }

  compress(values: Float32Array, _context: CompressContext): Uint8Array {
    checkInputSize(this.spec, this.layout, values)
    assertAllFinite(this.spec, values)
    writeHeader(this.payload, this.wireId, values.length)
    this.payloadValues.set(values)
    this.lastPayloadBytes = this.payload.length
    return this.payload
  }

  decompress(payload: Uint8Array, out: Float32Array, _context: CompressContext): void {
    checkOutputSize(this.spec, this.layout, out)
    const d = out.length
    readHeader(payload, this.spec, this.wireId, d, HEADER_BYTES)
    expectLength(payload, this.spec, HEADER_BYTES + 4 * d)
    out.set(f32View(this.aligner.align(payload), HEADER_BYTES, d))
    const bad = firstNonFinite(out)
    if (bad >= 0) throw badMessage(this.spec, `value ${out[bad]} at index ${bad} is not finite`)
  }
}
