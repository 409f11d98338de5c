import { describe, expect, it } from 'vitest'
import type { AlgorithmMessage } from '../../../../core/algorithms/algorithm.ts'
import { algorithmToFrameMessage, frameMessageToAlgorithm } from '../../../../core/node/algorithm-frames.ts'
import { decodeMessage, encodeMessage, type Message } from '../../../../core/protocol/messages.ts'
import { DELTA_FRAME_KINDS } from '../../../../core/swarm/control-messages.ts'

const CONTEXT = { roomId: 'c'.repeat(32), senderId: 'd'.repeat(32), layoutFingerprint: 'fedcba9876543210' }

function wire(message: Message): Message {
  return decodeMessage(encodeMessage(message, CONTEXT), { ...CONTEXT, maxFrameBytes: 1 << 20 }).message
}

/** A payload that starts like a compressor payload of wire id 3. */
const PAYLOAD = Uint8Array.of(3, 1, 0, 0, 4, 0, 0, 0, 9, 9, 9, 9)

describe('algorithm frames', () => {
  it.each<AlgorithmMessage>([
    { kind: 'delta', round: 7, to: 'all', payload: PAYLOAD },
    { kind: 'gradient', round: 123, to: [1, 2], payload: PAYLOAD },
    { kind: 'model', round: 4, to: 'all', payload: PAYLOAD },
    { kind: 'push-sum', round: 55, to: [3], payload: PAYLOAD, weight: 0.25 },
    { kind: 'hand-over', round: 56, to: [0], payload: PAYLOAD, weight: 1.75 },
  ])('carries a $kind message through a frame unchanged', (message) => {
    const frame = algorithmToFrameMessage(message)
    expect(frame.compressorWireId).toBe(3)
    const back = frameMessageToAlgorithm(wire(frame), 5)
    expect(back).toEqual({ ...message, to: [5] })
    // The received payload is a fresh, aligned copy.
    expect(back.payload.byteOffset).toBe(0)
  })

  it('carries an empty payload (an abstention) with compressor id 0', () => {
    const frame = algorithmToFrameMessage({ kind: 'delta', round: 2, to: 'all', payload: new Uint8Array(0) })
    expect(frame.compressorWireId).toBe(0)
    expect(frameMessageToAlgorithm(wire(frame), 1).payload.length).toBe(0)
  })

  it('refuses a frame whose header names another compressor than its payload', () => {
    const frame = {
      ...algorithmToFrameMessage({ kind: 'delta', round: 2, to: 'all', payload: PAYLOAD }),
      compressorWireId: 4,
    }
    expect(() => frameMessageToAlgorithm(wire(frame), 1)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_MESSAGE' }),
    )
  })

  it('refuses an unknown envelope byte', () => {
    const frame: Message = { type: 'delta', round: 1, compressorWireId: 0, payload: Uint8Array.of(9) }
    expect(() => frameMessageToAlgorithm(frame, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_MESSAGE' }),
    )
  })

  it('does not read a control frame as an algorithm message', () => {
    const frame: Message = {
      type: 'delta',
      round: 0,
      compressorWireId: 0,
      payload: Uint8Array.of(DELTA_FRAME_KINDS.control, 0x7b, 0x7d),
    }
    expect(() => frameMessageToAlgorithm(frame, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_MESSAGE' }),
    )
  })

  it('refuses frames that carry no algorithm message', () => {
    expect(() => frameMessageToAlgorithm({ type: 'heartbeat', round: 1, sentAtMs: 5 }, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_MESSAGE' }),
    )
  })

  it('refuses to send a push-sum message without a weight', () => {
    expect(() => algorithmToFrameMessage({ kind: 'push-sum', round: 1, to: [1], payload: PAYLOAD })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
  })
})
