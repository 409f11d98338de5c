import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeMessage } from '../../../../core/protocol/messages.ts'
import type { DeltaMessage } from '../../../../core/protocol/messages.ts'
import {
  DELTA_FRAME_KINDS,
  controlToDelta,
  deltaToControl,
  isControlDelta,
  parseControlMessage,
  type ControlMessage,
} from '../../../../core/swarm/control-messages.ts'

const CONTEXT = { roomId: 'a'.repeat(32), senderId: 'b'.repeat(32), layoutFingerprint: '0123456789abcdef' }

function throughWire(message: DeltaMessage): DeltaMessage {
  const decoded = decodeMessage(encodeMessage(message, CONTEXT), {
    ...CONTEXT,
    maxFrameBytes: 1 << 20,
  }).message
  if (decoded.type !== 'delta') throw new Error('not a delta')
  return decoded
}

const MESSAGES: ControlMessage[] = [
  {
    type: 'manifest',
    manifest: {
      protocolVersion: 1,
      model: { name: 'mlp', layoutFingerprint: '0123456789abcdef', parameterCount: 3 },
      algorithm: { kind: 'sync', compressor: 'none', errorFeedback: true },
      dataset: { inputShape: [2], classes: ['x', 'y'] },
      workerSlots: 8,
    },
  },
  { type: 'member', slot: 3, startStep: 120 },
  { type: 'member', slot: null, startStep: null },
  { type: 'snapshot.request' },
  { type: 'snapshot.assign', slot: 2, startStep: 64, snapshotId: 7 },
  { type: 'snapshot.refused', code: 'ERR_ROOM_FULL', reason: 'all 8 slots are taken' },
  { type: 'roster', peer: 'node-3', slot: 2, startStep: 48 },
]

describe('control messages', () => {
  it.each(MESSAGES.map((m) => [m.type, m] as const))(
    'round-trips %s through a delta frame',
    (_type, message) => {
      const delta = throughWire(controlToDelta(message))
      expect(isControlDelta(delta)).toBe(true)
      expect(delta.payload[0]).toBe(DELTA_FRAME_KINDS.control)
      expect(deltaToControl(delta)).toEqual(message)
    },
  )

  it.each([
    ['an unknown type', { type: 'shutdown' }],
    ['an extra field', { type: 'snapshot.request', extra: true }],
    ['a half-null membership', { type: 'member', slot: 1, startStep: null }],
    ['a negative slot', { type: 'member', slot: -1, startStep: 0 }],
    ['a fractional step', { type: 'snapshot.assign', slot: 1, startStep: 0.5, snapshotId: 1 }],
    ['an unknown error code', { type: 'snapshot.refused', code: 'ERR_MADE_UP', reason: '' }],
    ['a malformed manifest', { type: 'manifest', manifest: { protocolVersion: 1 } }],
    ['a roster entry with a malformed peer id', { type: 'roster', peer: 'a b', slot: 1, startStep: 0 }],
  ])('refuses %s', (_what, value) => {
    expect(() => parseControlMessage(value)).toThrow(expect.objectContaining({ code: 'ERR_BAD_MESSAGE' }))
  })

  it('refuses bytes that are not UTF-8 JSON', () => {
    const delta: DeltaMessage = {
      type: 'delta',
      round: 0,
      compressorWireId: 0,
      payload: Uint8Array.of(DELTA_FRAME_KINDS.control, 0xff, 0xfe, 0x7b),
    }
    expect(() => deltaToControl(delta)).toThrow(expect.objectContaining({ code: 'ERR_BAD_MESSAGE' }))
  })

  it('refuses a control frame with a round or compressor id', () => {
    const delta = { ...controlToDelta({ type: 'snapshot.request' }), round: 3 }
    expect(() => deltaToControl(delta)).toThrow(expect.objectContaining({ code: 'ERR_BAD_MESSAGE' }))
  })

  it('does not take an algorithm delta for a control message', () => {
    const delta: DeltaMessage = {
      type: 'delta',
      round: 2,
      compressorWireId: 1,
      payload: Uint8Array.of(DELTA_FRAME_KINDS.delta, 1, 1),
    }
    expect(isControlDelta(delta)).toBe(false)
    expect(() => deltaToControl(delta)).toThrow(expect.objectContaining({ code: 'ERR_BAD_MESSAGE' }))
  })
})
