/**
 * What the swarm and the node carry inside the protocol's frames beyond what
 * core/protocol/messages.ts defines: a one-byte envelope kind at the start of the payload of
 * `delta` and `pushsum.share` frames, and the swarm's control messages.
 *
 * Envelope (the first byte of `DeltaMessage.payload` / `PushSumShareMessage.values`):
 *
 * | frame           | byte | meaning                                         | rest of the payload          |
 * | --------------- | ---: | ----------------------------------------------- | ---------------------------- |
 * | delta           |    1 | algorithm 'delta' (Local SGD, OLCO3)            | compressor payload (or none) |
 * | delta           |    2 | algorithm 'gradient' (sync SGD)                 | compressor payload (or none) |
 * | delta           |    3 | algorithm 'model' (SlowMo's exact average)      | compressor payload (or none) |
 * | delta           |   16 | swarm control message                           | UTF-8 JSON, see below        |
 * | pushsum.share   |    1 | algorithm 'push-sum' (SGP share)                | compressor payload           |
 * | pushsum.share   |    2 | algorithm 'hand-over' (SGP leave)               | compressor payload           |
 *
 * An empty rest is an empty algorithm payload ("abstain from this round", algorithm.ts).
 * The protocol itself is untouched (no new message type, no version bump): a peer that does
 * not know a byte refuses the frame as ERR_BAD_MESSAGE. Never renumber these bytes.
 *
 * Control messages are small JSON objects `{ "type": "...", ... }` (STYLE.md §4 wire style),
 * validated field by field on receipt:
 * - `manifest` { manifest }: the sender's run manifest (run-manifest.ts), sent once after hello.
 * - `member` { slot, startStep }: the sender's worker slot and the step it trains from, or
 *   nulls while it has none (a joiner waiting for its snapshot). Sent after the manifest and
 *   again whenever it changes.
 * - `snapshot.request` {}: a joiner asks this peer for its model and algorithm state.
 * - `snapshot.assign` { slot, startStep, snapshotId }: the answer's first part: the slot the
 *   joiner gets and the step the snapshot was taken at; `snapshot.chunk` frames follow.
 * - `snapshot.refused` { code, reason }: this peer will not send a snapshot (no free slot,
 *   not training itself); the joiner asks another one.
 * - `roster` { peer, slot, startStep }: the sender has just promised `slot` to joiner `peer`,
 *   which trains from `startStep`. Receivers count the joiner present from that step until
 *   its own `member` message arrives. Sent before the sender's own messages of that step,
 *   on the same ordered channel, so a receiver knows of the joiner before it can finish it.
 */
import { CoreError, ERROR_CODES, type ErrorCode } from '../errors.ts'
import type { DeltaMessage } from '../protocol/messages.ts'
import { PEER_ID_PATTERN } from '../protocol/signaling.ts'
import { parseRunManifest, type RunManifest } from './run-manifest.ts'

/** Envelope bytes of `delta` frames. */
export const DELTA_FRAME_KINDS = { delta: 1, gradient: 2, model: 3, control: 16 } as const
/** Envelope bytes of `pushsum.share` frames. */
export const PUSH_SUM_FRAME_KINDS = { 'push-sum': 1, 'hand-over': 2 } as const

/** Longest control message, in bytes of JSON. */
export const MAX_CONTROL_BYTES = 32 * 1024

export interface ManifestControl {
  readonly type: 'manifest'
  readonly manifest: RunManifest
}
export interface MemberControl {
  readonly type: 'member'
  readonly slot: number | null
  readonly startStep: number | null
}
export interface SnapshotRequestControl {
  readonly type: 'snapshot.request'
}
export interface SnapshotAssignControl {
  readonly type: 'snapshot.assign'
  readonly slot: number
  readonly startStep: number
  readonly snapshotId: number
}
export interface SnapshotRefusedControl {
  readonly type: 'snapshot.refused'
  readonly code: ErrorCode
  readonly reason: string
}
export interface RosterControl {
  readonly type: 'roster'
  readonly peer: string
  readonly slot: number
  readonly startStep: number
}
export type ControlMessage =
  | ManifestControl
  | MemberControl
  | SnapshotRequestControl
  | SnapshotAssignControl
  | SnapshotRefusedControl
  | RosterControl

/** Longest `snapshot.refused` reason, in characters. */
export const MAX_REASON_CHARS = 512

/** Largest slot index or step a control message may carry. */
const MAX_INDEX = Number.MAX_SAFE_INTEGER

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isIndex(value: unknown, max = MAX_INDEX): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max
}

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value)
}

function keysAre(o: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(o)
  return own.length === keys.length && keys.every((k) => own.includes(k))
}

function bad(message: string): CoreError {
  return new CoreError('ERR_BAD_MESSAGE', `control message: ${message}`)
}

/** Validates a decoded JSON value as a control message; ERR_BAD_MESSAGE when it is not one. */
export function parseControlMessage(value: unknown): ControlMessage {
  if (!isRecord(value)) throw bad('not an object')
  switch (value.type) {
    case 'manifest':
      if (!keysAre(value, ['type', 'manifest'])) throw bad('manifest: unexpected fields')
      return { type: 'manifest', manifest: parseRunManifest(value.manifest) }
    case 'member': {
      if (!keysAre(value, ['type', 'slot', 'startStep'])) throw bad('member: unexpected fields')
      const { slot, startStep } = value
      if (slot === null && startStep === null) return { type: 'member', slot: null, startStep: null }
      if (!isIndex(slot, 65_535) || !isIndex(startStep))
        throw bad('member: slot and startStep must both be indices or both null')
      return { type: 'member', slot, startStep }
    }
    case 'snapshot.request':
      if (!keysAre(value, ['type'])) throw bad('snapshot.request: unexpected fields')
      return { type: 'snapshot.request' }
    case 'snapshot.assign': {
      if (!keysAre(value, ['type', 'slot', 'startStep', 'snapshotId']))
        throw bad('snapshot.assign: unexpected fields')
      const { slot, startStep, snapshotId } = value
      if (!isIndex(slot, 65_535) || !isIndex(startStep) || !isIndex(snapshotId, 0xffffffff))
        throw bad('snapshot.assign: slot, startStep and snapshotId must be indices')
      return { type: 'snapshot.assign', slot, startStep, snapshotId }
    }
    case 'roster': {
      if (!keysAre(value, ['type', 'peer', 'slot', 'startStep'])) throw bad('roster: unexpected fields')
      const { peer, slot, startStep } = value
      if (typeof peer !== 'string' || !PEER_ID_PATTERN.test(peer)) throw bad('roster: malformed peer id')
      if (!isIndex(slot, 65_535) || !isIndex(startStep))
        throw bad('roster: slot and startStep must be indices')
      return { type: 'roster', peer, slot, startStep }
    }
    case 'snapshot.refused': {
      if (!keysAre(value, ['type', 'code', 'reason'])) throw bad('snapshot.refused: unexpected fields')
      const { code, reason } = value
      if (!isErrorCode(code)) throw bad('snapshot.refused: unknown error code')
      if (typeof reason !== 'string' || reason.length > MAX_REASON_CHARS)
        throw bad(`snapshot.refused: reason must be a string of at most ${MAX_REASON_CHARS} characters`)
      return { type: 'snapshot.refused', code, reason }
    }
    default:
      throw bad(`unknown type ${JSON.stringify(value.type)?.slice(0, 40) ?? typeof value.type}`)
  }
}

const encoder = new TextEncoder()

/** The `delta` message that carries a control message (round 0, compressor id 0). */
export function controlToDelta(control: ControlMessage): DeltaMessage {
  const json = encoder.encode(JSON.stringify(control))
  if (json.length > MAX_CONTROL_BYTES)
    throw new CoreError('ERR_INVALID_ARGUMENT', `control message of ${json.length} bytes is too long`)
  const payload = new Uint8Array(1 + json.length)
  payload[0] = DELTA_FRAME_KINDS.control
  payload.set(json, 1)
  return { type: 'delta', round: 0, compressorWireId: 0, payload }
}

/** True when a decoded `delta` message carries a control message. */
export function isControlDelta(message: DeltaMessage): boolean {
  return message.payload[0] === DELTA_FRAME_KINDS.control
}

/**
 * Reads the control message from a `delta` message whose envelope byte is `control`.
 * ERR_BAD_MESSAGE for a wrong header, invalid UTF-8, bad JSON or a malformed message.
 */
export function deltaToControl(message: DeltaMessage): ControlMessage {
  if (!isControlDelta(message)) throw bad('not a control frame')
  if (message.round !== 0 || message.compressorWireId !== 0 || message.sampleCount !== undefined)
    throw bad('control frames carry round 0, compressor 0 and no sample count')
  const body = message.payload.subarray(1)
  if (body.length > MAX_CONTROL_BYTES) throw bad(`${body.length} bytes is over the limit`)
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
  } catch {
    throw bad('not valid UTF-8 JSON')
  }
  return parseControlMessage(value)
}
