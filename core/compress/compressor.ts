/**
 * The one interface every compressor implements. A compressor turns a flat Float32Array
 * (a round delta, already including error-feedback residual) into a wire payload, and a
 * payload back into a dense vector written into a caller-provided buffer.
 *
 * Contract:
 * - `compress` rejects NaN/Inf input with CoreError('ERR_NON_FINITE'); it never encodes them.
 * - The returned payload may be a view into an internal buffer that is reused on the next
 *   call (no d-sized allocation per call after warm-up): copy it if you keep it.
 * - `decompress` validates the payload (lengths, indices, counts) and throws
 *   CoreError('ERR_BAD_MESSAGE') on anything malformed; it overwrites all of `out`. After a
 *   throw, `out` may have been partly written: discard it.
 * - Wrong-sized `values` or `out` (not `layout.totalSize`) throw CoreError('ERR_SHAPE_MISMATCH').
 * - Every parameter a receiver needs (k, levels, block size, rank) travels in the payload, so any
 *   instance of the same family and layout decodes any payload of that family.
 * - `context.round` and `context.seed` make seeded compressors (random-k, QSGD's stochastic
 *   rounding) reproducible and let both ends derive the same random indices.
 */
import type { ParamLayout } from '../tensor/param-layout.ts'

export interface CompressContext {
  /** Shared by every peer of a room: derived from the room seed. */
  readonly seed: number
  /** The round (or step) this payload belongs to. */
  readonly round: number
  /** This sender's index, so per-sender randomness (QSGD rounding) differs between peers. */
  readonly senderIndex?: number
}

export interface Compressor {
  /** Canonical spec string, e.g. `topk:0.01`. */
  readonly spec: string
  /** Stable small integer written into frame headers; see COMPRESSOR_WIRE_IDS. */
  readonly wireId: number
  /** The parameter layout this instance was configured for (PowerSGD needs the matrix shapes). */
  readonly layout: ParamLayout
  compress(values: Float32Array, context: CompressContext): Uint8Array
  decompress(payload: Uint8Array, out: Float32Array, context: CompressContext): void
  /** Wire bytes the last `compress` produced. */
  readonly lastPayloadBytes: number
  /** True when decompress(compress(x)) === x bit for bit (no error feedback needed). */
  readonly isLossless: boolean
  /** True when E[decompress(compress(x))] = x over the compressor's seeded randomness. */
  readonly isUnbiased: boolean
}
