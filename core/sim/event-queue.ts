/**
 * The simulator's clock: a binary min-heap of events keyed by virtual time in milliseconds.
 * Ties are broken by insertion order (a sequence number), so two runs that push the same
 * events in the same order pop them in the same order: the simulation never depends on heap
 * internals, wall time or the machine's load.
 */
import { CoreError } from '../errors.ts'

interface Entry<T> {
  readonly atMs: number
  readonly seq: number
  readonly value: T
}

export class EventQueue<T> {
  private readonly heap: Entry<T>[] = []
  private nextSeq = 0
  private nowMs = 0

  /** Virtual time of the last event popped (0 before any). */
  get now(): number {
    return this.nowMs
  }

  get size(): number {
    return this.heap.length
  }

  /**
   * Schedules `value` at virtual time `atMs`. Scheduling into the past is a programmer
   * mistake (time never runs backwards) and throws ERR_INVALID_ARGUMENT.
   */
  push(atMs: number, value: T): void {
    if (!Number.isFinite(atMs) || atMs < this.nowMs) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `event time ${atMs} ms is not finite or before the current time ${this.nowMs} ms`,
      )
    }
    this.heap.push({ atMs, seq: this.nextSeq++, value })
    this.siftUp(this.heap.length - 1)
  }

  /** Removes and returns the earliest event (first pushed among equal times), or undefined. */
  pop(): { readonly atMs: number; readonly value: T } | undefined {
    const top = this.heap[0]
    if (top === undefined) return undefined
    const last = this.heap.pop()
    if (last !== undefined && this.heap.length > 0) {
      this.heap[0] = last
      this.siftDown(0)
    }
    this.nowMs = top.atMs
    return { atMs: top.atMs, value: top.value }
  }

  /** The earliest event's time, or undefined when empty. */
  peekTime(): number | undefined {
    return this.heap[0]?.atMs
  }

  private before(a: Entry<T>, b: Entry<T>): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)
  }

  private siftUp(index: number): void {
    const heap = this.heap
    let i = index
    while (i > 0) {
      const parent = (i - 1) >> 1
      const a = heap[i]!
      const p = heap[parent]!
      if (!this.before(a, p)) break
      heap[i] = p
      heap[parent] = a
      i = parent
    }
  }

  private siftDown(index: number): void {
    const heap = this.heap
    const n = heap.length
    let i = index
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let best = i
      if (left < n && this.before(heap[left]!, heap[best]!)) best = left
      if (right < n && this.before(heap[right]!, heap[best]!)) best = right
      if (best === i) return
      const tmp = heap[i]!
      heap[i] = heap[best]!
      heap[best] = tmp
      i = best
    }
  }
}
