/**
 * Signaling load benchmark: N WebSocket clients join rooms of K on a signaling server that
 * runs in its own child process on 127.0.0.1, so memory is measured on the server alone
 * (from its /metrics). Bounded and self-stopping: a fixed number of clients, a bounded
 * number of joins in flight, a fixed number of probes, one relayed offer per client, and a
 * wall-clock deadline after which everything is torn down and partial results are printed.
 *
 * Phases: (1) ramp: all N clients join, C at a time; (2) probes: with N held, P more
 * clients join one at a time into existing rooms (each gets a peer list of K and fans out a
 * peer.joined), then leave; (3) relay: every client sends one MAC'd offer to a room peer.
 *
 * Measured: connections held (server gauge), join → peer-list latency (from `join()` to the
 * `joined` message: WebSocket connect, challenge, proof, admission) during the ramp and for
 * the probes, relay latency (send → verified 'signal' at the receiver), server RSS and V8
 * heap per connection. Client and server share this machine's cores, so latencies include
 * the load generator's own work (WebCrypto MACs, 2 × N sockets on loopback); the table
 * shows the host's load average so a run on a busy machine can be recognised.
 *
 * Usage: npm run bench -- signaling [--quick] [--clients N] [--room-size K]
 *        [--concurrency C] [--probes P] [--deadline-s S]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { availableParallelism, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { deriveRoomCredentials, type RoomCredentials } from '../core/signaling/room-auth.ts'
import { SignalingClient } from '../core/signaling/signaling-client.ts'

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url))
const DEFAULT_CLIENTS = 2000
const QUICK_CLIENTS = 200
const DEFAULT_ROOM_SIZE = 4
const DEFAULT_CONCURRENCY = 20
const DEFAULT_PROBES = 200
const QUICK_PROBES = 50
const DEFAULT_DEADLINE_S = 180
/** PBKDF2 rounds for the bench rooms: key derivation is not what this bench measures. */
const BENCH_ITERATIONS = 1000
const SERVER_START_TIMEOUT_MS = 30_000
const SETTLE_MS = 1000
const RELAY_TIMEOUT_MS = 10_000
const TARGET_CLIENTS = 2000
const TARGET_P99_MS = 100

interface BenchOptions {
  clients: number
  roomSize: number
  concurrency: number
  probes: number
  deadlineS: number
}

function parseArgs(args: string[]): BenchOptions {
  const o: BenchOptions = {
    clients: DEFAULT_CLIENTS,
    roomSize: DEFAULT_ROOM_SIZE,
    concurrency: DEFAULT_CONCURRENCY,
    probes: DEFAULT_PROBES,
    deadlineS: DEFAULT_DEADLINE_S,
  }
  const int = (flag: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v)
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) {
      throw new Error(`${flag} needs an integer in [${min}, ${max}]`)
    }
    return n
  }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--quick') {
      o.clients = QUICK_CLIENTS
      o.probes = QUICK_PROBES
    } else if (a === '--probes') o.probes = int(a, args[++i], 0, 10_000)
    else if (a === '--clients') o.clients = int(a, args[++i], 2, 20_000)
    else if (a === '--room-size') o.roomSize = int(a, args[++i], 2, 64)
    else if (a === '--concurrency') o.concurrency = int(a, args[++i], 1, 10_000)
    else if (a === '--deadline-s') o.deadlineS = int(a, args[++i], 5, 3600)
    else if (a !== 'signaling') throw new Error(`unknown option ${a}`)
  }
  return o
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN
}

async function scrape(httpUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text()
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

interface ServerProcess {
  readonly child: ChildProcess
  readonly port: number
  readonly exited: Promise<number | null>
}

async function spawnServer(o: BenchOptions): Promise<ServerProcess> {
  const rooms = Math.ceil(o.clients / o.roomSize)
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'signaling-server/bin.ts',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--log-level',
      'info',
      '--max-connections',
      String(o.clients + 100),
      '--max-rooms',
      String(rooms + 10),
      '--max-peers-per-room',
      // One above the room size: a probe joins a full room, then leaves.
      String(o.roomSize + 1),
      '--idle-timeout-ms',
      String(o.deadlineS * 1000),
      '--shutdown-grace-ms',
      '2000',
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env } },
  )
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let rejections = 0
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in time')), SERVER_START_TIMEOUT_MS)
    let buffer = ''
    child.stderr?.on('data', (d: Buffer) => {
      buffer += d.toString('utf8')
      let nl
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        let entry: unknown
        try {
          entry = JSON.parse(line)
        } catch {
          continue
        }
        if (typeof entry !== 'object' || entry === null) continue
        if ('msg' in entry && entry.msg === 'rejected') rejections++
        if (
          'msg' in entry &&
          entry.msg === 'listening' &&
          'port' in entry &&
          typeof entry.port === 'number'
        ) {
          clearTimeout(timer)
          resolve(entry.port)
        }
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code} before listening`))
    })
  })
  if (rejections > 0) process.stderr.write(`bench: server logged ${rejections} rejections while starting\n`)
  return { child, port, exited }
}

/** Runs `tasks` with at most `limit` in flight; stops starting new ones once `stopped()`. */
async function pool(
  count: number,
  limit: number,
  stopped: () => boolean,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count && !stopped()) {
      const i = next++
      await task(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker))
}

const fmtMs = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'n/a')
const fmtMiB = (x: number): string => `${(x / 1024 / 1024).toFixed(1)} MiB`
const fmtKiB = (x: number): string => `${(x / 1024).toFixed(1)} KiB`

/**
 * Runs the signaling load benchmark and prints its table to stdout.
 * Defaults: 2000 clients in rooms of 4 (`--quick`: 200), 50 joins in flight.
 */
export async function benchSignaling(args: string[]): Promise<void> {
  const o = parseArgs(args)
  const started = performance.now()
  let timedOut = false
  const deadline = setTimeout(() => {
    timedOut = true
  }, o.deadlineS * 1000)
  const server = await spawnServer(o)
  const httpUrl = `http://127.0.0.1:${server.port}`
  const url = `ws://127.0.0.1:${server.port}`
  const clients: SignalingClient[] = []
  const joinMs: number[] = []
  const probeMs: number[] = []
  let probeFailures = 0
  const relayMs: number[] = []
  let joinFailures = 0
  let relayFailures = 0
  let held = Number.NaN
  let peersGauge: number | undefined
  let before: Map<string, number> | undefined
  let after: Map<string, number> | undefined
  try {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    before = await scrape(httpUrl)
    const roomCount = Math.ceil(o.clients / o.roomSize)
    const credentials: RoomCredentials[] = []
    for (let r = 0; r < roomCount; r++) {
      credentials.push(
        await deriveRoomCredentials('bench room secret', `bench-${r}`, { iterations: BENCH_ITERATIONS }),
      )
    }
    // Join phase: clients of a room join one after another across the pool, so rooms fill
    // gradually and every join after the first in a room also fans out a peer.joined.
    await pool(
      o.clients,
      o.concurrency,
      () => timedOut,
      async (i) => {
        const room = i % roomCount
        const creds = credentials[room]
        if (creds === undefined) return
        const client = new SignalingClient({ url, WebSocket, peerId: `p${i}` })
        clients[i] = client
        const t0 = performance.now()
        try {
          await client.join(`bench-${room}`, creds)
          joinMs.push(performance.now() - t0)
        } catch {
          joinFailures++
        }
      },
    )
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    after = await scrape(httpUrl)
    held = after.get('longhaul_signal_connections') ?? Number.NaN
    peersGauge = after.get('longhaul_signal_peers') ?? Number.NaN

    // Probe phase: with N held, single joins into existing rooms measure admission at scale.
    for (let p = 0; p < o.probes && !timedOut; p++) {
      const room = p % roomCount
      const creds = credentials[room]
      if (creds === undefined) break
      const probe = new SignalingClient({ url, WebSocket, peerId: `probe${p}` })
      const t0 = performance.now()
      try {
        await probe.join(`bench-${room}`, creds)
        probeMs.push(performance.now() - t0)
      } catch {
        probeFailures++
      }
      probe.close()
    }

    // Relay phase: every joined client sends one MAC'd offer to the next member of its room,
    // C at a time like the ramp, so latency is the path (sign, relay, verify), not a queue.
    const sdp = (i: number): string => {
      const hex = (i % 256).toString(16).padStart(2, '0').toUpperCase()
      return `v=0\r\na=fingerprint:sha-256 ${Array.from({ length: 32 }, () => hex).join(':')}\r\n`
    }
    const relayOne = (i: number): Promise<void> => {
      const from = clients[i]
      const to = clients[i + roomCount < clients.length ? i + roomCount : i % roomCount]
      if (from === undefined || to === undefined || from === to || !from.isJoined || !to.isJoined) {
        return Promise.resolve()
      }
      if (!from.peers.includes(to.peerId)) return Promise.resolve()
      return new Promise<void>((resolve) => {
        const t0 = performance.now()
        const done = (ok: boolean): void => {
          if (ok) relayMs.push(performance.now() - t0)
          else relayFailures++
          clearTimeout(timer)
          off()
          resolve()
        }
        const timer = setTimeout(() => done(false), RELAY_TIMEOUT_MS)
        const off = to.on('signal', (s) => {
          if (s.from === from.peerId) done(true)
        })
        from.signal(to.peerId, { type: 'offer', sdp: sdp(i) }).catch(() => done(false))
      })
    }
    await pool(clients.length, o.concurrency, () => timedOut, relayOne)
  } finally {
    clearTimeout(deadline)
    for (const c of clients) c?.close()
    server.child.kill('SIGTERM')
    const exit = await Promise.race([
      server.exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000)),
    ])
    if (exit === 'timeout') server.child.kill('SIGKILL')
  }
  joinMs.sort((a, b) => a - b)
  probeMs.sort((a, b) => a - b)
  relayMs.sort((a, b) => a - b)
  const rssDelta =
    (after?.get('process_resident_memory_bytes') ?? 0) - (before?.get('process_resident_memory_bytes') ?? 0)
  const heapDelta = (after?.get('nodejs_heap_used_bytes') ?? 0) - (before?.get('nodejs_heap_used_bytes') ?? 0)
  const perConn = (bytes: number): string => (held > 0 ? fmtKiB(bytes / held) : 'n/a')
  const p99 = percentile(probeMs.length > 0 ? probeMs : joinMs, 99)
  const [load1] = loadavg()
  const rows: [string, string][] = [
    ['clients (rooms × size)', `${o.clients} (${Math.ceil(o.clients / o.roomSize)} × ${o.roomSize})`],
    ['connections held (server gauge)', String(held)],
    ['peers joined (server gauge)', String(peersGauge ?? Number.NaN)],
    [
      `ramp: join → peer list p50 / p99 (${o.concurrency} in flight)`,
      `${fmtMs(percentile(joinMs, 50))} / ${fmtMs(percentile(joinMs, 99))}`,
    ],
    ['ramp: join failures', String(joinFailures)],
    [
      `at load: join → peer list p50 / p99 (${probeMs.length} probes)`,
      `${fmtMs(percentile(probeMs, 50))} / ${fmtMs(percentile(probeMs, 99))}`,
    ],
    ['at load: probe failures', String(probeFailures)],
    ['relayed offers (MAC checked)', `${relayMs.length} (${relayFailures} failed)`],
    [
      `relay p50 / p99 (${o.concurrency} in flight)`,
      `${fmtMs(percentile(relayMs, 50))} / ${fmtMs(percentile(relayMs, 99))}`,
    ],
    [
      'server RSS before → after',
      `${fmtMiB(before?.get('process_resident_memory_bytes') ?? 0)} → ${fmtMiB(after?.get('process_resident_memory_bytes') ?? 0)}`,
    ],
    ['server RSS per connection', perConn(rssDelta)],
    ['server V8 heap per connection', perConn(heapDelta)],
    ['host CPUs / load average (1 min)', `${availableParallelism()} / ${(load1 ?? 0).toFixed(1)}`],
    [
      'wall time',
      `${((performance.now() - started) / 1000).toFixed(1)} s${timedOut ? ' (deadline hit)' : ''}`,
    ],
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  const lines = [
    'signaling load — loopback, server in a child process',
    `| ${'metric'.padEnd(width)} | value |`,
    `| ${'-'.repeat(width)} | ----- |`,
    ...rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v} |`),
  ]
  if (o.clients >= TARGET_CLIENTS) {
    const ok = held >= TARGET_CLIENTS && p99 < TARGET_P99_MS
    lines.push(
      `target (${TARGET_CLIENTS} clients held, at-load join p99 < ${TARGET_P99_MS} ms): ${ok ? 'met' : 'NOT met'}`,
    )
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}
