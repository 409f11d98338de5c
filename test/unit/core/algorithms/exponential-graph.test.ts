import { describe, expect, it } from 'vitest'
import {
  exponentialInPeers,
  exponentialOffsets,
  exponentialOutPeers,
} from '../../../../core/algorithms/exponential-graph.ts'

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

describe('exponentialOutPeers', () => {
  it('cycles through the peers 2^0, 2^1, ..., 2^(log2 n − 1) hops away with one peer', () => {
    const members = range(8)
    expect(range(6).map((k) => exponentialOutPeers(members, 5, k, 1))).toEqual([[6], [7], [1], [6], [7], [1]])
  })

  it('sends to two distinct consecutive candidates per step with two peers', () => {
    const members = range(8)
    expect(range(3).map((k) => exponentialOutPeers(members, 0, k, 2))).toEqual([
      [1, 2],
      [4, 1],
      [2, 4],
    ])
  })

  it('gives every member exactly m in-peers per step when n is a power of two', () => {
    for (const m of [1, 2]) {
      for (let k = 0; k < 6; k++) {
        for (const i of range(16)) expect(exponentialInPeers(range(16), i, k, m)).toHaveLength(m)
      }
    }
  })

  it('works over sparse member lists and never picks itself', () => {
    const members = [2, 3, 7, 9, 12]
    expect(exponentialOffsets(5)).toEqual([1, 2, 4])
    for (let k = 0; k < 6; k++) {
      for (const i of members) {
        const out = exponentialOutPeers(members, i, k, 2)
        expect(out.length).toBeGreaterThan(0)
        expect(out).not.toContain(i)
        for (const p of out) expect(members).toContain(p)
        for (const p of out) expect(exponentialInPeers(members, p, k, 2)).toContain(i)
      }
    }
  })

  it('has no peers for a single member and one for two members', () => {
    expect(exponentialOutPeers([4], 4, 3, 2)).toEqual([])
    expect(exponentialOutPeers([1, 4], 4, 3, 2)).toEqual([1])
  })
})
