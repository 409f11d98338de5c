import { describe, expect, it } from 'vitest'
import { crc32cReference } from '../../../../core/protocol/crc32c.ts'
import {
  FRAME_HEADER_BYTES,
  MAX_ROUND,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
} from '../../../../core/protocol/frame.ts'
import type { FrameFields } from '../../../../core/protocol/frame.ts'
import { ALICE, BOB, EXPECT, LAYOUT, OTHER_LAYOUT, OTHER_ROOM, ROOM, expectCode, reseal } from './fixtures.ts'

const FIELDS: FrameFields = {
  type: 'delta',
  compressorId: 3,
  roomId: ROOM,
  senderId: ALICE,
  round: 0x1_0000_0002,
  layoutFingerprint: LAYOUT,
}
const PAYLOAD = Uint8Array.from([9, 8, 7, 6, 5])
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function edited(frame: Uint8Array, edit: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const copy = frame.slice()
  edit(new DataView(copy.buffer), copy)
  return copy
}

describe('encodeFrame', () => {
  it('lays the header out at the documented offsets', () => {
    const frame = encodeFrame(FIELDS, PAYLOAD)
    expect(frame.length).toBe(64 + 5)
    expect(hex(frame.subarray(0, 8))).toBe('4c48465202020300') // LHFR, v2, delta, compressor 3, flags 0
    expect(hex(frame.subarray(8, 24))).toBe(ROOM)
    expect(hex(frame.subarray(24, 40))).toBe(ALICE)
    expect(hex(frame.subarray(40, 48))).toBe('0200000001000000') // u64 LE 2^32 + 2
    expect(hex(frame.subarray(48, 56))).toBe(LAYOUT)
    expect(hex(frame.subarray(56, 60))).toBe('05000000')
    const covered = new Uint8Array([...frame.subarray(0, 60), ...PAYLOAD])
    expect(new DataView(frame.buffer).getUint32(60, true)).toBe(crc32cReference(covered))
    expect([...frame.subarray(64)]).toEqual([...PAYLOAD])
  })

  it('writes a payload given in parts exactly as the same bytes given whole', () => {
    const parts = [PAYLOAD.subarray(0, 2), new Uint8Array(0), PAYLOAD.subarray(2)]
    expect(encodeFrame(FIELDS, parts)).toEqual(encodeFrame(FIELDS, PAYLOAD))
  })

  it('refuses malformed fields with ERR_INVALID_ARGUMENT', () => {
    expectCode(() => encodeFrame({ ...FIELDS, compressorId: 256 }, PAYLOAD), 'ERR_INVALID_ARGUMENT')
    expectCode(() => encodeFrame({ ...FIELDS, round: -1 }, PAYLOAD), 'ERR_INVALID_ARGUMENT')
    expectCode(() => encodeFrame({ ...FIELDS, round: 1.5 }, PAYLOAD), 'ERR_INVALID_ARGUMENT')
    expectCode(() => encodeFrame({ ...FIELDS, round: MAX_ROUND + 1 }, PAYLOAD), 'ERR_INVALID_ARGUMENT')
    expectCode(() => encodeFrame({ ...FIELDS, roomId: 'room' }, PAYLOAD), 'ERR_INVALID_ARGUMENT')
    expectCode(
      () => encodeFrame({ ...FIELDS, senderId: ALICE.toUpperCase() }, PAYLOAD),
      'ERR_INVALID_ARGUMENT',
    )
    expectCode(() => encodeFrame({ ...FIELDS, layoutFingerprint: 'abc' }, PAYLOAD), 'ERR_INVALID_ARGUMENT')
    expectCode(
      () => encodeFrame({ ...FIELDS, layoutFingerprint: '0123456789abcdeg' }, PAYLOAD),
      'ERR_INVALID_ARGUMENT',
    )
  })
})

describe('decodeFrame', () => {
  it('returns every header field and the payload when the frame is valid', () => {
    const { header, payload } = decodeFrame(encodeFrame(FIELDS, PAYLOAD), { ...EXPECT, senderId: ALICE })
    expect(header).toEqual({
      version: PROTOCOL_VERSION,
      type: 'delta',
      compressorId: 3,
      roomId: ROOM,
      senderId: ALICE,
      round: 0x1_0000_0002,
      layoutFingerprint: LAYOUT,
      payloadBytes: 5,
    })
    expect([...payload]).toEqual([...PAYLOAD])
  })

  it('round-trips the largest round and an empty payload', () => {
    const { header, payload } = decodeFrame(
      encodeFrame({ ...FIELDS, round: MAX_ROUND }, new Uint8Array(0)),
      EXPECT,
    )
    expect(header.round).toBe(MAX_ROUND)
    expect(payload.length).toBe(0)
  })

  it('decodes a frame that sits at an odd offset inside a larger buffer', () => {
    const frame = encodeFrame(FIELDS, PAYLOAD)
    const host = new Uint8Array(frame.length + 3)
    host.set(frame, 3)
    expect(decodeFrame(host.subarray(3), EXPECT).header.round).toBe(0x1_0000_0002)
  })

  it('refuses a frame shorter than the header with ERR_BAD_MESSAGE', () => {
    expectCode(
      () => decodeFrame(encodeFrame(FIELDS, PAYLOAD).subarray(0, FRAME_HEADER_BYTES - 1), EXPECT),
      'ERR_BAD_MESSAGE',
    )
  })

  it('refuses a wrong magic with ERR_BAD_MESSAGE', () => {
    expectCode(
      () =>
        decodeFrame(
          edited(encodeFrame(FIELDS, PAYLOAD), (_v, b) => (b[0] = 0x4d)),
          EXPECT,
        ),
      'ERR_BAD_MESSAGE',
    )
  })

  it('refuses an unknown version with ERR_SCHEMA_MISMATCH even before the checksum', () => {
    const next = edited(encodeFrame(FIELDS, PAYLOAD), (v) => v.setUint8(4, PROTOCOL_VERSION + 1))
    expectCode(() => decodeFrame(next, EXPECT), 'ERR_SCHEMA_MISMATCH')
    expectCode(() => decodeFrame(reseal(next), EXPECT), 'ERR_SCHEMA_MISMATCH')
  })

  it('refuses a huge declared payload with ERR_FRAME_TOO_LARGE', () => {
    const huge = edited(encodeFrame(FIELDS, PAYLOAD), (v) => v.setUint32(56, 0xffffffff, true))
    expectCode(() => decodeFrame(huge, EXPECT), 'ERR_FRAME_TOO_LARGE')
  })

  it('refuses a frame longer than maxFrameBytes with ERR_FRAME_TOO_LARGE', () => {
    const frame = encodeFrame(FIELDS, new Uint8Array(100))
    expectCode(() => decodeFrame(frame, { ...EXPECT, maxFrameBytes: 163 }), 'ERR_FRAME_TOO_LARGE')
    expect(decodeFrame(frame, { ...EXPECT, maxFrameBytes: 164 }).payload.length).toBe(100)
  })

  it('refuses a truncated frame with ERR_BAD_MESSAGE', () => {
    const frame = encodeFrame(FIELDS, PAYLOAD)
    expectCode(() => decodeFrame(frame.subarray(0, frame.length - 1), EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses an extended frame with ERR_BAD_MESSAGE', () => {
    const frame = encodeFrame(FIELDS, PAYLOAD)
    expectCode(() => decodeFrame(new Uint8Array([...frame, 0]), EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses any flipped payload or header bit with ERR_BAD_MESSAGE', () => {
    const frame = encodeFrame(FIELDS, PAYLOAD)
    // Bits of the version (byte 4) and payload length (56..59) fail earlier with their own codes.
    for (const byteIndex of [5, 6, 7, 9, 30, 41, 50, 61, 64, 68]) {
      const flipped = edited(frame, (_v, b) => (b[byteIndex] = b[byteIndex]! ^ 0x10))
      expectCode(() => decodeFrame(flipped, EXPECT), 'ERR_BAD_MESSAGE')
    }
  })

  it('refuses reserved flags with ERR_BAD_MESSAGE', () => {
    const flagged = reseal(edited(encodeFrame(FIELDS, PAYLOAD), (v) => v.setUint8(7, 1)))
    expectCode(() => decodeFrame(flagged, EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses an unknown type code with ERR_BAD_MESSAGE', () => {
    for (const code of [0, 8, 255]) {
      const unknown = reseal(edited(encodeFrame(FIELDS, PAYLOAD), (v) => v.setUint8(5, code)))
      expectCode(() => decodeFrame(unknown, EXPECT), 'ERR_BAD_MESSAGE')
    }
  })

  it('refuses a round above 2^53 - 1 with ERR_BAD_MESSAGE', () => {
    const big = reseal(edited(encodeFrame(FIELDS, PAYLOAD), (v) => v.setUint32(44, 0x200000, true)))
    expectCode(() => decodeFrame(big, EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses a frame of another room with ERR_WRONG_ROOM', () => {
    expectCode(
      () => decodeFrame(encodeFrame({ ...FIELDS, roomId: OTHER_ROOM }, PAYLOAD), EXPECT),
      'ERR_WRONG_ROOM',
    )
  })

  it('refuses a frame of another layout with ERR_SCHEMA_MISMATCH', () => {
    const other = encodeFrame({ ...FIELDS, layoutFingerprint: OTHER_LAYOUT }, PAYLOAD)
    expectCode(() => decodeFrame(other, EXPECT), 'ERR_SCHEMA_MISMATCH')
  })

  it('refuses a frame whose sender is not the expected one with ERR_BAD_MESSAGE', () => {
    expectCode(
      () => decodeFrame(encodeFrame(FIELDS, PAYLOAD), { ...EXPECT, senderId: BOB }),
      'ERR_BAD_MESSAGE',
    )
  })

  it('reports corruption rather than a foreign room when the room bytes are damaged', () => {
    const damaged = edited(encodeFrame(FIELDS, PAYLOAD), (_v, b) => (b[10] = b[10]! ^ 1))
    expectCode(() => decodeFrame(damaged, EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses a maxFrameBytes below the header size with ERR_INVALID_ARGUMENT', () => {
    expectCode(
      () => decodeFrame(encodeFrame(FIELDS, PAYLOAD), { ...EXPECT, maxFrameBytes: 10 }),
      'ERR_INVALID_ARGUMENT',
    )
  })
})
