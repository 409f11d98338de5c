/**
 * A virtual clock for transport tests: time moves only through `advance`/`runAll`, and timers
 * due at the same time run in the order they were set.
 */
import type { TransportClock } from '../../../../core/transport/peer-transport.ts'

interface Timer {
  readonly dueMs: number
  readonly seq: number
  readonly fn: () => void
}

export class ManualClock implements TransportClock {
  private nowMs = 0
  private seq = 0
  private readonly timers = new Set<Timer>()

  now(): number {
    return this.nowMs
  }

  setTimeout(fn: () => void, ms: number): () => void {
    const timer: Timer = { dueMs: this.nowMs + Math.max(0, ms), seq: this.seq++, fn }
    this.timers.add(timer)
    return () => {
      this.timers.delete(timer)
    }
  }

  /** Timers not yet run. */
  get pendingTimers(): number {
    return this.timers.size
  }

  /**
   * Moves time forward by `ms`, running every timer due on the way (including ones they set),
   * with microtasks flushed after each, so promise continuations see the time they ran at.
   */
  async advance(ms: number): Promise<void> {
    const endMs = this.nowMs + ms
    for (;;) {
      const next = this.nextTimer()
      if (next === undefined || next.dueMs > endMs) break
      this.timers.delete(next)
      this.nowMs = Math.max(this.nowMs, next.dueMs)
      next.fn()
      await flushMicrotasks()
    }
    this.nowMs = endMs
    await flushMicrotasks()
  }

  /** Runs timers until none is left (or `limit` ran: a guard against endless rescheduling). */
  async runAll(limit = 1_000_000): Promise<void> {
    for (let i = 0; i < limit; i++) {
      const next = this.nextTimer()
      if (next === undefined) return
      this.timers.delete(next)
      this.nowMs = Math.max(this.nowMs, next.dueMs)
      next.fn()
      await flushMicrotasks()
    }
    throw new Error(`runAll: still ${this.timers.size} timers after ${limit} ran`)
  }

  private nextTimer(): Timer | undefined {
    let best: Timer | undefined
    for (const timer of this.timers) {
      if (
        best === undefined ||
        timer.dueMs < best.dueMs ||
        (timer.dueMs === best.dueMs && timer.seq < best.seq)
      ) {
        best = timer
      }
    }
    return best
  }
}

/** Lets pending promise continuations run (a few rounds, for chained awaits). */
export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}
