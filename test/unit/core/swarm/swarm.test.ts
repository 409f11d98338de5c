import { describe, expect, it } from 'vitest'
import { CoreError, isCoreError } from '../../../../core/errors.ts'
import { PROTOCOL_VERSION } from '../../../../core/protocol/frame.ts'
import type { RunManifest } from '../../../../core/swarm/run-manifest.ts'
import { Swarm, type SwarmEvents, type SwarmOptions } from '../../../../core/swarm/swarm.ts'
import { ManualClock } from '../transport/manual-clock.ts'
import { FakeHub, FakeNet } from './fake-room.ts'

const SECRET = 'a-room-secret'

function manifest(over: Partial<RunManifest> = {}): RunManifest {
  return {
    protocolVersion: PROTOCOL_VERSION,
    model: { name: 'mlp', layoutFingerprint: '0123456789abcdef', parameterCount: 10 },
    algorithm: { kind: 'olco3', H: 4, staleness: 1, compressor: 'none' },
    dataset: { inputShape: [4], classes: ['a', 'b'] },
    workerSlots: 8,
    ...over,
  }
}

interface Recorded {
  readonly name: keyof SwarmEvents
  readonly args: unknown[]
  readonly atMs: number
}

interface Member {
  readonly swarm: Swarm
  readonly events: Recorded[]
  of<K extends keyof SwarmEvents>(name: K): Array<Parameters<SwarmEvents[K]>>
}

const EVENT_NAMES: Array<keyof SwarmEvents> = [
  'peer-connected',
  'peer-admitted',
  'peer-refused',
  'member',
  'peer-left',
  'peer-failed',
  'message',
  'protocol-error',
  'snapshot-request',
  'snapshot',
  'snapshot-failed',
  'snapshot-served',
  'slot-conflict',
  'signaling-closed',
]

function room(options: { connectTimeoutMs?: number; latencyMs?: number } = {}) {
  const clock = new ManualClock()
  const hub = new FakeHub(SECRET)
  const net = new FakeNet(clock, {
    connectTimeoutMs: options.connectTimeoutMs ?? 2000,
    ...(options.latencyMs !== undefined && { link: { latencyMs: options.latencyMs } }),
  })
  const make = (peerId: string, over: Partial<SwarmOptions> = {}): Member => {
    const swarm = new Swarm({
      signaling: hub.client(peerId),
      room: 'room-1',
      secret: SECRET,
      manifest: manifest(),
      createTransport: net.factory(peerId),
      clock,
      heartbeatMs: 100,
      peerTimeoutMs: 1000,
      handshakeTimeoutMs: 1000,
      connectAttempts: 3,
      maxProtocolErrors: 3,
      snapshotChunkBytes: 64,
      ...over,
    })
    const events: Recorded[] = []
    for (const name of EVENT_NAMES) {
      swarm.on(name, (...args: unknown[]) => events.push({ name, args, atMs: clock.now() }))
    }
    return {
      swarm,
      events,
      of: <K extends keyof SwarmEvents>(name: K) =>
        events.filter((e) => e.name === name).map((e) => e.args as Parameters<SwarmEvents[K]>),
    }
  }
  return { clock, hub, net, make }
}

describe('Swarm', () => {
  it('admits peers with equal manifests and lists members present from their start step', async () => {
    const { clock, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    expect((await a.swarm.join()).peers).toEqual([])
    a.swarm.setMembership({ slot: 0, startStep: 0 })
    expect((await b.swarm.join()).peers).toEqual(['aaa'])
    await clock.advance(50)
    expect(a.of('peer-admitted')).toEqual([['bbb']])
    expect(b.of('peer-admitted')).toEqual([['aaa']])
    expect(b.swarm.membershipOf('aaa')).toEqual({ slot: 0, startStep: 0 })
    expect(b.swarm.present(0)).toEqual([0])
    // b is admitted but holds no slot yet: not present, not a send target.
    expect(a.swarm.present(100)).toEqual([])
    b.swarm.setMembership({ slot: 3, startStep: 40 })
    await clock.advance(50)
    expect(a.of('member').at(-1)).toEqual(['bbb', { slot: 3, startStep: 40 }])
    expect(a.swarm.present(39)).toEqual([])
    expect(a.swarm.present(40)).toEqual([3])
    expect(a.swarm.ownerOf(3)).toBe('bbb')
  })

  it('refuses a peer on both sides when the algorithm differs, naming the field', async () => {
    const { clock, make } = room()
    const a = make('aaa')
    const b = make('bbb', { manifest: manifest({ algorithm: { kind: 'sgp', peers: 1, overlapDelay: 0 } }) })
    await a.swarm.join()
    await b.swarm.join()
    await clock.advance(500)
    for (const [m, other] of [
      [a, 'bbb'],
      [b, 'aaa'],
    ] as const) {
      expect(m.of('peer-admitted')).toEqual([])
      const refused = m.of('peer-refused').map(([info]) => info)
      expect(
        refused.some((r) => r.peer === other && r.by === 'self' && r.code === 'ERR_SCHEMA_MISMATCH'),
      ).toBe(true)
      expect(refused.find((r) => r.by === 'self')?.reason).toMatch(/algorithm: ours .*theirs/)
      expect(m.swarm.admittedPeers()).toEqual([])
    }
  })

  it('refuses a peer of another model layout on both sides although its frames cannot be decoded', async () => {
    const { clock, make } = room()
    const other = manifest({
      model: { name: 'cnn', layoutFingerprint: 'fedcba9876543210', parameterCount: 99 },
    })
    const a = make('aaa')
    const b = make('bbb', { manifest: other })
    await a.swarm.join()
    await b.swarm.join()
    await clock.advance(500)
    for (const m of [a, b]) {
      const self = m.of('peer-refused').find(([info]) => info.by === 'self')?.[0]
      expect(self?.code).toBe('ERR_SCHEMA_MISMATCH')
      expect(self?.reason).toMatch(/model layout/)
      expect(m.of('peer-admitted')).toEqual([])
    }
  })

  it('measures the round trip through heartbeats and their echoes', async () => {
    const { clock, make } = room({ latencyMs: 40 })
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    await b.swarm.join()
    await clock.advance(1000)
    const stats = a.swarm.peerStats().find((s) => s.peer === 'bbb')
    expect(stats?.state).toBe('admitted')
    // 40 ms each way on the link model; the echo is sent at once.
    expect(stats?.rttMs).toBeGreaterThanOrEqual(80)
    expect(stats?.rttMs).toBeLessThan(100)
    expect(stats?.lastMessageAgeMs).toBeLessThanOrEqual(100)
    expect(stats?.bytesSent).toBeGreaterThan(0)
    expect(stats?.bytesReceived).toBeGreaterThan(0)
  })

  it('removes a silent peer after the peer timeout, not before', async () => {
    const { clock, net, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    b.swarm.setMembership({ slot: 1, startStep: 0 })
    await b.swarm.join()
    await clock.advance(300)
    expect(a.swarm.present(0)).toEqual([1])
    const mutedAt = clock.now()
    // Frozen: it sends nothing, and no new connection to it can open either.
    for (const t of net.transportsOf('bbb', 'aaa')) t.mute()
    net.blocked.add(FakeNet.key('aaa', 'bbb'))
    await clock.advance(900)
    expect(a.of('peer-left')).toEqual([])
    await clock.advance(1000)
    const left = a.of('peer-left').map(([info]) => info)
    expect(left).toHaveLength(1)
    expect(left[0]).toMatchObject({
      peer: 'bbb',
      slot: 1,
      reason: 'timeout',
      code: 'ERR_PEER_TIMEOUT',
      wasAdmitted: true,
    })
    const at = a.events.find((e) => e.name === 'peer-left')?.atMs ?? 0
    expect(at - mutedAt).toBeGreaterThanOrEqual(1000)
    expect(at - mutedAt).toBeLessThanOrEqual(1000 + 2 * 100)
    expect(a.swarm.present(0)).toEqual([])
  })

  it('says why a transport failed and reconnects to a peer still in the room', async () => {
    const { clock, net, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    await b.swarm.join()
    await clock.advance(300)
    expect(a.swarm.admittedPeers()).toEqual(['bbb'])
    const [first] = net.transportsOf('aaa', 'bbb')
    await first?.close(new CoreError('ERR_TIMEOUT', 'the data channel to bbb stopped sending'))
    const [info] = a.of('peer-left')[0] ?? []
    expect(info).toMatchObject({
      peer: 'bbb',
      reason: 'closed',
      message: 'the data channel failed (the data channel to bbb stopped sending)',
    })
    await clock.advance(500)
    expect(net.transportsOf('aaa', 'bbb')).toHaveLength(2)
    expect(a.swarm.admittedPeers()).toEqual(['bbb'])
    expect(b.swarm.admittedPeers()).toEqual(['aaa'])
  })

  it("connects again to a peer it timed out as the pair's initiator while the peer is still in the room", async () => {
    const { clock, net, make } = room()
    // aaa initiates the pair; it times out bbb, whose side sees only its channel close.
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    await b.swarm.join()
    await clock.advance(300)
    for (const t of net.transportsOf('bbb', 'aaa')) t.mute()
    await clock.advance(1300)
    expect(a.of('peer-left').map(([i]) => i.reason)).toEqual(['timeout'])
    await clock.advance(1000)
    expect(a.swarm.admittedPeers()).toEqual(['bbb'])
    expect(b.swarm.admittedPeers()).toEqual(['aaa'])
    expect(a.of('peer-failed')).toEqual([])
    expect(b.of('peer-failed')).toEqual([])
  })

  it('removes a peer at once when it says bye', async () => {
    const { clock, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    await b.swarm.join()
    await clock.advance(100)
    const leaving = b.swarm.leave('done here')
    await clock.advance(2000)
    await leaving
    const [info] = a.of('peer-left')[0] ?? []
    expect(info).toMatchObject({ peer: 'bbb', reason: 'bye', message: 'done here' })
    expect(a.swarm.admittedPeers()).toEqual([])
  })

  it('retries a connection that never opens a bounded number of times, then reports it', async () => {
    const { clock, net, make } = room({ connectTimeoutMs: 500 })
    net.blocked.add(FakeNet.key('aaa', 'bbb'))
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    await b.swarm.join()
    await clock.advance(5000)
    expect(net.transportsOf('aaa', 'bbb')).toHaveLength(3)
    expect(net.transportsOf('bbb', 'aaa')).toHaveLength(3)
    for (const [m, peer] of [
      [a, 'bbb'],
      [b, 'aaa'],
    ] as const) {
      expect(m.of('peer-failed').map(([i]) => i)).toEqual([expect.objectContaining({ peer, attempts: 3 })])
      expect(m.swarm.pendingPeers()).toEqual([])
      expect(m.swarm.present(0)).toEqual([])
    }
  })

  it('drops a peer after repeated invalid frames and reports each one', async () => {
    const { clock, net, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    await b.swarm.join()
    await clock.advance(100)
    const [toA] = net.transportsOf('bbb', 'aaa')
    for (let i = 0; i < 3; i++) await toA?.send(new Uint8Array(80).fill(i + 1))
    await clock.advance(100)
    expect(a.of('protocol-error').map(([e]) => e.count)).toEqual([1, 2, 3])
    expect(a.of('protocol-error')[0]?.[0].code).toBe('ERR_BAD_MESSAGE')
    expect(a.of('peer-left').map(([i]) => i.reason)).toEqual(['protocol-errors'])
  })

  it('counts bad messages reported from above toward the same threshold', async () => {
    const { clock, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    await b.swarm.join()
    await clock.advance(100)
    a.swarm.reportBadMessage('bbb', 'ERR_NON_FINITE', 'NaN delta')
    a.swarm.reportBadMessage('bbb', 'ERR_NON_FINITE', 'NaN delta')
    expect(a.of('peer-left')).toEqual([])
    a.swarm.reportBadMessage('bbb', 'ERR_NON_FINITE', 'NaN delta')
    // The caller reports these itself: no second event for the same message.
    expect(a.of('protocol-error')).toEqual([])
    expect(a.of('peer-left').map(([i]) => [i.reason, i.code])).toEqual([
      ['protocol-errors', 'ERR_NON_FINITE'],
    ])
  })

  it('sends a snapshot in chunks that the joiner reassembles and verifies, with a fresh slot', async () => {
    const { clock, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    a.swarm.setMembership({ slot: 0, startStep: 0 })
    await b.swarm.join()
    await clock.advance(100)
    expect(b.swarm.requestSnapshot('aaa')).toBe(true)
    await clock.advance(10)
    expect(a.of('snapshot-request')).toEqual([['bbb']])
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff)
    expect(a.swarm.serveSnapshot('bbb', bytes, 24)).toBe(1)
    await clock.advance(100)
    const [snap] = b.of('snapshot')[0] ?? []
    expect(snap).toMatchObject({ from: 'aaa', slot: 1, startStep: 24 })
    expect(Buffer.from(snap?.bytes ?? []).equals(Buffer.from(bytes))).toBe(true)
    expect(a.of('snapshot-served')[0]?.[0]).toMatchObject({ peer: 'bbb', slot: 1, bytes: 1000 })
  })

  it('drops the late answer to a snapshot request it gave up on and takes the next one whole', async () => {
    const { clock, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    a.swarm.setMembership({ slot: 0, startStep: 0 })
    await b.swarm.join()
    await clock.advance(100)
    // The joiner gives up before the source answered, then asks the same source again: the
    // source answers both requests in order, the first with an older model.
    expect(b.swarm.requestSnapshot('aaa')).toBe(true)
    b.swarm.cancelSnapshot('aaa')
    expect(b.swarm.requestSnapshot('aaa')).toBe(true)
    await clock.advance(10)
    expect(a.of('snapshot-request')).toEqual([['bbb'], ['bbb']])
    const older = Uint8Array.from({ length: 700 }, (_, i) => (i * 3) & 0xff)
    const newer = Uint8Array.from({ length: 900 }, (_, i) => (i * 5) & 0xff)
    expect(a.swarm.serveSnapshot('bbb', older, 16)).toBe(1)
    const slot = a.swarm.serveSnapshot('bbb', newer, 24)
    expect(slot).toBeTypeOf('number')
    await clock.advance(200)
    expect(b.of('snapshot-failed')).toEqual([])
    expect(b.of('protocol-error')).toEqual([])
    const snaps = b.of('snapshot')
    expect(snaps.length).toBe(1)
    expect(snaps[0]?.[0]).toMatchObject({ from: 'aaa', slot, startStep: 24 })
    expect(Buffer.from(snaps[0]?.[0]?.bytes ?? []).equals(Buffer.from(newer))).toBe(true)
  })

  it('drops the rest of a transfer it abandoned midway and takes the next one whole', async () => {
    const { clock, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    a.swarm.setMembership({ slot: 0, startStep: 0 })
    await b.swarm.join()
    await clock.advance(100)
    expect(b.swarm.requestSnapshot('aaa')).toBe(true)
    await clock.advance(10)
    const older = Uint8Array.from({ length: 2000 }, (_, i) => (i * 3) & 0xff)
    expect(a.swarm.serveSnapshot('bbb', older, 16)).toBe(1)
    // The assign has arrived when the joiner gives up; chunks of that transfer keep coming.
    b.swarm.cancelSnapshot('aaa')
    expect(b.swarm.requestSnapshot('aaa')).toBe(true)
    await clock.advance(10)
    const newer = Uint8Array.from({ length: 900 }, (_, i) => (i * 5) & 0xff)
    expect(a.swarm.serveSnapshot('bbb', newer, 24)).toBeTypeOf('number')
    await clock.advance(200)
    expect(b.of('protocol-error')).toEqual([])
    expect(b.of('snapshot-failed')).toEqual([])
    const snaps = b.of('snapshot')
    expect(snaps.length).toBe(1)
    expect(Buffer.from(snaps[0]?.[0]?.bytes ?? []).equals(Buffer.from(newer))).toBe(true)
  })

  it('promises different slots to concurrent joiners and tells a joiner when the room is full', async () => {
    const { clock, make } = room()
    const a = make('aaa', { manifest: manifest({ workerSlots: 3 }) })
    const b = make('bbb', { manifest: manifest({ workerSlots: 3 }) })
    const c = make('ccc', { manifest: manifest({ workerSlots: 3 }) })
    const d = make('ddd', { manifest: manifest({ workerSlots: 3 }) })
    await a.swarm.join()
    a.swarm.setMembership({ slot: 0, startStep: 0 })
    for (const m of [b, c, d]) await m.swarm.join()
    await clock.advance(200)
    const snapshot = new Uint8Array(10)
    expect(a.swarm.serveSnapshot('bbb', snapshot, 8)).toBe(1)
    expect(a.swarm.serveSnapshot('ccc', snapshot, 8)).toBe(2)
    d.swarm.requestSnapshot('aaa')
    await clock.advance(10)
    expect(a.swarm.serveSnapshot('ddd', snapshot, 8)).toBeUndefined()
    await clock.advance(50)
    expect(d.of('snapshot-failed')[0]?.[0]).toMatchObject({ peer: 'aaa', code: 'ERR_ROOM_FULL' })
  })

  it('tells the other members about a promised joiner so all count it present from its start step', async () => {
    const { clock, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    const j = make('jjj')
    await a.swarm.join()
    a.swarm.setMembership({ slot: 0, startStep: 0 })
    await b.swarm.join()
    b.swarm.setMembership({ slot: 1, startStep: 0 })
    await j.swarm.join()
    await clock.advance(100)
    expect(a.swarm.present(40)).toEqual([1])
    expect(a.swarm.serveSnapshot('jjj', new Uint8Array(10), 40)).toBe(2)
    // The source counts the joiner at once; the other member as soon as `roster` arrives.
    expect(a.swarm.present(39)).toEqual([1])
    expect(a.swarm.present(40)).toEqual([1, 2])
    await clock.advance(10)
    expect(b.swarm.present(40)).toEqual([0, 2])
    expect(b.of('member').at(-1)).toEqual(['jjj', { slot: 2, startStep: 40 }])
    // Promised is not training: a third joiner must not ask it for the model yet.
    expect(b.swarm.trainingPeers().sort()).toEqual(['aaa'])
    expect(a.swarm.trainingPeers().sort()).toEqual(['bbb'])
    // The joiner's own announcement confirms it.
    j.swarm.setMembership({ slot: 2, startStep: 40 })
    await clock.advance(10)
    expect(b.swarm.present(40)).toEqual([0, 2])
    expect(b.swarm.trainingPeers().sort()).toEqual(['aaa', 'jjj'])
  })

  it('stops counting a promised joiner that never confirms its slot', async () => {
    const { clock, make } = room()
    const a = make('aaa', { slotPromiseTtlMs: 500 })
    const j = make('jjj')
    await a.swarm.join()
    a.swarm.setMembership({ slot: 0, startStep: 0 })
    await j.swarm.join()
    await clock.advance(100)
    a.swarm.serveSnapshot('jjj', new Uint8Array(10), 8)
    expect(a.swarm.present(8)).toEqual([1])
    await clock.advance(700)
    expect(a.swarm.present(8)).toEqual([])
  })

  it('prefers a never-used slot over one a departed member held', async () => {
    const { clock, make } = room()
    const a = make('aaa', { manifest: manifest({ workerSlots: 4 }) })
    const b = make('bbb', { manifest: manifest({ workerSlots: 4 }) })
    const c = make('ccc', { manifest: manifest({ workerSlots: 4 }) })
    await a.swarm.join()
    a.swarm.setMembership({ slot: 0, startStep: 0 })
    await b.swarm.join()
    await clock.advance(100)
    expect(a.swarm.serveSnapshot('bbb', new Uint8Array(10), 8)).toBe(1)
    b.swarm.setMembership({ slot: 1, startStep: 8 })
    await clock.advance(100)
    const leaving = b.swarm.leave('bye')
    await clock.advance(2000)
    await leaving
    await c.swarm.join()
    await clock.advance(100)
    // Slot 1 is free again, but its old holder's messages could still be in flight.
    expect(a.swarm.serveSnapshot('ccc', new Uint8Array(10), 16)).toBe(2)
  })

  it('makes the larger peer id yield when two members claim one slot', async () => {
    const { clock, make } = room()
    const a = make('aaa')
    const b = make('bbb')
    const c = make('ccc')
    for (const m of [a, b, c]) await m.swarm.join()
    await clock.advance(100)
    a.swarm.setMembership({ slot: 0, startStep: 0 })
    b.swarm.setMembership({ slot: 2, startStep: 8 })
    c.swarm.setMembership({ slot: 2, startStep: 8 })
    await clock.advance(100)
    expect(c.of('slot-conflict')).toEqual([[{ peer: 'bbb', slot: 2 }]])
    expect(b.of('slot-conflict')).toEqual([])
    expect(a.swarm.ownerOf(2)).toBe('bbb')
    expect(a.swarm.present(8)).toEqual([2])
  })

  it('removes a peer the signaling server reports gone, without waiting for a timeout', async () => {
    const { clock, make, hub } = room()
    const a = make('aaa')
    const b = make('bbb')
    await a.swarm.join()
    await b.swarm.join()
    await clock.advance(100)
    hub.members.get('bbb')?.close()
    expect(a.of('peer-left').map(([i]) => i.reason)).toEqual(['signaling'])
  })

  it('fails the join with ERR_AUTH_FAILED on a wrong secret', async () => {
    const { make } = room()
    const a = make('aaa', { secret: 'not-the-secret' })
    const error: unknown = await a.swarm.join().catch((e: unknown) => e)
    expect(isCoreError(error, 'ERR_AUTH_FAILED')).toBe(true)
  })
})
