/**
 * `longhaul demo`: the README's main command. A whole training room on this machine: an
 * embedded signaling server and three `longhaul node` processes, each with its own shard of
 * the generated `shapes` data (partitions 0/3, 1/3, 2/3), training one mlp together with
 * OLCO3 over real WebRTC on loopback. The first node founds the room; the other two join
 * late and catch up from it. Prints a compact live summary and each node's final accuracy.
 *
 * Separate processes rather than in-process nodes: that is what a room is (each node has its
 * own tensor backend, event loop and WebRTC stack), and a blocked step in one node must not
 * stall the others' heartbeats.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { CoreError } from '../errors.ts'
import { generateRoomSecret } from '../signaling/room-auth.ts'
import { booleanFlag, numberFlag, parseCommandArgs, stringFlag } from './args.ts'
import type { CliIo } from './io.ts'
import { SECRET_ENV_VAR, type CliPlatform } from './node.ts'
import { formatDuration } from './progress.ts'

export const DEMO_HELP = `Usage: longhaul demo [--nodes 3] [--epochs 3] [--algo olco3] [--json]

Runs a training room on this machine: an embedded signaling server and --nodes separate
"longhaul node" processes, each training the mlp on its own shard of the generated "shapes"
data, together over WebRTC (OLCO3 by default). Needs no data and no setup. Prints a live
summary and every node's final test accuracy; with --json the last stdout line is
{"nodes": [...each node's summary...], "seconds"}.
`

const BIN = fileURLToPath(new URL('../../bin/longhaul.mjs', import.meta.url))
const SUMMARY_EVERY_MS = 3000

interface NodeView {
  readonly name: string
  readonly child: ChildProcess
  readonly stderrTail: string[]
  readonly exited: Promise<number | null>
  role: string
  epoch: number
  accuracy: number | undefined
  loss: number | undefined
  round: number
  present: number
  summary: Record<string, unknown> | undefined
  hasJoined: boolean
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function num(o: Record<string, unknown>, key: string): number | undefined {
  const v = o[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

function str(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key]
  return typeof v === 'string' ? v : undefined
}

function pct(value: number | undefined): string {
  return value === undefined ? '  -  ' : `${(value * 100).toFixed(1)}%`
}

function mb(value: number | undefined): string {
  return value === undefined ? '-' : `${(value / 1024 / 1024).toFixed(1)} MB`
}

export async function runDemoCommand(args: string[], io: CliIo, platform: CliPlatform = {}): Promise<number> {
  const { values } = parseCommandArgs('demo', args, {
    nodes: { type: 'string' },
    epochs: { type: 'string' },
    algo: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (booleanFlag(values, 'help')) {
    io.out(DEMO_HELP)
    return 0
  }
  const count = numberFlag(values, 'nodes', 3, { integer: true, min: 1, max: 8 })
  const epochs = numberFlag(values, 'epochs', 3, { integer: true, min: 1, max: 100 })
  const algo = stringFlag(values, 'algo') ?? 'olco3'
  const start = platform.startSignalingServer
  if (start === undefined)
    throw new CoreError('ERR_INVALID_ARGUMENT', 'this build has no embedded signaling server')
  const started = performance.now()
  const server = await start({ config: { host: '127.0.0.1', port: 0, logLevel: 'warn' } })
  const room = `demo-${Math.random().toString(36).slice(2, 10)}`
  const secret = generateRoomSecret()
  io.err(
    `longhaul demo: ${count} nodes in room ${room} (signaling ${server.url}), each training the mlp on its own third of "shapes" with ${algo}, ${epochs} epochs, over WebRTC on this machine.`,
  )
  const nodes: NodeView[] = []
  const launch = (index: number): NodeView => {
    const name = `node-${index + 1}`
    const child = spawn(
      process.execPath,
      [
        BIN,
        'node',
        '--signal',
        server.url,
        '--room',
        room,
        '--peer-id',
        name,
        '--data',
        'shapes',
        '--partition',
        `${index}/${count}`,
        '--algo',
        algo,
        '--epochs',
        String(epochs),
        '--events-jsonl',
        '-',
        '--json',
        // The founder waits for the others, so the room trains together from the start.
        ...(index === 0 ? ['--wait-peers', String(count - 1)] : []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [SECRET_ENV_VAR]: secret } },
    )
    const view: NodeView = {
      name,
      child,
      stderrTail: [],
      exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
      role: '',
      epoch: 0,
      accuracy: undefined,
      loss: undefined,
      round: 0,
      present: 0,
      summary: undefined,
      hasJoined: false,
    }
    if (child.stdout !== null)
      createInterface({ input: child.stdout }).on('line', (line) => onLine(view, line))
    if (child.stderr !== null) {
      createInterface({ input: child.stderr }).on('line', (line) => {
        view.stderrTail.push(line)
        if (view.stderrTail.length > 20) view.stderrTail.shift()
      })
    }
    return view
  }
  const onLine = (view: NodeView, line: string): void => {
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      return
    }
    if (!isRecord(value)) return
    if (value.testAccuracy !== undefined && value.type === undefined) {
      view.summary = value
      return
    }
    switch (value.type) {
      case 'joined':
        view.hasJoined = true
        view.role = str(value, 'role') ?? ''
        io.err(`${view.name}: joined the room as ${view.role}`)
        return
      case 'catch-up':
        io.err(
          `${view.name}: received the current model from ${str(value, 'from')} at step ${num(value, 'step')}; its accuracy ${pct(num(value, 'testAccuracy'))}`,
        )
        return
      case 'peer-left':
        io.err(`${view.name}: ${str(value, 'peer')} left (${str(value, 'reason')})`)
        return
      case 'step':
        view.loss = num(value, 'loss') ?? view.loss
        view.round = num(value, 'round') ?? view.round
        view.present = Array.isArray(value.present) ? value.present.length : view.present
        return
      case 'epoch':
        view.epoch = num(value, 'epoch') ?? view.epoch
        view.accuracy = num(value, 'testAccuracy') ?? view.accuracy
        return
    }
  }
  const printSummary = (): void => {
    io.err(
      nodes
        .map(
          (n) =>
            `${n.name} ep ${n.epoch}/${epochs} acc ${pct(n.accuracy)} loss ${n.loss?.toFixed(3) ?? '-'} round ${n.round} peers ${n.present}`,
        )
        .join(' | '),
    )
  }
  const timer = setInterval(printSummary, SUMMARY_EVERY_MS)
  const onSigint = (): void => {
    for (const n of nodes) n.child.kill('SIGINT')
  }
  process.once('SIGINT', onSigint)
  try {
    // The first node founds the room; the others join once it is in (and catch up from it).
    nodes.push(launch(0))
    const first = nodes[0]
    const waitStarted = Date.now()
    while (
      first !== undefined &&
      !first.hasJoined &&
      first.child.exitCode === null &&
      Date.now() - waitStarted < 60_000
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    for (let i = 1; i < count; i++) nodes.push(launch(i))
    const codes = await Promise.all(nodes.map((n) => n.exited))
    clearInterval(timer)
    const seconds = (performance.now() - started) / 1000
    let ok = true
    io.err('')
    nodes.forEach((n, i) => {
      const s = n.summary
      if (codes[i] !== 0 || s === undefined) {
        ok = false
        io.err(`${n.name}: exited with ${codes[i]}; last lines:\n  ${n.stderrTail.join('\n  ')}`)
        return
      }
      io.err(
        `${n.name} (${n.role}): test accuracy ${pct(num(s, 'testAccuracy'))}, ${num(s, 'averagedRounds')} averaged rounds with ${num(s, 'peersSeen')} peer(s), sent ${mb(num(s, 'bytesSent'))}, received ${mb(num(s, 'bytesReceived'))}`,
      )
    })
    if (booleanFlag(values, 'json')) {
      io.out(
        JSON.stringify({
          nodes: nodes.map((n) => ({ name: n.name, ...n.summary })),
          seconds: Math.round(seconds * 100) / 100,
        }),
      )
    } else {
      io.out(
        `${ok ? 'done' : 'failed'}: ${nodes.map((n) => `${n.name} ${pct(n.summary === undefined ? undefined : num(n.summary, 'testAccuracy'))}`).join(', ')} in ${formatDuration(seconds)}`,
      )
    }
    return ok ? 0 : 1
  } finally {
    clearInterval(timer)
    process.removeListener('SIGINT', onSigint)
    for (const n of nodes)
      if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL')
    await server.close()
  }
}
