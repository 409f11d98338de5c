import * as tf from '@tensorflow/tfjs-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isCoreError } from '../../../../core/errors.ts'
import { initBackend, listRoutes } from '../../../../core/platform/backends.node.ts'
import { measureThroughput } from '../../../../core/platform/throughput-probe.ts'

const MATMUL_FLOP = 2 * 512 ** 3
const CONV_FLOP = 2 * 32 * 28 * 28 * 32 * 3 * 3 * 16

let previousBackend: string | undefined

beforeAll(async () => {
  previousBackend = tf.engine().backendName ?? undefined
  // wasm: fast enough that a few runs fit in a short test (cpu needs ~1 s per matmul run here).
  await initBackend({ preferred: 'wasm', routes: listRoutes(), env: {} })
})

afterAll(async () => {
  if (previousBackend !== undefined) await tf.setBackend(previousBackend)
})

describe('measureThroughput', () => {
  it('measures both ops on the current backend and leaves no tensors behind', () => {
    const before = tf.memory().numTensors
    const result = measureThroughput({ seconds: 0.2 })
    expect(tf.memory().numTensors).toBe(before)
    expect(result.backend).toBe('wasm')
    expect(result.matmul).toMatchObject({ op: 'matmul', shape: '512x512 @ 512x512', flopPerRun: MATMUL_FLOP })
    expect(result.conv2d).toMatchObject({ op: 'conv2d', flopPerRun: CONV_FLOP })
    for (const s of [result.matmul, result.conv2d]) {
      expect(s.runs).toBeGreaterThanOrEqual(1)
      expect(s.seconds).toBeGreaterThanOrEqual(0.1)
      // Bounds: above 0.01 GFLOP/s (anything slower is broken), below 10 TFLOP/s (no CPU does that).
      expect(s.gflops).toBeGreaterThan(0.01)
      expect(s.gflops).toBeLessThan(10_000)
      expect(s.gflops).toBeCloseTo((s.flopPerRun * s.runs) / s.seconds / 1e9, 6)
    }
  })

  it('runs until half the budget has passed on each op, by the injected clock', () => {
    let t = 0
    const now = (): number => (t += 10) // every reading advances 10 ms
    const result = measureThroughput({ seconds: 0.1, now })
    // Budget 50 ms per op: start at 10, runs read 20..60 -> 5 runs, the final reading is 70 -> 0.06 s.
    expect(result.matmul.runs).toBe(5)
    expect(result.matmul.seconds).toBeCloseTo(0.06, 9)
    expect(result.conv2d.runs).toBe(5)
    expect(result.matmul.gflops).toBeCloseTo((MATMUL_FLOP * 5) / 0.06 / 1e9, 6)
  })

  it('does one timed run per op when the budget is zero', () => {
    const result = measureThroughput({ seconds: 0 })
    expect([result.matmul.runs, result.conv2d.runs]).toEqual([1, 1])
    expect(Number.isFinite(result.matmul.gflops)).toBe(true)
  })

  it('never reports Infinity when the clock does not move', () => {
    const result = measureThroughput({ seconds: 0, now: () => 5 })
    expect(Number.isFinite(result.conv2d.gflops)).toBe(true)
  })

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])(
    'throws ERR_INVALID_ARGUMENT for %s seconds',
    (seconds) => {
      expect(() => measureThroughput({ seconds })).toThrow(/Probe time/)
      try {
        measureThroughput({ seconds })
      } catch (error) {
        expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
      }
    },
  )
})
