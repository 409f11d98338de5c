/**
 * Room invites and join command lines.
 *
 * An invite is one paste-able string that carries everything a node needs to join a room:
 *
 *   longhaul://join?v=1&signal=<signaling url>&room=<room name>&secret=<room secret>
 *
 * with each value percent-encoded (URLSearchParams). Version 1 is the only version; a parser
 * refuses other versions instead of guessing. The secret is in the clear: an invite is as
 * sensitive as the secret itself and should travel the same way (a private message, not a
 * public page).
 */
import type { AlgorithmConfig } from '../algorithms/config.ts'
import { CoreError } from '../errors.ts'
import { ROOM_NAME_PATTERN } from '../protocol/signaling.ts'
import { MIN_SECRET_CHARS } from '../signaling/room-auth.ts'
import { INVITE_PREFIX } from './contract.ts'

export const INVITE_VERSION = 1

export interface RoomAddress {
  readonly signalUrl: string
  readonly room: string
  readonly secret: string
}

/** Checks a signaling URL: ws:// or wss:// with a host. Returns it unchanged. */
export function checkSignalUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new CoreError('ERR_INVALID_ARGUMENT', `signaling URL "${url}" is not a URL (e.g. ws://host:8787)`)
  }
  if ((parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') || parsed.hostname === '') {
    throw new CoreError('ERR_INVALID_ARGUMENT', `signaling URL "${url}" must start with ws:// or wss://`)
  }
  return url
}

/** Checks every field of a room address; fails with ERR_INVALID_ARGUMENT naming the field. */
export function checkRoomAddress(address: RoomAddress): RoomAddress {
  checkSignalUrl(address.signalUrl)
  if (!ROOM_NAME_PATTERN.test(address.room)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `room "${address.room}": use 1-128 of A-Z a-z 0-9 . _ ~ -`)
  }
  if (address.secret.length < MIN_SECRET_CHARS) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `the room secret must have at least ${MIN_SECRET_CHARS} characters`,
    )
  }
  return address
}

export function formatInvite(address: RoomAddress): string {
  checkRoomAddress(address)
  const query = new URLSearchParams({
    v: String(INVITE_VERSION),
    signal: address.signalUrl,
    room: address.room,
    secret: address.secret,
  })
  return `${INVITE_PREFIX}${query.toString()}`
}

/** Reads an invite (surrounding whitespace allowed); ERR_INVALID_ARGUMENT says what is wrong. */
export function parseInvite(text: string): RoomAddress {
  const trimmed = text.trim()
  if (!trimmed.startsWith(INVITE_PREFIX)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `an invite starts with ${INVITE_PREFIX}`)
  }
  const query = new URLSearchParams(trimmed.slice(INVITE_PREFIX.length))
  const version = query.get('v')
  if (version !== String(INVITE_VERSION)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `invite version ${version ?? '(none)'} is not supported (this build reads version ${INVITE_VERSION})`,
    )
  }
  const field = (name: string): string => {
    const value = query.get(name)
    if (value === null || value === '') {
      throw new CoreError('ERR_INVALID_ARGUMENT', `the invite has no ${name}`)
    }
    return value
  }
  return checkRoomAddress({ signalUrl: field('signal'), room: field('room'), secret: field('secret') })
}

/**
 * The `--algo` spec of a config, such that parseAlgorithmSpec reads back the same config
 * (SlowMo writes its base's options beside its own, as the spec syntax wants).
 */
export function algorithmSpecOf(config: AlgorithmConfig): string {
  const parts = (record: object, skip: readonly string[]): string[] =>
    Object.entries(record)
      .filter(([key, value]) => !skip.includes(key) && value !== undefined && typeof value !== 'object')
      .map(([key, value]) => `${key}=${String(value)}`)
  if (config.kind === 'slowmo' || config.kind === 'diloco') {
    const base = config.base
    const fields = [
      ...(base === undefined ? [] : [`base=${base.kind}`, ...parts(base, ['kind'])]),
      ...parts(config, ['kind', 'base']),
    ]
    return fields.length > 0 ? `${config.kind}:${fields.join(',')}` : config.kind
  }
  const fields = parts(config, ['kind'])
  return fields.length > 0 ? `${config.kind}:${fields.join(',')}` : config.kind
}

/** What a `longhaul node` command line needs beyond the room to join a run. */
export interface JoinTrainingHints {
  readonly dataset: string
  readonly model: string
  readonly algorithm: AlgorithmConfig
  readonly maxPeers: number
}

/** Quotes a shell word when it holds anything beyond a safe set. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

/**
 * The `longhaul node` command line that joins this room; with `hints` (a run in progress or
 * about to start) also the model, algorithm and slots, which must match. Without them the
 * data is a placeholder to fill in.
 */
export function joinCommandOf(address: RoomAddress, hints?: JoinTrainingHints): string {
  const words = [
    'longhaul',
    'node',
    '--signal',
    address.signalUrl,
    '--room',
    address.room,
    '--secret',
    address.secret,
  ].map(shellWord)
  if (hints === undefined) return `${words.join(' ')} --data <dataset>`
  return [
    ...words,
    '--data',
    shellWord(hints.dataset),
    '--model',
    shellWord(hints.model),
    '--algo',
    shellWord(algorithmSpecOf(hints.algorithm)),
    '--max-peers',
    String(hints.maxPeers),
  ].join(' ')
}
