/**
 * The signaling message schema, shared by the rendezvous server (`signaling-server/`) and
 * its client (`core/signaling/`). One WebSocket per peer carries JSON text messages, each
 * `{ type: '<literal>', v: 1, ... }`.
 *
 * A session, as one client sees it:
 *
 *   client → server  join       { room, peerId }
 *   server → client  challenge  { nonce, roomExists }          (nonce: 32 fresh random bytes)
 *   client → server  auth       { proof, verifier? }           (verifier only when !roomExists)
 *   server → client  joined     { room, peerId, peers, limits } (the peer list, without you)
 *   server → client  peer.joined { peerId } | peer.left { peerId }
 *   client → server  signal     { to, data, mac? }             (SDP or ICE for one member)
 *   server → client  signal     { from, to, data, mac? }       (relayed unchanged, `from` set by the server)
 *   client → server  ping       {}  → server → client pong {}  (keeps the idle timer from firing)
 *   server → client  error      { code, message, fatal }       (fatal: the server closes next)
 *
 * `proof` = HMAC-SHA256(key = verifier, admissionProofInput(room, peerId, nonce)); the
 * verifier and the end-to-end `mac` over an SDP's DTLS fingerprints come from
 * `core/signaling/room-auth.ts`, whose header explains what the server can and cannot do.
 *
 * Every parser validates the whole shape (no unknown keys, bounded strings) and returns a
 * freshly built object, so what the server relays is exactly what the schema allows.
 * Failures throw `CoreError('ERR_BAD_MESSAGE')`.
 */
import { CoreError, ERROR_CODES, type ErrorCode } from '../errors.ts'

// Re-exported because the signaling server may import only core/protocol (eslint enforces
// it); it reports the same stable codes as the rest of Longhaul.
export { CoreError, isCoreError, type ErrorCode } from '../errors.ts'

/** The `v` field of every signaling message. */
export const SIGNAL_PROTOCOL_VERSION = 1

/** Peer ids: 1 to 64 characters of `A-Z a-z 0-9 _ -`. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/
/** Room names: 1 to 128 characters of `A-Z a-z 0-9 . _ ~ -`. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/
/**
 * A canonical unpadded base64url encoding of exactly 32 bytes (43 characters; the last one
 * carries 2 zero bits). Nonces, verifiers, proofs and MACs all have this form.
 */
export const KEY32_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/

/** Longest SDP accepted in a relayed description. Real data-channel SDPs are 1 to 5 KiB. */
export const MAX_SDP_CHARS = 65_536
/** Longest ICE candidate line (`candidate:...`); real ones are under 200 characters. */
export const MAX_CANDIDATE_CHARS = 2048
/** Longest `sdpMid` / `usernameFragment`. */
export const MAX_ICE_FIELD_CHARS = 256
/** Most peers a `joined` message may list (the server's peers-per-room limit stays below this). */
export const MAX_PEERS_IN_LIST = 1024
/** Longest human-readable text in an error message. */
export const MAX_ERROR_TEXT_CHARS = 512

/**
 * Close codes the server uses; each fatal `error` message is followed by its code.
 * 1001 and 1009 are RFC 6455 codes; 44xx mirror the HTTP status they resemble.
 */
export const SIGNAL_CLOSE_CODES = {
  /** The server is shutting down (graceful shutdown). */
  GOING_AWAY: 1001,
  /** A message beyond the hard frame cap; `ws` closes at once, without an error message. */
  MESSAGE_TOO_BIG: 1009,
  /** Malformed JSON, a wrong shape, or a message out of protocol order. */
  BAD_MESSAGE: 4400,
  /** The admission proof did not verify. */
  AUTH_FAILED: 4401,
  /** No message within the idle timeout. */
  IDLE_TIMEOUT: 4408,
  /** The peer id is already a member of the room. */
  DUPLICATE_PEER: 4409,
  /** A message above the configured size limit. */
  MESSAGE_TOO_LARGE: 4413,
  /** More messages per second than allowed. */
  RATE_LIMITED: 4429,
  /** The room has its maximum number of peers. */
  ROOM_FULL: 4430,
  /** The server has its maximum number of rooms. */
  TOO_MANY_ROOMS: 4431,
  /** The server has its maximum number of connections. */
  TOO_MANY_CONNECTIONS: 4432,
  /** The connection's send buffer overflowed (it does not read). */
  SLOW_CONSUMER: 4433,
} as const

export type SignalCloseCode = (typeof SIGNAL_CLOSE_CODES)[keyof typeof SIGNAL_CLOSE_CODES]

const CLOSE_CODE_ERRORS: ReadonlyMap<number, ErrorCode> = new Map<number, ErrorCode>([
  [SIGNAL_CLOSE_CODES.MESSAGE_TOO_BIG, 'ERR_FRAME_TOO_LARGE'],
  [SIGNAL_CLOSE_CODES.BAD_MESSAGE, 'ERR_BAD_MESSAGE'],
  [SIGNAL_CLOSE_CODES.AUTH_FAILED, 'ERR_AUTH_FAILED'],
  [SIGNAL_CLOSE_CODES.IDLE_TIMEOUT, 'ERR_TIMEOUT'],
  [SIGNAL_CLOSE_CODES.DUPLICATE_PEER, 'ERR_DUPLICATE_PEER'],
  [SIGNAL_CLOSE_CODES.MESSAGE_TOO_LARGE, 'ERR_FRAME_TOO_LARGE'],
  [SIGNAL_CLOSE_CODES.RATE_LIMITED, 'ERR_RATE_LIMITED'],
  [SIGNAL_CLOSE_CODES.ROOM_FULL, 'ERR_ROOM_FULL'],
  [SIGNAL_CLOSE_CODES.TOO_MANY_ROOMS, 'ERR_ROOM_FULL'],
  [SIGNAL_CLOSE_CODES.TOO_MANY_CONNECTIONS, 'ERR_ROOM_FULL'],
  [SIGNAL_CLOSE_CODES.SLOW_CONSUMER, 'ERR_SLOW_CONSUMER'],
])

/** The error code a server close code stands for (undefined for 1000, 1001, 1006, ...). */
export function errorCodeForClose(closeCode: number): ErrorCode | undefined {
  return CLOSE_CODE_ERRORS.get(closeCode)
}

/** A session description, exactly as simple-peer emits it and `RTCSessionDescription` takes it. */
export interface SignalDescription {
  readonly type: 'offer' | 'answer'
  readonly sdp: string
}

/** A trickled ICE candidate, as simple-peer emits it (`RTCIceCandidateInit`). */
export interface SignalCandidate {
  readonly type: 'candidate'
  readonly candidate: {
    readonly candidate: string
    readonly sdpMid?: string | null
    readonly sdpMLineIndex?: number | null
    readonly usernameFragment?: string | null
  }
}

/** simple-peer's request that the initiator renegotiate. */
export interface SignalRenegotiate {
  readonly type: 'renegotiate'
  readonly renegotiate: true
}

/**
 * What one peer relays to another. These are simple-peer's own signal objects, so a
 * transport passes them through unchanged. (simple-peer's `transceiverRequest` is not
 * carried: Longhaul uses data channels only.)
 */
export type SignalData = SignalDescription | SignalCandidate | SignalRenegotiate

/** Limits the server enforces, announced in `joined` so a client can stay within them. */
export interface SignalLimits {
  readonly maxMessageBytes: number
  readonly messagesPerSecond: number
  readonly messageBurst: number
  readonly idleTimeoutMs: number
  readonly maxPeersPerRoom: number
}

export interface JoinMessage {
  readonly type: 'join'
  readonly v: 1
  readonly room: string
  readonly peerId: string
}
export interface AuthMessage {
  readonly type: 'auth'
  readonly v: 1
  readonly proof: string
  /** Sent only by the room's first joiner (the challenge said `roomExists: false`). */
  readonly verifier?: string
}
export interface ClientSignalMessage {
  readonly type: 'signal'
  readonly v: 1
  readonly to: string
  readonly data: SignalData
  /** End-to-end MAC over the SDP's DTLS fingerprints; present on offers and answers. */
  readonly mac?: string
}
export interface PingMessage {
  readonly type: 'ping'
  readonly v: 1
}
export type ClientMessage = JoinMessage | AuthMessage | ClientSignalMessage | PingMessage

export interface ChallengeMessage {
  readonly type: 'challenge'
  readonly v: 1
  readonly nonce: string
  readonly roomExists: boolean
}
export interface JoinedMessage {
  readonly type: 'joined'
  readonly v: 1
  readonly room: string
  readonly peerId: string
  /** The other members at the moment of joining. */
  readonly peers: readonly string[]
  readonly limits: SignalLimits
}
export interface PeerJoinedMessage {
  readonly type: 'peer.joined'
  readonly v: 1
  readonly peerId: string
}
export interface PeerLeftMessage {
  readonly type: 'peer.left'
  readonly v: 1
  readonly peerId: string
}
export interface RelayedSignalMessage {
  readonly type: 'signal'
  readonly v: 1
  readonly from: string
  readonly to: string
  readonly data: SignalData
  readonly mac?: string
}
export interface PongMessage {
  readonly type: 'pong'
  readonly v: 1
}
export interface ErrorMessage {
  readonly type: 'error'
  readonly v: 1
  readonly code: ErrorCode
  readonly message: string
  /** True when the server closes the connection right after this message. */
  readonly fatal: boolean
}
export type ServerMessage =
  | ChallengeMessage
  | JoinedMessage
  | PeerJoinedMessage
  | PeerLeftMessage
  | RelayedSignalMessage
  | PongMessage
  | ErrorMessage

type Json = Record<string, unknown>

function bad(message: string): never {
  throw new CoreError('ERR_BAD_MESSAGE', message)
}

function isRecord(value: unknown): value is Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Parses JSON text, or takes an already parsed value, and insists on a plain object. */
function toRecord(raw: unknown): Json {
  let value = raw
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw)
    } catch {
      bad('signaling message is not valid JSON')
    }
  }
  if (!isRecord(value)) bad('signaling message must be a JSON object')
  return value
}

/** Rejects any key outside `allowed`, so nothing unvalidated is ever relayed. */
function onlyKeys(obj: Json, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) bad(`${what}: unexpected field "${key.slice(0, 32)}"`)
  }
}

function str(obj: Json, key: string, what: string, maxChars: number): string {
  const value = obj[key]
  if (typeof value !== 'string') bad(`${what}: "${key}" must be a string`)
  if (value.length > maxChars) bad(`${what}: "${key}" is longer than ${maxChars} characters`)
  return value
}

function matching(obj: Json, key: string, what: string, pattern: RegExp, label: string): string {
  const value = obj[key]
  if (typeof value !== 'string' || !pattern.test(value)) bad(`${what}: "${key}" must be ${label}`)
  return value
}

function peerIdField(obj: Json, key: string, what: string): string {
  return matching(obj, key, what, PEER_ID_PATTERN, 'a peer id (1-64 of A-Z a-z 0-9 _ -)')
}

function key32Field(obj: Json, key: string, what: string): string {
  return matching(obj, key, what, KEY32_PATTERN, '32 bytes in base64url')
}

function checkVersion(obj: Json, what: string): void {
  if (obj.v !== SIGNAL_PROTOCOL_VERSION) bad(`${what}: unsupported version ${JSON.stringify(obj.v)}`)
}

function nonNegativeInt(obj: Json, key: string, what: string): number {
  const value = obj[key]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    bad(`${what}: "${key}" must be a non-negative integer`)
  }
  return value
}

function optionalNullableString(obj: Json, key: string, what: string): string | null | undefined {
  const value = obj[key]
  if (value === undefined || value === null) return value
  if (typeof value !== 'string' || value.length > MAX_ICE_FIELD_CHARS) {
    bad(`${what}: "${key}" must be a short string or null`)
  }
  return value
}

/** Validates simple-peer signal data (see {@link SignalData}). */
export function parseSignalData(raw: unknown): SignalData {
  const what = 'signal data'
  if (!isRecord(raw)) bad(`${what} must be an object`)
  switch (raw.type) {
    case 'offer':
    case 'answer': {
      onlyKeys(raw, ['type', 'sdp'], what)
      return { type: raw.type, sdp: str(raw, 'sdp', what, MAX_SDP_CHARS) }
    }
    case 'candidate': {
      onlyKeys(raw, ['type', 'candidate'], what)
      const c = raw.candidate
      if (!isRecord(c)) bad(`${what}: "candidate" must be an object`)
      onlyKeys(c, ['candidate', 'sdpMid', 'sdpMLineIndex', 'usernameFragment'], 'ice candidate')
      const candidate: {
        candidate: string
        sdpMid?: string | null
        sdpMLineIndex?: number | null
        usernameFragment?: string | null
      } = { candidate: str(c, 'candidate', 'ice candidate', MAX_CANDIDATE_CHARS) }
      const sdpMid = optionalNullableString(c, 'sdpMid', 'ice candidate')
      if (sdpMid !== undefined) candidate.sdpMid = sdpMid
      const ufrag = optionalNullableString(c, 'usernameFragment', 'ice candidate')
      if (ufrag !== undefined) candidate.usernameFragment = ufrag
      const index = c.sdpMLineIndex
      if (index === null) candidate.sdpMLineIndex = null
      else if (index !== undefined) {
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 65_535) {
          bad('ice candidate: "sdpMLineIndex" must be an integer in [0, 65535] or null')
        }
        candidate.sdpMLineIndex = index
      }
      return { type: 'candidate', candidate }
    }
    case 'renegotiate': {
      onlyKeys(raw, ['type', 'renegotiate'], what)
      if (raw.renegotiate !== true) bad(`${what}: "renegotiate" must be true`)
      return { type: 'renegotiate', renegotiate: true }
    }
    default:
      return bad(`${what}: unknown type ${JSON.stringify(raw.type)?.slice(0, 32)}`)
  }
}

/** The MAC field rides only on descriptions; anything else carrying one is malformed. */
function optionalMac(obj: Json, data: SignalData, what: string): string | undefined {
  if (obj.mac === undefined) return undefined
  if (data.type !== 'offer' && data.type !== 'answer')
    bad(`${what}: "mac" is allowed only on offers and answers`)
  return key32Field(obj, 'mac', what)
}

/**
 * Validates one message a client sends (JSON text or an already parsed value).
 * @throws CoreError('ERR_BAD_MESSAGE') on malformed JSON, an unknown type or version, a
 *   missing, extra or out-of-range field.
 */
export function parseClientMessage(raw: unknown): ClientMessage {
  const obj = toRecord(raw)
  const type = obj.type
  const what = `"${typeof type === 'string' ? type.slice(0, 32) : '?'}" message`
  switch (type) {
    case 'join':
      checkVersion(obj, what)
      onlyKeys(obj, ['type', 'v', 'room', 'peerId'], what)
      return {
        type,
        v: 1,
        room: matching(obj, 'room', what, ROOM_NAME_PATTERN, 'a room name (1-128 of A-Z a-z 0-9 . _ ~ -)'),
        peerId: peerIdField(obj, 'peerId', what),
      }
    case 'auth': {
      checkVersion(obj, what)
      onlyKeys(obj, ['type', 'v', 'proof', 'verifier'], what)
      const proof = key32Field(obj, 'proof', what)
      if (obj.verifier === undefined) return { type, v: 1, proof }
      return { type, v: 1, proof, verifier: key32Field(obj, 'verifier', what) }
    }
    case 'signal': {
      checkVersion(obj, what)
      onlyKeys(obj, ['type', 'v', 'to', 'data', 'mac'], what)
      const to = peerIdField(obj, 'to', what)
      const data = parseSignalData(obj.data)
      const mac = optionalMac(obj, data, what)
      return mac === undefined ? { type, v: 1, to, data } : { type, v: 1, to, data, mac }
    }
    case 'ping':
      checkVersion(obj, what)
      onlyKeys(obj, ['type', 'v'], what)
      return { type, v: 1 }
    default:
      return bad(`unknown client message type ${JSON.stringify(type)?.slice(0, 40)}`)
  }
}

function parseLimits(raw: unknown): SignalLimits {
  const what = 'limits'
  if (!isRecord(raw)) bad(`${what} must be an object`)
  const keys = ['maxMessageBytes', 'messagesPerSecond', 'messageBurst', 'idleTimeoutMs', 'maxPeersPerRoom']
  onlyKeys(raw, keys, what)
  return {
    maxMessageBytes: nonNegativeInt(raw, 'maxMessageBytes', what),
    messagesPerSecond: nonNegativeInt(raw, 'messagesPerSecond', what),
    messageBurst: nonNegativeInt(raw, 'messageBurst', what),
    idleTimeoutMs: nonNegativeInt(raw, 'idleTimeoutMs', what),
    maxPeersPerRoom: nonNegativeInt(raw, 'maxPeersPerRoom', what),
  }
}

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value)
}

/**
 * Validates one message the server sends (JSON text or an already parsed value).
 * @throws CoreError('ERR_BAD_MESSAGE') on malformed JSON, an unknown type or version, a
 *   missing, extra or out-of-range field.
 */
export function parseServerMessage(raw: unknown): ServerMessage {
  const obj = toRecord(raw)
  const type = obj.type
  const what = `"${typeof type === 'string' ? type.slice(0, 32) : '?'}" message`
  switch (type) {
    case 'challenge':
      checkVersion(obj, what)
      onlyKeys(obj, ['type', 'v', 'nonce', 'roomExists'], what)
      if (typeof obj.roomExists !== 'boolean') bad(`${what}: "roomExists" must be a boolean`)
      return { type, v: 1, nonce: key32Field(obj, 'nonce', what), roomExists: obj.roomExists }
    case 'joined': {
      checkVersion(obj, what)
      onlyKeys(obj, ['type', 'v', 'room', 'peerId', 'peers', 'limits'], what)
      const peers = obj.peers
      if (!Array.isArray(peers) || peers.length > MAX_PEERS_IN_LIST) {
        bad(`${what}: "peers" must be an array of at most ${MAX_PEERS_IN_LIST} peer ids`)
      }
      const list: string[] = []
      for (const p of peers) {
        if (typeof p !== 'string' || !PEER_ID_PATTERN.test(p))
          bad(`${what}: "peers" holds a malformed peer id`)
        list.push(p)
      }
      if (new Set(list).size !== list.length) bad(`${what}: "peers" lists a peer twice`)
      const peerId = peerIdField(obj, 'peerId', what)
      if (list.includes(peerId)) bad(`${what}: "peers" must not list the joining peer itself`)
      return {
        type,
        v: 1,
        room: matching(obj, 'room', what, ROOM_NAME_PATTERN, 'a room name'),
        peerId,
        peers: list,
        limits: parseLimits(obj.limits),
      }
    }
    case 'peer.joined':
    case 'peer.left':
      checkVersion(obj, what)
      onlyKeys(obj, ['type', 'v', 'peerId'], what)
      return { type, v: 1, peerId: peerIdField(obj, 'peerId', what) }
    case 'signal': {
      checkVersion(obj, what)
      onlyKeys(obj, ['type', 'v', 'from', 'to', 'data', 'mac'], what)
      const from = peerIdField(obj, 'from', what)
      const to = peerIdField(obj, 'to', what)
      const data = parseSignalData(obj.data)
      const mac = optionalMac(obj, data, what)
      return mac === undefined ? { type, v: 1, from, to, data } : { type, v: 1, from, to, data, mac }
    }
    case 'pong':
      checkVersion(obj, what)
      onlyKeys(obj, ['type', 'v'], what)
      return { type, v: 1 }
    case 'error': {
      checkVersion(obj, what)
      onlyKeys(obj, ['type', 'v', 'code', 'message', 'fatal'], what)
      if (!isErrorCode(obj.code)) bad(`${what}: unknown error code`)
      if (typeof obj.fatal !== 'boolean') bad(`${what}: "fatal" must be a boolean`)
      return {
        type,
        v: 1,
        code: obj.code,
        message: str(obj, 'message', what, MAX_ERROR_TEXT_CHARS),
        fatal: obj.fatal,
      }
    }
    default:
      return bad(`unknown server message type ${JSON.stringify(type)?.slice(0, 40)}`)
  }
}

/** Serialises a message for the wire (the parsers above accept exactly this text). */
export function encodeSignalMessage(message: ClientMessage | ServerMessage): string {
  return JSON.stringify(message)
}

/**
 * The bytes an admission proof MACs: `proof = HMAC-SHA256(verifier, these bytes)`. Binding
 * the room and peer id means a proof cannot be moved to another room or identity; the
 * fresh nonce means it cannot be replayed on another connection. Room names, peer ids and
 * base64url nonces never contain a newline, so the encoding is unambiguous.
 */
export function admissionProofInput(room: string, peerId: string, nonce: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`longhaul-signal-v1/admission\n${room}\n${peerId}\n${nonce}`)
}
