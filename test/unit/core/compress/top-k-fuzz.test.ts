// Fuzz and property tests of the top-k decoder (wire format version 2, LEB128 index gaps).
// The contract: nothing but CoreError('ERR_BAD_MESSAGE') escapes, a rejected payload leaves
// the output untouched, every call returns promptly, and the decoder accepts exactly what the
// independent reference reader (top-k-reference.ts) accepts, with the same result.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TopKCompressor } from '../../../../core/compress/top-k.ts'
import { CoreError } from '../../../../core/errors.ts'
import { CONTEXT, flatLayout } from './helpers.ts'
import { decodeTopK, encodeTopK } from './top-k-reference.ts'

/** Multiply every run count, e.g. FUZZ_SCALE=50 for a deep local run; CI keeps 1. */
const SCALE = Math.max(1, Number(process.env['FUZZ_SCALE'] ?? 1) || 1)
const runs = (n: number): { numRuns: number } => ({ numRuns: n * SCALE })

/** A call that takes longer than this is treated as a hang (generous: the CPU is shared). */
const PROMPT_MS = 250
const SENTINEL = 7.25

/** What the compressor's decoder made of a payload: the vector, or the rejection. */
function decodeWithCompressor(d: number, payload: Uint8Array): Float32Array | CoreError {
  const out = new Float32Array(d).fill(SENTINEL)
  const start = performance.now()
  try {
    new TopKCompressor({ layout: flatLayout(d), ratio: 0.5 }).decompress(payload, out, CONTEXT)
    return out
  } catch (error) {
    if (!(error instanceof CoreError))
      throw new Error(`non-CoreError escaped: ${String(error)}`, { cause: error })
    expect(error.code).toBe('ERR_BAD_MESSAGE')
    expect(out.every((v) => v === SENTINEL)).toBe(true)
    return error
  } finally {
    expect(performance.now() - start).toBeLessThan(PROMPT_MS)
  }
}

/** The reference reader's dense result, or undefined when it refuses the payload. */
function decodeWithReference(d: number, payload: Uint8Array): Float32Array | undefined {
  let decoded
  try {
    decoded = decodeTopK(payload)
  } catch {
    return undefined
  }
  if (decoded.d !== d) return undefined
  const out = new Float32Array(d)
  decoded.indices.forEach((index, j) => (out[index] = decoded.values[j]!))
  return out
}

/** Position of the first entry that differs (Object.is), or -1; a plain loop, fast at d = 3000. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i
  return -1
}

/** Both decoders agree: same acceptance, same vector. */
function expectAgreement(d: number, payload: Uint8Array): void {
  const actual = decodeWithCompressor(d, payload)
  const expected = decodeWithReference(d, payload)
  if (expected === undefined) expect(actual).toBeInstanceOf(CoreError)
  else expect(actual instanceof Float32Array ? firstDifference(actual, expected) : actual).toBe(-1)
}

/** d, a strictly increasing index set below d, and finite float32 values for it. */
const sparseArb = fc
  .integer({ min: 1, max: 3000 })
  .chain((d) =>
    fc.tuple(
      fc.constant(d),
      fc.uniqueArray(fc.nat(d - 1), { maxLength: Math.min(d, 400) }).map((a) => a.sort((x, y) => x - y)),
    ),
  )
  .chain(([d, indices]) =>
    fc.tuple(
      fc.constant(d),
      fc.constant(indices),
      fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), {
        minLength: indices.length,
        maxLength: indices.length,
      }),
    ),
  )

/** A valid payload, then one of the edits a hostile or broken sender could make. */
const mutationArb = sparseArb.chain(([d, indices, values]) => {
  const payload = encodeTopK(d, indices, values)
  const at = fc.nat(payload.length - 1)
  const edit = fc.oneof(
    fc.tuple(at, fc.nat(255)).map(([i, byte]) => (p: Uint8Array) => {
      const q = p.slice()
      q[i] = byte
      return q
    }),
    fc.tuple(at, fc.nat(7)).map(([i, bit]) => (p: Uint8Array) => {
      const q = p.slice()
      q[i] = q[i]! ^ (1 << bit)
      return q
    }),
    at.map((n) => (p: Uint8Array) => p.slice(0, n)),
    fc
      .uint8Array({ minLength: 1, maxLength: 8 })
      .map((tail) => (p: Uint8Array) => Uint8Array.from([...p, ...tail])),
    fc.tuple(at, fc.uint8Array({ minLength: 1, maxLength: 6 })).map(([i, bytes]) => (p: Uint8Array) => {
      const q = [...p]
      q.splice(i, 0, ...bytes)
      return Uint8Array.from(q)
    }),
    fc.tuple(at, fc.integer({ min: 1, max: 6 })).map(([i, n]) => (p: Uint8Array) => {
      const q = [...p]
      q.splice(i, n)
      return Uint8Array.from(q)
    }),
    fc.nat(0xffffffff).map((k) => (p: Uint8Array) => {
      const q = p.slice()
      if (q.length >= 12) new DataView(q.buffer).setUint32(8, k, true)
      return q
    }),
  )
  // One to three edits in a row: some corruptions (a gap in a longer form, a value moved
  // across the padding) need more than one.
  const edits = fc.array(edit, { minLength: 1, maxLength: 3 }).map((list) => (p: Uint8Array) => {
    let q = p
    for (const change of list) if (q.length > 0) q = change(q)
    return q
  })
  return fc.tuple(fc.constant(d), fc.constant(payload), edits)
})

describe('top-k decoder (fuzz)', () => {
  it('decodes every valid payload to its indices and values, aligned or not', () => {
    fc.assert(
      fc.property(sparseArb, fc.nat(3), ([d, indices, values], shift) => {
        const payload = encodeTopK(d, indices, values)
        const frame = new Uint8Array(payload.length + shift)
        frame.set(payload, shift)
        const out = decodeWithCompressor(d, frame.subarray(shift))
        const expected = new Float32Array(d)
        indices.forEach((index, j) => (expected[index] = values[j]!))
        expect(out instanceof Float32Array ? firstDifference(out, expected) : out).toBe(-1)
      }),
      runs(300),
    )
  })

  it('decodes mutated payloads exactly as the reference reader does, or rejects them', () => {
    fc.assert(
      fc.property(mutationArb, ([d, payload, edit]) => expectAgreement(d, edit(payload))),
      runs(1000),
    )
  })

  it('rejects a gap written in a longer form than its shortest', () => {
    const longArb = sparseArb
      .filter(([, indices]) => indices.length > 0)
      .chain(([d, indices, values]) =>
        fc.tuple(
          fc.constant(d),
          fc.constant(encodeTopK(d, indices, values)),
          fc.nat(indices.length - 1),
          fc.integer({ min: 1, max: 5 }),
        ),
      )
    fc.assert(
      fc.property(longArb, ([d, valid, at, extra]) => {
        const indices = decodeTopK(valid).indices
        const values = decodeTopK(valid).values
        expect(decodeWithCompressor(d, encodeTopK(d, indices, values, { at, extra }))).toBeInstanceOf(
          CoreError,
        )
      }),
      runs(200),
    )
  })

  it('rejects arbitrary bytes after a plausible header unless the reference reader accepts them', () => {
    const headerArb = fc.record({
      d: fc.integer({ min: 1, max: 2000 }),
      k: fc.oneof(fc.nat(40), fc.nat(0xffffffff)),
      tail: fc.uint8Array({ maxLength: 300 }),
    })
    fc.assert(
      fc.property(headerArb, ({ d, k, tail }) => {
        const payload = new Uint8Array(12 + tail.length)
        payload.set([3, 2, 0, 0])
        new DataView(payload.buffer).setUint32(4, d, true)
        new DataView(payload.buffer).setUint32(8, k, true)
        payload.set(tail, 12)
        expectAgreement(d, payload)
      }),
      runs(1000),
    )
  })

  it('rejects completely random bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.uint8Array({ maxLength: 200 }), (d, bytes) =>
        expectAgreement(d, bytes),
      ),
      runs(300),
    )
  })

  it('rejects a huge claimed k quickly, before reading or allocating anything', () => {
    // k = d = 2^32 - 1 would need gigabytes; the length check refuses it from 12 bytes.
    const payload = Uint8Array.from([3, 2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    const compressor = new TopKCompressor({ layout: flatLayout(1000), ratio: 0.01 })
    expect(() => compressor.decompress(payload, new Float32Array(1000), CONTEXT)).toThrow(CoreError)
    payload.set([0xe8, 0x03, 0, 0], 4)
    expect(decodeWithCompressor(1000, payload)).toBeInstanceOf(CoreError)
  })
})
