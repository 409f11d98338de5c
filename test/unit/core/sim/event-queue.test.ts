import { describe, expect, it } from 'vitest'
import { EventQueue } from '../../../../core/sim/event-queue.ts'
import { isCoreError } from '../../../../core/errors.ts'

describe('EventQueue', () => {
  it('pops events in time order when they are pushed out of order', () => {
    const q = new EventQueue<string>()
    const times = [50, 10, 30, 20, 40, 0, 35]
    for (const t of times) q.push(t, `e${t}`)
    const popped: number[] = []
    for (let e = q.pop(); e !== undefined; e = q.pop()) popped.push(e.atMs)
    expect(popped).toEqual([...times].sort((a, b) => a - b))
  })

  it('breaks ties by insertion order when events share a time', () => {
    const q = new EventQueue<number>()
    for (let i = 0; i < 100; i++) q.push(i % 3 === 0 ? 5 : 7, i)
    const order: number[] = []
    for (let e = q.pop(); e !== undefined; e = q.pop()) order.push(e.value)
    const fives = order.filter((v) => v % 3 === 0)
    const sevens = order.filter((v) => v % 3 !== 0)
    expect(order).toEqual([...fives, ...sevens])
    expect(fives).toEqual([...fives].sort((a, b) => a - b))
    expect(sevens).toEqual([...sevens].sort((a, b) => a - b))
  })

  it('advances now to the time of the last popped event', () => {
    const q = new EventQueue<string>()
    expect(q.now).toBe(0)
    q.push(12.5, 'a')
    q.push(3, 'b')
    expect(q.peekTime()).toBe(3)
    q.pop()
    expect(q.now).toBe(3)
    q.pop()
    expect(q.now).toBe(12.5)
    expect(q.pop()).toBeUndefined()
    expect(q.size).toBe(0)
  })

  it('keeps heap order under interleaved pushes and pops', () => {
    const q = new EventQueue<number>()
    let seed = 7
    const rand = (): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
      return seed / 2 ** 32
    }
    let last = 0
    let count = 0
    for (let round = 0; round < 2000; round++) {
      for (let k = 0; k < 3; k++) q.push(q.now + rand() * 100, count++)
      const e = q.pop()!
      expect(e.atMs).toBeGreaterThanOrEqual(last)
      last = e.atMs
    }
    expect(q.size).toBe(4000)
  })

  it('rejects an event scheduled before the current time', () => {
    const q = new EventQueue<string>()
    q.push(10, 'a')
    q.pop()
    let error: unknown
    try {
      q.push(9.99, 'late')
    } catch (e) {
      error = e
    }
    expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
  })

  it('rejects a non-finite time', () => {
    const q = new EventQueue<string>()
    expect(() => q.push(Number.NaN, 'x')).toThrow(/not finite/)
    expect(() => q.push(Number.POSITIVE_INFINITY, 'x')).toThrow(/not finite/)
  })
})
