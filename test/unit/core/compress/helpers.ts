/** Shared fixtures for the compressor tests: seeded vectors and small layouts. */
import { Xoshiro128 } from '../../../../core/compress/prng.ts'
import { buildLayout, type ParamLayout } from '../../../../core/tensor/param-layout.ts'

/** Seeded normal(0, sigma) float32 vector (Box–Muller; fine for tests, not for the wire). */
export function normalVector(d: number, seed: number, sigma = 1): Float32Array {
  const rng = new Xoshiro128(seed, 0x7e57)
  const x = new Float32Array(d)
  for (let i = 0; i < d; i++) {
    const u = 1 - rng.nextFloat()
    const v = rng.nextFloat()
    x[i] = sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
  return x
}

export function flatLayout(d: number): ParamLayout {
  return buildLayout([{ name: 'delta', shape: [d] }])
}

/** A small model-like layout: dense kernel, bias, conv kernel, scalar. */
export function modelLayout(): ParamLayout {
  return buildLayout([
    { name: 'dense/kernel', shape: [40, 24] },
    { name: 'dense/bias', shape: [24] },
    { name: 'conv/kernel', shape: [3, 3, 4, 8] },
    { name: 'conv/bias', shape: [8] },
    { name: 'scale', shape: [] },
  ])
}

/** Every spec family with a typical setting, for describe.each over all compressors. */
export const ALL_SPECS = [
  'none',
  'fp16',
  'int8',
  'int8:16',
  'sign',
  'topk:0.1',
  'randk:0.1',
  'randk:0.1:unscaled',
  'qsgd:1',
  'qsgd:7',
  'qsgd:127',
  'qsgd:1000',
  'powersgd:2',
] as const

export const CONTEXT = { seed: 42, round: 3, senderIndex: 1 } as const
