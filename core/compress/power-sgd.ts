/**
 * `powersgd:<rank>`: PowerSGD (Vogels et al. 2019), one power-iteration step per round.
 *
 * Which tensors become matrices (from the ParamLayout): a tensor with ≥ 2 dims is the matrix
 * M with rows = shape[last] (the output units of a dense kernel [in, out] or a conv kernel
 * [kh, kw, in, out]) and cols = size / rows. The flat vector stores such a tensor row-major
 * over its shape, so M[o][a] = p[offset + a·rows + o]: column a of M is contiguous. A matrix
 * uses rank r_m = min(r, rows, cols); when (rows + cols)·r_m ≥ rows·cols the factors would be
 * no smaller than M and the tensor is sent raw instead. Tensors with < 2 dims (biases, norms,
 * scalars) are sent raw float32.
 *
 * Per matrix, with Q (cols × r_m) kept from the previous round (the warm start):
 *   P = M·Q;  orthonormalise P's columns (Gram–Schmidt, run twice for stability, in double);
 *   round P to float32;  Q = Mᵀ·P;  send P and Q;  the receiver reconstructs c = P·Qᵀ.
 * A column of P that is numerically zero after orthogonalisation (M has rank < r_m) is sent
 * as zeros; its warm-start column is redrawn at random so the next round can use it.
 *
 * State and lockstep: the warm-start Q is the SENDER's state only. P and Q both travel in the
 * payload, so the receiver needs no state and peers never have to run in lockstep; a receiver
 * decodes any sender's payload with its own instance. Checkpoint the sender state with
 * exportState()/importState(). Error feedback (error-feedback.ts) carries M − c to the next round.
 * Reconstruction sums Σ_j P[o][j]·Q[a][j] in double in j order and rounds once to float32:
 * the same bits on every runtime, so the sender's decoded c equals what peers apply.
 *
 * Wire layout (little-endian):
 *   0    common header (wire-format.ts), d = entries
 *   8    u32   r, the requested rank (1 ≤ r ≤ POWER_SGD_MAX_RANK)
 *   12   u32   number of layout entries (must equal the receiver's layout)
 *   16   for each layout entry, in layout order, f32 values:
 *          raw tensor: its `size` values in flat order
 *          matrix:     P as r_m columns of `rows` values, then Q as r_m columns of `cols` values
 *        every value finite
 * Total: 16 + 4 · Σ (raw ? size : (rows + cols)·r_m) bytes.
 */
import { CoreError } from '../errors.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { CompressContext, Compressor } from './compressor.ts'
import { PRNG_STREAMS, Xoshiro128 } from './prng.ts'
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
  getU32,
  readHeader,
  requireLittleEndian,
  setU32,
  writeHeader,
} from './wire-format.ts'

export const POWER_SGD_MIN_RANK = 1
export const POWER_SGD_MAX_RANK = 1024
const VALUES_OFFSET = HEADER_BYTES + 8
/** A column whose norm shrank below this fraction during orthogonalisation is dependent. */
const DEPENDENT_COLUMN_RATIO = 1e-6

interface TensorPlan {
  readonly offset: number
  readonly size: number
  /** 0 for tensors sent raw. */
  readonly rows: number
  readonly cols: number
}

/** Rank used for a rows × cols matrix at requested rank r; 0 means "send it raw". */
export function powerSgdMatrixRank(rows: number, cols: number, rank: number): number {
  const r = Math.min(rank, rows, cols)
  return (rows + cols) * r >= rows * cols ? 0 : r
}

function planTensors(layout: ParamLayout): TensorPlan[] {
  return layout.entries.map((entry) => {
    const last = entry.shape[entry.shape.length - 1] ?? 0
    if (entry.shape.length < 2 || entry.size === 0) {
      return { offset: entry.offset, size: entry.size, rows: 0, cols: 0 }
    }
    return { offset: entry.offset, size: entry.size, rows: last, cols: entry.size / last }
  })
}

/** Floats a payload carries for a layout at requested rank r. */
function payloadFloats(plans: readonly TensorPlan[], rank: number): number {
  let total = 0
  for (const plan of plans) {
    const r = plan.rows === 0 ? 0 : powerSgdMatrixRank(plan.rows, plan.cols, rank)
    total += r === 0 ? plan.size : (plan.rows + plan.cols) * r
  }
  return total
}

export interface PowerSgdCompressorOptions {
  readonly layout: ParamLayout
  /** Requested rank r in [1, POWER_SGD_MAX_RANK]. Higher: more accurate, more bytes. */
  readonly rank: number
  /** Seeds the initial random Q (sender-local; any value works). Default 0. */
  readonly seed?: number
}

/** Low-rank P·Qᵀ transport per weight matrix, with a warm-started Q; biases sent raw. */
export class PowerSgdCompressor implements Compressor {
  readonly spec: string
  readonly wireId = COMPRESSOR_WIRE_IDS.powersgd
  readonly layout: ParamLayout
  readonly isLossless: boolean
  readonly isUnbiased = false
  readonly rank: number
  lastPayloadBytes = 0
  private readonly plans: readonly TensorPlan[]
  /** Per plan: the warm-start Q (cols × r_m, column-major), or undefined for raw tensors. */
  private readonly warmQ: ReadonlyArray<Float32Array | undefined>
  private readonly payload: Uint8Array
  private readonly payloadValues: Float32Array
  private readonly p64: Float64Array
  private readonly row64: Float64Array
  private readonly rng: Xoshiro128
  /** Where each matrix's Q starts in the payload floats of the current compress. */
  private readonly qOffsets: Int32Array
  private readonly aligner = new PayloadAligner()

  constructor(options: PowerSgdCompressorOptions) {
    requireLittleEndian()
    const rank = options.rank
    if (!Number.isInteger(rank) || rank < POWER_SGD_MIN_RANK || rank > POWER_SGD_MAX_RANK) {
      throw new CoreError(
        'ERR_BAD_SPEC',
        `powersgd rank must be an integer in [${POWER_SGD_MIN_RANK}, ${POWER_SGD_MAX_RANK}], got ${rank}`,
      )
    }
    this.rank = rank
    this.spec = `powersgd:${rank}`
    this.layout = options.layout
    this.plans = planTensors(options.layout)
    this.rng = new Xoshiro128(PRNG_STREAMS.powerSgdInit, options.seed ?? 0)
    let maxP = 0
    let maxRows = 0
    this.warmQ = this.plans.map((plan) => {
      const r = plan.rows === 0 ? 0 : powerSgdMatrixRank(plan.rows, plan.cols, rank)
      if (r === 0) return undefined
      maxP = Math.max(maxP, plan.rows * r)
      maxRows = Math.max(maxRows, plan.rows)
      const q = new Float32Array(plan.cols * r)
      for (let i = 0; i < q.length; i++) q[i] = this.rng.nextFloat() * 2 - 1
      return q
    })
    this.qOffsets = new Int32Array(this.plans.length)
    this.isLossless = this.warmQ.every((q) => q === undefined)
    this.p64 = new Float64Array(maxP)
    this.row64 = new Float64Array(maxRows)
    const floats = payloadFloats(this.plans, rank)
    this.payload = new Uint8Array(VALUES_OFFSET + 4 * floats)
    this.payloadValues = f32View(this.payload, VALUES_OFFSET, floats)
  }

  compress(values: Float32Array, _context: CompressContext): Uint8Array {
    checkInputSize(this.spec, this.layout, values)
    assertAllFinite(this.spec, values)
    const floats = this.payloadValues
    let f = 0
    for (let t = 0; t < this.plans.length; t++) {
      const plan = this.plans[t]!
      const q = this.warmQ[t]
      if (q === undefined) {
        floats.set(values.subarray(plan.offset, plan.offset + plan.size), f)
        f += plan.size
        continue
      }
      const { offset, rows, cols } = plan
      const r = q.length / cols
      // P = M·Q, accumulated column by column of M (contiguous in `values`).
      const p = this.p64
      p.fill(0, 0, rows * r)
      for (let a = 0; a < cols; a++) {
        const base = offset + a * rows
        for (let j = 0; j < r; j++) {
          const qa = q[j * cols + a]!
          if (qa === 0) continue
          const pj = j * rows
          addScaled(p, pj, values, base, qa, rows)
        }
      }
      orthonormaliseColumns(p, rows, r)
      const pAt = f
      for (let i = 0; i < rows * r; i++) floats[pAt + i] = p[i]!
      f += rows * r
      // Q = Mᵀ·P with the float32 P that is sent, so P·Qᵀ is the projection of M onto it.
      const qAt = f
      let check = 0
      for (let a = 0; a < cols; a++) {
        const base = offset + a * rows
        for (let j = 0; j < r; j++) {
          const pj = pAt + j * rows
          floats[qAt + j * cols + a] = dot(values, base, floats, pj, rows)
          check += floats[qAt + j * cols + a]! * 0
        }
      }
      // Entries near float32's limit can make a column norm of M overflow float32.
      if (check !== 0) throw new CoreError('ERR_NON_FINITE', `${this.spec}: Mᵀ·P overflows float32`)
      f += cols * r
      this.qOffsets[t] = qAt
    }
    // Only now, with the whole payload valid, move the warm starts on: a throw above leaves
    // the sender's state as it was.
    for (let t = 0; t < this.plans.length; t++) {
      const q = this.warmQ[t]
      if (q === undefined) continue
      const cols = this.plans[t]!.cols
      const qAt = this.qOffsets[t]!
      q.set(floats.subarray(qAt, qAt + q.length))
      this.redrawZeroColumns(q, cols, q.length / cols)
    }
    const payload = this.payload
    writeHeader(payload, this.wireId, values.length)
    setU32(payload, HEADER_BYTES, this.rank)
    setU32(payload, HEADER_BYTES + 4, this.plans.length)
    this.lastPayloadBytes = payload.length
    return payload
  }

  /** A zero warm-start column stays zero forever (P = M·0); give it a fresh random direction. */
  private redrawZeroColumns(q: Float32Array, cols: number, r: number): void {
    for (let j = 0; j < r; j++) {
      let isZero = true
      for (let a = j * cols; a < (j + 1) * cols; a++) {
        if (q[a] !== 0) {
          isZero = false
          break
        }
      }
      if (isZero) for (let a = j * cols; a < (j + 1) * cols; a++) q[a] = this.rng.nextFloat() * 2 - 1
    }
  }

  decompress(payload: Uint8Array, out: Float32Array, _context: CompressContext): void {
    checkOutputSize(this.spec, this.layout, out)
    readHeader(payload, this.spec, this.wireId, out.length, VALUES_OFFSET)
    const rank = getU32(payload, HEADER_BYTES)
    if (rank < POWER_SGD_MIN_RANK || rank > POWER_SGD_MAX_RANK) {
      throw badMessage(this.spec, `rank ${rank} outside [${POWER_SGD_MIN_RANK}, ${POWER_SGD_MAX_RANK}]`)
    }
    const entryCount = getU32(payload, HEADER_BYTES + 4)
    if (entryCount !== this.plans.length) {
      throw badMessage(this.spec, `${entryCount} tensors but this layout has ${this.plans.length}`)
    }
    const floatCount = payloadFloats(this.plans, rank)
    expectLength(payload, this.spec, VALUES_OFFSET + 4 * floatCount)
    const floats = f32View(this.aligner.align(payload), VALUES_OFFSET, floatCount)
    const bad = firstNonFinite(floats)
    if (bad >= 0) throw badMessage(this.spec, `value ${floats[bad]} at float ${bad} is not finite`)
    let f = 0
    for (const plan of this.plans) {
      const r = plan.rows === 0 ? 0 : powerSgdMatrixRank(plan.rows, plan.cols, rank)
      if (r === 0) {
        out.set(floats.subarray(f, f + plan.size), plan.offset)
        f += plan.size
        continue
      }
      const { offset, rows, cols } = plan
      const pAt = f
      const qAt = f + rows * r
      const acc = this.row64
      for (let a = 0; a < cols; a++) {
        acc.fill(0, 0, rows)
        for (let j = 0; j < r; j++) {
          const qa = floats[qAt + j * cols + a]!
          const pj = pAt + j * rows
          addScaled(acc, 0, floats, pj, qa, rows)
        }
        const base = offset + a * rows
        for (let o = 0; o < rows; o++) out[base + o] = acc[o]!
      }
      f = qAt + cols * r
    }
  }

  /** The sender's warm-start Q of every matrix, concatenated in layout order (a copy). */
  exportState(): Float32Array {
    const total = this.warmQ.reduce((sum, q) => sum + (q?.length ?? 0), 0)
    const state = new Float32Array(total)
    let at = 0
    for (const q of this.warmQ) {
      if (q === undefined) continue
      state.set(q, at)
      at += q.length
    }
    return state
  }

  /**
   * Restores `exportState()` output of an instance with the same layout and rank. Throws
   * CoreError('ERR_BAD_CHECKPOINT') for a wrong length or non-finite values.
   */
  importState(state: Float32Array): void {
    const total = this.warmQ.reduce((sum, q) => sum + (q?.length ?? 0), 0)
    if (state.length !== total) {
      throw new CoreError(
        'ERR_BAD_CHECKPOINT',
        `${this.spec} state has ${state.length} values, expected ${total}`,
      )
    }
    if (firstNonFinite(state) >= 0)
      throw new CoreError('ERR_BAD_CHECKPOINT', `${this.spec} state is not finite`)
    let at = 0
    for (const q of this.warmQ) {
      if (q === undefined) continue
      q.set(state.subarray(at, at + q.length))
      at += q.length
    }
  }
}

/**
 * Gram–Schmidt on the r columns (each `rows` long, contiguous) of `p`, in place, run twice
 * per column ("twice is enough", Giraud et al. 2005). Dependent columns become zero.
 */
function orthonormaliseColumns(p: Float64Array, rows: number, r: number): void {
  for (let j = 0; j < r; j++) {
    const cj = j * rows
    let before = 0
    for (let o = 0; o < rows; o++) before += p[cj + o]! * p[cj + o]!
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        const ci = i * rows
        let dot = 0
        for (let o = 0; o < rows; o++) dot += p[ci + o]! * p[cj + o]!
        if (dot !== 0) for (let o = 0; o < rows; o++) p[cj + o]! -= dot * p[ci + o]!
      }
    }
    let after = 0
    for (let o = 0; o < rows; o++) after += p[cj + o]! * p[cj + o]!
    const norm = Math.sqrt(after)
    if (after > 0 && norm > DEPENDENT_COLUMN_RATIO * Math.sqrt(before)) {
      const inverse = 1 / norm
      for (let o = 0; o < rows; o++) p[cj + o]! *= inverse
    } else {
      p.fill(0, cj, cj + rows)
    }
  }
}

// Column kernels as small functions, called per column: see KERNEL_CHUNK in wire-format.ts.

/** target[at + o] += source[from + o] · scale for o < count, in double. */
function addScaled(
  target: Float64Array,
  at: number,
  source: Float32Array,
  from: number,
  scale: number,
  count: number,
): void {
  for (let o = 0; o < count; o++) target[at + o]! += source[from + o]! * scale
}

function dot(a: Float32Array, aFrom: number, b: Float32Array, bFrom: number, count: number): number {
  let sum = 0
  for (let o = 0; o < count; o++) sum += a[aFrom + o]! * b[bFrom + o]!
  return sum
}
