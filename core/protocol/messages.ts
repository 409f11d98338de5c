/**
 * Typed messages and their payload codecs. A message travels as one frame (frame.ts); the
 * header carries its type, round and compressor id, the payload carries the rest. Every
 * multi-byte number is little-endian; strings are UTF-8 behind a u8 or u16 byte length.
 *
 * Payloads by type (header round / compressor id in brackets):
 * - hello [round: sender's current round; compressor 0]
 *   u16 protocolVersion (= header version) · str8 softwareVersion · u32 maxChunkBytes ·
 *   u8 n + n × str8 compressors · u8 m + m × str8 algorithms · 8 B layoutFingerprint
 *   (= header fingerprint) · 8 B manifestHash
 * - delta [round; compressorWireId]
 *   u8 flags (bit 0: sampleCount present) · [u32 sampleCount] · compressor payload (rest)
 * - pushsum.share [step; compressorWireId]
 *   f64 weight (finite, >= 0) · compressed values (rest)
 * - snapshot.chunk [round the snapshot was taken at; compressor 0]
 *   u32 snapshotId · u32 chunkIndex · u32 chunkCount · u32 totalBytes · 8 B snapshotHash
 *   (FNV-1a 64 of the whole snapshot) · chunk bytes (rest; length fixed by split.ts)
 * - heartbeat [sender's current round; compressor 0]
 *   u8 flags (bit 0: echo present) · f64 sentAtMs · f64 echoOfMs (0 when absent)
 * - bye [round 0; compressor 0]  str16 reason
 * - error [round 0; compressor 0]  str8 code ([A-Z0-9_]) · str16 message
 *
 * Encoding is canonical: reserved bits, absent fields and unused header fields must be zero,
 * and nothing may trail a message. So every frame decodeMessage accepts re-encodes to the
 * same bytes, and there is exactly one valid encoding of each message. Decoders check every
 * count and length against its limit and against the bytes present before they allocate;
 * byte fields (delta payload, values, snapshot bytes) are views into the frame, not copies.
 */
import { CoreError } from '../errors.ts'
import { ByteReader, ByteWriter, hexToBytes, utf8 } from './byte-io.ts'
import { MIN_CHUNK_BYTES } from './chunker.ts'
import { FINGERPRINT_BYTES, MAX_ROUND, PROTOCOL_VERSION, decodeFrame, encodeFrame } from './frame.ts'
import type { FrameExpectations, FrameHeader } from './frame.ts'
import type { MessageType } from './message-types.ts'
import { expectedPieceLength } from './split.ts'

/** Longest software version, compressor spec, algorithm spec or error code, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 64
/** Most compressors or algorithms a hello may list. */
export const MAX_LIST_ITEMS = 32
/** Longest bye reason or error message, in UTF-8 bytes. */
export const MAX_TEXT_BYTES = 1024

export interface HelloCapabilities {
  /** Compressor specs this peer can decode, e.g. `topk:0.01`. */
  readonly compressors: readonly string[]
  /** Largest data-channel message this peer accepts (>= MIN_CHUNK_BYTES). */
  readonly maxChunkBytes: number
  /** Algorithm names this peer can run, e.g. `olco3`. */
  readonly algorithms: readonly string[]
}

export interface HelloMessage {
  readonly type: 'hello'
  /** The sender's current round (0 before training). */
  readonly round: number
  readonly protocolVersion: number
  readonly softwareVersion: string
  readonly capabilities: HelloCapabilities
  /** 16 hex digits; equals the frame header's fingerprint. */
  readonly layoutFingerprint: string
  /** 16 hex digits: FNV-1a 64 of the run manifest, so peers of different runs can refuse each other. */
  readonly manifestHash: string
}

export interface DeltaMessage {
  readonly type: 'delta'
  readonly round: number
  /** Compressor.wireId of the compressor that produced `payload`. */
  readonly compressorWireId: number
  readonly payload: Uint8Array
  /** Samples the sender trained on this round, for weighted averaging. */
  readonly sampleCount?: number
}

export interface PushSumShareMessage {
  readonly type: 'pushsum.share'
  readonly step: number
  /** The push-sum weight share (finite, >= 0). */
  readonly weight: number
  readonly compressorWireId: number
  /** The compressed value share. */
  readonly values: Uint8Array
}

export interface SnapshotChunkMessage {
  readonly type: 'snapshot.chunk'
  /** The round the snapshot was taken at. */
  readonly round: number
  /** u32 chosen by the sender; all chunks of one snapshot share it. */
  readonly snapshotId: number
  readonly chunkIndex: number
  readonly chunkCount: number
  /** Length of the whole snapshot, u32. */
  readonly totalBytes: number
  /** 16 hex digits: FNV-1a 64 of the whole snapshot. */
  readonly snapshotHash: string
  readonly bytes: Uint8Array
}

export interface HeartbeatMessage {
  readonly type: 'heartbeat'
  /** The sender's current round, for staleness display. */
  readonly round: number
  /** Sender's clock when sent, ms (finite, >= 0). */
  readonly sentAtMs: number
  /** The `sentAtMs` of the peer's heartbeat this one answers, for RTT. */
  readonly echoOfMs?: number
}

export interface ByeMessage {
  readonly type: 'bye'
  readonly reason: string
}

export interface ErrorMessage {
  readonly type: 'error'
  /** A stable code such as `ERR_SCHEMA_MISMATCH`: 1-64 characters of [A-Z0-9_]. */
  readonly code: string
  readonly message: string
}

export type Message =
  | HelloMessage
  | DeltaMessage
  | PushSumShareMessage
  | SnapshotChunkMessage
  | HeartbeatMessage
  | ByeMessage
  | ErrorMessage

/** Who sends: the header fields a message does not carry itself. */
export interface FrameContext {
  /** 32 hex digits, from roomIdFromName. */
  readonly roomId: string
  /** 32 hex digits, from senderIdFromPeerId. */
  readonly senderId: string
  /** 16 hex digits: ParamLayout.fingerprint. */
  readonly layoutFingerprint: string
}

export interface DecodedMessage {
  readonly header: FrameHeader
  readonly message: Message
}

const FLAG_PRESENT = 1
const ERROR_CODE_PATTERN = /^[A-Z0-9_]{1,64}$/
const HEX16 = /^[0-9a-f]{16}$/
// With the u flag, paired surrogates form one code point, so only lone ones match.
const LONE_SURROGATE = /\p{Cs}/u

/**
 * Encodes `message` as one frame. Fails with ERR_INVALID_ARGUMENT when a field is outside
 * what the wire can carry or what decodeMessage would accept (so nothing we send is ever
 * refused for its form), ERR_FRAME_TOO_LARGE past the u32 frame limit.
 */
export function encodeMessage(message: Message, context: FrameContext): Uint8Array {
  switch (message.type) {
    case 'hello':
      return encodeFrame({ ...context, type: 'hello', round: message.round }, encodeHello(message, context))
    case 'delta':
      return encodeFrame(
        { ...context, type: 'delta', round: message.round, compressorId: message.compressorWireId },
        encodeDelta(message),
      )
    case 'pushsum.share':
      return encodeFrame(
        { ...context, type: 'pushsum.share', round: message.step, compressorId: message.compressorWireId },
        encodePushSum(message),
      )
    case 'snapshot.chunk':
      return encodeFrame(
        { ...context, type: 'snapshot.chunk', round: message.round },
        encodeSnapshotChunk(message),
      )
    case 'heartbeat':
      return encodeFrame({ ...context, type: 'heartbeat', round: message.round }, encodeHeartbeat(message))
    case 'bye':
      return encodeFrame({ ...context, type: 'bye' }, encodeBye(message))
    case 'error':
      return encodeFrame({ ...context, type: 'error' }, encodeError(message))
  }
}

/**
 * Decodes and validates one frame (see decodeFrame for the header checks) and its payload.
 * Throws only CoreError (ERR_BAD_MESSAGE, ERR_WRONG_ROOM, ERR_SCHEMA_MISMATCH,
 * ERR_FRAME_TOO_LARGE; ERR_INVALID_ARGUMENT for malformed expectations).
 */
export function decodeMessage(frame: Uint8Array, expect: FrameExpectations): DecodedMessage {
  const { header, payload } = decodeFrame(frame, expect)
  return { header, message: decodePayload(header, payload) }
}

/** Decodes a payload whose header decodeFrame has already validated. */
export function decodePayload(header: FrameHeader, payload: Uint8Array): Message {
  const r = new ByteReader(payload, `${header.type} message`)
  const type: MessageType = header.type
  if (type !== 'delta' && type !== 'pushsum.share' && header.compressorId !== 0) {
    throw new CoreError(
      'ERR_BAD_MESSAGE',
      `${type} frame carries compressor id ${header.compressorId}; it must be 0`,
    )
  }
  if ((type === 'bye' || type === 'error') && header.round !== 0) {
    throw new CoreError('ERR_BAD_MESSAGE', `${type} frame carries round ${header.round}; it must be 0`)
  }
  switch (type) {
    case 'hello':
      return decodeHello(r, header)
    case 'delta': {
      const flags = r.u8('flags')
      if ((flags & ~FLAG_PRESENT) !== 0)
        throw new CoreError('ERR_BAD_MESSAGE', `delta flags ${flags} set reserved bits`)
      const sampleCount = flags & FLAG_PRESENT ? r.u32('sampleCount') : undefined
      const base = {
        type,
        round: header.round,
        compressorWireId: header.compressorId,
        payload: r.rest(),
      } as const
      return sampleCount === undefined ? base : { ...base, sampleCount }
    }
    case 'pushsum.share': {
      const weight = r.f64('weight')
      if (weight < 0) throw new CoreError('ERR_BAD_MESSAGE', `push-sum weight ${weight} is negative`)
      return { type, step: header.round, weight, compressorWireId: header.compressorId, values: r.rest() }
    }
    case 'snapshot.chunk':
      return decodeSnapshotChunk(r, header)
    case 'heartbeat': {
      const flags = r.u8('flags')
      if ((flags & ~FLAG_PRESENT) !== 0)
        throw new CoreError('ERR_BAD_MESSAGE', `heartbeat flags ${flags} set reserved bits`)
      const sentAtMs = r.f64('sentAtMs')
      const echo = r.f64('echoOfMs')
      r.end()
      if (sentAtMs < 0 || echo < 0)
        throw new CoreError('ERR_BAD_MESSAGE', 'heartbeat times must not be negative')
      if (!(flags & FLAG_PRESENT)) {
        if (!Object.is(echo, 0))
          throw new CoreError('ERR_BAD_MESSAGE', 'heartbeat without echo carries an echo time')
        return { type, round: header.round, sentAtMs }
      }
      return { type, round: header.round, sentAtMs, echoOfMs: echo }
    }
    case 'bye': {
      const reason = r.string(2, MAX_TEXT_BYTES, 'reason')
      r.end()
      return { type, reason }
    }
    case 'error': {
      const code = r.string(1, MAX_NAME_BYTES, 'code')
      if (!ERROR_CODE_PATTERN.test(code))
        throw new CoreError('ERR_BAD_MESSAGE', 'error code must be [A-Z0-9_]{1,64}')
      const text = r.string(2, MAX_TEXT_BYTES, 'message')
      r.end()
      return { type, code, message: text }
    }
  }
}

// ---------------------------------------------------------------------------- hello

function encodeHello(m: HelloMessage, context: FrameContext): Uint8Array {
  if (m.protocolVersion !== PROTOCOL_VERSION) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `hello must announce protocol version ${PROTOCOL_VERSION}`)
  }
  if (m.layoutFingerprint !== context.layoutFingerprint) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      'hello layoutFingerprint must equal the frame context fingerprint',
    )
  }
  const software = nameBytes(m.softwareVersion, 'softwareVersion', true)
  const compressors = nameList(m.capabilities.compressors, 'compressors')
  const algorithms = nameList(m.capabilities.algorithms, 'algorithms')
  checkUint(m.capabilities.maxChunkBytes, 0xffffffff, 'maxChunkBytes')
  if (m.capabilities.maxChunkBytes < MIN_CHUNK_BYTES) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `maxChunkBytes must be >= ${MIN_CHUNK_BYTES}`)
  }
  const fingerprint = hexToBytes(
    checkHex16(m.layoutFingerprint, 'layoutFingerprint'),
    FINGERPRINT_BYTES,
    'layoutFingerprint',
  )
  const manifest = hexToBytes(checkHex16(m.manifestHash, 'manifestHash'), FINGERPRINT_BYTES, 'manifestHash')
  const listBytes = (items: Uint8Array[]): number => 1 + items.reduce((n, b) => n + 1 + b.length, 0)
  const w = new ByteWriter(2 + 1 + software.length + 4 + listBytes(compressors) + listBytes(algorithms) + 16)
  w.u16(m.protocolVersion).string(1, software).u32(m.capabilities.maxChunkBytes)
  w.u8(compressors.length)
  for (const c of compressors) w.string(1, c)
  w.u8(algorithms.length)
  for (const a of algorithms) w.string(1, a)
  w.bytes(fingerprint).bytes(manifest)
  return w.data
}

function decodeHello(r: ByteReader, header: FrameHeader): HelloMessage {
  const protocolVersion = r.u16('protocolVersion')
  if (protocolVersion !== header.version) {
    throw new CoreError(
      'ERR_BAD_MESSAGE',
      `hello announces version ${protocolVersion} inside a version ${header.version} frame`,
    )
  }
  const softwareVersion = readName(r, 'softwareVersion', true)
  const maxChunkBytes = r.u32('maxChunkBytes')
  if (maxChunkBytes < MIN_CHUNK_BYTES) {
    throw new CoreError(
      'ERR_BAD_MESSAGE',
      `hello advertises maxChunkBytes ${maxChunkBytes}, below ${MIN_CHUNK_BYTES}`,
    )
  }
  const compressors = readNameList(r, 'compressors')
  const algorithms = readNameList(r, 'algorithms')
  const layoutFingerprint = r.hex(FINGERPRINT_BYTES, 'layoutFingerprint')
  if (layoutFingerprint !== header.layoutFingerprint) {
    throw new CoreError('ERR_BAD_MESSAGE', 'hello layoutFingerprint differs from its frame header')
  }
  const manifestHash = r.hex(FINGERPRINT_BYTES, 'manifestHash')
  r.end()
  return {
    type: 'hello',
    round: header.round,
    protocolVersion,
    softwareVersion,
    capabilities: { compressors, maxChunkBytes, algorithms },
    layoutFingerprint,
    manifestHash,
  }
}

// ---------------------------------------------------------------------------- others

function encodeDelta(m: DeltaMessage): Uint8Array[] {
  checkRound(m.round, 'round')
  if (m.sampleCount === undefined) return [Uint8Array.of(0), m.payload]
  checkUint(m.sampleCount, 0xffffffff, 'sampleCount')
  return [new ByteWriter(5).u8(FLAG_PRESENT).u32(m.sampleCount).data, m.payload]
}

function encodePushSum(m: PushSumShareMessage): Uint8Array[] {
  checkRound(m.step, 'step')
  if (!Number.isFinite(m.weight) || m.weight < 0) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `push-sum weight must be finite and >= 0, got ${m.weight}`)
  }
  return [new ByteWriter(8).f64(m.weight).data, m.values]
}

function encodeSnapshotChunk(m: SnapshotChunkMessage): Uint8Array[] {
  checkRound(m.round, 'round')
  checkUint(m.snapshotId, 0xffffffff, 'snapshotId')
  checkUint(m.chunkIndex, 0xffffffff, 'chunkIndex')
  checkUint(m.chunkCount, 0xffffffff, 'chunkCount')
  checkUint(m.totalBytes, 0xffffffff, 'totalBytes')
  if (expectedPieceLength(m.totalBytes, m.chunkCount, m.chunkIndex) !== m.bytes.length) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `snapshot chunk ${m.chunkIndex}/${m.chunkCount} of ${m.totalBytes} bytes cannot hold ${m.bytes.length} bytes (see splitSnapshot)`,
    )
  }
  const hash = hexToBytes(checkHex16(m.snapshotHash, 'snapshotHash'), FINGERPRINT_BYTES, 'snapshotHash')
  const head = new ByteWriter(16 + FINGERPRINT_BYTES)
    .u32(m.snapshotId)
    .u32(m.chunkIndex)
    .u32(m.chunkCount)
    .u32(m.totalBytes)
    .bytes(hash).data
  return [head, m.bytes]
}

function decodeSnapshotChunk(r: ByteReader, header: FrameHeader): SnapshotChunkMessage {
  const snapshotId = r.u32('snapshotId')
  const chunkIndex = r.u32('chunkIndex')
  const chunkCount = r.u32('chunkCount')
  const totalBytes = r.u32('totalBytes')
  const snapshotHash = r.hex(FINGERPRINT_BYTES, 'snapshotHash')
  const bytes = r.rest()
  const expected = expectedPieceLength(totalBytes, chunkCount, chunkIndex)
  if (expected !== bytes.length) {
    throw new CoreError(
      'ERR_BAD_MESSAGE',
      `snapshot chunk ${chunkIndex} of ${chunkCount} (${totalBytes} bytes in all) carries ${bytes.length} bytes, which the split rule does not allow`,
    )
  }
  return {
    type: 'snapshot.chunk',
    round: header.round,
    snapshotId,
    chunkIndex,
    chunkCount,
    totalBytes,
    snapshotHash,
    bytes,
  }
}

function encodeHeartbeat(m: HeartbeatMessage): Uint8Array {
  checkRound(m.round, 'round')
  checkTime(m.sentAtMs, 'sentAtMs')
  if (m.echoOfMs !== undefined) checkTime(m.echoOfMs, 'echoOfMs')
  return new ByteWriter(17)
    .u8(m.echoOfMs === undefined ? 0 : FLAG_PRESENT)
    .f64(m.sentAtMs)
    .f64(m.echoOfMs ?? 0).data
}

function encodeBye(m: ByeMessage): Uint8Array {
  const reason = textBytes(m.reason, 'reason')
  return new ByteWriter(2 + reason.length).string(2, reason).data
}

function encodeError(m: ErrorMessage): Uint8Array {
  if (!ERROR_CODE_PATTERN.test(m.code))
    throw new CoreError('ERR_INVALID_ARGUMENT', `error code must be [A-Z0-9_]{1,64}`)
  const code = utf8(m.code)
  const text = textBytes(m.message, 'message')
  return new ByteWriter(1 + code.length + 2 + text.length).string(1, code).string(2, text).data
}

// ---------------------------------------------------------------------------- field rules

/** Printable ASCII only: names show up in the UI and logs, so no control or look-alike characters. */
function isPrintableAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || c > 0x7e) return false
  }
  return true
}

function nameBytes(name: string, what: string, allowEmpty: boolean): Uint8Array {
  if (
    typeof name !== 'string' ||
    !isPrintableAscii(name) ||
    name.length > MAX_NAME_BYTES ||
    (!allowEmpty && name.length === 0)
  ) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `${what} must be ${allowEmpty ? 0 : 1}-${MAX_NAME_BYTES} printable ASCII characters`,
    )
  }
  return utf8(name)
}

function nameList(names: readonly string[], what: string): Uint8Array[] {
  if (names.length > MAX_LIST_ITEMS)
    throw new CoreError('ERR_INVALID_ARGUMENT', `${what} lists more than ${MAX_LIST_ITEMS} items`)
  return names.map((n) => nameBytes(n, `${what} item`, false))
}

function readName(r: ByteReader, what: string, allowEmpty: boolean): string {
  const name = r.string(1, MAX_NAME_BYTES, what)
  if (!isPrintableAscii(name) || (!allowEmpty && name.length === 0)) {
    throw new CoreError(
      'ERR_BAD_MESSAGE',
      `${what} must be ${allowEmpty ? 0 : 1}-${MAX_NAME_BYTES} printable ASCII characters`,
    )
  }
  return name
}

function readNameList(r: ByteReader, what: string): string[] {
  const count = r.u8(`${what} count`)
  if (count > MAX_LIST_ITEMS)
    throw new CoreError('ERR_BAD_MESSAGE', `${what} lists ${count} items, more than ${MAX_LIST_ITEMS}`)
  // Each item needs at least its length byte and one character: refuse a count the bytes cannot hold.
  if (count * 2 > r.remaining)
    throw new CoreError('ERR_BAD_MESSAGE', `${what} count ${count} exceeds the bytes present`)
  const items: string[] = []
  for (let i = 0; i < count; i++) items.push(readName(r, `${what} item`, false))
  return items
}

function textBytes(text: string, what: string): Uint8Array {
  if (typeof text !== 'string') throw new CoreError('ERR_INVALID_ARGUMENT', `${what} must be a string`)
  const bytes = utf8(text)
  if (bytes.length > MAX_TEXT_BYTES)
    throw new CoreError('ERR_INVALID_ARGUMENT', `${what} is longer than ${MAX_TEXT_BYTES} UTF-8 bytes`)
  // Lone surrogates become U+FFFD in UTF-8, so the text would not survive the round trip.
  if (LONE_SURROGATE.test(text))
    throw new CoreError('ERR_INVALID_ARGUMENT', `${what} contains a lone surrogate`)
  return bytes
}

function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `${what} must be an integer in [0, ${max}], got ${value}`)
  }
}

function checkRound(value: number, what: string): void {
  checkUint(value, MAX_ROUND, what)
}

function checkTime(value: number, what: string): void {
  if (!Number.isFinite(value) || value < 0)
    throw new CoreError('ERR_INVALID_ARGUMENT', `${what} must be finite and >= 0, got ${value}`)
}

function checkHex16(value: string, what: string): string {
  if (!HEX16.test(value))
    throw new CoreError('ERR_INVALID_ARGUMENT', `${what} must be 16 lower-case hex digits`)
  return value
}
