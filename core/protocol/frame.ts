/**
 * The versioned binary frame every peer-to-peer message travels in: a fixed 64-byte header,
 * then the payload. All integers are little-endian (the byte order of every typed array on
 * every platform we run on, so payload codecs and header agree).
 *
 * | offset | bytes | field              | rule                                                    |
 * | -----: | ----: | ------------------ | ------------------------------------------------------- |
 * |      0 |     4 | magic              | ASCII `LHFR` (0x4c 0x48 0x46 0x52)                      |
 * |      4 |     1 | version            | u8, PROTOCOL_VERSION (2); others: ERR_SCHEMA_MISMATCH  |
 * |      5 |     1 | type               | u8 wire code from MESSAGE_WIRE_CODES                    |
 * |      6 |     1 | compressor id      | u8 Compressor.wireId; 0 for uncompressed types          |
 * |      7 |     1 | flags              | u8, reserved, must be 0 in version 1                    |
 * |      8 |    16 | room id            | salted FNV-1a hash of the room name (ids.ts)            |
 * |     24 |    16 | sender id          | salted FNV-1a hash of the sender's peer id (ids.ts)     |
 * |     40 |     8 | round / step       | u64, at most 2^53 - 1                                   |
 * |     48 |     8 | layout fingerprint | ParamLayout.fingerprint (FNV-1a 64), big-endian bytes   |
 * |     56 |     4 | payload length     | u32, header + payload <= the receiver's maxFrameBytes   |
 * |     60 |     4 | checksum           | u32 CRC-32C of bytes 0..59, continued over the payload  |
 *
 * Decoding checks, in this order, and allocates nothing (header ids become short strings,
 * the payload is a view into the input):
 * length >= 64, magic (ERR_BAD_MESSAGE) → version (ERR_SCHEMA_MISMATCH) → frame and declared
 * payload within maxFrameBytes (ERR_FRAME_TOO_LARGE) → declared length equals actual length
 * → checksum → flags, type code, round (ERR_BAD_MESSAGE) → room (ERR_WRONG_ROOM) → layout
 * fingerprint (ERR_SCHEMA_MISMATCH) → sender, when expected (ERR_BAD_MESSAGE).
 * The version is checked before the checksum because a future version may checksum
 * differently; the room after it, so a corrupted frame reads as corrupt, not as foreign.
 */
import { CoreError } from '../errors.ts'
import { crc32c } from './crc32c.ts'
import { bytesToHex, hexToBytes } from './byte-io.ts'
import { ID_BYTES, isWireId } from './ids.ts'
import { MESSAGE_WIRE_CODES, messageTypeFromCode } from './message-types.ts'
import type { MessageType } from './message-types.ts'

/**
 * The protocol version this build speaks; frames of any other version are refused.
 * 2: top-k payloads carry LEB128 index gaps (core/compress/top-k.ts format version 2), so a
 * version-1 peer is refused at admission instead of failing on every top-k message.
 */
export const PROTOCOL_VERSION = 2

/** Bytes before the payload. */
export const FRAME_HEADER_BYTES = 64

/** ASCII "LHFR". */
export const FRAME_MAGIC: readonly number[] = [0x4c, 0x48, 0x46, 0x52]

/** Bytes of a layout fingerprint on the wire (16 hex digits in the API). */
export const FINGERPRINT_BYTES = 8

/**
 * Default receive limit for one frame, header included. Large enough for an uncompressed
 * f32 delta of ~16M parameters; raise it if peers refuse dense deltas of bigger models with
 * ERR_FRAME_TOO_LARGE (or, better, send snapshots in chunks and compress deltas).
 */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024

/** Hard ceiling: the chunker carries a frame's total length as a u32. */
export const MAX_FRAME_BYTES_LIMIT = 0xffffffff

/** Largest round or step a header can carry. */
export const MAX_ROUND = Number.MAX_SAFE_INTEGER

const OFFSET = {
  magic: 0,
  version: 4,
  type: 5,
  compressorId: 6,
  flags: 7,
  roomId: 8,
  senderId: 24,
  round: 40,
  fingerprint: 48,
  payloadLength: 56,
  checksum: 60,
} as const

const FINGERPRINT_HEX = /^[0-9a-f]{16}$/

/** What a sender puts in a header. */
export interface FrameFields {
  readonly type: MessageType
  /** Compressor.wireId for delta and push-sum frames; 0 (the default) otherwise. */
  readonly compressorId?: number
  /** 32 hex digits, from roomIdFromName. */
  readonly roomId: string
  /** 32 hex digits, from senderIdFromPeerId. */
  readonly senderId: string
  /** Round (or SGP step) the payload belongs to; 0 by default. */
  readonly round?: number
  /** 16 hex digits: ParamLayout.fingerprint. */
  readonly layoutFingerprint: string
}

/** A decoded, validated header. */
export interface FrameHeader {
  readonly version: number
  readonly type: MessageType
  readonly compressorId: number
  readonly roomId: string
  readonly senderId: string
  readonly round: number
  readonly layoutFingerprint: string
  readonly payloadBytes: number
}

/** What a receiver requires of every frame it accepts. */
export interface FrameExpectations {
  /** 32 hex digits; frames of another room fail with ERR_WRONG_ROOM. */
  readonly roomId: string
  /** 16 hex digits; frames of another layout fail with ERR_SCHEMA_MISMATCH. */
  readonly layoutFingerprint: string
  /** Largest frame accepted, header included (default DEFAULT_MAX_FRAME_BYTES). */
  readonly maxFrameBytes: number
  /**
   * The sender this frame must come from (the peer whose data channel delivered it);
   * a frame claiming another sender fails with ERR_BAD_MESSAGE. Unchecked when absent.
   */
  readonly senderId?: string
}

export interface Frame {
  readonly header: FrameHeader
  /** A view into the decoded bytes, not a copy. */
  readonly payload: Uint8Array
}

/**
 * Builds one frame: header plus a copy of `payload`. The payload may be given in parts
 * (e.g. a small message prefix and a large compressor output), which are copied straight
 * into the frame so a multi-megabyte delta is copied once. Fails with ERR_INVALID_ARGUMENT
 * on malformed fields and ERR_FRAME_TOO_LARGE past MAX_FRAME_BYTES_LIMIT.
 */
export function encodeFrame(fields: FrameFields, payload: Uint8Array | readonly Uint8Array[]): Uint8Array {
  const parts = payload instanceof Uint8Array ? [payload] : payload
  let payloadBytes = 0
  for (const part of parts) payloadBytes += part.length
  const compressorId = fields.compressorId ?? 0
  const round = fields.round ?? 0
  if (!Number.isInteger(compressorId) || compressorId < 0 || compressorId > 0xff) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `compressor id must be a u8, got ${compressorId}`)
  }
  if (!Number.isSafeInteger(round) || round < 0) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `round must be an integer in [0, 2^53 - 1], got ${round}`)
  }
  if (!isWireId(fields.roomId))
    throw new CoreError('ERR_INVALID_ARGUMENT', `room id must be 32 lower-case hex digits`)
  if (!isWireId(fields.senderId))
    throw new CoreError('ERR_INVALID_ARGUMENT', `sender id must be 32 lower-case hex digits`)
  if (!FINGERPRINT_HEX.test(fields.layoutFingerprint)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `layout fingerprint must be 16 lower-case hex digits`)
  }
  const totalBytes = FRAME_HEADER_BYTES + payloadBytes
  if (totalBytes > MAX_FRAME_BYTES_LIMIT) {
    throw new CoreError('ERR_FRAME_TOO_LARGE', `a ${payloadBytes}-byte payload does not fit one frame`)
  }
  const frame = new Uint8Array(totalBytes)
  const view = new DataView(frame.buffer)
  frame.set(FRAME_MAGIC, OFFSET.magic)
  view.setUint8(OFFSET.version, PROTOCOL_VERSION)
  view.setUint8(OFFSET.type, MESSAGE_WIRE_CODES[fields.type])
  view.setUint8(OFFSET.compressorId, compressorId)
  view.setUint8(OFFSET.flags, 0)
  frame.set(hexToBytes(fields.roomId, ID_BYTES, 'room id'), OFFSET.roomId)
  frame.set(hexToBytes(fields.senderId, ID_BYTES, 'sender id'), OFFSET.senderId)
  view.setUint32(OFFSET.round, round % 0x100000000, true)
  view.setUint32(OFFSET.round + 4, Math.floor(round / 0x100000000), true)
  frame.set(hexToBytes(fields.layoutFingerprint, FINGERPRINT_BYTES, 'layout fingerprint'), OFFSET.fingerprint)
  view.setUint32(OFFSET.payloadLength, payloadBytes, true)
  let at = FRAME_HEADER_BYTES
  for (const part of parts) {
    frame.set(part, at)
    at += part.length
  }
  const checksum = crc32c(frame.subarray(FRAME_HEADER_BYTES), crc32c(frame.subarray(0, OFFSET.checksum)))
  view.setUint32(OFFSET.checksum, checksum, true)
  return frame
}

/**
 * Validates one frame against `expect` and returns its header and a view of its payload.
 * Throws only CoreError: ERR_BAD_MESSAGE (malformed, corrupt, unknown type, wrong sender),
 * ERR_SCHEMA_MISMATCH (other version or layout), ERR_WRONG_ROOM, ERR_FRAME_TOO_LARGE, and
 * ERR_INVALID_ARGUMENT for malformed expectations.
 */
export function decodeFrame(bytes: Uint8Array, expect: FrameExpectations): Frame {
  const maxFrameBytes = expect.maxFrameBytes
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < FRAME_HEADER_BYTES) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `maxFrameBytes must be an integer >= ${FRAME_HEADER_BYTES}`)
  }
  if (bytes.length < FRAME_HEADER_BYTES) {
    throw new CoreError(
      'ERR_BAD_MESSAGE',
      `frame of ${bytes.length} bytes is shorter than its ${FRAME_HEADER_BYTES}-byte header`,
    )
  }
  for (let i = 0; i < FRAME_MAGIC.length; i++) {
    if (bytes[OFFSET.magic + i] !== FRAME_MAGIC[i])
      throw new CoreError('ERR_BAD_MESSAGE', 'frame does not start with LHFR')
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint8(OFFSET.version)
  if (version !== PROTOCOL_VERSION) {
    throw new CoreError(
      'ERR_SCHEMA_MISMATCH',
      `peer speaks protocol version ${version}, this build speaks ${PROTOCOL_VERSION}`,
    )
  }
  const payloadBytes = view.getUint32(OFFSET.payloadLength, true)
  if (bytes.length > maxFrameBytes || payloadBytes > maxFrameBytes - FRAME_HEADER_BYTES) {
    throw new CoreError(
      'ERR_FRAME_TOO_LARGE',
      `frame of ${bytes.length} bytes (payload declared ${payloadBytes}) exceeds the ${maxFrameBytes}-byte limit`,
    )
  }
  if (FRAME_HEADER_BYTES + payloadBytes !== bytes.length) {
    throw new CoreError(
      'ERR_BAD_MESSAGE',
      `frame declares a ${payloadBytes}-byte payload but carries ${bytes.length - FRAME_HEADER_BYTES}`,
    )
  }
  const payload = bytes.subarray(FRAME_HEADER_BYTES)
  const checksum = crc32c(payload, crc32c(bytes.subarray(0, OFFSET.checksum)))
  if (checksum !== view.getUint32(OFFSET.checksum, true)) {
    throw new CoreError('ERR_BAD_MESSAGE', 'frame checksum does not match: corrupted in transit or by a bug')
  }
  const flags = view.getUint8(OFFSET.flags)
  if (flags !== 0)
    throw new CoreError('ERR_BAD_MESSAGE', `frame flags ${flags} are reserved in version ${PROTOCOL_VERSION}`)
  const typeCode = view.getUint8(OFFSET.type)
  const type = messageTypeFromCode(typeCode)
  if (type === undefined) throw new CoreError('ERR_BAD_MESSAGE', `unknown message type code ${typeCode}`)
  const roundLo = view.getUint32(OFFSET.round, true)
  const roundHi = view.getUint32(OFFSET.round + 4, true)
  if (roundHi > 0x1fffff) throw new CoreError('ERR_BAD_MESSAGE', 'frame round exceeds 2^53 - 1')
  const roomId = bytesToHex(bytes.subarray(OFFSET.roomId, OFFSET.roomId + ID_BYTES))
  if (roomId !== expect.roomId) {
    throw new CoreError('ERR_WRONG_ROOM', `frame belongs to room ${roomId}, expected ${expect.roomId}`)
  }
  const layoutFingerprint = bytesToHex(
    bytes.subarray(OFFSET.fingerprint, OFFSET.fingerprint + FINGERPRINT_BYTES),
  )
  if (layoutFingerprint !== expect.layoutFingerprint) {
    throw new CoreError(
      'ERR_SCHEMA_MISMATCH',
      `peer's model layout ${layoutFingerprint} differs from ours (${expect.layoutFingerprint})`,
    )
  }
  const senderId = bytesToHex(bytes.subarray(OFFSET.senderId, OFFSET.senderId + ID_BYTES))
  if (expect.senderId !== undefined && senderId !== expect.senderId) {
    throw new CoreError(
      'ERR_BAD_MESSAGE',
      `frame claims sender ${senderId} but arrived from ${expect.senderId}`,
    )
  }
  return {
    header: {
      version,
      type,
      compressorId: view.getUint8(OFFSET.compressorId),
      roomId,
      senderId,
      round: roundHi * 0x100000000 + roundLo,
      layoutFingerprint,
      payloadBytes,
    },
    payload,
  }
}
