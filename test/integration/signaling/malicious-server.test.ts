// The signaling server is a matchmaker, not a trusted party. Here a test server plays a
// compromised one: it admits anyone without checking proofs, keeps every verifier it is
// sent, injects a peer of its own, and rewrites DTLS fingerprints in relayed SDPs. The
// honest peers' end-to-end checks must reject every such attempt; the pass-through
// control shows the same setup accepts honest traffic, so the checks are not vacuous.
import { afterEach, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { WebSocketServer, type WebSocket } from 'ws'
import type { CoreError } from '../../../core/errors.ts'
import {
  encodeSignalMessage,
  parseClientMessage,
  type RelayedSignalMessage,
  type ServerMessage,
  type SignalData,
} from '../../../core/protocol/signaling.ts'
import { fromBase64Url32, signFingerprint, type RoomCredentials } from '../../../core/signaling/room-auth.ts'
import type { IncomingSignal, SignalingClient } from '../../../core/signaling/signaling-client.ts'
import { credentialsFor, fakeSdp, fingerprintOf, newClient } from './helpers.ts'

const SECRET = 'the honest peers share this secret'
const ROOM = 'lab'
const LIMITS = {
  maxMessageBytes: 65536,
  messagesPerSecond: 50,
  messageBurst: 100,
  idleTimeoutMs: 60_000,
  maxPeersPerRoom: 64,
}
const MALLORY_FP = fingerprintOf(0x66)

type Tamper = (message: RelayedSignalMessage) => Promise<RelayedSignalMessage>

/** A signaling server that admits everyone and may tamper with what it relays. */
class EvilServer {
  readonly wss: WebSocketServer
  readonly members = new Map<string, WebSocket>()
  /** Verifiers first joiners handed over: all a real server would ever learn. */
  readonly verifiers: string[] = []
  tamper: Tamper = (m) => Promise.resolve(m)

  private constructor(wss: WebSocketServer) {
    this.wss = wss
    wss.on('connection', (socket) => {
      let peerId: string | undefined
      socket.on('message', (data: Buffer) => {
        void (async () => {
          const msg = parseClientMessage(data.toString('utf8'))
          if (msg.type === 'join') {
            peerId = msg.peerId
            this.send(socket, {
              type: 'challenge',
              v: 1,
              nonce: randomBytes(32).toString('base64url'),
              roomExists: false,
            })
          } else if (msg.type === 'auth' && peerId !== undefined) {
            if (msg.verifier !== undefined) this.verifiers.push(msg.verifier)
            // No proof check at all: the server admits whoever it likes.
            this.send(socket, {
              type: 'joined',
              v: 1,
              room: ROOM,
              peerId,
              peers: [...this.members.keys()],
              limits: LIMITS,
            })
            for (const other of this.members.values()) this.send(other, { type: 'peer.joined', v: 1, peerId })
            this.members.set(peerId, socket)
          } else if (msg.type === 'signal' && peerId !== undefined) {
            const target = this.members.get(msg.to)
            const relayed: RelayedSignalMessage =
              msg.mac === undefined
                ? { type: 'signal', v: 1, from: peerId, to: msg.to, data: msg.data }
                : { type: 'signal', v: 1, from: peerId, to: msg.to, data: msg.data, mac: msg.mac }
            if (target !== undefined) this.send(target, await this.tamper(relayed))
          }
        })()
      })
    })
  }

  static async start(): Promise<EvilServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    return new EvilServer(wss)
  }

  get url(): string {
    const address = this.wss.address()
    if (address === null || typeof address === 'string') throw new Error('not listening on TCP')
    return `ws://127.0.0.1:${address.port}`
  }

  send(socket: WebSocket, message: ServerMessage): void {
    socket.send(encodeSignalMessage(message))
  }

  /** Sends a message to a member as if another peer had sent it. */
  inject(to: string, message: ServerMessage): void {
    const socket = this.members.get(to)
    if (socket === undefined) throw new Error(`no member ${to}`)
    this.send(socket, message)
  }

  async close(): Promise<void> {
    for (const s of this.wss.clients) s.terminate()
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
  }
}

/** What the server can build from the verifier: "credentials" keyed by it, its best guess. */
async function credentialsFromVerifier(verifier: string): Promise<RoomCredentials> {
  const key = await crypto.subtle.importKey(
    'raw',
    fromBase64Url32(verifier),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign', 'verify'],
  )
  return { room: ROOM, verifier, admissionKey: key, fingerprintKey: key }
}

function replaceFingerprint(data: SignalData, fp: string): SignalData {
  if (data.type !== 'offer' && data.type !== 'answer') return data
  return {
    type: data.type,
    sdp: data.sdp.replace(/a=fingerprint:sha-256 [0-9A-F:]+/, `a=fingerprint:sha-256 ${fp}`),
  }
}

let evil: EvilServer | undefined
const clients: SignalingClient[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await evil?.close()
  evil = undefined
})

interface Observed {
  readonly accepted: IncomingSignal[]
  readonly rejected: { error: CoreError; from: string | undefined }[]
}

function observe(c: SignalingClient): Observed {
  const o: Observed = { accepted: [], rejected: [] }
  c.on('signal', (s) => o.accepted.push(s))
  c.on('rejected', (error, from) => o.rejected.push({ error, from }))
  return o
}

async function honest(url: string, peerId: string, secret = SECRET): Promise<SignalingClient> {
  const c = newClient(url, peerId)
  clients.push(c)
  await c.join(ROOM, await credentialsFor(secret, ROOM))
  return c
}

describe('end-to-end authentication against a malicious signaling server', () => {
  it('accepts honest offers relayed unchanged (control: the checks can pass)', async () => {
    evil = await EvilServer.start()
    const alice = await honest(evil.url, 'alice')
    const bob = await honest(evil.url, 'bob')
    const seen = observe(bob)
    await expect.poll(() => alice.peers).toEqual(['bob'])
    await alice.signal('bob', { type: 'offer', sdp: fakeSdp(fingerprintOf(0xa1)) })
    await expect.poll(() => seen.accepted.length).toBe(1)
    expect(seen.accepted[0]?.from).toBe('alice')
    expect(seen.rejected).toEqual([])
  })

  it('(a) an intruder the server admits without the secret cannot get its offer accepted', async () => {
    evil = await EvilServer.start()
    const alice = await honest(evil.url, 'alice')
    const seen = observe(alice)
    // The server lets in a peer holding a wrong secret (a real server would refuse it).
    const intruder = await honest(evil.url, 'mallory', 'a secret mallory guessed')
    expect(intruder.peers).toEqual(['alice'])
    await intruder.signal('alice', { type: 'offer', sdp: fakeSdp(MALLORY_FP) })
    await expect.poll(() => seen.rejected.length).toBe(1)
    // The server itself forges offers for a peer of its own: MAC keyed by the verifier it
    // holds, a random MAC, no MAC; then a candidate as if a description had been accepted.
    const verifier = evil.verifiers[0]
    expect(verifier).toBeDefined()
    const forged = await signFingerprint(await credentialsFromVerifier(verifier ?? ''), {
      sdp: fakeSdp(MALLORY_FP),
      type: 'offer',
      from: 'eve',
      to: 'alice',
    })
    evil.inject('alice', { type: 'peer.joined', v: 1, peerId: 'eve' })
    const offer: SignalData = { type: 'offer', sdp: fakeSdp(MALLORY_FP) }
    evil.inject('alice', { type: 'signal', v: 1, from: 'eve', to: 'alice', data: offer, mac: forged })
    evil.inject('alice', {
      type: 'signal',
      v: 1,
      from: 'eve',
      to: 'alice',
      data: offer,
      mac: randomBytes(32).toString('base64url'),
    })
    evil.inject('alice', { type: 'signal', v: 1, from: 'eve', to: 'alice', data: offer })
    evil.inject('alice', {
      type: 'signal',
      v: 1,
      from: 'eve',
      to: 'alice',
      data: {
        type: 'candidate',
        candidate: { candidate: 'candidate:1 1 udp 1 6.6.6.6 666 typ host', sdpMid: '0' },
      },
    })
    await expect.poll(() => seen.rejected.length).toBe(5)
    expect(seen.accepted).toEqual([])
    expect(seen.rejected.map((r) => [r.from, r.error.code])).toEqual([
      ['mallory', 'ERR_AUTH_FAILED'],
      ['eve', 'ERR_AUTH_FAILED'],
      ['eve', 'ERR_AUTH_FAILED'],
      ['eve', 'ERR_AUTH_FAILED'],
      ['eve', 'ERR_AUTH_FAILED'],
    ])
    expect(alice.isJoined).toBe(true)
  })

  it('(b) a fingerprint rewritten in transit fails verification, re-signed or not', async () => {
    evil = await EvilServer.start()
    const alice = await honest(evil.url, 'alice')
    const bob = await honest(evil.url, 'bob')
    const seenByBob = observe(bob)
    const seenByAlice = observe(alice)
    await expect.poll(() => alice.peers).toEqual(['bob'])
    const verifier = evil.verifiers[0] ?? ''
    let resign = false
    evil.tamper = async (m) => {
      const data = replaceFingerprint(m.data, MALLORY_FP)
      if (data.type !== 'offer' && data.type !== 'answer') return { ...m, data }
      if (!resign) return { ...m, data }
      const mac = await signFingerprint(await credentialsFromVerifier(verifier), {
        sdp: data.sdp,
        type: data.type,
        from: m.from,
        to: m.to,
      })
      return { ...m, data, mac }
    }
    await alice.signal('bob', { type: 'offer', sdp: fakeSdp(fingerprintOf(0xa1)) })
    resign = true
    await alice.signal('bob', { type: 'offer', sdp: fakeSdp(fingerprintOf(0xa1)) })
    await bob.signal('alice', { type: 'answer', sdp: fakeSdp(fingerprintOf(0xb2)) })
    await expect.poll(() => seenByBob.rejected.length + seenByAlice.rejected.length).toBe(3)
    expect(seenByBob.accepted).toEqual([])
    expect(seenByAlice.accepted).toEqual([])
    expect(seenByBob.rejected.every((r) => r.error.code === 'ERR_AUTH_FAILED' && r.from === 'alice')).toBe(
      true,
    )
  })

  it("(b') an offer reflected back to its sender as the other peer's answer fails verification", async () => {
    evil = await EvilServer.start()
    const alice = await honest(evil.url, 'alice')
    await honest(evil.url, 'bob')
    const seen = observe(alice)
    await expect.poll(() => alice.peers).toEqual(['bob'])
    let captured: RelayedSignalMessage | undefined
    evil.tamper = (m) => {
      captured = m
      return Promise.resolve(m)
    }
    await alice.signal('bob', { type: 'offer', sdp: fakeSdp(fingerprintOf(0xa1)) })
    await expect.poll(() => captured).toBeDefined()
    const original = captured
    if (original === undefined || original.data.type !== 'offer') throw new Error('no offer captured')
    const reflected: RelayedSignalMessage = {
      type: 'signal',
      v: 1,
      from: 'bob',
      to: 'alice',
      data: { type: 'answer', sdp: original.data.sdp },
      mac: original.mac,
    }
    evil.inject('alice', reflected)
    evil.inject('alice', { ...reflected, data: { type: 'offer', sdp: original.data.sdp } })
    await expect.poll(() => seen.rejected.length).toBe(2)
    expect(seen.accepted).toEqual([])
  })
})
