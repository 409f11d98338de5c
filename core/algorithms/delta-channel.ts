/**
 * One worker's compressed outgoing channel plus the decoder for its peers' payloads.
 *
 * Outgoing (compression compensation, ALGORITHMS.md §2; OLCO3's "compression compensation"):
 *   p = v + e;  payload = C(p);  sent = decode(payload);  e ← p − sent.
 * `sent` is what every receiver decodes from `payload`, bit for bit, so a worker averages its
 * own contribution exactly as its peers see it, and all workers that average the same set of
 * payloads in the same order end up with identical vectors. With error feedback off, e stays 0
 * (plain compression). A lossless compressor leaves e = 0 either way.
 *
 * Incoming: decodes a peer's payload into a caller buffer and checks it is finite; a malformed
 * or non-finite payload throws CoreError (ERR_BAD_MESSAGE / ERR_NON_FINITE) for the caller to
 * turn into a rejection.
 */
import { CoreError } from '../errors.ts'
import type { CompressContext, Compressor } from '../compress/compressor.ts'
import { ErrorFeedback } from '../compress/error-feedback.ts'
import { allFinite, firstNonFinite } from './vector-ops.ts'

export interface DeltaChannelOptions {
  readonly compressor: Compressor
  /** Ignored (no residual) for lossless compressors. */
  readonly errorFeedback: boolean
  readonly seed: number
  readonly workerIndex: number
}

export class DeltaChannel {
  readonly compressor: Compressor
  private readonly seed: number
  private readonly workerIndex: number
  private readonly size: number
  /** Error-feedback memory (core/compress), or null for plain compression. */
  private readonly feedback: ErrorFeedback | null
  private readonly sent: Float32Array

  constructor(options: DeltaChannelOptions) {
    this.compressor = options.compressor
    this.seed = options.seed
    this.workerIndex = options.workerIndex
    this.size = options.compressor.layout.totalSize
    this.feedback =
      options.errorFeedback && !options.compressor.isLossless
        ? new ErrorFeedback({ compressor: options.compressor, size: this.size })
        : null
    this.sent = new Float32Array(this.size)
  }

  get hasErrorFeedback(): boolean {
    return this.feedback !== null
  }

  private context(round: number, sender: number): CompressContext {
    return { seed: this.seed, round, senderIndex: sender }
  }

  /**
   * Compresses `v` (plus the residual) for `round`. Returns a payload copy the caller owns and
   * `sent`, the decoded transmitted vector (an internal buffer, valid until the next call).
   * Fails with ERR_NON_FINITE when `v` holds NaN/Inf; the residual is then left unchanged.
   */
  encode(v: Float32Array, round: number): { payload: Uint8Array; sent: Float32Array } {
    const bad = firstNonFinite(v)
    if (bad >= 0) {
      throw new CoreError(
        'ERR_NON_FINITE',
        `the local vector of round ${round} holds ${v[bad]} at index ${bad}`,
      )
    }
    const ctx = this.context(round, this.workerIndex)
    if (this.feedback !== null) {
      const out = this.feedback.compress(v, ctx)
      return { payload: out.payload.slice(), sent: out.sent }
    }
    const payload = this.compressor.compress(v, ctx).slice()
    this.compressor.decompress(payload, this.sent, ctx)
    return { payload, sent: this.sent }
  }

  /** Decodes a payload written by worker `sender` for `round` into `out` and checks it is finite. */
  decode(payload: Uint8Array, round: number, sender: number, out: Float32Array): void {
    this.compressor.decompress(payload, out, this.context(round, sender))
    if (!allFinite(out)) {
      throw new CoreError(
        'ERR_NON_FINITE',
        `payload of round ${round} from worker ${sender} decodes to non-finite values`,
      )
    }
  }

  /** A copy of the residual e (zeros without error feedback). */
  exportResidual(): Float32Array {
    return this.feedback?.exportState() ?? new Float32Array(this.size)
  }

  /** Restores a residual; CoreError('ERR_BAD_CHECKPOINT') when it does not fit or is not finite. */
  importResidual(residual: Float32Array): void {
    if (this.feedback !== null) this.feedback.importState(residual)
    else if (residual.some((v) => v !== 0)) {
      throw new CoreError('ERR_BAD_CHECKPOINT', 'a residual was saved but this channel has no error feedback')
    }
  }

  /** Forgets the residual (after an exact average absorbed it, or on a fresh start). */
  resetResidual(): void {
    this.feedback?.reset()
  }
}
