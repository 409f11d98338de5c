/**
 * `npm run bench -- p2p [--quick] [options]`: real peer-to-peer training, time and bytes to a
 * target accuracy, for sync vs olco3 vs sgp side by side in one run.
 *
 * Four real `longhaul node` processes, each in its own network namespace (test/harness, the
 * shaped tests' emulation: turn-relay mode, 50 ms one-way delay = 100 ms RTT, 20 Mbit/s per
 * direction on every access link, peers meet through TURN only). Every row uses the same data
 * (a Fashion-MNIST subset, the same shards), model (mlp), seed, optimizer (adam 1e-3), batch and
 * epoch cap; only --algo differs. Rows run one after another in one topology and one signaling
 * server, each in a room of its own. Needs root (namespaces) and coturn.
 *
 * Time to target: a row's clock starts when its founder starts training, which it does once the
 * other nodes are admitted (--wait-peers); the joiners then fetch the founder's model while it
 * trains (the 'join s' column: until the last joiner trains). The clock stops at the first
 * moment every node has reported a test accuracy >= the target (nodes evaluate after every local
 * epoch, so small shards make the clock fine-grained). Bytes: what all nodes sent between the same
 * two moments (per-peer counters of the nodes' 'peers' events, sampled every second: heartbeats
 * and framing included), less the snapshots served to joiners. Once every node reached the target,
 * or the epoch cap or the row's time limit is hit, the nodes are stopped.
 *
 * --quick: 2 nodes, 25 ms one-way delay, a lower target and cap; a smoke run of the whole path.
 * Options: --rows sync,olco3,sgp --target <acc> --epochs <cap> --shard <samples per node>
 * --batch <n> --delay-ms <one way> --rate-mbit <n> --loss <percent> --row-limit-s <s> --seed <n>.
 */
import { parseArgs } from 'node:util'
import { fashionMnistSubset } from '../test/harness/fashion-mnist-subset.ts'
import { startSignalingServer, type SignalingServer } from '../test/harness/longhaul-process.ts'
import { withTopology, type Topology } from '../test/harness/netns.ts'
import {
  killAllNodes,
  num,
  objectsOf,
  startNode,
  type Json,
  type NodeProcess,
} from '../test/harness/node-process.ts'
import { markdownTable } from './table.ts'

/** The rows: each algorithm as `longhaul node --algo` takes it. */
const ROWS: Readonly<Record<string, { label: string; algo: string }>> = {
  sync: { label: 'sync (all-to-all gradients)', algo: 'sync' },
  olco3: { label: 'olco3 (H=4, s=1, top-k 10%)', algo: 'olco3:H=4,staleness=1,compressor=topk:0.1' },
  sgp: { label: 'sgp (1 peer, τ=0)', algo: 'sgp:peers=1,overlapDelay=0' },
}
/** How many times faster than sync olco3 must reach the target. */
const TARGET_SPEEDUP = 3
const SECRET = 'p2p-bench-room-secret'
/** Test images every node evaluates after each local epoch. */
const TEST_IMAGES = 1000

export interface P2pSettings {
  readonly nodes: number
  readonly rows: readonly string[]
  readonly target: number
  readonly epochs: number
  readonly shard: number
  readonly batch: number
  readonly delayMs: number
  readonly rateMbit: number
  readonly lossPercent: number
  readonly rowLimitS: number
  readonly seed: number
}

export function p2pSettings(args: readonly string[]): P2pSettings {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      quick: { type: 'boolean' },
      rows: { type: 'string' },
      target: { type: 'string' },
      epochs: { type: 'string' },
      shard: { type: 'string' },
      batch: { type: 'string' },
      'delay-ms': { type: 'string' },
      'rate-mbit': { type: 'string' },
      loss: { type: 'string' },
      'row-limit-s': { type: 'string' },
      seed: { type: 'string' },
    },
  })
  const quick = values.quick === true
  const number = (name: keyof typeof values, fallback: number, min: number, max: number): number => {
    const raw = values[name]
    if (raw === undefined || typeof raw === 'boolean') return fallback
    const n = Number(raw)
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be in [${min}, ${max}]`)
    return n
  }
  const rows = (values.rows ?? 'sync,olco3,sgp').split(',').filter((r) => r !== '')
  for (const row of rows) if (ROWS[row] === undefined) throw new Error(`--rows: unknown row ${row}`)
  return {
    nodes: quick ? 2 : 4,
    rows,
    target: number('target', quick ? 0.6 : 0.75, 0.1, 1),
    epochs: number('epochs', quick ? 6 : 40, 1, 1000),
    shard: number('shard', quick ? 320 : 640, 64, 15_000),
    batch: number('batch', 64, 1, 4096),
    delayMs: number('delay-ms', quick ? 25 : 50, 0, 1000),
    rateMbit: number('rate-mbit', 20, 0.1, 10_000),
    lossPercent: number('loss', 0, 0, 50),
    rowLimitS: number('row-limit-s', quick ? 180 : 900, 10, 3600),
    seed: number('seed', 1, 0, 2 ** 31 - 1),
  }
}

export interface RowResult {
  readonly row: string
  /** Seconds from the founder's training start to the last joiner's (snapshot distribution). */
  readonly joinS: number
  /** Seconds from the founder's training start until every node reached the target; undefined: never. */
  readonly toTargetS: number | undefined
  /** Bytes all nodes sent over the same span (or until the stop when the target was missed), snapshots excluded. */
  readonly bytes: number
  /** Bytes of the snapshots joiners fetched (the same model for every row). */
  readonly snapshotBytes: number
  /** The founder's global step when the target was reached (or at the stop). */
  readonly steps: number
  /** The lowest of the nodes' best accuracies (the room's accuracy at its best). */
  readonly bestAccuracy: number
  readonly stoppedBy: 'target' | 'epochs' | 'time limit'
}

/** Arrival time (Date.now) of each event of `type`, with the event. */
function timed(node: NodeProcess, type: string): Array<{ at: number; e: Json }> {
  return node.events.flatMap((e, i) => (e.type === type ? [{ at: node.arrivedAt[i] ?? Number.NaN, e }] : []))
}

/** Bytes a node had sent to all its peers at time `at` (its last 'peers' event by then). */
function bytesSentAt(node: NodeProcess, at: number): number {
  const before = timed(node, 'peers').filter((x) => x.at <= at)
  const last = before.at(-1)
  if (last === undefined) return 0
  return objectsOf(last.e, 'peers').reduce((sum, p) => sum + num(p, 'bytesSent'), 0)
}

/** First time the node reported accuracy >= target, or undefined. */
function reachedAt(node: NodeProcess, target: number): number | undefined {
  return timed(node, 'epoch').find((x) => num(x.e, 'testAccuracy') >= target)?.at
}

function bestAccuracy(node: NodeProcess): number {
  return Math.max(0, ...node.ofType('epoch').map((e) => num(e, 'testAccuracy')))
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

async function runRow(
  topology: Topology,
  signal: SignalingServer,
  data: string,
  settings: P2pSettings,
  row: string,
): Promise<RowResult> {
  const room = `p2p-${row}-${process.pid}`
  const turn = topology.turn
  if (turn === undefined) throw new Error('the topology has no TURN server')
  const args = (i: number): string[] => [
    '--signal',
    signal.url,
    '--room',
    room,
    '--secret',
    SECRET,
    '--peer-id',
    `${row}-${i + 1}`,
    '--ice',
    turn.urls.join(','),
    '--turn-user',
    turn.username,
    '--turn-pass',
    turn.credential,
    '--data',
    data,
    '--model',
    'mlp',
    '--algo',
    ROWS[row]?.algo ?? row,
    '--optimizer',
    'adam',
    '--seed',
    String(settings.seed),
    '--partition',
    `${i}/${settings.nodes}`,
    '--max-train-samples',
    String(settings.shard),
    '--batch',
    String(settings.batch),
    '--epochs',
    String(settings.epochs),
    // Far links and busy cores: generous timeouts, the same for every row.
    '--round-timeout-ms',
    '10000',
    '--peer-timeout-ms',
    '15000',
    '--events-jsonl',
    '-',
    '--json',
    ...(i === 0 ? ['--wait-peers', String(settings.nodes - 1)] : []),
  ]
  const started = Date.now()
  const founder = startNode(topology, 0, `${row}-1`, args(0))
  // The others start once the founder is the room's first member: started together, a loaded
  // machine can let another node reach the room first, found it without waiting for peers and
  // train alone for a while.
  while (founder.ofType('joined').length === 0) {
    if (founder.child.exitCode !== null || Date.now() > started + 60_000) {
      throw new Error(`row ${row}: the founder did not join: ${founder.stderr.slice(-5).join(' / ')}`)
    }
    await sleep(100)
  }
  if (founder.ofType('joined')[0]?.role !== 'founder')
    throw new Error(`row ${row}: ${founder.name} is not the founder`)
  const nodes = [founder]
  for (let i = 1; i < settings.nodes; i++) nodes.push(startNode(topology, i, `${row}-${i + 1}`, args(i)))
  const exited = new Set<NodeProcess>()
  for (const n of nodes) void n.exited.then(() => exited.add(n))
  const deadline = started + settings.rowLimitS * 1000
  let stoppedBy: RowResult['stoppedBy'] = 'time limit'
  for (;;) {
    if (nodes.every((n) => reachedAt(n, settings.target) !== undefined)) {
      stoppedBy = 'target'
      break
    }
    if (exited.size > 0) {
      stoppedBy = 'epochs'
      break
    }
    if (Date.now() > deadline) break
    await sleep(200)
  }
  // Stop the room: SIGINT leaves gracefully after the current step; SIGKILL what lingers.
  for (const n of nodes) if (!exited.has(n)) n.child.kill('SIGINT')
  await Promise.race([Promise.all(nodes.map((n) => n.exited)), sleep(20_000)])
  killAllNodes()
  const failed = nodes.filter((n) => n.ofType('training-started').length === 0)
  if (failed.length > 0) {
    throw new Error(
      `row ${row}: ${failed.map((n) => `${n.name} never trained: ${n.stderr.slice(-5).join(' / ')}`).join('\n')}`,
    )
  }
  // The founder starts once every other node is admitted (--wait-peers), so the room trains from
  // here on; the joiners' snapshot downloads are part of the time (for every row alike).
  const t0 = timed(founder, 'training-started')[0]?.at ?? Number.NaN
  const lastStart = Math.max(...nodes.map((n) => timed(n, 'training-started')[0]?.at ?? Number.NaN))
  const reached = nodes.map((n) => reachedAt(n, settings.target))
  const tEnd =
    stoppedBy === 'target'
      ? Math.max(...reached.map((t) => t ?? Number.NaN))
      : Math.max(...nodes.map((n) => n.arrivedAt.at(-1) ?? Number.NaN))
  const snapshotBytes = nodes.reduce(
    (sum, n) => sum + n.ofType('snapshot-served').reduce((s, e) => s + num(e, 'bytes'), 0),
    0,
  )
  const sent = nodes.reduce((sum, n) => sum + bytesSentAt(n, tEnd) - bytesSentAt(n, t0), 0)
  const founderEpochs = timed(founder, 'epoch').filter((x) => x.at <= tEnd)
  return {
    row,
    joinS: (lastStart - t0) / 1000,
    toTargetS: stoppedBy === 'target' ? (tEnd - t0) / 1000 : undefined,
    bytes: sent - snapshotBytes,
    snapshotBytes,
    steps: founderEpochs.length > 0 ? num(founderEpochs.at(-1)?.e, 'step') : 0,
    bestAccuracy: Math.min(...nodes.map(bestAccuracy)),
    stoppedBy,
  }
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1)
}

/** The results as the markdown table, with ratios to the sync row. */
export function p2pTable(results: readonly RowResult[]): string {
  const sync = results.find((r) => r.row === 'sync')
  const rows = results.map((r) => {
    const speedup =
      sync?.toTargetS !== undefined && r.toTargetS !== undefined
        ? (sync.toTargetS / r.toTargetS).toFixed(2)
        : '—'
    const fewerBytes =
      sync !== undefined && sync.toTargetS !== undefined && r.toTargetS !== undefined && r.bytes > 0
    return [
      ROWS[r.row]?.label ?? r.row,
      r.toTargetS === undefined ? `not reached (${r.stoppedBy})` : r.toTargetS.toFixed(1),
      speedup,
      mb(r.bytes),
      fewerBytes ? (sync.bytes / r.bytes).toFixed(1) : '—',
      r.steps,
      (r.bestAccuracy * 100).toFixed(1),
      r.joinS.toFixed(1),
    ]
  })
  return markdownTable(
    [
      'algorithm',
      's to target',
      'speed-up vs sync',
      'MB sent (all nodes)',
      'bytes: sync / row',
      'steps',
      'best acc. %',
      'join s',
    ],
    rows,
  )
}

export async function benchP2p(args: string[]): Promise<void> {
  const settings = p2pSettings(args.filter((a) => a !== 'p2p'))
  const subset = await fashionMnistSubset(settings.nodes * settings.shard, TEST_IMAGES)
  if (subset.dir === undefined) {
    throw new Error(`p2p bench: Fashion-MNIST not found in ${subset.searched.join(', ')}`)
  }
  const data = subset.dir
  const shape = {
    hosts: settings.nodes,
    delayMs: settings.delayMs,
    rateMbit: settings.rateMbit,
    lossPercent: settings.lossPercent,
    mode: 'turn-relay',
  } as const
  const results: RowResult[] = []
  await withTopology(shape, async (topology) => {
    const signal = await startSignalingServer(topology)
    const rtt = await topology.measuredRttMs(0, 1)
    console.error(`[p2p] ${topology.notes.join('; ')}; measured RTT host 0 <-> 1: ${rtt.toFixed(1)} ms`)
    for (const row of settings.rows) {
      console.error(`[p2p] row ${row}: ${settings.nodes} nodes, target ${settings.target}`)
      const result = await runRow(topology, signal, data, settings, row)
      console.error(`[p2p] row ${row}: ${JSON.stringify(result)}`)
      results.push(result)
    }
  })
  const olco3 = results.find((r) => r.row === 'olco3')
  const sync = results.find((r) => r.row === 'sync')
  const speedup =
    olco3?.toTargetS !== undefined && sync?.toTargetS !== undefined
      ? sync.toTargetS / olco3.toTargetS
      : undefined
  console.log(
    [
      `## p2p: ${settings.nodes} nodes in namespaces, ${2 * settings.delayMs} ms RTT, ${settings.rateMbit} Mbit/s, ${settings.lossPercent}% loss (TURN relay)`,
      '',
      `Fashion-MNIST (first ${settings.nodes * settings.shard} training images, ${settings.shard} per node; ` +
        `${TEST_IMAGES} test images evaluated after every local epoch), mlp, adam 1e-3, batch ${settings.batch}, ` +
        `seed ${settings.seed}, wasm; target: every node at test accuracy >= ${(settings.target * 100).toFixed(0)}%.`,
      '',
      p2pTable(results),
      '',
      `Target olco3 >= ${TARGET_SPEEDUP}x faster than sync: ${
        speedup === undefined
          ? 'not measured'
          : `${speedup.toFixed(2)}x, ${speedup >= TARGET_SPEEDUP ? 'met' : 'missed'}`
      }.`,
      'Notes: sync sends its dense gradient to every peer each step (all-to-all, not a ring all-reduce);',
      "time counts from the founder starting to train (all nodes admitted), joiners' snapshot downloads included;",
      `bytes include heartbeats and framing, not the snapshots (${results.map((r) => `${r.row} ${mb(r.snapshotBytes)} MB`).join(', ')});`,
      `all ${settings.nodes} tfjs processes share this machine's cores, so compute contention slows every row.`,
    ].join('\n'),
  )
}
