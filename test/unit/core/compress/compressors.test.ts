/**
 * The contract every compressor shares (core/compress/compressor.ts), run over all of them:
 * round trip through a fresh receiver, NaN/Inf rejection, payload validation, buffer reuse.
 * Per-compressor numerics live in each compressor's own test file.
 */
import { describe, expect, it } from 'vitest'
import type { Compressor } from '../../../../core/compress/compressor.ts'
import { ErrorFeedback } from '../../../../core/compress/error-feedback.ts'
import { createCompressor } from '../../../../core/compress/registry.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { ALL_SPECS, CONTEXT, modelLayout, normalVector } from './helpers.ts'

const layout = modelLayout()
const d = layout.totalSize

function make(spec: string): Compressor {
  return createCompressor(spec, layout)
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return isCoreError(error) ? error.code : `not a CoreError: ${String(error)}`
  }
  return undefined
}

const TYPED_ARRAY_NAMES = [
  'ArrayBuffer',
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Uint8Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
] as const

/** Runs fn with the typed-array constructors wrapped; counts allocations of >= minLength elements. */
function countAllocations(minLength: number, fn: () => void): number {
  const originals = TYPED_ARRAY_NAMES.map((name) => [name, Reflect.get(globalThis, name) as object] as const)
  let count = 0
  for (const [name, original] of originals) {
    const wrapped = new Proxy(original, {
      construct(target, args: unknown[], newTarget) {
        if (typeof args[0] === 'number' && args[0] >= minLength) count++
        return Reflect.construct(target as new (...a: unknown[]) => object, args, newTarget) as object
      },
    })
    Reflect.set(globalThis, name, wrapped)
  }
  try {
    fn()
  } finally {
    for (const [name, original] of originals) Reflect.set(globalThis, name, original)
  }
  return count
}

describe.each(ALL_SPECS)('compressor %s', (spec) => {
  const input = normalVector(d, 1)

  it('decodes the same values in a fresh receiver as in the sender when the payload is copied', () => {
    const sender = make(spec)
    const payload = sender.compress(input, CONTEXT).slice()
    const atSender = new Float32Array(d)
    const atReceiver = new Float32Array(d).fill(123)
    sender.decompress(payload, atSender, CONTEXT)
    make(spec).decompress(payload, atReceiver, CONTEXT)
    expect(atReceiver).toEqual(atSender)
    expect(atReceiver.every((v) => Number.isFinite(v))).toBe(true)
  })

  it('writes the same payload bytes when two instances compress the same input and context', () => {
    expect(make(spec).compress(input, CONTEXT)).toEqual(make(spec).compress(input, CONTEXT))
  })

  it('reports its wire size in lastPayloadBytes when it compresses', () => {
    const compressor = make(spec)
    expect(compressor.lastPayloadBytes).toBe(0)
    const payload = compressor.compress(input, CONTEXT)
    expect(compressor.lastPayloadBytes).toBe(payload.length)
    expect(payload[0]).toBe(compressor.wireId)
  })

  it.each([
    ['NaN', NaN, 0],
    ['+Infinity', Infinity, 700],
    ['-Infinity', -Infinity, d - 1],
  ])('refuses to encode %s (at index %i) with ERR_NON_FINITE', (_name, bad, at) => {
    const values = input.slice()
    values[at] = bad
    expect(codeOf(() => make(spec).compress(values, CONTEXT))).toBe('ERR_NON_FINITE')
  })

  it('throws ERR_SHAPE_MISMATCH when the input or output size is not the layout size', () => {
    const compressor = make(spec)
    expect(codeOf(() => compressor.compress(new Float32Array(d - 1), CONTEXT))).toBe('ERR_SHAPE_MISMATCH')
    const payload = compressor.compress(input, CONTEXT)
    expect(codeOf(() => compressor.decompress(payload, new Float32Array(d + 1), CONTEXT))).toBe(
      'ERR_SHAPE_MISMATCH',
    )
  })

  it('decodes a payload that starts at an odd byte offset when it was sliced out of a frame', () => {
    const compressor = make(spec)
    const payload = compressor.compress(input, CONTEXT)
    const frame = new Uint8Array(payload.length + 3)
    frame.set(payload, 1)
    const unaligned = frame.subarray(1, 1 + payload.length)
    const expected = new Float32Array(d)
    const actual = new Float32Array(d)
    compressor.decompress(payload.slice(), expected, CONTEXT)
    make(spec).decompress(unaligned, actual, CONTEXT)
    expect(actual).toEqual(expected)
  })

  describe('payload validation', () => {
    const compressor = make(spec)
    const good = compressor.compress(input, CONTEXT).slice()
    const decode = (payload: Uint8Array): string | undefined =>
      codeOf(() => make(spec).decompress(payload, new Float32Array(d), CONTEXT))
    const mutated = (change: (p: Uint8Array) => void): Uint8Array => {
      const copy = good.slice()
      change(copy)
      return copy
    }

    it('accepts the unmodified payload', () => {
      expect(decode(good)).toBeUndefined()
    })

    it('rejects a truncated payload with ERR_BAD_MESSAGE', () => {
      expect(decode(good.subarray(0, good.length - 1))).toBe('ERR_BAD_MESSAGE')
      expect(decode(good.subarray(0, 5))).toBe('ERR_BAD_MESSAGE')
      expect(decode(new Uint8Array(0))).toBe('ERR_BAD_MESSAGE')
    })

    it('rejects a payload with a trailing byte with ERR_BAD_MESSAGE', () => {
      const longer = new Uint8Array(good.length + 1)
      longer.set(good)
      expect(decode(longer)).toBe('ERR_BAD_MESSAGE')
    })

    it('rejects another wire id, version, reserved bits or d with ERR_BAD_MESSAGE', () => {
      expect(decode(mutated((p) => (p[0] = (p[0]! % 8) + 1)))).toBe('ERR_BAD_MESSAGE')
      expect(decode(mutated((p) => (p[1] = p[1]! + 1)))).toBe('ERR_BAD_MESSAGE')
      expect(decode(mutated((p) => (p[3] = 1)))).toBe('ERR_BAD_MESSAGE')
      expect(decode(mutated((p) => (p[4] = p[4]! ^ 1)))).toBe('ERR_BAD_MESSAGE')
    })
  })

  it('returns its one payload buffer on every call when it compresses repeatedly', () => {
    const compressor = make(spec)
    const first = compressor.compress(input, CONTEXT)
    const second = compressor.compress(normalVector(d, 2), { ...CONTEXT, round: 4 })
    expect(second.buffer).toBe(first.buffer)
  })

  it('allocates no buffer of d/8 or more elements per call after warm-up, with or without error feedback', () => {
    const compressor = make(spec)
    const feedback = new ErrorFeedback({ compressor: make(spec), size: d })
    const out = new Float32Array(d)
    const run = (round: number): void => {
      const context = { ...CONTEXT, round }
      compressor.decompress(compressor.compress(input, context), out, context)
      feedback.compress(input, context)
    }
    run(0)
    expect(countAllocations(Math.floor(d / 8), () => [1, 2, 3].forEach(run))).toBe(0)
    // The counter itself works: an allocation of d floats is seen.
    expect(countAllocations(Math.floor(d / 8), () => new Float32Array(d))).toBe(1)
  })
})
