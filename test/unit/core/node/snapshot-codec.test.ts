import { describe, expect, it } from 'vitest'
import type { DistributedAlgorithm } from '../../../../core/algorithms/algorithm.ts'
import { createAlgorithm } from '../../../../core/algorithms/registry.ts'
import { decodeSnapshot, encodeSnapshot, type ModelSnapshot } from '../../../../core/node/snapshot-codec.ts'
import { buildLayout } from '../../../../core/tensor/param-layout.ts'

const LAYOUT = buildLayout([
  { name: 'w', shape: [5, 3] },
  { name: 'b', shape: [3] },
])
const SIZE = LAYOUT.totalSize

function algorithm(workerIndex: number): DistributedAlgorithm {
  return createAlgorithm(
    {
      kind: 'slowmo',
      base: { kind: 'olco3', H: 2, staleness: 1, compressor: 'topk:0.5' },
      alpha: 1,
      beta: 0.5,
      tau: 4,
    },
    { layout: LAYOUT, workerIndex, workerCount: 4, seed: 3 },
  )
}

/** A worker that ran a few steps alone, so its state has vectors, bytes and a child state. */
function trainedState(): { params: Float32Array; algo: DistributedAlgorithm } {
  const algo = algorithm(0)
  const params = Float32Array.from({ length: SIZE }, (_, i) => Math.sin(i))
  algo.start(params)
  for (let step = 0; step < 3; step++) {
    const ctx = { step, present: [], learningRate: 0.1 }
    algo.beforeLocalStep(ctx, params)
    for (let i = 0; i < SIZE; i++) params[i] = (params[i] ?? 0) - 0.01 * (i % 3)
    algo.afterLocalStep(ctx, params)
    const c = algo.tryComplete({ present: [], deadlinePassed: false }, { params })
    expect(c.status).toBe('ready')
  }
  return { params, algo }
}

function snapshot(): ModelSnapshot {
  const { params, algo } = trainedState()
  return {
    step: algo.step,
    params: params.slice(),
    state: algo.exportState(),
    optimizer: {
      kind: 'adam',
      tensors: [
        { name: 'iter', shape: [], values: Float32Array.of(3) },
        { name: 'w/m', shape: [5, 3], values: Float32Array.from({ length: 15 }, (_, i) => i / 7) },
      ],
    },
  }
}

describe('snapshot codec', () => {
  it('round-trips params, a nested algorithm state and the optimizer state exactly', () => {
    const original = snapshot()
    expect(Object.keys(original.state.children).length).toBeGreaterThan(0)
    const decoded = decodeSnapshot(encodeSnapshot(original), SIZE)
    expect(decoded.step).toBe(3)
    expect(decoded.params).toEqual(original.params)
    expect(decoded.state).toEqual(original.state)
    expect(decoded.optimizer).toEqual(original.optimizer)
  })

  it('gives a state another worker imports in catch-up mode at the same step', () => {
    const original = snapshot()
    const decoded = decodeSnapshot(encodeSnapshot(original), SIZE)
    const joiner = algorithm(2)
    joiner.importState(decoded.state, { mode: 'catch-up', params: decoded.params })
    expect(joiner.step).toBe(original.step)
  })

  it('shares no memory with the bytes it decoded', () => {
    const bytes = encodeSnapshot(snapshot())
    const decoded = decodeSnapshot(bytes, SIZE)
    const before = decoded.params.slice()
    bytes.fill(0xff, 16)
    expect(decoded.params).toEqual(before)
  })

  it('refuses a snapshot of another model size', () => {
    expect(() => decodeSnapshot(encodeSnapshot(snapshot()), SIZE + 1)).toThrow(
      expect.objectContaining({
        code: 'ERR_BAD_CHECKPOINT',
        message: expect.stringMatching(/parameters/) as unknown,
      }),
    )
  })

  it.each<[string, (bytes: Uint8Array) => Uint8Array]>([
    ['a wrong magic', (b) => Uint8Array.of(0, ...b.subarray(1))],
    [
      'another format version',
      (b) => {
        const c = b.slice()
        new DataView(c.buffer).setUint32(4, 2, true)
        return c
      },
    ],
    [
      'a header longer than the bytes',
      (b) => {
        const c = b.slice()
        new DataView(c.buffer).setUint32(8, b.length, true)
        return c
      },
    ],
    ['a truncated blob area', (b) => b.subarray(0, b.length - 8)],
    [
      'a header that is not JSON',
      (b) => {
        const c = b.slice()
        c[12] = 0x21
        return c
      },
    ],
  ])('refuses %s', (_what, corrupt) => {
    expect(() => decodeSnapshot(corrupt(encodeSnapshot(snapshot())), SIZE)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_CHECKPOINT' }),
    )
  })

  it('refuses an optimizer tensor that does not fit its shape', () => {
    const s = snapshot()
    const bad = {
      ...s,
      optimizer: { kind: 'adam', tensors: [{ name: 'w/m', shape: [4, 4], values: new Float32Array(15) }] },
    }
    expect(() => decodeSnapshot(encodeSnapshot(bad), SIZE)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_CHECKPOINT' }),
    )
  })
})
