/**
 * Error feedback (compression compensation) around any compressor, as in ALGORITHMS.md §2:
 *
 *   p = delta + e;   c = C(p);   e ← p − c;   send c.
 *
 * c is obtained by decoding the payload that is actually sent, with the same code the
 * receivers run, so `sent` is exactly what peers will apply and the residual is exactly what
 * was left out. All three vectors are float32, each entry rounded once:
 *   p_j = fl32(delta_j + e_j),   e'_j = fl32(p_j − c_j).
 * Hence sent_j + e'_j = p_j holds exactly whenever p_j − c_j is representable in float32,
 * which (Sterbenz) covers every entry with c_j = 0 or c_j within a factor 2 of p_j: always for
 * none, fp16 (in range), int8, top-k and unscaled random-k. For sign, QSGD, PowerSGD and
 * scaled random-k, c_j can be far from p_j; the residual is then the correctly rounded
 * float32 difference and sent_j + e'_j differs from p_j by at most half an ulp of e'_j.
 * No float32 residual can do better there: the exact difference needs more bits.
 *
 * Buffers: the residual, p and the decoded c are allocated once (3 × size float32) and
 * reused; `sent` and `payload` are views that the next call overwrites.
 */
import { CoreError } from '../errors.ts'
import type { CompressContext, Compressor } from './compressor.ts'
import { KERNEL_CHUNK, firstNonFinite } from './wire-format.ts'

export interface ErrorFeedbackOptions {
  readonly compressor: Compressor
  /** Vector length; must equal `compressor.layout.totalSize`. */
  readonly size: number
}

export interface ErrorFeedbackOutput {
  /** The wire payload (a view into the compressor's buffer, overwritten by the next call). */
  readonly payload: Uint8Array
  /** c = decode(payload): what every receiver reconstructs (overwritten by the next call). */
  readonly sent: Float32Array
}

/** Error-feedback memory usable with every compressor; see the module comment. */
export class ErrorFeedback {
  readonly compressor: Compressor
  readonly size: number
  private readonly memory: Float32Array
  private readonly corrected: Float32Array
  private readonly decoded: Float32Array

  constructor(options: ErrorFeedbackOptions) {
    const { compressor, size } = options
    if (!Number.isInteger(size) || size !== compressor.layout.totalSize) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `error feedback size ${size} does not match the ${compressor.spec} layout's ${compressor.layout.totalSize}`,
      )
    }
    this.compressor = compressor
    this.size = size
    this.memory = new Float32Array(size)
    this.corrected = new Float32Array(size)
    this.decoded = new Float32Array(size)
  }

  /**
   * Compresses delta + residual, updates the residual to what was not sent, and returns the
   * payload and its decoded value. Throws CoreError('ERR_SHAPE_MISMATCH') for a wrong-sized
   * delta and CoreError('ERR_NON_FINITE') when delta + residual is not finite; the residual is
   * unchanged after any throw.
   */
  compress(delta: Float32Array, context: CompressContext): ErrorFeedbackOutput {
    if (delta.length !== this.size) {
      throw new CoreError(
        'ERR_SHAPE_MISMATCH',
        `error feedback: delta has ${delta.length} values, expected ${this.size}`,
      )
    }
    const e = this.memory
    const p = this.corrected
    const c = this.decoded
    const n = this.size
    for (let start = 0; start < n; start += KERNEL_CHUNK)
      add(delta, e, p, start, Math.min(n, start + KERNEL_CHUNK))
    const payload = this.compressor.compress(p, context)
    this.compressor.decompress(payload, c, context)
    for (let start = 0; start < n; start += KERNEL_CHUNK)
      subtract(p, c, e, start, Math.min(n, start + KERNEL_CHUNK))
    return { payload, sent: c }
  }

  /** The current residual e (a live view: read it, do not write it). */
  get residual(): Float32Array {
    return this.memory
  }

  /** Forgets the residual (e = 0), e.g. after a resynchronisation from a peer's model. */
  reset(): void {
    this.memory.fill(0)
  }

  /** A copy of the residual for checkpoints. */
  exportState(): Float32Array {
    return this.memory.slice()
  }

  /**
   * Restores a residual from `exportState()`. Throws CoreError('ERR_BAD_CHECKPOINT') when the
   * length differs or a value is not finite; the residual is unchanged then.
   */
  importState(state: Float32Array): void {
    if (state.length !== this.size) {
      throw new CoreError(
        'ERR_BAD_CHECKPOINT',
        `error-feedback state has ${state.length} values, expected ${this.size}`,
      )
    }
    const bad = firstNonFinite(state)
    if (bad >= 0)
      throw new CoreError('ERR_BAD_CHECKPOINT', `error-feedback state holds ${state[bad]} at index ${bad}`)
    this.memory.set(state)
  }
}

// Chunked kernels (see KERNEL_CHUNK): each store rounds to float32 once.
function add(a: Float32Array, b: Float32Array, out: Float32Array, start: number, end: number): void {
  for (let i = start; i < end; i++) out[i] = a[i]! + b[i]!
}

function subtract(a: Float32Array, b: Float32Array, out: Float32Array, start: number, end: number): void {
  for (let i = start; i < end; i++) out[i] = a[i]! - b[i]!
}
