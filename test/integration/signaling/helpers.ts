// Shared pieces of the signaling integration tests: a server on 127.0.0.1 port 0 with a
// captured logger, a raw protocol client for driving the server message by message, and
// credentials derived once per (secret, room) with few PBKDF2 rounds to keep tests fast.
import { WebSocket } from 'ws'
import { parseServerMessage, type ServerMessage } from '../../../core/protocol/signaling.ts'
import { deriveRoomCredentials, type RoomCredentials } from '../../../core/signaling/room-auth.ts'
import { SignalingClient } from '../../../core/signaling/signaling-client.ts'
import type { SignalServerConfig } from '../../../signaling-server/config.ts'
import type { Logger } from '../../../signaling-server/logger.ts'
import { startSignalingServer, type SignalingServer } from '../../../signaling-server/server.ts'

export const TEST_ITERATIONS = 1000

/** Logger that keeps lines in memory, so tests can assert on them and stderr stays quiet. */
export function memoryLogger(): Logger & { lines: { level: string; msg: string; fields: unknown }[] } {
  const lines: { level: string; msg: string; fields: unknown }[] = []
  const at = (level: string) => (msg: string, fields?: unknown) => void lines.push({ level, msg, fields })
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

export async function startTestServer(config: Partial<SignalServerConfig> = {}): Promise<SignalingServer> {
  return startSignalingServer({ config: { host: '127.0.0.1', port: 0, ...config }, logger: memoryLogger() })
}

const credentialCache = new Map<string, Promise<RoomCredentials>>()

export function credentialsFor(secret: string, room: string): Promise<RoomCredentials> {
  const key = `${secret}\n${room}`
  let c = credentialCache.get(key)
  if (c === undefined) {
    c = deriveRoomCredentials(secret, room, { iterations: TEST_ITERATIONS })
    credentialCache.set(key, c)
  }
  return c
}

export function newClient(url: string, peerId: string): SignalingClient {
  return new SignalingClient({ url, WebSocket, peerId, iterations: TEST_ITERATIONS })
}

export interface CloseEvent {
  readonly code: number
  readonly reason: string
}

/** A bare WebSocket speaking the protocol by hand; every server message is parsed. */
export class RawClient {
  readonly socket: WebSocket
  readonly received: ServerMessage[] = []
  readonly closed: Promise<CloseEvent>
  private waiters: { type: string | undefined; resolve: (m: ServerMessage) => void }[] = []

  private constructor(socket: WebSocket) {
    this.socket = socket
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    })
    socket.on('message', (data: Buffer) => {
      const message = parseServerMessage(data.toString('utf8'))
      this.received.push(message)
      const i = this.waiters.findIndex((w) => w.type === undefined || w.type === message.type)
      if (i !== -1) {
        const [w] = this.waiters.splice(i, 1)
        w?.resolve(message)
      }
    })
    socket.on('error', () => {
      // 'close' follows; tests assert on that.
    })
  }

  static async open(url: string): Promise<RawClient> {
    const socket = new WebSocket(url)
    const client = new RawClient(socket)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    return client
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  /** The next message (of `type`, when given) not yet consumed by an earlier wait. */
  next<T extends ServerMessage['type']>(type?: T): Promise<Extract<ServerMessage, { type: T }>> {
    const idx = this.received.findIndex((m) => type === undefined || m.type === type)
    if (idx !== -1) {
      const [m] = this.received.splice(idx, 1)
      return Promise.resolve(m as Extract<ServerMessage, { type: T }>)
    }
    return new Promise((resolve) => {
      this.waiters.push({
        type,
        resolve: (m) => {
          this.received.splice(this.received.indexOf(m), 1)
          resolve(m as Extract<ServerMessage, { type: T }>)
        },
      })
    })
  }

  close(): void {
    this.socket.terminate()
  }
}

/** An SDP with the given DTLS fingerprint, shaped like a real data-channel offer. */
export function fakeSdp(fingerprintHex: string): string {
  return [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:abcd',
    'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    `a=fingerprint:sha-256 ${fingerprintHex}`,
    'a=setup:actpass',
    'a=mid:0',
    'a=sctp-port:5000',
    '',
  ].join('\r\n')
}

/** 32 colon-separated hex bytes, all equal to `byte`. */
export function fingerprintOf(byte: number): string {
  return Array.from({ length: 32 }, () => byte.toString(16).padStart(2, '0').toUpperCase()).join(':')
}

export async function httpGet(url: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(url)
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') }
}
