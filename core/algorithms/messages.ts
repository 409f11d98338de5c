/**
 * Checks shared by every algorithm on what crosses the wire: the message guard, the sender
 * check, and small helpers that turn expected failures into `ReceiveResult`s instead of
 * exceptions (a bad peer must never throw out of the training loop).
 */
import { isCoreError, type ErrorCode } from '../errors.ts'
import { isRecord } from '../guards.ts'
import { MESSAGE_KINDS, type AlgorithmMessage, type MessageKind, type ReceiveResult } from './algorithm.ts'

export const ACCEPTED: ReceiveResult = Object.freeze({ kind: 'accepted' })

export function rejected(code: ErrorCode, message: string): ReceiveResult {
  return { kind: 'rejected', code, message }
}

function isMessageKind(value: unknown): value is MessageKind {
  return MESSAGE_KINDS.some((k) => k === value)
}

/** Type guard for a message decoded from a frame (outside data). */
export function isAlgorithmMessage(value: unknown): value is AlgorithmMessage {
  if (!isRecord(value)) return false
  const m = value
  if (!isMessageKind(m.kind)) return false
  if (typeof m.round !== 'number' || !Number.isSafeInteger(m.round) || m.round < 0) return false
  if (!(m.payload instanceof Uint8Array)) return false
  if (m.to !== 'all') {
    if (
      !Array.isArray(m.to) ||
      !m.to.every((t) => Number.isSafeInteger(t) && typeof t === 'number' && t >= 0)
    ) {
      return false
    }
  }
  if (m.weight !== undefined && (typeof m.weight !== 'number' || !Number.isFinite(m.weight))) return false
  return true
}

/**
 * The checks every `receive` starts with: the message shape, the sender index and the kinds
 * this algorithm accepts. Returns null when the message may go on.
 */
export function checkIncoming(
  from: number,
  message: unknown,
  self: { workerIndex: number; workerCount: number },
  kinds: readonly MessageKind[],
): ReceiveResult | null {
  if (!Number.isSafeInteger(from) || from < 0 || from >= self.workerCount || from === self.workerIndex) {
    return rejected(
      'ERR_UNKNOWN_PEER',
      `sender ${from} is not another worker of this room (0..${self.workerCount - 1})`,
    )
  }
  if (!isAlgorithmMessage(message))
    return rejected('ERR_BAD_MESSAGE', `malformed algorithm message from ${from}`)
  if (!kinds.includes(message.kind)) {
    return rejected(
      'ERR_BAD_MESSAGE',
      `unexpected ${message.kind} message from ${from} (expects ${kinds.join(', ')})`,
    )
  }
  return null
}

/** Runs a decode step; a CoreError from the compressor (malformed, non-finite) becomes a rejection. */
export function tryDecode(from: number, decode: () => void): ReceiveResult | null {
  try {
    decode()
    return null
  } catch (err) {
    if (isCoreError(err)) return rejected(err.code, `payload from ${from}: ${err.message}`)
    throw err
  }
}

/** Normalises a membership list: other workers only, deduplicated, ascending. */
export function normalisePresent(
  present: readonly number[],
  workerIndex: number,
  workerCount: number,
): number[] {
  const out = new Set<number>()
  for (const p of present) {
    if (!Number.isSafeInteger(p) || p < 0 || p >= workerCount) {
      throw new Error(`Assertion failed: present peer ${p} is outside 0..${workerCount - 1}`)
    }
    if (p !== workerIndex) out.add(p)
  }
  return [...out].sort((a, b) => a - b)
}
