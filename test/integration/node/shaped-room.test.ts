/**
 * `longhaul node` on an emulated wide-area network: three real node processes, each in its own
 * network namespace (test/harness), with 25 ms one-way delay (50 ms round trip), 20 Mbit/s per
 * direction and 1 % datagram loss on every access link. The signaling server runs in the router
 * namespace. In the harness's turn-relay mode the hosts cannot reach each other at all, only the
 * router, so the nodes must meet through the harness's TURN server: the path they report must be
 * 'relay', and its round trip must show the configured delay.
 *
 * Skipped, with the reason printed, where namespaces or coturn are unavailable (not root, no
 * iproute2, LONGHAUL_HARNESS_NO_NETNS=1): the loopback cases in room.test.ts still run there.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { startSignalingServer } from '../../harness/longhaul-process.ts'
import { chooseMode, withTopology, type Topology } from '../../harness/netns.ts'
import {
  exitOf,
  field,
  killAll,
  nodeArgs,
  nodeCommand,
  NODE_ENV,
  num,
  trackNode,
  waitFor,
  type Json,
  type NodeProcess,
} from './helpers.ts'

/** One way between two hosts; the round trip is twice this (see test/harness/README.md). */
const DELAY_MS = 25
const CONFIGURED_RTT_MS = 2 * DELAY_MS
const RATE_MBIT = 20
const LOSS_PERCENT = 1
const SECRET = 'shaped-room-secret'
/**
 * Longer than room.test.ts's loopback values (4 s): a round's deltas cross two relay hops and are
 * retransmitted after a loss (SCTP's minimum RTO is about a second), and three tfjs processes share
 * this machine's two cores. Observed: joiners waited at most ~3 s for a round. The founder's first
 * rounds run out this timeout while the joiners still fetch its snapshot (~5 MB, ~10 s on this
 * cold 50 ms link), so a larger value only makes the test slower.
 */
const PEER_TIMEOUT_MS = 8000
const ROUND_TIMEOUT_MS = 5000
/**
 * The RTT checked against the configuration is ICE's (`iceRttMs`: STUN consent checks on
 * libwebrtc's network thread, not the JavaScript loop). The harness measured this path at
 * 51–56 ms minimum and 55–61 ms median on the loaded 2-core machine; 40 ms above the configured
 * round trip leaves room for three training processes' load without accepting a path that added
 * another relay hop or doubled the delay (100 ms and more). The heartbeat RTT (`rttMs`) is
 * answered by the peer's event loop, which a wasm training step blocks for hundreds of ms, so only
 * its lower bound is a statement about the network.
 */
const ICE_RTT_TOLERANCE_MS = 40
/** How much later than the peer timeout a survivor may report a killed peer gone. */
const NOTICE_SLACK_MS = 5000
/** Chance on the ten `shapes` classes is 0.1; room.test.ts's loopback rooms reach 0.6 and more. */
const MIN_ACCURACY = 0.6

let plan: { mode: string; notes: string[]; reason?: string }
try {
  plan = await chooseMode('turn-relay')
} catch (err) {
  plan = { mode: 'unavailable', notes: [], reason: err instanceof Error ? err.message : String(err) }
  console.warn(`[shaped-room] turn-relay mode unavailable here (${plan.reason}); shaped node tests skipped`)
}

afterEach(() => killAll())

let rooms = 0

function startNodes(
  topology: Topology,
  signalUrl: string,
  epochs: number,
): { nodes: NodeProcess[]; start: (index: number, extra?: readonly string[]) => NodeProcess } {
  const room = `shaped-${process.pid}-${++rooms}`
  const turn = topology.turn
  if (turn === undefined) throw new Error('the topology has no TURN server')
  const nodes: NodeProcess[] = []
  const start = (index: number, extra: readonly string[] = []): NodeProcess => {
    const name = `node-${index + 1}`
    const args = nodeArgs({
      url: signalUrl,
      room,
      secret: SECRET,
      name,
      partition: `${index}/3`,
      epochs,
      extra: [
        '--ice',
        turn.urls.join(','),
        '--turn-user',
        turn.username,
        '--turn-pass',
        turn.credential,
        '--peer-timeout-ms',
        String(PEER_TIMEOUT_MS),
        '--round-timeout-ms',
        String(ROUND_TIMEOUT_MS),
        ...extra,
      ],
    })
    const child = topology.exec(index, process.execPath, nodeCommand(args), {
      env: { ...process.env, ...NODE_ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const node = trackNode(name, child)
    nodes.push(node)
    return node
  }
  return { nodes, start }
}

/** Every per-peer metric a node reported while the peer was admitted. */
function admittedMetrics(node: NodeProcess): Json[] {
  return node
    .ofType('peers')
    .flatMap((e) => (Array.isArray(e.peers) ? e.peers.filter((p): p is Json => isJsonObject(p)) : []))
    .filter((m) => m.state === 'admitted')
}

function isJsonObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function numbersOf(metrics: readonly Json[], key: string): number[] {
  return metrics.flatMap((m) => (typeof m[key] === 'number' ? [m[key]] : []))
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2
}

function averagedWith(node: NodeProcess, peers: number): Json[] {
  return node.ofType('round').filter((e) => {
    const outcome = field(e, 'outcome')
    return outcome.kind === 'averaged' && Array.isArray(outcome.peers) && outcome.peers.length === peers
  })
}

const SHAPE = {
  hosts: 3,
  delayMs: DELAY_MS,
  rateMbit: RATE_MBIT,
  lossPercent: LOSS_PERCENT,
  mode: 'turn-relay',
} as const

describe
  .skipIf(plan.mode !== 'turn-relay')
  .sequential('longhaul node in network namespaces (50 ms RTT, 20 Mbit/s, 1 % loss, TURN only)', () => {
    it('trains one model across three shaped hosts through TURN: relay paths, RTT of the configured delay', async () => {
      await withTopology(SHAPE, async (topology) => {
        const signal = await startSignalingServer(topology)
        const { nodes, start } = startNodes(topology, signal.url, 2)
        const a = start(0, ['--wait-peers', '2'])
        await waitFor(() => a.ofType('joined').length > 0, 'the founder to join', [a], 30_000)
        start(1)
        start(2)
        expect(await Promise.all(nodes.map((n) => exitOf(n, 100_000)))).toEqual([0, 0, 0])
        const report: string[] = []
        for (const n of nodes) {
          const s = n.summary
          expect(num(s, 'peersSeen'), n.name).toBe(2)
          expect(num(s, 'averagedRounds'), n.name).toBeGreaterThan(0)
          expect(averagedWith(n, 2).length, n.name).toBeGreaterThan(0)
          expect(num(s, 'testAccuracy'), n.name).toBeGreaterThan(MIN_ACCURACY)
          expect(num(s, 'rejectedMessages'), n.name).toBe(0)
          const metrics = admittedMetrics(n)
          // Hosts have no route to each other: the only path is TURN relay <-> relay.
          const types = new Set(
            metrics.flatMap((m) => (typeof m.connectionType === 'string' ? [m.connectionType] : [])),
          )
          expect([...types], n.name).toEqual(['relay'])
          const rtts = numbersOf(metrics, 'rttMs')
          const iceRtts = numbersOf(metrics, 'iceRttMs')
          expect(rtts.length, n.name).toBeGreaterThan(0)
          expect(iceRtts.length, n.name).toBeGreaterThan(0)
          // The delay relay never releases a datagram early: no round trip can beat the configuration.
          expect(Math.min(...rtts), n.name).toBeGreaterThanOrEqual(CONFIGURED_RTT_MS)
          expect(Math.min(...iceRtts), n.name).toBeGreaterThanOrEqual(CONFIGURED_RTT_MS)
          expect(median(iceRtts), n.name).toBeLessThanOrEqual(CONFIGURED_RTT_MS + ICE_RTT_TOLERANCE_MS)
          report.push(
            `${n.name}: accuracy ${num(s, 'testAccuracy').toFixed(3)}, ${num(s, 'seconds').toFixed(1)} s, ` +
              `heartbeat RTT min ${Math.min(...rtts).toFixed(1)} / median ${median(rtts).toFixed(1)} ms (${rtts.length}), ` +
              `ICE RTT min ${Math.min(...iceRtts).toFixed(1)} / median ${median(iceRtts).toFixed(1)} ms, path ${[...types].join(',')}`,
          )
        }
        console.log(`[shaped-room] configured RTT ${CONFIGURED_RTT_MS} ms\n  ${report.join('\n  ')}`)
      })
    }, 150_000)

    it('goes on without a node killed mid-training: the survivors notice, average on and finish', async () => {
      await withTopology(SHAPE, async (topology) => {
        const signal = await startSignalingServer(topology)
        // Four epochs, not two: on a loaded CI machine the first full round can come late, and the
        // survivors need rounds left after the kill to show that they average on (CI once saw a
        // survivor finish its last round before it could average again with two epochs).
        const { start } = startNodes(topology, signal.url, 4)
        const a = start(0, ['--wait-peers', '2'])
        await waitFor(() => a.ofType('joined').length > 0, 'the founder to join', [a], 30_000)
        const b = start(1)
        const c = start(2)
        const nodes = [a, b, c]
        await waitFor(
          () => nodes.every((n) => averagedWith(n, 2).length >= 1),
          'a full round everywhere',
          nodes,
          60_000,
        )
        const killedAt = Date.now()
        c.child.kill('SIGKILL')
        const survivors = [a, b]
        const leftIndex = (n: NodeProcess): number =>
          n.events.findIndex((e) => (e.type === 'peer-left' || e.type === 'peer-failed') && e.peer === c.name)
        await waitFor(
          () => survivors.every((n) => leftIndex(n) >= 0),
          'the survivors to notice',
          survivors,
          30_000,
        )
        const noticed: string[] = []
        for (const survivor of survivors) {
          const noticedAfterMs = (survivor.arrivedAt[leftIndex(survivor)] ?? Number.NaN) - killedAt
          noticed.push(
            `${survivor.name} ${noticedAfterMs} ms (${String(survivor.events[leftIndex(survivor)]?.type)}: ${String(survivor.events[leftIndex(survivor)]?.reason)})`,
          )
          // The kernel closes the killed node's signaling socket and the server tells the room
          // (observed: 60-220 ms); failing that, liveness removes it after the peer timeout. The
          // slack covers a training step holding the survivor's event loop (seconds, seen here).
          expect(noticedAfterMs, survivor.name).toBeLessThanOrEqual(PEER_TIMEOUT_MS + NOTICE_SLACK_MS)
        }
        expect(await exitOf(a, 120_000)).toBe(0)
        expect(await exitOf(b, 120_000)).toBe(0)
        const leftAt = (n: NodeProcess): number => num(n.events[leftIndex(n)], 't')
        for (const survivor of survivors) {
          const after = survivor.ofType('round').filter((e) => num(e, 't') > leftAt(survivor))
          // The survivors keep averaging with each other, and no round waits for the dead peer.
          const outcomes = after.map((e) => String(field(e, 'outcome').kind)).join(',')
          expect(
            after.some((e) => field(e, 'outcome').kind === 'averaged'),
            `${survivor.name}: rounds after the leave: [${outcomes}]`,
          ).toBe(true)
          expect(
            after.every((e) => num(e, 'waitedMs') <= ROUND_TIMEOUT_MS + 500),
            survivor.name,
          ).toBe(true)
          expect(num(survivor.summary, 'peersSeen'), survivor.name).toBe(2)
          expect(num(survivor.summary, 'testAccuracy'), survivor.name).toBeGreaterThan(MIN_ACCURACY)
        }
        console.log(`[shaped-room] SIGKILL of ${c.name} noticed after: ${noticed.join(', ')}`)
      })
    }, 220_000)
  })
