/**
 * Maps the algorithms' messages (core/algorithms/algorithm.ts `AlgorithmMessage`) onto the
 * protocol's frames and back, with the one-byte envelope of core/swarm/control-messages.ts:
 *
 *   'delta' | 'gradient' | 'model'  →  `delta` frame,  payload = [kind byte] + compressor payload
 *   'push-sum' | 'hand-over'        →  `pushsum.share` frame, values = [kind byte] + payload,
 *                                      weight in the frame's f64 weight field
 *
 * The frame header's round is the message's round; its compressor id is the compressor
 * payload's own first byte (its wire id, core/compress/wire-format.ts), or 0 for an empty
 * payload (an abstention). A receiver checks the two agree. `to` is not on the wire: the
 * receiver learns it was addressed by getting the frame.
 */
import type { AlgorithmMessage, MessageKind } from '../algorithms/algorithm.ts'
import { CoreError } from '../errors.ts'
import type { DeltaMessage, Message, PushSumShareMessage } from '../protocol/messages.ts'
import { DELTA_FRAME_KINDS, PUSH_SUM_FRAME_KINDS } from '../swarm/control-messages.ts'

type DeltaKind = 'delta' | 'gradient' | 'model'
type PushKind = 'push-sum' | 'hand-over'

function isDeltaKind(kind: MessageKind): kind is DeltaKind {
  return kind === 'delta' || kind === 'gradient' || kind === 'model'
}

function withKind(byte: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + payload.length)
  out[0] = byte
  out.set(payload, 1)
  return out
}

function wireIdOf(payload: Uint8Array): number {
  return payload.length === 0 ? 0 : (payload[0] ?? 0)
}

/**
 * The frame message for an outgoing algorithm message. Throws ERR_INVALID_ARGUMENT for a
 * push-sum message without a finite weight >= 0 (an algorithm bug).
 */
export function algorithmToFrameMessage(message: AlgorithmMessage): DeltaMessage | PushSumShareMessage {
  const { kind, round, payload } = message
  if (isDeltaKind(kind)) {
    return {
      type: 'delta',
      round,
      compressorWireId: wireIdOf(payload),
      payload: withKind(DELTA_FRAME_KINDS[kind], payload),
    }
  }
  const weight = message.weight
  if (weight === undefined || !Number.isFinite(weight) || weight < 0) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `${kind} message of round ${round} needs a finite weight >= 0`,
    )
  }
  return {
    type: 'pushsum.share',
    step: round,
    weight,
    compressorWireId: wireIdOf(payload),
    values: withKind(PUSH_SUM_FRAME_KINDS[kind], payload),
  }
}

const DELTA_KIND_BY_BYTE = new Map<number, DeltaKind>(
  (Object.keys(DELTA_FRAME_KINDS) as Array<keyof typeof DELTA_FRAME_KINDS>)
    .filter((k): k is DeltaKind => k !== 'control')
    .map((k) => [DELTA_FRAME_KINDS[k], k]),
)
const PUSH_KIND_BY_BYTE = new Map<number, PushKind>(
  (Object.keys(PUSH_SUM_FRAME_KINDS) as PushKind[]).map((k) => [PUSH_SUM_FRAME_KINDS[k], k]),
)

/**
 * The algorithm message a received frame carries, addressed to `selfSlot`. The payload is a
 * fresh copy (aligned, owned by the message). ERR_BAD_MESSAGE for a frame that is not an
 * algorithm frame, an unknown envelope byte, or a header compressor id that disagrees with
 * the payload.
 */
export function frameMessageToAlgorithm(message: Message, selfSlot: number): AlgorithmMessage {
  if (message.type === 'delta') {
    const kind = DELTA_KIND_BY_BYTE.get(message.payload[0] ?? -1)
    if (kind === undefined)
      throw new CoreError('ERR_BAD_MESSAGE', `delta frame with unknown envelope byte ${message.payload[0]}`)
    const payload = message.payload.slice(1)
    checkWireId(message.compressorWireId, payload, kind, message.round)
    return { kind, round: message.round, to: [selfSlot], payload }
  }
  if (message.type === 'pushsum.share') {
    const kind = PUSH_KIND_BY_BYTE.get(message.values[0] ?? -1)
    if (kind === undefined)
      throw new CoreError('ERR_BAD_MESSAGE', `push-sum frame with unknown envelope byte ${message.values[0]}`)
    const payload = message.values.slice(1)
    checkWireId(message.compressorWireId, payload, kind, message.step)
    return { kind, round: message.step, to: [selfSlot], payload, weight: message.weight }
  }
  throw new CoreError('ERR_BAD_MESSAGE', `${message.type} frame does not carry an algorithm message`)
}

function checkWireId(headerId: number, payload: Uint8Array, kind: MessageKind, round: number): void {
  if (headerId !== wireIdOf(payload)) {
    throw new CoreError(
      'ERR_BAD_MESSAGE',
      `${kind} of round ${round}: frame says compressor ${headerId}, payload says ${wireIdOf(payload)}`,
    )
  }
}
