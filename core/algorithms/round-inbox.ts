/**
 * Payloads received from peers, filed by round, for the all-reduce style algorithms (sync,
 * Local SGD, OLCO3, SlowMo's exact average).
 *
 * Invariants:
 * - Rounds are finished in increasing order; every round <= `finishedThrough` is closed, and a
 *   message for a closed round is late (ERR_LATE_MESSAGE): it is reported, never applied, since
 *   the average it belonged to has already been used.
 * - At most one payload per (round, peer): a second one is a duplicate (ERR_DUPLICATE_MESSAGE),
 *   whatever its content.
 * - Rounds more than `maxRoundsAhead` beyond the owner's current round are refused
 *   (ERR_BAD_MESSAGE), which bounds the memory a fast or broken peer can make us hold.
 * Payloads are kept compressed (small for sparse compressors) and decoded only when the round
 * is averaged, in ascending worker order, so every worker computes the same sum.
 * An empty payload is an abstention: the sender will not contribute to that round (a late
 * joiner for the rounds before it joined), so nobody waits for it there.
 */
import type { AlgorithmMessage, ReceiveResult } from './algorithm.ts'
import { ACCEPTED, rejected, tryDecode } from './messages.ts'
import { badState, readInt, readIntArray, type AlgorithmState, type JsonObject } from './state.ts'

export class RoundInbox {
  private readonly rounds = new Map<number, Map<number, Uint8Array>>()
  private readonly newest = new Map<number, number>()
  private finishedThrough = -1
  private current = 0

  constructor(private readonly maxRoundsAhead: number) {}

  /** The owner's current round (messages up to current + maxRoundsAhead are accepted). */
  setCurrent(round: number): void {
    this.current = round
  }

  /** Null when a message (from, round) may be stored; otherwise why not. */
  private check(from: number, round: number): ReceiveResult | null {
    if (round <= this.finishedThrough) {
      return rejected('ERR_LATE_MESSAGE', `round ${round} from ${from} arrived after the round was completed`)
    }
    if (round > this.current + this.maxRoundsAhead) {
      return rejected(
        'ERR_BAD_MESSAGE',
        `round ${round} from ${from} is more than ${this.maxRoundsAhead} rounds ahead of this worker (${this.current})`,
      )
    }
    if (this.rounds.get(round)?.has(from) === true) {
      return rejected('ERR_DUPLICATE_MESSAGE', `second message for round ${round} from ${from}`)
    }
    return null
  }

  /**
   * The whole `receive` of an inbox-based exchange: `check`s the round, runs `validate` (a decode
   * of the payload; a CoreError it throws becomes the rejection) and files a copy of the payload.
   * Nothing is stored when the message is rejected.
   */
  accept(from: number, message: AlgorithmMessage, validate: () => void): ReceiveResult {
    const refused = this.check(from, message.round)
    if (refused !== null) return refused
    const bad = tryDecode(from, validate)
    if (bad !== null) return bad
    this.store(from, message.round, message.payload.slice())
    return ACCEPTED
  }

  /** Files a payload that passed `check` and decoding. */
  private store(from: number, round: number, payload: Uint8Array): void {
    let byPeer = this.rounds.get(round)
    if (byPeer === undefined) {
      byPeer = new Map()
      this.rounds.set(round, byPeer)
    }
    byPeer.set(from, payload)
    this.newest.set(from, Math.max(this.newest.get(from) ?? -1, round))
  }

  /**
   * Contributions to `round`, ascending by sender. Empty payloads (a peer abstaining from a
   * round it was not there for) count as received for `missing` but are not contributions.
   */
  received(round: number): Array<[number, Uint8Array]> {
    const byPeer = this.rounds.get(round)
    if (byPeer === undefined) return []
    return [...byPeer.entries()].filter(([, p]) => p.length > 0).sort((a, b) => a[0] - b[0])
  }

  /** Present peers whose payload for `round` has not arrived. */
  missing(round: number, present: readonly number[]): number[] {
    const byPeer = this.rounds.get(round)
    return present.filter((p) => byPeer?.has(p) !== true)
  }

  /** Closes every round <= `round` and drops their payloads. */
  finish(round: number): void {
    this.finishedThrough = Math.max(this.finishedThrough, round)
    for (const r of [...this.rounds.keys()]) {
      if (r <= this.finishedThrough) this.rounds.delete(r)
    }
  }

  /** Newest round received from `peer`, or -1. */
  newestFrom(peer: number): number {
    return this.newest.get(peer) ?? -1
  }

  /** Forgets all payloads and peer history (a late joiner's fresh start). */
  clear(finishedThrough: number): void {
    this.rounds.clear()
    this.newest.clear()
    this.finishedThrough = finishedThrough
  }

  exportTo(prefix: string, data: JsonObject, bytes: Record<string, Uint8Array>): void {
    const entries: number[] = []
    for (const [round, byPeer] of this.rounds) {
      for (const [peer, payload] of byPeer) {
        entries.push(round, peer)
        bytes[`${prefix}:${round}:${peer}`] = payload.slice()
      }
    }
    const newest: number[] = []
    for (const [peer, round] of this.newest) newest.push(peer, round)
    data[prefix] = { finishedThrough: this.finishedThrough, current: this.current, entries, newest }
  }

  importFrom(prefix: string, state: AlgorithmState, workerCount: number): void {
    const raw = state.data[prefix]
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badState(`${prefix} is missing`)
    const finishedThrough = readInt(raw, 'finishedThrough', -1)
    const current = readInt(raw, 'current', 0)
    const entries = readIntArray(raw, 'entries')
    const newest = readIntArray(raw, 'newest', -1)
    if (entries.length % 2 !== 0 || newest.length % 2 !== 0) throw badState(`${prefix} lists are not pairs`)
    this.rounds.clear()
    this.newest.clear()
    this.finishedThrough = finishedThrough
    this.current = current
    for (let i = 0; i < entries.length; i += 2) {
      const round = entries[i] ?? 0
      const peer = entries[i + 1] ?? 0
      const payload = state.bytes[`${prefix}:${round}:${peer}`]
      if (!(payload instanceof Uint8Array) || peer >= workerCount)
        throw badState(`${prefix} entry ${round}:${peer}`)
      let byPeer = this.rounds.get(round)
      if (byPeer === undefined) {
        byPeer = new Map()
        this.rounds.set(round, byPeer)
      }
      byPeer.set(peer, payload.slice())
    }
    for (let i = 0; i < newest.length; i += 2) this.newest.set(newest[i] ?? 0, newest[i + 1] ?? -1)
  }
}
