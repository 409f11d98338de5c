/**
 * The WebAssembly SIMD kernels against the scalar reference: for every input the two paths must
 * give the same payload bytes, the same decoded bits and the same errors. Property tests over
 * random vectors (edge values: ±0, subnormals, tiny and huge magnitudes, binary16 boundaries and
 * ties; lengths that are not multiples of the vector widths) plus long vectors that cross the
 * 16384-entry summation chunks.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { CompressContext, Compressor } from '../../../../../core/compress/compressor.ts'
import { Float16Compressor } from '../../../../../core/compress/float16.ts'
import { Int8BlockwiseCompressor } from '../../../../../core/compress/int8-blockwise.ts'
import type { KernelPath } from '../../../../../core/compress/kernels/wasm-kernel.ts'
import { Xoshiro128 } from '../../../../../core/compress/prng.ts'
import { QsgdCompressor } from '../../../../../core/compress/qsgd.ts'
import { ScaledSignCompressor } from '../../../../../core/compress/scaled-sign.ts'
import { isCoreError } from '../../../../../core/errors.ts'
import { flatLayout } from '../helpers.ts'

type Make = (d: number, kernels: KernelPath) => Compressor & { readonly kernelPath: KernelPath }

const FAMILIES: ReadonlyArray<readonly [string, Make]> = [
  ['fp16', (d, kernels) => new Float16Compressor({ layout: flatLayout(d), kernels })],
  ['int8', (d, kernels) => new Int8BlockwiseCompressor({ layout: flatLayout(d), kernels })],
  ['int8:5', (d, kernels) => new Int8BlockwiseCompressor({ layout: flatLayout(d), blockSize: 5, kernels })],
  ['int8:37', (d, kernels) => new Int8BlockwiseCompressor({ layout: flatLayout(d), blockSize: 37, kernels })],
  ['sign', (d, kernels) => new ScaledSignCompressor({ layout: flatLayout(d), kernels })],
  ...[1, 3, 7, 100, 127, 128, 32767].map(
    (levels) =>
      [
        `qsgd:${levels}`,
        (d: number, kernels: KernelPath) => new QsgdCompressor({ layout: flatLayout(d), levels, kernels }),
      ] as const,
  ),
]

const F32_MAX = 3.4028234663852886e38
const EDGE_VALUES = [
  0,
  -0,
  2 ** -149,
  -(2 ** -149),
  3 * 2 ** -149,
  2 ** -126,
  -(2 ** -126) * 1.5,
  2 ** -25,
  3 * 2 ** -25,
  -(5 * 2 ** -25),
  2 ** -24,
  2 ** -14,
  2 ** -14 - 2 ** -25,
  1 + 2 ** -11,
  1 + 3 * 2 ** -11,
  2049,
  65504,
  65519.99609375,
  65520,
  -65520,
  1e30,
  F32_MAX,
  -F32_MAX,
]

const finiteFloat = fc.oneof(
  { arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }), weight: 3 },
  { arbitrary: fc.float({ min: -4, max: 4, noNaN: true }), weight: 3 },
  { arbitrary: fc.constantFrom(...EDGE_VALUES), weight: 2 },
)
const vectors = fc.array(finiteFloat, { maxLength: 90 }).map((v) => Float32Array.from(v))
const contexts = fc.record({
  seed: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  round: fc.nat({ max: 2 ** 31 }),
  senderIndex: fc.nat({ max: 1000 }),
})

type Outcome = { readonly bytes: number[] } | { readonly error: string }

function outcome(run: () => ArrayLike<number>): Outcome {
  try {
    return { bytes: Array.from(run()) }
  } catch (error) {
    if (!isCoreError(error)) throw error
    return { error: `${error.code}: ${error.message}` }
  }
}

function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length)
}

/** Compress on both paths, then decode the (scalar) payload on both paths. */
function expectSamePaths(make: Make, values: Float32Array, context: CompressContext): void {
  const d = values.length
  const scalar = make(d, 'scalar')
  const wasm = make(d, 'wasm-simd')
  expect(scalar.kernelPath).toBe('scalar')
  expect(wasm.kernelPath).toBe('wasm-simd')
  const sent = outcome(() => scalar.compress(values, context).slice())
  expect(outcome(() => wasm.compress(values, context).slice())).toEqual(sent)
  if (!('bytes' in sent)) return
  const payload = Uint8Array.from(sent.bytes)
  const decode = (compressor: Compressor): Outcome =>
    outcome(() => {
      const out = new Float32Array(d)
      compressor.decompress(payload, out, context)
      return bitsOf(out)
    })
  expect(decode(wasm)).toEqual(decode(scalar))
}

function longVector(d: number, seed: number): Float32Array {
  const rng = new Xoshiro128(seed)
  const values = new Float32Array(d)
  // Magnitudes over 2^-30 .. 2^30, so the float64 sums depend on their order.
  for (let i = 0; i < d; i++) values[i] = (rng.nextFloat() - 0.5) * 2 ** (rng.nextBelow(61) - 30)
  return values
}

describe('WebAssembly SIMD kernels match the scalar reference', () => {
  describe.each(FAMILIES)('%s', (_name, make) => {
    it('gives the same payload, decoded bits and errors on random vectors', () => {
      fc.assert(
        fc.property(vectors, contexts, (values, context) => expectSamePaths(make, values, context)),
        { numRuns: 150 },
      )
    })

    it('gives the same results on vectors longer than two summation chunks', () => {
      for (const [d, seed] of [
        [32768 + 13, 1],
        [16384 * 3, 2],
        [40001, 3],
      ] as const) {
        expectSamePaths(make, longVector(d, seed), { seed: seed * 7, round: seed, senderIndex: seed })
      }
    })

    it('refuses NaN and ±Infinity with the same error wherever they sit', () => {
      fc.assert(
        fc.property(
          vectors.filter((v) => v.length > 0),
          fc.nat(),
          fc.constantFrom(NaN, Infinity, -Infinity),
          (values, at, bad) => {
            values[at % values.length] = bad
            const context = { seed: 1, round: 0 }
            const errors = (['scalar', 'wasm-simd'] as const).map((kernels) =>
              outcome(() => make(values.length, kernels).compress(values, context)),
            )
            expect(errors[1]).toEqual(errors[0])
            expect(errors[0]).toMatchObject({ error: expect.stringMatching(/^ERR_NON_FINITE/) as unknown })
          },
        ),
        { numRuns: 60 },
      )
    })

    it('rejects corrupted payloads with the same error, or decodes them to the same bits', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 70 }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
          (d, edits) => {
            const payload = make(d, 'scalar').compress(longVector(d, d), { seed: 5, round: 1 }).slice()
            // Header bytes stay intact so the payload reaches the kernels.
            for (const [at, byte] of edits) payload[8 + (at % (payload.length - 8))] = byte
            const decode = (kernels: KernelPath): Outcome =>
              outcome(() => {
                const out = new Float32Array(d)
                make(d, kernels).decompress(payload, out, { seed: 5, round: 1 })
                return bitsOf(out)
              })
            expect(decode('wasm-simd')).toEqual(decode('scalar'))
          },
        ),
        { numRuns: 100 },
      )
    })
  })

  it('decodes int8 payloads of another block size and QSGD payloads of other levels (scalar path)', () => {
    const d = 301
    const values = longVector(d, 9)
    const context = { seed: 2, round: 4 }
    const int8Payload = new Int8BlockwiseCompressor({ layout: flatLayout(d), blockSize: 16 }).compress(
      values,
      context,
    )
    const qsgdPayload = new QsgdCompressor({ layout: flatLayout(d), levels: 3000 }).compress(values, context)
    for (const [payload, make] of [
      [
        int8Payload.slice(),
        (k: KernelPath) => new Int8BlockwiseCompressor({ layout: flatLayout(d), kernels: k }),
      ],
      [
        qsgdPayload.slice(),
        (k: KernelPath) => new QsgdCompressor({ layout: flatLayout(d), levels: 7, kernels: k }),
      ],
    ] as const) {
      const [scalarOut, wasmOut] = (['scalar', 'wasm-simd'] as const).map((kernels) => {
        const out = new Float32Array(d)
        make(kernels).decompress(payload, out, context)
        return Array.from(bitsOf(out))
      })
      expect(wasmOut).toEqual(scalarOut)
    }
  })

  it('reuses one payload buffer across calls and decodes its own payload in place', () => {
    const d = 1001
    const values = longVector(d, 4)
    for (const [, make] of FAMILIES) {
      const compressor = make(d, 'wasm-simd')
      const context = { seed: 1, round: 2 }
      const first = compressor.compress(values, context)
      const second = compressor.compress(values, { seed: 1, round: 3 })
      expect(second.buffer).toBe(first.buffer)
      expect(second.byteOffset).toBe(first.byteOffset)
      const inPlace = new Float32Array(d)
      compressor.decompress(second, inPlace, { seed: 1, round: 3 })
      const copied = new Float32Array(d)
      compressor.decompress(second.slice(), copied, { seed: 1, round: 3 })
      expect(Array.from(bitsOf(inPlace))).toEqual(Array.from(bitsOf(copied)))
    }
  })
})
