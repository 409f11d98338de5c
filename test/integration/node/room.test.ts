/**
 * `longhaul node` for real: separate processes, real WebRTC on loopback, the signaling
 * server on port 0 in this process, the generated `shapes` data (1000 samples of each node's
 * shard), the mlp on the wasm backend. The cases run one after another: each starts up to
 * three tfjs processes, which is all this machine's cores can take at once.
 */
import { WebSocket } from 'ws'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SignalingClient } from '../../../core/signaling/signaling-client.ts'
import type { SignalingServer } from '../../../signaling-server/server.ts'
import {
  exitOf,
  field,
  killAll,
  nodeArgs,
  num,
  spawnNode,
  startServer,
  str,
  waitFor,
  type Json,
  type NodeProcess,
} from './helpers.ts'

const SECRET = 'integration-room-secret'
const PEER_TIMEOUT_MS = 4000
const ROUND_TIMEOUT_MS = 4000

let server: SignalingServer
let rooms = 0

beforeAll(async () => {
  server = await startServer()
})
afterAll(async () => {
  await server.close()
})
afterEach(() => killAll())

function room(): string {
  return `it-${process.pid}-${++rooms}`
}

function start(
  roomName: string,
  name: string,
  partition: string,
  epochs: number,
  extra: readonly string[] = [],
): NodeProcess {
  return spawnNode(
    name,
    nodeArgs({ url: server.url, room: roomName, secret: SECRET, name, partition, epochs, extra }),
  )
}

function averagedWith(node: NodeProcess, peers: number): Json[] {
  return node.ofType('round').filter((e) => {
    const outcome = field(e, 'outcome')
    return outcome.kind === 'averaged' && Array.isArray(outcome.peers) && outcome.peers.length === peers
  })
}

describe.sequential('longhaul node (real processes, real WebRTC)', () => {
  it('trains one model in a room of three processes: all finish accurate after averaging with both peers', async () => {
    const r = room()
    const a = start(r, 'node-1', '0/3', 2, ['--wait-peers', '2'])
    await waitFor(() => a.ofType('joined').length > 0, 'the founder to join', [a])
    const b = start(r, 'node-2', '1/3', 2)
    const c = start(r, 'node-3', '2/3', 2)
    const nodes = [a, b, c]
    expect(await Promise.all(nodes.map((n) => exitOf(n)))).toEqual([0, 0, 0])
    expect(a.summary?.role).toBe('founder')
    for (const n of nodes) {
      const s = n.summary
      expect(num(s, 'peersSeen'), n.name).toBe(2)
      expect(num(s, 'rounds'), n.name).toBeGreaterThan(0)
      expect(num(s, 'averagedRounds'), n.name).toBeGreaterThan(0)
      expect(num(s, 'testAccuracy'), n.name).toBeGreaterThan(0.6)
      expect(num(s, 'bytesSent'), n.name).toBeGreaterThan(0)
      expect(num(s, 'bytesReceived'), n.name).toBeGreaterThan(0)
      expect(num(s, 'rejectedMessages'), n.name).toBe(0)
      expect(averagedWith(n, 2).length, n.name).toBeGreaterThan(0)
      // Per-peer metrics: the ICE path in use, the heartbeat round trip, bytes both ways.
      const metrics = n.ofType('peers').flatMap((e) => (Array.isArray(e.peers) ? (e.peers as Json[]) : []))
      const live = metrics.filter((m) => m.state === 'admitted' && typeof m.rttMs === 'number')
      expect(live.length, n.name).toBeGreaterThan(0)
      expect(
        live.every((m) => m.connectionType === 'host'),
        n.name,
      ).toBe(true)
      expect(
        live.some((m) => num(m, 'bytesReceived') > 0 && typeof m.stalenessRounds === 'number'),
        n.name,
      ).toBe(true)
    }
    for (const joiner of [b, c]) {
      expect(joiner.summary?.role).toBe('joiner')
      expect(str(joiner.ofType('catch-up')[0], 'from')).toBe('node-1')
    }
  }, 120_000)

  it('goes on without a process killed mid-training, then a late joiner catches up from the survivors', async () => {
    const r = room()
    const a = start(r, 'node-1', '0/3', 8, ['--wait-peers', '2'])
    await waitFor(() => a.ofType('joined').length > 0, 'the founder to join', [a])
    const b = start(r, 'node-2', '1/3', 8)
    const c = start(r, 'node-3', '2/3', 8)
    const nodes = [a, b, c]
    await waitFor(
      () => nodes.every((n) => averagedWith(n, 2).length >= 2),
      'two full rounds everywhere',
      nodes,
      90_000,
    )
    const killedAt = Date.now()
    c.child.kill('SIGKILL')
    const survivors = [a, b]
    const leftIndex = (n: NodeProcess): number =>
      n.events.findIndex((e) => e.type === 'peer-left' && e.peer === 'node-3')
    await waitFor(
      () => survivors.every((n) => leftIndex(n) >= 0),
      'the survivors to notice',
      survivors,
      30_000,
    )
    for (const survivor of survivors) {
      const noticedAfterMs = (survivor.arrivedAt[leftIndex(survivor)] ?? 0) - killedAt
      expect(noticedAfterMs, survivor.name).toBeLessThanOrEqual(PEER_TIMEOUT_MS + 2000)
    }
    // The survivors keep averaging with each other, and no round waits for the dead peer.
    const leftAt = (n: NodeProcess): number => num(n.events[leftIndex(n)], 't')
    const roundsAfter = (n: NodeProcess): Json[] => n.ofType('round').filter((e) => num(e, 't') > leftAt(n))
    await waitFor(
      () => survivors.every((n) => roundsAfter(n).some((e) => field(e, 'outcome').kind === 'averaged')),
      'rounds between the survivors',
      survivors,
      60_000,
    )
    await waitFor(() => a.ofType('epoch').length > 0, 'an epoch of the founder', survivors)
    const roomAccuracy = num(a.ofType('epoch').at(-1), 'testAccuracy')
    // A late joiner now gets the current model from the survivors.
    const d = start(r, 'node-4', '2/3', 1)
    expect(await exitOf(d)).toBe(0)
    const [catchUp] = d.ofType('catch-up')
    const joinedAccuracy = num(catchUp, 'testAccuracy')
    // Chance is 10 % on the ten shapes; the imported model is the room's.
    expect(joinedAccuracy).toBeGreaterThan(0.4)
    expect(joinedAccuracy).toBeGreaterThan(roomAccuracy - 0.15)
    expect(num(catchUp, 'step')).toBeGreaterThan(0)
    expect(num(d.summary, 'catchUpAccuracy')).toBeCloseTo(joinedAccuracy, 3)
    expect(num(d.summary, 'peersSeen')).toBe(2)
    expect(num(d.summary, 'averagedRounds')).toBeGreaterThan(0)
    // The survivors finish their epochs.
    expect(await exitOf(a)).toBe(0)
    expect(await exitOf(b)).toBe(0)
    for (const survivor of survivors) {
      expect(
        roundsAfter(survivor).every((e) => num(e, 'waitedMs') <= ROUND_TIMEOUT_MS + 500),
        survivor.name,
      ).toBe(true)
      expect(num(survivor.summary, 'peersSeen'), survivor.name).toBe(3)
      expect(num(survivor.summary, 'testAccuracy'), survivor.name).toBeGreaterThan(0.6)
    }
  }, 180_000)

  it('refuses a node with a wrong room secret: exit 1 and one clear line', async () => {
    const r = room()
    const owner = new SignalingClient({ url: server.url, WebSocket, peerId: 'owner' })
    await owner.join(r, SECRET)
    try {
      const intruder = spawnNode(
        'intruder',
        nodeArgs({
          url: server.url,
          room: r,
          secret: 'not-the-room-secret',
          name: 'intruder',
          partition: '0/3',
          epochs: 1,
        }),
      )
      expect(await exitOf(intruder)).toBe(1)
      expect(intruder.stderr.at(-1)).toMatch(
        /^longhaul node: admission refused by the signaling server: wrong room secret/,
      )
      expect(intruder.stderr.filter((l) => /refused/.test(l))).toHaveLength(1)
      expect(intruder.summary).toBeUndefined()
    } finally {
      owner.close()
    }
  }, 60_000)

  it('refuses a node that trains another model, on both sides', async () => {
    const r = room()
    const a = start(r, 'node-1', '0/3', 6)
    await waitFor(() => a.ofType('training-started').length > 0, 'the founder to train', [a])
    const b = start(r, 'node-cnn', '1/3', 1, ['--model', 'cnn', '--backend', 'cpu'])
    expect(await exitOf(b)).toBe(1)
    expect(b.stderr.at(-1)).toMatch(/^longhaul node: admission refused by node-1: .*model layout/)
    await waitFor(() => a.ofType('peer-refused').length > 0, 'the founder to refuse', [a], 20_000)
    const refused = a.ofType('peer-refused')[0]
    expect(refused).toMatchObject({ peer: 'node-cnn', code: 'ERR_SCHEMA_MISMATCH', by: 'self' })
    expect(str(refused, 'reason')).toMatch(/model layout/)
    // The founder trains on alone; stopped now, it leaves gracefully (exit 130: stopped).
    a.child.kill('SIGINT')
    expect(await exitOf(a)).toBe(130)
    expect(num(a.summary, 'peersSeen')).toBe(0)
  }, 120_000)

  it('rejects and reports a NaN delta and a frame of another layout, and trains on', async () => {
    const r = room()
    const timeout = ['--round-timeout-ms', '2000']
    const a = start(r, 'node-1', '0/3', 2, ['--wait-peers', '2', ...timeout])
    await waitFor(() => a.ofType('joined').length > 0, 'the founder to join', [a])
    const b = start(r, 'node-nan', '1/3', 2, ['--inject-fault', 'nan-delta@round2', ...timeout])
    const c = start(r, 'node-lay', '2/3', 2, ['--inject-fault', 'wrong-layout-delta@round3', ...timeout])
    const codes = await Promise.all([a, b, c].map((n) => exitOf(n)))
    expect(codes, [a, b, c].map((n) => `${n.name}: ${n.stderr.slice(-5).join(' / ')}`).join('\n')).toEqual([
      0, 0, 0,
    ])
    for (const receiver of [a, c]) {
      const rejected = receiver.ofType('message-rejected').filter((e) => e.peer === 'node-nan')
      expect(rejected, receiver.name).toHaveLength(1)
      expect(rejected[0]).toMatchObject({ kind: 'delta', round: 2 })
      expect(['ERR_NON_FINITE', 'ERR_BAD_MESSAGE']).toContain(rejected[0]?.code)
    }
    for (const receiver of [a, b]) {
      const errors = receiver.ofType('protocol-error').filter((e) => e.peer === 'node-lay')
      expect(errors, receiver.name).toHaveLength(1)
      expect(errors[0]?.code).toBe('ERR_SCHEMA_MISMATCH')
    }
    expect(num(a.summary, 'rejectedMessages')).toBe(1)
    expect(num(a.summary, 'protocolErrors')).toBe(1)
    expect(num(a.summary, 'testAccuracy')).toBeGreaterThan(0.5)
  }, 120_000)
})
