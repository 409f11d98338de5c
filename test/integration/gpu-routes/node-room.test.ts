/**
 * `longhaul node --backend webgl` for real: two `longhaul node` processes on loopback (the harness
 * topology in loopback mode, the signaling server as its own process, real WebRTC), one training in
 * a headless Chromium page through the trainer protocol (WebGL on whatever this machine's Chromium
 * renders with; SwiftShader here, a software renderer, so about 80 examples/s), the other on wasm.
 * The wasm node founds the room and the WebGL node joins it: the received model and Adam state go
 * into the page, every step's parameters come back out of it, and both must finish with averaged
 * rounds and an accuracy well above chance. Skipped with the reason where no Chromium exists.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { findChromium } from '../../../core/platform/chromium-host.node.ts'
import { startSignalingServer, type SignalingServer } from '../../harness/longhaul-process.ts'
import { createTopology, type Topology } from '../../harness/netns.ts'
import {
  exitOf,
  field,
  killAllNodes,
  num,
  startNode,
  str,
  type NodeProcess,
} from '../../harness/node-process.ts'

const found = findChromium({ env: process.env })
const skipReason = 'reason' in found ? found.reason : undefined
const SECRET = 'gpu-route-room-secret'
/** Per node: 30 steps of 32, so H = 4 gives seven rounds; about 12 s of SwiftShader WebGL. */
const SAMPLES = 960
/** Ten classes: chance is 0.1. */
const MIN_ACCURACY = 0.35

let topology: Topology | undefined
let signal: SignalingServer | undefined

function args(name: string, partition: string, extra: readonly string[]): string[] {
  if (signal === undefined) throw new Error('no signaling server')
  return [
    '--signal',
    signal.url,
    '--room',
    `gpu-room-${process.pid}`,
    '--secret',
    SECRET,
    '--peer-id',
    name,
    '--data',
    'shapes',
    '--model',
    'mlp',
    '--partition',
    partition,
    '--max-train-samples',
    String(SAMPLES),
    '--batch',
    '32',
    '--epochs',
    '1',
    '--algo',
    'olco3:H=4,staleness=1,compressor=topk:0.1',
    '--heartbeat-ms',
    '500',
    // The WebGL node's steps are slow: rounds wait for it rather than going on without it.
    '--round-timeout-ms',
    '20000',
    '--events-jsonl',
    '-',
    '--json',
    ...extra,
  ]
}

function explain(node: NodeProcess): string {
  return `${node.name}: ${node.stderr.slice(-15).join('\n')}`
}

describe.skipIf(skipReason !== undefined)(
  `longhaul node on a browser route${skipReason !== undefined ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    beforeAll(async () => {
      topology = await createTopology({ hosts: 2, mode: 'loopback' })
      signal = await startSignalingServer(topology)
    }, 60_000)
    afterAll(async () => {
      await topology?.teardown()
    })
    afterEach(() => killAllNodes())

    it('trains one room with a WebGL node (in a Chromium page) and a wasm node: both average and learn', async () => {
      if (topology === undefined) throw new Error('no topology')
      // NODE_ENV of the harness sets LONGHAUL_BACKEND=wasm; the flag wins for the WebGL node.
      const founder = startNode(topology, 0, 'wasm-node', args('wasm-node', '0/2', ['--wait-peers', '1']))
      const webgl = startNode(topology, 1, 'webgl-node', args('webgl-node', '1/2', ['--backend', 'webgl']))
      const codes = await Promise.all([exitOf(founder, 85_000), exitOf(webgl, 85_000)])
      expect(codes, `${explain(founder)}\n${explain(webgl)}`).toEqual([0, 0])

      expect(str(webgl.summary, 'backend')).toBe('webgl')
      expect(str(founder.summary, 'backend')).toBe('wasm')
      expect(webgl.stderr.some((l) => l.startsWith('trainer: browser webgl'))).toBe(true)
      expect(str(webgl.summary, 'role')).toBe('joiner')
      for (const node of [founder, webgl]) {
        const summary = node.summary
        expect(num(summary, 'averagedRounds'), explain(node)).toBeGreaterThanOrEqual(3)
        expect(num(summary, 'testAccuracy'), explain(node)).toBeGreaterThan(MIN_ACCURACY)
        expect(num(summary, 'rejectedMessages')).toBe(0)
        expect(num(summary, 'protocolErrors')).toBe(0)
        expect(num(summary, 'peersSeen')).toBe(1)
      }
      console.log(
        `[gpu-routes] ${[founder, webgl]
          .map(
            (n) =>
              `${n.name}: accuracy ${num(n.summary, 'testAccuracy')}, ${num(n.summary, 'averagedRounds')} averaged rounds, ${num(n.summary, 'seconds')} s`,
          )
          .join('; ')}`,
      )
      // The page took the founder's model (parameters and Adam state) and evaluated it as received.
      const [catchUp] = webgl.ofType('catch-up')
      expect(catchUp?.['from']).toBe('wasm-node')
      expect(num(webgl.summary, 'catchUpAccuracy')).toBeGreaterThanOrEqual(0)
      // Each node's rounds averaged the other's contribution.
      for (const [node, other] of [
        [founder, 1],
        [webgl, 0],
      ] as const) {
        const averaged = node
          .ofType('round')
          .map((e) => field(e, 'outcome'))
          .filter((o) => o['kind'] === 'averaged' && Array.isArray(o['peers']) && o['peers'].includes(other))
        expect(averaged.length, explain(node)).toBeGreaterThanOrEqual(3)
      }
    }, 90_000)
  },
)
