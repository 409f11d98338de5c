/**
 * `longhaul node` processes started on an emulated host (or on loopback, where the topology's
 * hosts are this machine): each one a separate Node process with its own tfjs (wasm) backend and
 * its own WebRTC stack (@roamhq/wrtc). Used by the node integration tests and the p2p benchmark.
 *
 * Events come from `--events-jsonl -` on stdout; the last stdout line is the `--json` summary;
 * stderr is kept line by line for failure messages. Every process started here is killed by
 * `killAllNodes` (call it in afterEach) and by the topology's teardown.
 */
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { LONGHAUL_BIN } from './longhaul-process.ts'
import type { Place, Topology } from './netns.ts'

export type Json = Record<string, unknown>

export interface NodeProcess {
  readonly name: string
  readonly child: ChildProcess
  /** Events in arrival order (each has `type` and `t`). */
  readonly events: Json[]
  readonly stderr: string[]
  /** The --json summary (the last stdout line), once printed. */
  summary: Json | undefined
  readonly exited: Promise<number | null>
  /** Wall-clock time (Date.now) each event arrived here. */
  readonly arrivedAt: number[]
  ofType(type: string): Json[]
}

/** Environment of every node process: the wasm backend (same numbers everywhere), no TTY output. */
export const NODE_ENV: Readonly<Record<string, string>> = { LONGHAUL_BACKEND: 'wasm', CI: 'true' }

const processes: NodeProcess[] = []

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Starts `longhaul node <args>` at `place` (a host index) and tracks it (see `trackNode`). */
export function startNode(
  topology: Topology,
  place: Place,
  name: string,
  args: readonly string[],
): NodeProcess {
  const child = topology.exec(place, process.execPath, [LONGHAUL_BIN, 'node', ...args], {
    env: { ...process.env, ...NODE_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return trackNode(name, child)
}

/**
 * Reads events, the summary and stderr of a `longhaul node` process, and kills it in
 * `killAllNodes`. Its stdout and stderr must be pipes.
 */
export function trackNode(name: string, child: ChildProcess): NodeProcess {
  const { stdout, stderr: stderrStream } = child
  if (stdout === null || stderrStream === null) throw new Error(`${name}: stdout and stderr must be pipes`)
  const events: Json[] = []
  const arrivedAt: number[] = []
  const stderr: string[] = []
  const node: NodeProcess = {
    name,
    child,
    events,
    stderr,
    summary: undefined,
    arrivedAt,
    exited: new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        // A signal death (code null) is a crash or a kill: say which, for the failure message.
        if (code === null) stderr.push(`[harness] ${name} died from signal ${signal ?? 'unknown'}`)
        resolve(code)
      }),
    ),
    ofType: (type) => events.filter((e) => e.type === type),
  }
  createInterface({ input: stdout }).on('line', (line) => {
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      return
    }
    if (!isJson(value)) return
    if (typeof value.type === 'string') {
      events.push(value)
      arrivedAt.push(Date.now())
    } else {
      node.summary = value
    }
  })
  createInterface({ input: stderrStream }).on('line', (line) => stderr.push(line))
  processes.push(node)
  return node
}

/** SIGKILL to every node process started here that still runs. */
export function killAllNodes(): void {
  for (const p of processes.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
  }
}

/** Polls `condition` until it holds; fails after `timeoutMs` with the nodes' stderr tails. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  nodes: readonly NodeProcess[],
  timeoutMs = 60_000,
): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeoutMs) {
      const tails = nodes.map((n) => `${n.name}: ${n.stderr.slice(-8).join(' / ')}`).join('\n')
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${tails}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Waits for a process to exit; fails with its stderr when it takes longer than `timeoutMs`. */
export async function exitOf(node: NodeProcess, timeoutMs = 90_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `${node.name} did not exit within ${timeoutMs} ms: ${node.stderr.slice(-10).join(' / ')}`,
          ),
        ),
      timeoutMs,
    )
  })
  try {
    return await Promise.race([node.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export function num(o: Json | undefined, key: string): number {
  const v = o?.[key]
  if (typeof v !== 'number') throw new Error(`${key} is not a number in ${JSON.stringify(o)}`)
  return v
}

export function str(o: Json | undefined, key: string): string {
  const v = o?.[key]
  if (typeof v !== 'string') throw new Error(`${key} is not a string in ${JSON.stringify(o)}`)
  return v
}

export function field(o: Json | undefined, key: string): Json {
  const v = o?.[key]
  if (!isJson(v)) throw new Error(`${key} is not an object in ${JSON.stringify(o)}`)
  return v
}

/** The objects in an array-valued field (others skipped). */
export function objectsOf(o: Json | undefined, key: string): Json[] {
  const v = o?.[key]
  return Array.isArray(v) ? v.filter(isJson) : []
}
