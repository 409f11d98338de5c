/**
 * Starting the real `longhaul` command inside an emulated topology: the signaling server in the
 * router (the one place every host reaches) and nodes on the hosts.
 */
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { HarnessError } from './harness-error.ts'
import type { ManagedProcess } from './managed-process.ts'
import { numberField, parseJsonLine } from './managed-process.ts'
import type { Place, Topology } from './netns.ts'

/** bin/longhaul.mjs of this checkout. */
export const LONGHAUL_BIN = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../bin/longhaul.mjs',
)
/** Loading tsx and the engine takes a second or two on a busy machine. */
const SIGNAL_START_TIMEOUT_MS = 20_000

/**
 * Spawns `longhaul <args>` at `place` (a host index or 'router') with the given extra environment
 * variables; the process is killed by the topology's teardown().
 */
export function spawnLonghaul(
  topology: Topology,
  place: Place,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): ManagedProcess {
  // `longhaul` logs JSON lines to stderr, so both streams count as lines.
  return topology.spawn(place, process.execPath, [LONGHAUL_BIN, ...args], {
    env: { ...process.env, ...env },
    linesFrom: 'both',
  })
}

/** A running signaling server and the URLs the hosts reach it at. */
export interface SignalingServer {
  readonly process: ManagedProcess
  /** ws:// URL for `longhaul node --signal`. */
  readonly url: string
  /** http:// base URL of /healthz and /metrics. */
  readonly httpUrl: string
  readonly port: number
}

/**
 * Starts `longhaul signal` in the router namespace on the topology's service address and a free
 * port, and resolves once it logged that it listens. Rejects with HarnessError (ERR_PROCESS,
 * ERR_TIMEOUT) when it exits or stays silent.
 */
export async function startSignalingServer(
  topology: Topology,
  extraArgs: readonly string[] = [],
): Promise<SignalingServer> {
  const server = spawnLonghaul(topology, 'router', [
    'signal',
    '--host',
    topology.serviceAddress,
    '--port',
    '0',
    ...extraArgs,
  ])
  const line = await server.waitForLine(
    (candidate) => parseJsonLine(candidate)?.['msg'] === 'listening',
    SIGNAL_START_TIMEOUT_MS,
    '"listening" log line',
  )
  const parsed = parseJsonLine(line)
  if (parsed === undefined) throw new HarnessError('ERR_PROCESS', `unreadable listening line: ${line}`)
  const port = numberField(parsed, 'port')
  return {
    process: server,
    port,
    url: `ws://${topology.serviceAddress}:${port}`,
    httpUrl: `http://${topology.serviceAddress}:${port}`,
  }
}
