/**
 * The recent events a new API client gets replayed, so a UI that connects (or reconnects)
 * mid-run can draw its charts and logs at once.
 *
 * Bounded two ways: frequent per-round events ('round', 'topology') have their own ring, so
 * a fast synchronous run cannot push the loss curve ('step', 'epoch') and the logs out of the
 * main ring; and only the newest 'peers' event is kept, since each one replaces the last.
 * Replay returns everything in arrival order, marked `replay: true`.
 */
import type { ApiEvent } from './contract.ts'

export interface EventHistoryLimits {
  /** Events in the main ring (steps, epochs, logs, membership, errors). */
  readonly main: number
  /** 'round' and 'topology' node events. */
  readonly perRound: number
}

interface Stored {
  readonly seq: number
  readonly event: ApiEvent
}

/** A fixed-size ring: push drops the oldest once full. */
class Ring {
  private readonly items: Array<Stored | undefined>
  private next = 0
  private size = 0

  constructor(readonly capacity: number) {
    this.items = new Array<Stored | undefined>(Math.max(0, capacity))
  }

  push(item: Stored): void {
    if (this.capacity === 0) return
    this.items[this.next] = item
    this.next = (this.next + 1) % this.capacity
    this.size = Math.min(this.size + 1, this.capacity)
  }

  toArray(): Stored[] {
    const out: Stored[] = []
    const first = (this.next - this.size + this.capacity) % Math.max(1, this.capacity)
    for (let i = 0; i < this.size; i++) {
      const item = this.items[(first + i) % this.capacity]
      if (item !== undefined) out.push(item)
    }
    return out
  }

  clear(): void {
    this.items.fill(undefined)
    this.next = 0
    this.size = 0
  }
}

const PER_ROUND_TYPES: ReadonlySet<string> = new Set(['round', 'topology'])

export class EventHistory {
  private readonly main: Ring
  private readonly perRound: Ring
  private latestPeers: Stored | undefined
  private seq = 0

  constructor(limits: EventHistoryLimits) {
    this.main = new Ring(limits.main)
    this.perRound = new Ring(limits.perRound)
  }

  /** Keeps an event for replay; 'hello' and 'state' are not history (a client gets the state first). */
  add(event: ApiEvent): void {
    if (event.kind === 'hello' || event.kind === 'state') return
    const stored = { seq: this.seq++, event }
    if (event.kind === 'node' && event.event.type === 'peers') this.latestPeers = stored
    else if (event.kind === 'node' && PER_ROUND_TYPES.has(event.event.type)) this.perRound.push(stored)
    else this.main.push(stored)
  }

  /** Everything kept, oldest first, each marked as a replay. */
  replay(): ApiEvent[] {
    const all = [...this.main.toArray(), ...this.perRound.toArray()]
    if (this.latestPeers !== undefined) all.push(this.latestPeers)
    all.sort((a, b) => a.seq - b.seq)
    return all.map(({ event }) => markReplay(event))
  }

  /** Forgets everything (a new training run starts its charts empty). */
  clear(): void {
    this.main.clear()
    this.perRound.clear()
    this.latestPeers = undefined
  }
}

function markReplay(event: ApiEvent): ApiEvent {
  switch (event.kind) {
    case 'node':
    case 'log':
    case 'error':
      return { ...event, replay: true }
    default:
      return event
  }
}
