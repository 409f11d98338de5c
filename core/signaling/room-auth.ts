/**
 * Room admission and end-to-end peer authentication, from one shared room secret.
 * WebCrypto only (`globalThis.crypto.subtle`), so it runs in Node 20 and in browsers.
 *
 * Keys (all HMAC-SHA256, 32 bytes):
 *
 *   roomKey        = PBKDF2-SHA256(secret, salt = "longhaul-room-v1\n" + room, iterations)
 *   verifier       = HMAC(roomKey, "longhaul-room-v1/verifier")      — given to the server
 *   fingerprintKey = HMAC(roomKey, "longhaul-room-v1/fingerprint")   — never leaves a peer
 *
 * Admission (challenge-response with the server). The room's first joiner hands the server
 * the verifier; the server keeps it in memory only while the room has members. On every
 * join the server sends a fresh 32-byte random nonce and the peer answers
 * `proof = HMAC(verifier, room ‖ peerId ‖ nonce)` (see `admissionProofInput`); the server
 * recomputes it and compares in constant time. A recorded proof is useless later: the next
 * connection gets another nonce, and the proof is bound to one room and one peer id.
 *
 * End to end (between peers, through the server). Each offer and answer carries
 * `mac = HMAC(fingerprintKey, type ‖ from ‖ to ‖ sorted DTLS fingerprints of the SDP)`.
 * The receiver recomputes it before it hands the SDP to WebRTC; DTLS then makes sure the
 * remote end holds the private key of a certificate with that fingerprint. A relay that
 * swaps in its own fingerprint, or invents a peer, cannot produce a valid MAC, so it
 * cannot sit in the middle of a data channel or join one.
 *
 * What a server that sees the verifier CAN do, honestly stated:
 * - admit anyone it likes into the signaling room, itself included (it is the server), and
 *   answer admission challenges for that room on another server (the verifier is a bearer
 *   credential for admission, not for data);
 * - run an offline guessing attack on a weak secret: each guess costs one PBKDF2 run of
 *   `iterations` rounds, so use a long random secret (`generateRoomSecret`);
 * - see metadata: room names, peer ids, who talks to whom and when, and the IP addresses in
 *   SDP and ICE candidates; drop, delay or reorder messages (denial of service); inject or
 *   drop ICE candidates (this can steer or break connectivity, not decrypt); replay an old
 *   offer, which fails at DTLS because only the original peer holds that certificate's key;
 * - refuse a room, or let an attacker create a room name first with another verifier (the
 *   honest peers are then refused: denial of service, not intrusion).
 * What it CANNOT do: learn the secret or the room key from the verifier (HMAC is one-way),
 * compute `fingerprintKey`, and therefore make an honest peer accept a DTLS fingerprint
 * that did not come from another holder of the secret.
 * Without TLS in front of the server, a network eavesdropper learns the verifier when a
 * room is created and then has the server's powers listed above; use wss://.
 */
import { CoreError } from '../errors.ts'
import {
  admissionProofInput,
  KEY32_PATTERN,
  PEER_ID_PATTERN,
  ROOM_NAME_PATTERN,
} from '../protocol/signaling.ts'

/**
 * PBKDF2 rounds for the room key. Every peer of a room must use the same value (it changes
 * the keys). Raise it to make guessing a weak secret from a leaked verifier slower; lower
 * it only in tests and benchmarks.
 */
export const DEFAULT_ROOM_KEY_ITERATIONS = 200_000
/** Shortest room secret accepted; generated secrets are 43 characters. */
export const MIN_SECRET_CHARS = 8

const KEY_BYTES = 32
const HMAC_SHA256 = { name: 'HMAC', hash: 'SHA-256' } as const
const encoder = new TextEncoder()

/** Everything a peer needs to join a room and to authenticate its peers, derived once per room. */
export interface RoomCredentials {
  readonly room: string
  /** base64url verifier: what the room's first joiner hands the server. */
  readonly verifier: string
  /** HMAC key made of the verifier bytes; signs admission proofs. */
  readonly admissionKey: CryptoKey
  /** Non-extractable HMAC key for fingerprint MACs; never sent anywhere. */
  readonly fingerprintKey: CryptoKey
}

/** One side of a description exchange, as bound into its fingerprint MAC. */
export interface FingerprintContext {
  /** The SDP whose `a=fingerprint:` lines are authenticated. */
  readonly sdp: string
  readonly type: 'offer' | 'answer'
  /** Peer id of the sender of this description. */
  readonly from: string
  /** Peer id of its receiver. */
  readonly to: string
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle
  if (s === undefined) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      'WebCrypto (crypto.subtle) is unavailable: use a secure context',
    )
  }
  return s
}

/** Unpadded base64url of `bytes`. */
export function toBase64Url(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/**
 * Decodes a canonical base64url string of exactly 32 bytes.
 * @throws CoreError('ERR_BAD_MESSAGE') for anything else.
 */
export function fromBase64Url32(text: string): Uint8Array<ArrayBuffer> {
  if (!KEY32_PATTERN.test(text)) throw new CoreError('ERR_BAD_MESSAGE', 'expected 32 bytes in base64url')
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '=')
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

/** A fresh random room secret: 32 random bytes, base64url (43 characters). */
export function generateRoomSecret(): string {
  return toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(KEY_BYTES)))
}

/** A fresh random peer id: 16 random bytes, base64url (22 characters). */
export function generatePeerId(): string {
  return toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(16)))
}

async function hmac(key: CryptoKey, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await subtle().sign('HMAC', key, data))
}

/**
 * Derives the room's verifier and keys from its secret (PBKDF2, the room name as salt).
 * Slow on purpose (`iterations` rounds, ~0.1-0.3 s by default): derive once per room.
 * @throws CoreError('ERR_INVALID_ARGUMENT') for a malformed room name, a secret shorter
 *   than {@link MIN_SECRET_CHARS}, or iterations below 1.
 */
export async function deriveRoomCredentials(
  secret: string,
  room: string,
  options: { iterations?: number } = {},
): Promise<RoomCredentials> {
  const iterations = options.iterations ?? DEFAULT_ROOM_KEY_ITERATIONS
  if (!ROOM_NAME_PATTERN.test(room))
    throw new CoreError('ERR_INVALID_ARGUMENT', `malformed room name "${room}"`)
  if (secret.length < MIN_SECRET_CHARS) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `a room secret needs at least ${MIN_SECRET_CHARS} characters`)
  }
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `iterations must be a positive integer, got ${iterations}`)
  }
  const s = subtle()
  const base = await s.importKey('raw', encoder.encode(secret), 'PBKDF2', false, ['deriveBits'])
  const roomKeyBits = await s.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt: encoder.encode(`longhaul-room-v1\n${room}`), iterations },
    base,
    KEY_BYTES * 8,
  )
  const roomKey = await s.importKey('raw', roomKeyBits, HMAC_SHA256, false, ['sign'])
  const verifierBytes = await hmac(roomKey, encoder.encode('longhaul-room-v1/verifier'))
  const fingerprintBytes = await hmac(roomKey, encoder.encode('longhaul-room-v1/fingerprint'))
  return {
    room,
    verifier: toBase64Url(verifierBytes),
    admissionKey: await s.importKey('raw', verifierBytes, HMAC_SHA256, false, ['sign']),
    fingerprintKey: await s.importKey('raw', fingerprintBytes, HMAC_SHA256, false, ['sign', 'verify']),
  }
}

/**
 * The admission proof for the server's challenge: HMAC(verifier, room ‖ peerId ‖ nonce).
 * @throws CoreError('ERR_INVALID_ARGUMENT') for a malformed peer id, ERR_BAD_MESSAGE for a
 *   malformed nonce.
 */
export async function createAdmissionProof(
  credentials: RoomCredentials,
  peerId: string,
  nonce: string,
): Promise<string> {
  if (!PEER_ID_PATTERN.test(peerId))
    throw new CoreError('ERR_INVALID_ARGUMENT', `malformed peer id "${peerId}"`)
  fromBase64Url32(nonce)
  return toBase64Url(
    await hmac(credentials.admissionKey, admissionProofInput(credentials.room, peerId, nonce)),
  )
}

// One `a=fingerprint:` attribute: hash function name, then colon-separated hex bytes.
const FINGERPRINT_LINE = /^a=fingerprint:([A-Za-z0-9-]{1,16}) ((?:[0-9A-Fa-f]{2}:){15,63}[0-9A-Fa-f]{2})$/

/**
 * The DTLS fingerprints of an SDP, normalised (`sha-256 AB:CD:...`), de-duplicated and
 * sorted, from session-level and media-level `a=fingerprint:` lines alike.
 *
 * Strict on purpose: a line that looks like a fingerprint attribute but does not parse
 * exactly is an error, never skipped, because a lenient WebRTC stack might still use a
 * fingerprint this function ignored.
 * @throws CoreError('ERR_BAD_MESSAGE') for a malformed fingerprint line or no fingerprint.
 */
export function extractFingerprints(sdp: string): string[] {
  const found = new Set<string>()
  for (const rawLine of sdp.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine
    if (!line.trim().toLowerCase().startsWith('a=fingerprint')) continue
    const m = FINGERPRINT_LINE.exec(line)
    if (m === null || m[1] === undefined || m[2] === undefined) {
      throw new CoreError('ERR_BAD_MESSAGE', `malformed fingerprint line "${line.slice(0, 80)}"`)
    }
    found.add(`${m[1].toLowerCase()} ${m[2].toUpperCase()}`)
  }
  if (found.size === 0) throw new CoreError('ERR_BAD_MESSAGE', 'the SDP has no a=fingerprint line')
  return [...found].sort()
}

function fingerprintMacInput(ctx: FingerprintContext): Uint8Array<ArrayBuffer> {
  if (!PEER_ID_PATTERN.test(ctx.from) || !PEER_ID_PATTERN.test(ctx.to)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', 'from and to must be peer ids')
  }
  const prints = extractFingerprints(ctx.sdp)
  return encoder.encode(
    `longhaul-room-v1/fingerprint-mac\n${ctx.type}\n${ctx.from}\n${ctx.to}\n${prints.join('\n')}`,
  )
}

/**
 * The end-to-end MAC a peer attaches to an offer or answer it sends (base64url, 32 bytes).
 * @throws CoreError('ERR_BAD_MESSAGE') when the SDP carries no well-formed fingerprint,
 *   ERR_INVALID_ARGUMENT for malformed peer ids.
 */
export async function signFingerprint(
  credentials: RoomCredentials,
  ctx: FingerprintContext,
): Promise<string> {
  return toBase64Url(await hmac(credentials.fingerprintKey, fingerprintMacInput(ctx)))
}

/**
 * True when `mac` authenticates the SDP's fingerprints for this sender, receiver and
 * description type under the room's key. False for any mismatch, a malformed MAC, or an
 * SDP without well-formed fingerprints; never throws for outside data.
 */
export async function verifyFingerprint(
  credentials: RoomCredentials,
  ctx: FingerprintContext,
  mac: string | undefined,
): Promise<boolean> {
  if (mac === undefined || !KEY32_PATTERN.test(mac)) return false
  let input: Uint8Array<ArrayBuffer>
  try {
    input = fingerprintMacInput(ctx)
  } catch {
    return false
  }
  // subtle.verify compares in constant time.
  return subtle().verify('HMAC', credentials.fingerprintKey, fromBase64Url32(mac), input)
}
