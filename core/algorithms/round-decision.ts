/**
 * The membership rule of every all-reduce style round (sync, Local SGD, OLCO3, SlowMo's exact
 * average), in one place:
 * - wait while a present peer's payload for the round is missing and the deadline has not passed;
 * - then average over self plus every payload received for the round (also from a peer that
 *   has left since it sent: its contribution is valid and other workers hold it too);
 * - a round with nobody else's payload is 'local-only': ERR_NO_PEERS when nobody else was
 *   present, ERR_TIMEOUT when the deadline passed first.
 * Workers that finish a round with different sets (one got a late payload, another did not)
 * drift apart by that difference; the next exact averages shrink it again. Use a deadline long
 * enough for the links, or a late joiner's catch-up, to keep it rare.
 */
import type { ErrorCode } from '../errors.ts'
import type { MessageKind, RoundOutcome } from './algorithm.ts'
import type { RoundInbox } from './round-inbox.ts'

export type RoundDecision =
  /** A 'waiting' Completion but for its messages (`{ ...decision, messages }` completes it). */
  | {
      readonly status: 'waiting'
      readonly kind: MessageKind
      readonly round: number
      readonly missing: number[]
    }
  | {
      readonly status: 'complete'
      readonly received: Array<[number, Uint8Array]>
      readonly outcome: RoundOutcome
    }

export function decideRound(
  inbox: RoundInbox,
  kind: MessageKind,
  round: number,
  present: readonly number[],
  deadlinePassed: boolean,
  staleness: number,
): RoundDecision {
  const missing = inbox.missing(round, present)
  if (missing.length > 0 && !deadlinePassed) return { status: 'waiting', kind, round, missing }
  const received = inbox.received(round)
  if (received.length > 0) {
    return {
      status: 'complete',
      received,
      outcome: {
        kind: 'averaged',
        messageKind: kind,
        round,
        peers: received.map(([p]) => p),
        maxStaleness: staleness,
      },
    }
  }
  const reason: ErrorCode = present.length === 0 ? 'ERR_NO_PEERS' : 'ERR_TIMEOUT'
  return { status: 'complete', received, outcome: { kind: 'local-only', messageKind: kind, round, reason } }
}
