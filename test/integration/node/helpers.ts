/**
 * The room environment the node integration cases run in (room-cases.ts): a harness topology
 * (test/harness) with the signaling server in its router and one `longhaul node` per emulated
 * host. room.test.ts builds it in loopback mode (every host is this machine, nothing shaped);
 * shaped-room.test.ts in turn-relay mode (namespaces, delay, rate, loss, TURN only). The cases
 * are the same code in both; what differs is here: timeouts, the expected ICE path, the
 * configured round trip.
 *
 * Data: the first 3,000 training and 2,000 test images of Fashion-MNIST (real data; 1,000 per
 * node with three shards) when it is on this machine, else the generated `shapes` set (the
 * environment's `data.description` says which, and the test files print it).
 */
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { fashionMnistSubset } from '../../harness/fashion-mnist-subset.ts'
import { startSignalingServer, type SignalingServer } from '../../harness/longhaul-process.ts'
import { createTopology, type Topology } from '../../harness/netns.ts'
import { startNode, type Json, type NodeProcess } from '../../harness/node-process.ts'

const ABUSE_SCRIPT = fileURLToPath(new URL('../../harness/signaling-abuse.mjs', import.meta.url))

/** The signaling server's message limit, stated explicitly (it is also the default). */
export const MAX_MESSAGE_BYTES = 65_536
export const ROOM_SECRET = 'integration-room-secret'

/** Training images in the Fashion-MNIST subset: three shards of 1,000. */
const SUBSET_TRAIN = 3000
const SUBSET_TEST = 2000

/** What differs between the loopback and the shaped runs of the same cases. */
export interface RoomSettings {
  readonly mode: 'loopback' | 'turn-relay'
  /** One way between two hosts (the round trip is twice this); turn-relay only. */
  readonly delayMs?: number
  readonly rateMbit?: number
  readonly lossPercent?: number
  readonly peerTimeoutMs: number
  readonly roundTimeoutMs: number
  /** How much later than the peer timeout a survivor may report a killed peer gone. */
  readonly noticeSlackMs: number
  /** Epochs of the nodes a late joiner meets: enough that they still train when it arrives. */
  readonly survivorEpochs: number
  /** How long a room of up to four epochs may take to finish. */
  readonly roomExitMs: number
}

export interface RoomData {
  /** The --data argument. */
  readonly spec: string
  readonly description: string
  /** Test accuracy every node of a finished room must beat (chance is 0.1 on ten classes). */
  readonly minAccuracy: number
}

export interface RoomEnvironment {
  readonly settings: RoomSettings
  readonly topology: Topology
  readonly signal: SignalingServer
  readonly data: RoomData
  /** The ICE candidate type every admitted peer must report. */
  readonly connectionType: 'host' | 'relay'
  /** The round trip the links add, or undefined when nothing is shaped. */
  readonly configuredRttMs: number | undefined
  /** A room name not used before in this process. */
  room(): string
  /** `longhaul node` on host `host`, with the environment's data, timeouts and ICE servers. */
  start(host: number, name: string, options: NodeOptions): NodeProcess
  /** Runs test/harness/signaling-abuse.mjs on host `host` against the signaling server. */
  abuseSignaling(host: number): Promise<{ code: number | null; results: Json[]; stderr: string }>
  close(): Promise<void>
}

export interface NodeOptions {
  readonly room: string
  readonly partition: string
  readonly epochs: number
  readonly secret?: string
  readonly extra?: readonly string[]
}

/** Common flags of a small, fast node: mlp, 1,000 samples of its shard, olco3 (H=4, top-k 10 %). */
export function nodeArgs(options: {
  readonly url: string
  readonly room: string
  readonly secret: string
  readonly name: string
  readonly data: string
  readonly partition: string
  readonly epochs: number
  readonly extra?: readonly string[]
}): string[] {
  return [
    '--signal',
    options.url,
    '--room',
    options.room,
    '--secret',
    options.secret,
    '--peer-id',
    options.name,
    '--data',
    options.data,
    '--partition',
    options.partition,
    '--max-train-samples',
    '1000',
    '--epochs',
    String(options.epochs),
    '--algo',
    'olco3:H=4,staleness=1,compressor=topk:0.1',
    '--heartbeat-ms',
    '500',
    '--events-jsonl',
    '-',
    '--json',
    ...(options.extra ?? []),
  ]
}

async function roomData(): Promise<RoomData> {
  const subset = await fashionMnistSubset(SUBSET_TRAIN, SUBSET_TEST)
  if (subset.dir !== undefined) {
    return {
      spec: subset.dir,
      description: `Fashion-MNIST, first ${SUBSET_TRAIN} training / ${SUBSET_TEST} test images (${subset.dir})`,
      minAccuracy: 0.6,
    }
  }
  return {
    spec: 'shapes',
    description: `generated shapes: Fashion-MNIST not found in ${subset.searched.join(', ')}`,
    minAccuracy: 0.6,
  }
}

function collect(child: ChildProcess): Promise<{ code: number | null; results: Json[]; stderr: string }> {
  const results: Json[] = []
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  if (child.stdout !== null) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        results.push(JSON.parse(line) as Json)
      } catch {
        stderr += `unparseable line: ${line}\n`
      }
    })
  }
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, results, stderr })))
}

/** Builds the topology (hosts: the most nodes a case runs at once), the server and the data. */
export async function openRoomEnvironment(settings: RoomSettings, hosts: number): Promise<RoomEnvironment> {
  const data = await roomData()
  const topology = await createTopology({
    hosts,
    mode: settings.mode,
    ...(settings.delayMs !== undefined && { delayMs: settings.delayMs }),
    ...(settings.rateMbit !== undefined && { rateMbit: settings.rateMbit }),
    ...(settings.lossPercent !== undefined && { lossPercent: settings.lossPercent }),
  })
  let signal: SignalingServer
  try {
    signal = await startSignalingServer(topology, ['--max-message-bytes', String(MAX_MESSAGE_BYTES)])
  } catch (err) {
    await topology.teardown()
    throw err
  }
  const turn = topology.turn
  const iceArgs =
    turn === undefined
      ? []
      : ['--ice', turn.urls.join(','), '--turn-user', turn.username, '--turn-pass', turn.credential]
  let rooms = 0
  return {
    settings,
    topology,
    signal,
    data,
    connectionType: turn === undefined ? 'host' : 'relay',
    configuredRttMs: settings.mode === 'loopback' ? undefined : 2 * (settings.delayMs ?? 0),
    room: () => `room-${process.pid}-${++rooms}`,
    start: (host, name, options) =>
      startNode(
        topology,
        host,
        name,
        nodeArgs({
          url: signal.url,
          room: options.room,
          secret: options.secret ?? ROOM_SECRET,
          name,
          data: data.spec,
          partition: options.partition,
          epochs: options.epochs,
          extra: [
            ...iceArgs,
            '--peer-timeout-ms',
            String(settings.peerTimeoutMs),
            '--round-timeout-ms',
            String(settings.roundTimeoutMs),
            ...(options.extra ?? []),
          ],
        }),
      ),
    abuseSignaling: (host) =>
      collect(
        topology.exec(
          host,
          process.execPath,
          [ABUSE_SCRIPT, signal.url, signal.httpUrl, String(MAX_MESSAGE_BYTES)],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        ),
      ),
    close: () => topology.teardown(),
  }
}
