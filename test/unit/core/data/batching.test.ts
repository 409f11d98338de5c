import { describe, expect, it } from 'vitest'
import {
  Batcher,
  batchCount,
  epochBatches,
  epochOrder,
  splitTrainValidation,
} from '../../../../core/data/batching.ts'
import type { Split } from '../../../../core/data/dataset.ts'
import { countPerClass } from '../../../../core/data/dataset.ts'
import { isCoreError } from '../../../../core/errors.ts'

/** Sample i has features [i, i + 0.5] and label i % 3, so a batch row identifies its sample. */
function numberedSplit(count: number): Split {
  const x = new Float32Array(count * 2)
  for (let i = 0; i < count; i++) {
    x[2 * i] = i
    x[2 * i + 1] = i + 0.5
  }
  return { x, y: Int32Array.from({ length: count }, (_, i) => i % 3), count }
}

function samplesOf(batch: { x: Float32Array; y: Int32Array }): number[] {
  const out: number[] = []
  for (let k = 0; k < batch.y.length; k++) {
    const i = batch.x[2 * k]!
    expect(batch.x[2 * k + 1]).toBe(i + 0.5)
    expect(batch.y[k]).toBe(i % 3)
    out.push(i)
  }
  return out
}

describe('epochBatches', () => {
  it('visits every sample exactly once per epoch with rows and labels kept together', () => {
    const split = numberedSplit(103)
    const seen: number[] = []
    for (const batch of epochBatches(split, { batchSize: 10, seed: 4, epoch: 0 }))
      seen.push(...samplesOf(batch))
    expect(seen.length).toBe(103)
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 103 }, (_, i) => i))
    expect(seen).not.toEqual(Array.from({ length: 103 }, (_, i) => i))
  })

  it('yields full batches then one smaller batch with matching y length', () => {
    const sizes = [...epochBatches(numberedSplit(25), { batchSize: 8, seed: 1, epoch: 0 })].map((b) => [
      b.size,
      b.y.length,
      b.x.length,
    ])
    expect(sizes).toEqual([
      [8, 8, 16],
      [8, 8, 16],
      [8, 8, 16],
      [1, 1, 2],
    ])
  })

  it('drops the smaller last batch when dropRemainder is set', () => {
    const batches = [
      ...epochBatches(numberedSplit(25), { batchSize: 8, seed: 1, epoch: 0, dropRemainder: true }),
    ]
    expect(batches.map((b) => b.size)).toEqual([8, 8, 8])
  })

  it('repeats the order for the same seed and epoch and changes it for another epoch or seed', () => {
    // Batches share buffers, so read each one before asking for the next.
    const order = (seed: number, epoch: number): number[] => {
      const seen: number[] = []
      for (const b of epochBatches(numberedSplit(50), { batchSize: 7, seed, epoch }))
        seen.push(...samplesOf(b))
      return seen
    }
    expect(order(3, 2)).toEqual(order(3, 2))
    expect(order(3, 2)).not.toEqual(order(3, 3))
    expect(order(3, 2)).not.toEqual(order(4, 2))
    expect(order(3, 2)).toEqual([...epochOrder(50, 3, 2)])
  })

  it('keeps the split order when shuffle is false', () => {
    const seen: number[] = []
    for (const b of epochBatches(numberedSplit(9), { batchSize: 4, shuffle: false, epoch: 5 }))
      seen.push(...samplesOf(b))
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
  })

  it('rejects a batch size that is not a positive integer', () => {
    for (const batchSize of [0, -1, 2.5]) {
      let error: unknown
      try {
        epochBatches(numberedSplit(4), { batchSize, epoch: 0 }).next()
      } catch (err) {
        error = err
      }
      expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
    }
  })
})

describe('Batcher', () => {
  it('overwrites an earlier batch when the iterator advances (documented buffer reuse)', () => {
    const batches = [...new Batcher(numberedSplit(16), { batchSize: 8, seed: 1 }).epoch(0)]
    expect(batches[0]!.x).toBe(batches[1]!.x)
  })

  it('reuses the same buffers for every full batch across epochs', () => {
    const batcher = new Batcher(numberedSplit(40), { batchSize: 8, seed: 2 })
    const buffers = new Set<ArrayBufferLike>()
    let batches = 0
    for (let epoch = 0; epoch < 3; epoch++) {
      for (const batch of batcher.epoch(epoch)) {
        buffers.add(batch.x.buffer)
        buffers.add(batch.y.buffer)
        batches++
      }
    }
    expect(batches).toBe(15)
    expect(batcher.batchesPerEpoch).toBe(5)
    expect(buffers.size).toBe(2)
  })

  it('handles an empty split with zero batches', () => {
    const empty: Split = { x: new Float32Array(0), y: new Int32Array(0), count: 0 }
    expect([...new Batcher(empty, { batchSize: 4 }).epoch(0)]).toEqual([])
  })
})

describe('batchCount', () => {
  it('rounds up by default and down when dropping the remainder', () => {
    expect(batchCount(60000, 64)).toBe(938)
    expect(batchCount(60000, 64, true)).toBe(937)
    expect(batchCount(64, 64)).toBe(1)
    expect(batchCount(0, 64)).toBe(0)
  })
})

describe('splitTrainValidation', () => {
  it('holds out a stratified fraction and keeps every sample exactly once', () => {
    const split = numberedSplit(300)
    const { train, validation } = splitTrainValidation(split, 0.2, 9)
    expect(train.count).toBe(240)
    expect(validation.count).toBe(60)
    expect(countPerClass(validation.y, 3)).toEqual([20, 20, 20])
    const ids = [...samplesOf(train), ...samplesOf(validation)].sort((a, b) => a - b)
    expect(ids).toEqual(Array.from({ length: 300 }, (_, i) => i))
  })

  it('is deterministic per seed', () => {
    const split = numberedSplit(100)
    const a = splitTrainValidation(split, 0.1, 1).validation
    expect([...splitTrainValidation(split, 0.1, 1).validation.x]).toEqual([...a.x])
    expect([...splitTrainValidation(split, 0.1, 2).validation.x]).not.toEqual([...a.x])
  })
})
