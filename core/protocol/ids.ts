/**
 * Room and sender ids as they appear in frame headers: 16 bytes each on the wire, 32
 * lower-case hex digits in the API (so they work as Map keys and in logs).
 *
 * Both are derived by hashing a name (the room name, the peer id the signaling server
 * assigned) with two salted 64-bit FNV-1a hashes. Every peer computes the same id from the
 * same name, so a receiver checks a frame's sender against the peer whose data channel it
 * arrived on. These ids separate namespaces and catch misrouted frames; they are not
 * secrets and authenticate nothing.
 */
import { CoreError } from '../errors.ts'
import { Fnv1a64 } from '../hash.ts'

/** Bytes of a room id or sender id on the wire. */
export const ID_BYTES = 16

const ID_HEX = /^[0-9a-f]{32}$/

/** True for a well-formed id: exactly 32 lower-case hex digits. */
export function isWireId(value: unknown): value is string {
  return typeof value === 'string' && ID_HEX.test(value)
}

function saltedId(kind: string, name: string): string {
  if (name.length === 0) throw new CoreError('ERR_INVALID_ARGUMENT', `a ${kind} name must not be empty`)
  const a = new Fnv1a64().updateString(`longhaul/${kind}/a\0${name}`).digestHex()
  const b = new Fnv1a64().updateString(`longhaul/${kind}/b\0${name}`).digestHex()
  return a + b
}

/** The 16-byte room id (as 32 hex digits) every peer of room `roomName` writes into its frames. */
export function roomIdFromName(roomName: string): string {
  return saltedId('room', roomName)
}

/** The 16-byte sender id (as 32 hex digits) of the peer the signaling server calls `peerId`. */
export function senderIdFromPeerId(peerId: string): string {
  return saltedId('peer', peerId)
}
