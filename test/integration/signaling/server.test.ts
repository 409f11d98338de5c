import { afterEach, describe, expect, it } from 'vitest'
import { createHmac } from 'node:crypto'
import { connect as netConnect, type Socket } from 'node:net'
import { isCoreError, type CoreError } from '../../../core/errors.ts'
import { admissionProofInput, SIGNAL_CLOSE_CODES } from '../../../core/protocol/signaling.ts'
import type { CloseInfo, IncomingSignal, SignalingClient } from '../../../core/signaling/signaling-client.ts'
import type { SignalingServer } from '../../../signaling-server/server.ts'
import {
  credentialsFor,
  fakeSdp,
  fingerprintOf,
  httpGet,
  newClient,
  RawClient,
  startTestServer,
} from './helpers.ts'

const SECRET = 'correct horse battery staple'
const WRONG = 'incorrect horse battery staple'

let server: SignalingServer | undefined
const clients: SignalingClient[] = []
const raws: RawClient[] = []
const sockets: Socket[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  for (const r of raws.splice(0)) r.close()
  for (const s of sockets.splice(0)) s.destroy()
  await server?.close()
  server = undefined
})

async function start(config: Parameters<typeof startTestServer>[0] = {}): Promise<SignalingServer> {
  server = await startTestServer(config)
  return server
}

async function joined(url: string, peerId: string, room: string, secret = SECRET): Promise<SignalingClient> {
  const c = newClient(url, peerId)
  clients.push(c)
  await c.join(room, await credentialsFor(secret, room))
  return c
}

async function raw(url: string): Promise<RawClient> {
  const r = await RawClient.open(url)
  raws.push(r)
  return r
}

/** A raw client admitted to `room` by answering the challenge correctly. */
async function rawJoined(url: string, room: string, peerId: string): Promise<RawClient> {
  const r = await raw(url)
  const creds = await credentialsFor(SECRET, room)
  r.send({ type: 'join', v: 1, room, peerId })
  const ch = await r.next('challenge')
  const proof = createHmac('sha256', Buffer.from(creds.verifier, 'base64url'))
    .update(admissionProofInput(room, peerId, ch.nonce))
    .digest('base64url')
  r.send(
    ch.roomExists ? { type: 'auth', v: 1, proof } : { type: 'auth', v: 1, proof, verifier: creds.verifier },
  )
  await r.next('joined')
  return r
}

function closeInfo(c: SignalingClient): Promise<{ info: CloseInfo; error: CoreError | undefined }> {
  return new Promise((resolve) => {
    let error: CoreError | undefined
    c.on('error', (e) => {
      error = e
    })
    c.on('close', (info) => resolve({ info, error }))
  })
}

function nextSignal(c: SignalingClient): Promise<IncomingSignal> {
  return new Promise((resolve) => {
    const off = c.on('signal', (s) => {
      off()
      resolve(s)
    })
  })
}

/** Proves two members still get relayed signals (for "others keep working" checks). */
async function expectRelayWorks(a: SignalingClient, b: SignalingClient): Promise<void> {
  // b's join resolved; a learns of b with the peer.joined that the server sent right after.
  await expect.poll(() => a.peers.includes(b.peerId)).toBe(true)
  const got = nextSignal(b)
  await a.signal(b.peerId, { type: 'offer', sdp: fakeSdp(fingerprintOf(0xab)) })
  const s = await got
  expect(s.from).toBe(a.peerId)
  expect(s.data.type).toBe('offer')
}

async function expectRejected(r: RawClient, code: string, closeCode: number): Promise<void> {
  const err = await r.next('error')
  expect(err.code).toBe(code)
  expect(err.fatal).toBe(true)
  expect((await r.closed).code).toBe(closeCode)
}

async function metric(s: SignalingServer, name: string): Promise<number> {
  const { body } = await httpGet(`${s.httpUrl}/metrics`)
  const line = body.split('\n').find((l) => l.startsWith(`${name} `))
  if (line === undefined) throw new Error(`metric ${name} missing`)
  return Number(line.slice(name.length + 1))
}

describe('signaling server', () => {
  it('admits peers with the right secret and announces each to the others', async () => {
    const s = await start()
    const a = await joined(s.url, 'alice', 'lab')
    const seen = new Promise<string>((resolve) => a.on('peer-joined', resolve))
    const b = newClient(s.url, 'bob')
    clients.push(b)
    const result = await b.join('lab', await credentialsFor(SECRET, 'lab'))
    expect(result.peers).toEqual(['alice'])
    expect(await seen).toBe('bob')
    expect(a.peers).toEqual(['bob'])
    expect(s.stats()).toMatchObject({ connections: 2, peers: 2, rooms: 1 })
  })

  it('refuses a wrong secret with ERR_AUTH_FAILED and close 4401 while members keep working', async () => {
    const s = await start()
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    const m = newClient(s.url, 'mallory')
    clients.push(m)
    const closed = closeInfo(m)
    const err: unknown = await m.join('lab', await credentialsFor(WRONG, 'lab')).catch((e: unknown) => e)
    expect(isCoreError(err, 'ERR_AUTH_FAILED')).toBe(true)
    expect((await closed).info.code).toBe(SIGNAL_CLOSE_CODES.AUTH_FAILED)
    expect(a.peers).toEqual(['bob'])
    await expectRelayWorks(a, b)
    expect(await metric(s, 'longhaul_signal_rejections_total{reason="auth_failed"}')).toBe(1)
  })

  it('refuses a replayed proof from an earlier connection', async () => {
    const s = await start()
    await joined(s.url, 'alice', 'lab')
    const creds = await credentialsFor(SECRET, 'lab')
    const first = await raw(s.url)
    first.send({ type: 'join', v: 1, room: 'lab', peerId: 'bob' })
    const ch1 = await first.next('challenge')
    const proof = createHmac('sha256', Buffer.from(creds.verifier, 'base64url'))
      .update(admissionProofInput('lab', 'bob', ch1.nonce))
      .digest('base64url')
    first.send({ type: 'auth', v: 1, proof })
    await first.next('joined')
    first.close()
    await first.closed
    const replay = await raw(s.url)
    replay.send({ type: 'join', v: 1, room: 'lab', peerId: 'bob' })
    const ch2 = await replay.next('challenge')
    expect(ch2.nonce).not.toBe(ch1.nonce)
    replay.send({ type: 'auth', v: 1, proof })
    await expectRejected(replay, 'ERR_AUTH_FAILED', SIGNAL_CLOSE_CODES.AUTH_FAILED)
  })

  it('refuses to create a room when the first joiner sends no verifier', async () => {
    const s = await start()
    const r = await raw(s.url)
    r.send({ type: 'join', v: 1, room: 'fresh', peerId: 'p1' })
    const ch = await r.next('challenge')
    expect(ch.roomExists).toBe(false)
    r.send({ type: 'auth', v: 1, proof: 'A'.repeat(43) })
    await expectRejected(r, 'ERR_AUTH_FAILED', SIGNAL_CLOSE_CODES.AUTH_FAILED)
    expect(s.stats().rooms).toBe(0)
  })

  it('relays end-to-end verified offers, answers and candidates between members of one room', async () => {
    const s = await start()
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    await expect.poll(() => a.peers).toEqual(['bob'])
    const gotOffer = nextSignal(b)
    await a.signal('bob', { type: 'offer', sdp: fakeSdp(fingerprintOf(0x11)) })
    expect(await gotOffer).toMatchObject({ from: 'alice', data: { type: 'offer' } })
    const gotAnswer = nextSignal(a)
    await b.signal('alice', { type: 'answer', sdp: fakeSdp(fingerprintOf(0x22)) })
    expect(await gotAnswer).toMatchObject({ from: 'bob', data: { type: 'answer' } })
    const gotCandidate = nextSignal(b)
    const candidate = {
      candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host',
      sdpMid: '0',
      sdpMLineIndex: 0,
    }
    await a.signal('bob', { type: 'candidate', candidate })
    expect((await gotCandidate).data).toEqual({ type: 'candidate', candidate })
    expect(await metric(s, 'longhaul_signal_messages_relayed_total')).toBe(3)
  })

  it('does not relay to a peer of another room and answers ERR_UNKNOWN_PEER without closing', async () => {
    const s = await start()
    const b1 = await joined(s.url, 'b1', 'room-b')
    const leaked: IncomingSignal[] = []
    b1.on('signal', (sig) => leaked.push(sig))
    const a1 = await rawJoined(s.url, 'room-a', 'a1')
    a1.send({ type: 'signal', v: 1, to: 'b1', data: { type: 'renegotiate', renegotiate: true } })
    const err = await a1.next('error')
    expect(err).toMatchObject({ code: 'ERR_UNKNOWN_PEER', fatal: false })
    // The connection stays up: a ping still gets its pong.
    a1.send({ type: 'ping', v: 1 })
    await a1.next('pong')
    // b1 got nothing: anything relayed to it would have arrived before this pong.
    const probe = await rawJoined(s.url, 'room-b', 'b2')
    probe.send({ type: 'ping', v: 1 })
    await probe.next('pong')
    expect(leaked).toEqual([])
    expect(await metric(s, 'longhaul_signal_rejections_total{reason="unknown_peer"}')).toBe(1)
  })

  it('announces leaves to the remaining members and drops an empty room', async () => {
    const s = await start()
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    const left = new Promise<string>((resolve) => a.on('peer-left', resolve))
    b.close()
    expect(await left).toBe('bob')
    expect(a.peers).toEqual([])
    a.close()
    await expect.poll(() => s.stats().rooms).toBe(0)
    // The verifier went with the room: a new first joiner sets another one.
    const c = await joined(s.url, 'carol', 'lab', WRONG)
    expect(c.peers).toEqual([])
  })

  it('refuses a second member with the same peer id (ERR_DUPLICATE_PEER, 4409)', async () => {
    const s = await start()
    await joined(s.url, 'alice', 'lab')
    const r = await raw(s.url)
    r.send({ type: 'join', v: 1, room: 'lab', peerId: 'alice' })
    await expectRejected(r, 'ERR_DUPLICATE_PEER', SIGNAL_CLOSE_CODES.DUPLICATE_PEER)
  })

  it('closes an oversized message with ERR_FRAME_TOO_LARGE (4413) and keeps serving the others', async () => {
    const s = await start({ maxMessageBytes: 1024 })
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    const r = await rawJoined(s.url, 'lab', 'big')
    r.send(JSON.stringify({ type: 'ping', v: 1, pad: 'x'.repeat(1100) }))
    await expectRejected(r, 'ERR_FRAME_TOO_LARGE', SIGNAL_CLOSE_CODES.MESSAGE_TOO_LARGE)
    await expectRelayWorks(a, b)
  })

  it('cuts a frame above the hard cap with 1009 before buffering it', async () => {
    const s = await start({ maxMessageBytes: 1024 })
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    const r = await raw(s.url)
    r.send('x'.repeat(64 * 1024))
    expect((await r.closed).code).toBe(SIGNAL_CLOSE_CODES.MESSAGE_TOO_BIG)
    await expectRelayWorks(a, b)
    expect(await metric(s, 'longhaul_signal_rejections_total{reason="too_large"}')).toBe(1)
  })

  it('closes a connection above the message rate with ERR_RATE_LIMITED (4429) and keeps serving the others', async () => {
    const s = await start({ rateLimit: 5, rateBurst: 5 })
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    const r = await raw(s.url)
    for (let i = 0; i < 20; i++) r.send({ type: 'ping', v: 1 })
    await expectRejected(r, 'ERR_RATE_LIMITED', SIGNAL_CLOSE_CODES.RATE_LIMITED)
    // The burst passed; message 6 (burst + 1) tripped the limit.
    expect(r.received.filter((m) => m.type === 'pong').length).toBe(5)
    await expectRelayWorks(a, b)
  })

  it('refuses a peer when the room is full (ERR_ROOM_FULL, 4430) and still serves other rooms', async () => {
    const s = await start({ maxPeersPerRoom: 2 })
    await joined(s.url, 'alice', 'lab')
    await joined(s.url, 'bob', 'lab')
    const c = newClient(s.url, 'carol')
    clients.push(c)
    const closed = closeInfo(c)
    const err: unknown = await c.join('lab', await credentialsFor(SECRET, 'lab')).catch((e: unknown) => e)
    expect(isCoreError(err, 'ERR_ROOM_FULL')).toBe(true)
    expect((await closed).info.code).toBe(SIGNAL_CLOSE_CODES.ROOM_FULL)
    const x = await joined(s.url, 'x', 'other')
    const y = await joined(s.url, 'y', 'other')
    await expectRelayWorks(x, y)
  })

  it('refuses a new room beyond the room limit (4431) while existing rooms work', async () => {
    const s = await start({ maxRooms: 1 })
    const a = await joined(s.url, 'alice', 'lab')
    const r = await raw(s.url)
    r.send({ type: 'join', v: 1, room: 'second', peerId: 'p' })
    await expectRejected(r, 'ERR_ROOM_FULL', SIGNAL_CLOSE_CODES.TOO_MANY_ROOMS)
    const b = await joined(s.url, 'bob', 'lab')
    await expectRelayWorks(a, b)
  })

  it('refuses connections beyond the connection limit (4432)', async () => {
    const s = await start({ maxConnections: 2 })
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    const r = await raw(s.url)
    await expectRejected(r, 'ERR_ROOM_FULL', SIGNAL_CLOSE_CODES.TOO_MANY_CONNECTIONS)
    await expectRelayWorks(a, b)
  })

  it('closes a silent connection after the idle timeout (ERR_TIMEOUT, 4408) while a pinging client stays', async () => {
    const s = await start({ idleTimeoutMs: 150 })
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    const r = await raw(s.url)
    const t0 = performance.now()
    await expectRejected(r, 'ERR_TIMEOUT', SIGNAL_CLOSE_CODES.IDLE_TIMEOUT)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100)
    // a and b keep themselves alive with pings at a third of the announced timeout.
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(a.isJoined && b.isJoined).toBe(true)
    await expectRelayWorks(a, b)
  })

  it.each([
    ['malformed JSON', '{"type":"join",'],
    ['a JSON array', '[1,2,3]'],
    ['an unknown type', { type: 'hello', v: 1 }],
    ['a wrong version', { type: 'join', v: 2, room: 'lab', peerId: 'p' }],
    ['an extra field', { type: 'join', v: 1, room: 'lab', peerId: 'p', admin: true }],
    ['a bad peer id', { type: 'join', v: 1, room: 'lab', peerId: 'has space' }],
    [
      'a signal before joining',
      { type: 'signal', v: 1, to: 'x', data: { type: 'renegotiate', renegotiate: true } },
    ],
    ['auth before join', { type: 'auth', v: 1, proof: 'A'.repeat(43) }],
  ])('rejects %s with ERR_BAD_MESSAGE (4400)', async (_name, message) => {
    const s = await start()
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    const r = await raw(s.url)
    r.send(message)
    await expectRejected(r, 'ERR_BAD_MESSAGE', SIGNAL_CLOSE_CODES.BAD_MESSAGE)
    await expectRelayWorks(a, b)
  })

  it('rejects a binary frame with ERR_BAD_MESSAGE (4400)', async () => {
    const s = await start()
    const r = await raw(s.url)
    r.socket.send(Buffer.from('{"type":"ping","v":1}'), { binary: true })
    await expectRejected(r, 'ERR_BAD_MESSAGE', SIGNAL_CLOSE_CODES.BAD_MESSAGE)
  })

  it('rejects a second join on a joined connection', async () => {
    const s = await start()
    const r = await rawJoined(s.url, 'lab', 'p1')
    r.send({ type: 'join', v: 1, room: 'lab', peerId: 'p2' })
    await expectRejected(r, 'ERR_BAD_MESSAGE', SIGNAL_CLOSE_CODES.BAD_MESSAGE)
  })

  it('serves /healthz as JSON with live counts', async () => {
    const s = await start()
    await joined(s.url, 'alice', 'lab')
    await joined(s.url, 'bob', 'other')
    const res = await httpGet(`${s.httpUrl}/healthz`)
    expect(res.status).toBe(200)
    expect(res.type).toContain('application/json')
    expect(JSON.parse(res.body)).toMatchObject({ status: 'ok', connections: 2, peers: 2, rooms: 2 })
    expect((await httpGet(`${s.httpUrl}/nope`)).status).toBe(404)
  })

  it('serves Prometheus /metrics with connections, rooms, relayed messages, rejections and memory', async () => {
    const s = await start()
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    await expectRelayWorks(a, b)
    const bad = await raw(s.url)
    bad.send('not json')
    await bad.closed
    const res = await httpGet(`${s.httpUrl}/metrics`)
    expect(res.status).toBe(200)
    expect(res.type).toContain('text/plain; version=0.0.4')
    expect(res.body).toContain('# TYPE longhaul_signal_connections gauge')
    expect(res.body).toContain('# TYPE longhaul_signal_rejections_total counter')
    expect(await metric(s, 'longhaul_signal_connections')).toBe(2)
    expect(await metric(s, 'longhaul_signal_rooms')).toBe(1)
    expect(await metric(s, 'longhaul_signal_joins_total')).toBe(2)
    expect(await metric(s, 'longhaul_signal_connections_total')).toBe(3)
    expect(await metric(s, 'longhaul_signal_messages_relayed_total')).toBe(1)
    expect(await metric(s, 'longhaul_signal_rejections_total{reason="bad_message"}')).toBe(1)
    expect(await metric(s, 'longhaul_signal_rejections_total{reason="rate_limited"}')).toBe(0)
    expect(await metric(s, 'process_resident_memory_bytes')).toBeGreaterThan(1e6)
  })

  it('shuts down gracefully: clients get 1001 going-away, health reports draining, close is idempotent', async () => {
    const s = await start()
    const a = await joined(s.url, 'alice', 'lab')
    const b = await joined(s.url, 'bob', 'lab')
    const ca = closeInfo(a)
    const cb = closeInfo(b)
    const first = s.close()
    expect(s.close()).toBe(first)
    expect(s.stats().draining).toBe(true)
    await first
    server = undefined
    for (const { info, error } of [await ca, await cb]) {
      expect(info.code).toBe(SIGNAL_CLOSE_CODES.GOING_AWAY)
      expect(error).toBeUndefined()
    }
    await expect(RawClient.open(s.url)).rejects.toThrow()
  })

  it('cuts clients that ignore the close frame once the shutdown grace period ends', async () => {
    const s = await start({ shutdownGraceMs: 200 })
    // A hand-made WebSocket upgrade that never answers anything afterwards.
    const sock = netConnect(s.port, '127.0.0.1')
    sockets.push(sock)
    const upgraded = new Promise<void>((resolve) => sock.once('data', () => resolve()))
    sock.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    )
    await upgraded
    sock.pause()
    await expect.poll(() => s.stats().connections).toBe(1)
    const ended = new Promise<void>((resolve) => sock.once('close', () => resolve()))
    sock.resume()
    const t0 = performance.now()
    await s.close()
    server = undefined
    const elapsed = performance.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(150)
    expect(elapsed).toBeLessThan(2000)
    await ended
  })
})
