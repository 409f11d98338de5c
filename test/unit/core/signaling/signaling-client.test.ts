import { beforeAll, describe, expect, it, vi } from 'vitest'
import { createHmac } from 'node:crypto'
import { WebSocket as WsWebSocket } from 'ws'
import { isCoreError, type CoreError } from '../../../../core/errors.ts'
import {
  admissionProofInput,
  SIGNAL_CLOSE_CODES,
  type SignalData,
} from '../../../../core/protocol/signaling.ts'
import {
  deriveRoomCredentials,
  fromBase64Url32,
  signFingerprint,
  verifyFingerprint,
  type RoomCredentials,
} from '../../../../core/signaling/room-auth.ts'
import {
  SignalingClient,
  type CloseInfo,
  type IncomingSignal,
  type SignalingTimers,
  type WebSocketConstructor,
  type WebSocketLike,
} from '../../../../core/signaling/signaling-client.ts'

// Compile-time: both real WebSocket classes fit the injected constructor type.
const _wsFits: WebSocketConstructor = WsWebSocket
const _domFits: WebSocketConstructor = globalThis.WebSocket

const NONCE = Buffer.alloc(32, 9).toString('base64url')
const LIMITS = {
  maxMessageBytes: 65536,
  messagesPerSecond: 50,
  messageBurst: 100,
  idleTimeoutMs: 300,
  maxPeersPerRoom: 8,
}
const FP = Array.from({ length: 32 }, () => 'AB').join(':')
const SDP = `v=0\r\na=fingerprint:sha-256 ${FP}\r\n`

/** An in-memory WebSocket the test drives from the server side. */
class FakeSocket implements WebSocketLike {
  readyState = 0
  onopen: ((e: unknown) => void) | null = null
  onmessage: ((e: { data: unknown }) => void) | null = null
  onclose: ((e: { code: number; reason: string }) => void) | null = null
  onerror: ((e: unknown) => void) | null = null
  readonly sent: Record<string, unknown>[] = []
  closedWith: number | undefined

  send(data: string): void {
    const value: unknown = JSON.parse(data)
    if (typeof value !== 'object' || value === null) throw new Error('client sent a non-object')
    this.sent.push({ ...value })
  }
  close(code?: number): void {
    this.readyState = 3
    this.closedWith = code
  }
  open(): void {
    this.readyState = 1
    this.onopen?.({})
  }
  deliver(message: unknown): void {
    this.onmessage?.({ data: typeof message === 'string' ? message : JSON.stringify(message) })
  }
  serverClose(code: number, reason = ''): void {
    this.readyState = 3
    this.onclose?.({ code, reason })
  }
}

/** A manual clock: timers run only when the test advances time. */
class FakeTimers implements SignalingTimers {
  private nowMs = 0
  private nextId = 1
  private readonly tasks = new Map<number, { at: number; fn: () => void }>()
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++
    this.tasks.set(id, { at: this.nowMs + ms, fn })
    return id
  }
  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.tasks.delete(handle)
  }
  advance(ms: number): void {
    const end = this.nowMs + ms
    for (;;) {
      const due = [...this.tasks].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0]
      if (due === undefined) break
      this.tasks.delete(due[0])
      this.nowMs = due[1].at
      due[1].fn()
    }
    this.nowMs = end
  }
  get pending(): number {
    return this.tasks.size
  }
}

let creds: RoomCredentials

beforeAll(async () => {
  creds = await deriveRoomCredentials('unit test secret', 'lab', { iterations: 1000 })
})

interface Harness {
  client: SignalingClient
  timers: FakeTimers
  socket: () => FakeSocket
  events: string[]
  errors: CoreError[]
  closes: CloseInfo[]
}

function harness(options: { peerId?: string; keepAliveMs?: number; joinTimeoutMs?: number } = {}): Harness {
  const sockets: FakeSocket[] = []
  const Ctor = class extends FakeSocket {
    constructor(_url: string) {
      super()
      sockets.push(this)
    }
  }
  const timers = new FakeTimers()
  const client = new SignalingClient({
    url: 'ws://test',
    WebSocket: Ctor,
    timers,
    peerId: 'alice',
    ...options,
  })
  const h: Harness = {
    client,
    timers,
    socket: () => {
      const s = sockets[0]
      if (s === undefined) throw new Error('no socket yet')
      return s
    },
    events: [],
    errors: [],
    closes: [],
  }
  client.on('error', (e) => {
    h.events.push('error')
    h.errors.push(e)
  })
  client.on('close', (info) => {
    h.events.push('close')
    h.closes.push(info)
  })
  return h
}

/** Runs the handshake up to the challenge; returns the pending join. */
async function startJoin(h: Harness): Promise<{ join: Promise<unknown> }> {
  const join = h.client.join('lab', creds).catch((e: unknown) => e)
  await vi.waitFor(() => h.socket())
  h.socket().open()
  return { join }
}

async function joinedHarness(
  peers: string[] = ['bob'],
  options: Parameters<typeof harness>[0] = {},
): Promise<Harness> {
  const h = harness(options)
  const { join } = await startJoin(h)
  h.socket().deliver({ type: 'challenge', v: 1, nonce: NONCE, roomExists: true })
  await vi.waitFor(() => expect(h.socket().sent).toHaveLength(2))
  h.socket().deliver({ type: 'joined', v: 1, room: 'lab', peerId: 'alice', peers, limits: LIMITS })
  await join
  expect(h.client.isJoined).toBe(true)
  return h
}

function collect(c: SignalingClient): {
  accepted: IncomingSignal[]
  rejected: [CoreError, string | undefined][]
} {
  const o = { accepted: [] as IncomingSignal[], rejected: [] as [CoreError, string | undefined][] }
  c.on('signal', (s) => o.accepted.push(s))
  c.on('rejected', (e, from) => o.rejected.push([e, from]))
  return o
}

async function macFor(
  data: { type: 'offer' | 'answer'; sdp: string },
  from: string,
  to: string,
): Promise<string> {
  return signFingerprint(creds, { sdp: data.sdp, type: data.type, from, to })
}

describe('SignalingClient', () => {
  it('joins: sends join, answers the challenge with a proof and the verifier for a new room, resolves with peers', async () => {
    const h = harness()
    const { join } = await startJoin(h)
    expect(h.socket().sent[0]).toEqual({ type: 'join', v: 1, room: 'lab', peerId: 'alice' })
    h.socket().deliver({ type: 'challenge', v: 1, nonce: NONCE, roomExists: false })
    await vi.waitFor(() => expect(h.socket().sent).toHaveLength(2))
    const auth = h.socket().sent[1]
    const expected = createHmac('sha256', fromBase64Url32(creds.verifier))
      .update(admissionProofInput('lab', 'alice', NONCE))
      .digest('base64url')
    expect(auth).toEqual({ type: 'auth', v: 1, proof: expected, verifier: creds.verifier })
    h.socket().deliver({ type: 'joined', v: 1, room: 'lab', peerId: 'alice', peers: ['bob'], limits: LIMITS })
    expect(await join).toEqual({ peerId: 'alice', peers: ['bob'], limits: LIMITS })
    expect(h.client.peers).toEqual(['bob'])
  })

  it('keeps the verifier to itself when the room already exists', async () => {
    const h = harness()
    await startJoin(h)
    h.socket().deliver({ type: 'challenge', v: 1, nonce: NONCE, roomExists: true })
    await vi.waitFor(() => expect(h.socket().sent).toHaveLength(2))
    expect(Object.keys(h.socket().sent[1] ?? {}).sort()).toEqual(['proof', 'type', 'v'])
  })

  it('derives credentials itself when join gets the secret string', async () => {
    const h = harness()
    const join = h.client.join('lab', 'unit test secret').catch((e: unknown) => e)
    await vi.waitFor(() => h.socket(), { timeout: 5000 })
    h.socket().open()
    h.socket().deliver({ type: 'challenge', v: 1, nonce: NONCE, roomExists: false })
    await vi.waitFor(() => expect(h.socket().sent).toHaveLength(2), { timeout: 5000 })
    // Default rounds (not the 1000 used above), so another verifier: the rounds are part of the key.
    expect(h.socket().sent[1]?.verifier).not.toBe(creds.verifier)
    h.client.close()
    expect(isCoreError(await join, 'ERR_DESTROYED')).toBe(true)
  })

  it('rejects join with the server error code and emits error then close once when the server refuses', async () => {
    const h = harness()
    const { join } = await startJoin(h)
    h.socket().deliver({ type: 'challenge', v: 1, nonce: NONCE, roomExists: true })
    await vi.waitFor(() => expect(h.socket().sent).toHaveLength(2))
    h.socket().deliver({ type: 'error', v: 1, code: 'ERR_AUTH_FAILED', message: 'nope', fatal: true })
    h.socket().serverClose(SIGNAL_CLOSE_CODES.AUTH_FAILED, 'auth_failed')
    const err = await join
    expect(isCoreError(err, 'ERR_AUTH_FAILED')).toBe(true)
    expect(h.events).toEqual(['error', 'close'])
    expect(h.closes[0]).toEqual({ code: 4401, reason: 'auth_failed' })
  })

  it('falls back to the close code when the error message was lost', async () => {
    const h = harness()
    const { join } = await startJoin(h)
    h.socket().serverClose(SIGNAL_CLOSE_CODES.ROOM_FULL)
    expect(isCoreError(await join, 'ERR_ROOM_FULL')).toBe(true)
  })

  it('reports ERR_CONNECTION_FAILED when the socket drops during join', async () => {
    const h = harness()
    const { join } = await startJoin(h)
    h.socket().serverClose(1006)
    expect(isCoreError(await join, 'ERR_CONNECTION_FAILED')).toBe(true)
  })

  it('times out a join that does not finish and closes the socket', async () => {
    const h = harness({ joinTimeoutMs: 500 })
    const { join } = await startJoin(h)
    h.timers.advance(499)
    expect(h.client.isJoined).toBe(false)
    expect(h.events).toEqual([])
    h.timers.advance(1)
    expect(isCoreError(await join, 'ERR_TIMEOUT')).toBe(true)
    expect(h.socket().closedWith).toBe(1000)
    expect(h.timers.pending).toBe(0)
  })

  it('aborts a join through its AbortSignal', async () => {
    const h = harness()
    const ac = new AbortController()
    const join = h.client.join('lab', creds, { signal: ac.signal }).catch((e: unknown) => e)
    ac.abort()
    expect(isCoreError(await join, 'ERR_ABORTED')).toBe(true)
  })

  it('refuses a second join and credentials for another room', async () => {
    const h = await joinedHarness()
    await expect(h.client.join('lab', creds)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    const other = harness()
    await expect(other.client.join('lab2', creds)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    expect(() => new SignalingClient({ url: 'ws://x', WebSocket: FakeSocket, peerId: 'bad id' })).toThrow(
      /peer id/,
    )
  })

  it('sends signals in call order and attaches a verifiable MAC to offers', async () => {
    const h = await joinedHarness()
    const offer: SignalData = { type: 'offer', sdp: SDP }
    const candidate: SignalData = { type: 'candidate', candidate: { candidate: 'candidate:1', sdpMid: '0' } }
    const sends = [h.client.signal('bob', offer), h.client.signal('bob', candidate)]
    await Promise.all(sends)
    const [first, second] = h.socket().sent.slice(2)
    expect(first).toMatchObject({ type: 'signal', to: 'bob', data: offer })
    expect(second).toEqual({ type: 'signal', v: 1, to: 'bob', data: candidate })
    const mac = first?.mac
    expect(typeof mac).toBe('string')
    const ok = await verifyFingerprint(
      creds,
      { sdp: SDP, type: 'offer', from: 'alice', to: 'bob' },
      String(mac),
    )
    expect(ok).toBe(true)
  })

  it('refuses to signal a non-member, or an SDP without fingerprint', async () => {
    const h = await joinedHarness()
    await expect(h.client.signal('carol', { type: 'renegotiate', renegotiate: true })).rejects.toMatchObject({
      code: 'ERR_UNKNOWN_PEER',
    })
    await expect(h.client.signal('bob', { type: 'offer', sdp: 'v=0' })).rejects.toMatchObject({
      code: 'ERR_BAD_MESSAGE',
    })
  })

  it('emits a verified offer and the candidates that follow it', async () => {
    const h = await joinedHarness()
    const seen = collect(h.client)
    const offer = { type: 'offer' as const, sdp: SDP }
    h.socket().deliver({
      type: 'signal',
      v: 1,
      from: 'bob',
      to: 'alice',
      data: offer,
      mac: await macFor(offer, 'bob', 'alice'),
    })
    const candidate = { type: 'candidate', candidate: { candidate: 'candidate:2' } }
    h.socket().deliver({ type: 'signal', v: 1, from: 'bob', to: 'alice', data: candidate })
    await vi.waitFor(() => expect(seen.accepted).toHaveLength(2))
    expect(seen.accepted.map((s) => s.data.type)).toEqual(['offer', 'candidate'])
    expect(seen.rejected).toEqual([])
  })

  it('drops an offer with a bad MAC and candidates from a peer without a verified description', async () => {
    const h = await joinedHarness()
    const seen = collect(h.client)
    const offer = { type: 'offer' as const, sdp: SDP }
    const wrongDirection = await macFor(offer, 'alice', 'bob')
    h.socket().deliver({ type: 'signal', v: 1, from: 'bob', to: 'alice', data: offer, mac: wrongDirection })
    h.socket().deliver({
      type: 'signal',
      v: 1,
      from: 'bob',
      to: 'alice',
      data: { type: 'renegotiate', renegotiate: true },
    })
    await vi.waitFor(() => expect(seen.rejected).toHaveLength(2))
    expect(seen.accepted).toEqual([])
    expect(seen.rejected.map(([e, from]) => [e.code, from])).toEqual([
      ['ERR_AUTH_FAILED', 'bob'],
      ['ERR_AUTH_FAILED', 'bob'],
    ])
    expect(h.client.isJoined).toBe(true)
  })

  it('revokes a peer whose later description fails, and drops signals from non-members', async () => {
    const h = await joinedHarness()
    const seen = collect(h.client)
    const offer = { type: 'offer' as const, sdp: SDP }
    h.socket().deliver({
      type: 'signal',
      v: 1,
      from: 'bob',
      to: 'alice',
      data: offer,
      mac: await macFor(offer, 'bob', 'alice'),
    })
    h.socket().deliver({
      type: 'signal',
      v: 1,
      from: 'bob',
      to: 'alice',
      data: offer,
      mac: 'A'.repeat(42) + 'E',
    })
    h.socket().deliver({
      type: 'signal',
      v: 1,
      from: 'bob',
      to: 'alice',
      data: { type: 'candidate', candidate: { candidate: '' } },
    })
    h.socket().deliver({
      type: 'signal',
      v: 1,
      from: 'zed',
      to: 'alice',
      data: { type: 'renegotiate', renegotiate: true },
    })
    await vi.waitFor(() => expect(seen.rejected).toHaveLength(3))
    expect(seen.accepted).toHaveLength(1)
    expect(seen.rejected.map(([e]) => e.code)).toEqual([
      'ERR_AUTH_FAILED',
      'ERR_AUTH_FAILED',
      'ERR_UNKNOWN_PEER',
    ])
  })

  it('tracks peers through peer-joined and peer-left', async () => {
    const h = await joinedHarness([])
    const seen: string[] = []
    h.client.on('peer-joined', (p) => seen.push(`+${p}`))
    h.client.on('peer-left', (p) => seen.push(`-${p}`))
    h.socket().deliver({ type: 'peer.joined', v: 1, peerId: 'carol' })
    h.socket().deliver({ type: 'peer.joined', v: 1, peerId: 'dave' })
    h.socket().deliver({ type: 'peer.left', v: 1, peerId: 'carol' })
    await vi.waitFor(() => expect(seen).toHaveLength(3))
    expect(seen).toEqual(['+carol', '+dave', '-carol'])
    expect(h.client.peers).toEqual(['dave'])
  })

  it('pings at a third of the announced idle timeout, and any send postpones the ping', async () => {
    const h = await joinedHarness()
    const pings = () => h.socket().sent.filter((m) => m.type === 'ping').length
    h.timers.advance(99)
    expect(pings()).toBe(0)
    h.timers.advance(1)
    expect(pings()).toBe(1)
    h.timers.advance(50)
    await h.client.signal('bob', { type: 'renegotiate', renegotiate: true })
    h.timers.advance(99)
    expect(pings()).toBe(1)
    h.timers.advance(1)
    expect(pings()).toBe(2)
  })

  it('reports a non-fatal server error as rejected and stays joined', async () => {
    const h = await joinedHarness()
    const seen = collect(h.client)
    h.socket().deliver({ type: 'error', v: 1, code: 'ERR_UNKNOWN_PEER', message: 'gone', fatal: false })
    await vi.waitFor(() => expect(seen.rejected).toHaveLength(1))
    expect(seen.rejected[0]?.[0].code).toBe('ERR_UNKNOWN_PEER')
    expect(h.client.isJoined).toBe(true)
  })

  it.each([
    ['malformed JSON', '{'],
    ['a wrong shape', { type: 'peer.joined', v: 1 }],
    ['a second joined', { type: 'joined', v: 1, room: 'lab', peerId: 'alice', peers: [], limits: LIMITS }],
    ['an announcement of ourselves', { type: 'peer.joined', v: 1, peerId: 'alice' }],
  ])('closes with ERR_BAD_MESSAGE on %s from the server', async (_n, message) => {
    const h = await joinedHarness()
    h.socket().deliver(message)
    await vi.waitFor(() => expect(h.events).toEqual(['error', 'close']))
    expect(h.errors[0]?.code).toBe('ERR_BAD_MESSAGE')
    expect(h.socket().closedWith).toBe(1000)
  })

  it('closes with ERR_BAD_MESSAGE when joined arrives before any challenge', async () => {
    const h = harness()
    const { join } = await startJoin(h)
    h.socket().deliver({ type: 'joined', v: 1, room: 'lab', peerId: 'alice', peers: [], limits: LIMITS })
    expect(isCoreError(await join, 'ERR_BAD_MESSAGE')).toBe(true)
  })

  it('treats a going-away close after joining as a plain close, not an error', async () => {
    const h = await joinedHarness()
    h.socket().serverClose(SIGNAL_CLOSE_CODES.GOING_AWAY, 'server shutting down')
    expect(h.events).toEqual(['close'])
    expect(h.closes[0]?.code).toBe(1001)
  })

  it('closes once, then refuses every method with ERR_DESTROYED', async () => {
    const h = await joinedHarness()
    h.client.close()
    h.client.close()
    expect(h.events).toEqual(['close'])
    expect(h.timers.pending).toBe(0)
    await expect(h.client.signal('bob', { type: 'renegotiate', renegotiate: true })).rejects.toMatchObject({
      code: 'ERR_DESTROYED',
    })
    await expect(h.client.join('lab', creds)).rejects.toMatchObject({ code: 'ERR_DESTROYED' })
  })

  it('keeps working when a listener throws', async () => {
    const h = await joinedHarness([])
    const seen: string[] = []
    h.client.on('peer-joined', () => {
      throw new Error('listener bug')
    })
    h.client.on('peer-joined', (p) => seen.push(p))
    h.socket().deliver({ type: 'peer.joined', v: 1, peerId: 'carol' })
    h.socket().deliver({ type: 'peer.joined', v: 1, peerId: 'dave' })
    await vi.waitFor(() => expect(seen).toEqual(['carol', 'dave']))
    expect(h.client.isJoined).toBe(true)
  })
})
