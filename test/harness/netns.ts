/**
 * Network emulation for multi-process tests: every emulated host is a Linux network namespace with
 * one veth "access link" to a shared router namespace, and the links are shaped (see README.md in
 * this folder for the diagram and the delay arithmetic).
 *
 * Modes:
 * - 'turn-relay' (kernels without netem): hosts cannot reach each other at all, only the router's
 *   service address. WebRTC peers therefore meet through coturn, which sits behind a userspace UDP
 *   delay relay (delay-relay.mjs). Every datagram between two hosts crosses the relay twice (sender
 *   -> coturn, coturn -> receiver), and the relay holds each crossing delayMs/2, so one way is
 *   delayMs and the round trip 2 * delayMs.
 * - 'netem': the router forwards between hosts, and netem on both ends of every access link adds
 *   delayMs/2 per direction: one way = sender's uplink + receiver's downlink = delayMs again.
 * - 'loopback' (no namespaces): every host is 127.0.0.1, nothing is shaped, and `notes` says so.
 *
 * In both namespace modes `tbf` on both ends of an access link limits its rate (per direction), and
 * iptables' `statistic` match on the host's OUTPUT drops each datagram a host sends with probability
 * lossPercent/100, so every one-way trip loses lossPercent.
 *
 * Everything a topology creates (namespaces, processes, its temp dir) is removed by teardown(), by
 * the process-exit and signal handlers registered here, and, for leftovers of a killed run, by a
 * sweep of namespaces whose owning pid is dead before the next topology is built.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { findExecutable, run, runSync } from './commands.ts'
import { HarnessError } from './harness-error.ts'
import { delay, endpointField, ManagedProcess, numberArrayField, numberField } from './managed-process.ts'

/** Which emulation a topology uses; see the module comment. */
export type TopologyMode = 'turn-relay' | 'netem' | 'loopback'

/** How one access link (host <-> router) is shaped. Undefined fields mean "not shaped". */
export interface LinkShape {
  /** Rate limit per direction, in Mbit/s (tbf). */
  readonly rateMbit?: number
  /** Chance, in percent, that a datagram the host sends is dropped (iptables statistic). */
  readonly lossPercent?: number
}

/** Options of createTopology(). */
export interface TopologyOptions extends LinkShape {
  /** Number of emulated hosts, 1 to MAX_HOSTS. */
  readonly hosts: number
  /** One-way delay added between any two hosts, per direction, in ms (RTT ≈ 2 * delayMs). */
  readonly delayMs?: number
  /** Default 'auto': turn-relay if coturn is installed, else netem if the kernel has it, else loopback. */
  readonly mode?: TopologyMode | 'auto'
}

/** One emulated host. */
export interface EmulatedHost {
  readonly index: number
  readonly name: string
  /** The network namespace, or undefined in loopback mode. */
  readonly ns: string | undefined
  /** The host's own address (what its WebRTC host candidate carries). */
  readonly address: string
  /** The router's address on this host's access link, or undefined in loopback mode. */
  readonly gateway: string | undefined
}

/** TURN credentials for RTCPeerConnection's iceServers (turn-relay mode only). */
export interface TurnServer {
  readonly urls: string[]
  readonly username: string
  readonly credential: string
}

/** Round trips measured by udp-probe.mjs. */
export interface RttMeasurement {
  readonly samplesMs: readonly number[]
  readonly sent: number
  readonly lost: number
  /** Median of samplesMs, or NaN when every ping was lost. */
  readonly medianMs: number
  /** Send errors the probe saw, e.g. ENETUNREACH when there is no route. */
  readonly errors: readonly string[]
}

/** Options for a probe run. */
export interface ProbeOptions {
  /** Pings to send (default 10). */
  readonly count?: number
  /** Pause after each ping in ms (default 10). */
  readonly gapMs?: number
  /** How long a ping waits for its pong in ms (default 1000). */
  readonly timeoutMs?: number
  /** Send every gapMs without waiting for pongs, to count losses quickly (default false). */
  readonly pipelined?: boolean
}

/** What a paced UDP flood delivered (see Topology.udpThroughput). */
export interface UdpThroughput {
  readonly sentBytes: number
  readonly receivedBytes: number
  readonly receivedPackets: number
  /** From the first to the last datagram's arrival at the receiver, in ms. */
  readonly spanMs: number
  /** UDP payload bits per second over that span, in Mbit/s (excludes the first datagram). */
  readonly payloadMbit: number
  readonly payloadBytes: number
}

/** Options of Topology.udpThroughput(). */
export interface UdpThroughputOptions {
  /** How long to send, in ms (default 1000). */
  readonly durationMs: number
  /** Offered load in Mbit/s of UDP payload; above the shaped rate so the shaper's queue stays full. */
  readonly offeredMbit: number
  /** Datagram payload size (default 1200, like WebRTC's packets). */
  readonly payloadBytes?: number
}

/** Options of Topology.spawn(): spawn()'s, plus which streams count as lines. */
export interface ManagedSpawnOptions extends SpawnOptions {
  readonly linesFrom?: 'stdout' | 'both'
}

/** Where a process runs: a host index or the router namespace. */
export type Place = number | 'router'

/** What a topology owns right now; tests check that teardown leaves none of it behind. */
export interface TopologyResources {
  readonly namespaces: readonly string[]
  readonly pids: readonly number[]
  readonly tempDir: string
}

/** A built topology; see the module comment. */
export interface Topology {
  readonly id: string
  readonly mode: TopologyMode
  readonly hosts: readonly EmulatedHost[]
  /** The router namespace (undefined in loopback mode). */
  readonly router: { readonly ns: string } | undefined
  /**
   * An address every host reaches: start shared services (the signaling server) in the router
   * with `spawn('router', …)` and bind them here. 127.0.0.1 in loopback mode.
   */
  readonly serviceAddress: string
  readonly turn: TurnServer | undefined
  /** Delay, rate and loss as configured now, and one line per decision the harness made. */
  readonly delayMs: number
  readonly notes: readonly string[]
  /** A scratch directory removed by teardown(). */
  readonly tempDir: string
  /** Spawns `cmd args` inside a host's (or the router's) namespace; killed by teardown(). */
  exec(place: Place, cmd: string, args: readonly string[], options?: SpawnOptions): ChildProcess
  /**
   * Like exec, wrapped for line-oriented output (stdin, stdout and stderr piped); `linesFrom`
   * 'both' also reads stderr lines (for programs that log there).
   */
  spawn(place: Place, cmd: string, args: readonly string[], options?: ManagedSpawnOptions): ManagedProcess
  /** Round trips between two hosts along the path WebRTC peers take (TURN relay in turn-relay mode). */
  measureRtt(from: number, to: number, options?: ProbeOptions): Promise<RttMeasurement>
  /** measureRtt()'s median in ms; throws if every ping was lost. */
  measuredRttMs(from: number, to: number): Promise<number>
  /** Plain UDP round trips from a host straight to another place's own address (no TURN). */
  directRtt(from: number, to: Place, options?: ProbeOptions): Promise<RttMeasurement>
  /**
   * Floods plain UDP from a host straight to another place for durationMs at offeredMbit and
   * reports what arrived: the rate limit as the kernel enforces it, without any congestion control.
   */
  udpThroughput(from: number, to: Place, options: UdpThroughputOptions): Promise<UdpThroughput>
  /** Changes rate/loss of every access link, or of one host's link, at run time. */
  shape(link: LinkShape, host?: number): Promise<void>
  /** Changes the one-way delay between hosts at run time (not in loopback mode). */
  setDelay(delayMs: number): Promise<void>
  /** Namespaces, live pids and the temp dir this topology owns right now. */
  resources(): Promise<TopologyResources>
  /** Kills every process, deletes every namespace and the temp dir. Idempotent. */
  teardown(): Promise<void>
}

/** Hosts get 10.77.<index + 1>.2/24; the limit keeps the third octet below the service address. */
export const MAX_HOSTS = 200
/** Router-local address every host can reach (delay relay, signaling server). */
const SERVICE_ADDRESS = '10.77.255.1'
/** Router-local address the hosts cannot reach: coturn listens and relays here. */
const INTERNAL_ADDRESS = '10.78.0.1'
/**
 * Router-local address the delay relay talks to coturn from, so coturn sees clients there (their
 * server-reflexive candidates). Denied as a TURN peer: relay->srflx pairs fail at once instead of
 * sneaking datagrams into the delay relay's upstream sockets.
 */
const RELAY_CLIENT_ADDRESS = '10.78.0.2'
const HOSTS_PREFIX = '10.77.0.0/16'
const INTERNAL_PREFIX = '10.78.0.0/16'
const TURN_PORT = 3478
const TURN_REALM = 'longhaul.test'
const TURN_USER = 'longhaul'
/**
 * tbf queues at most this much time's worth of bytes before dropping: about one RTT at the
 * delays we test, so a congestion-controlled sender (SCTP) can fill the link. Increase it if
 * throughput tests see losses at rates far below the limit.
 */
const TBF_QUEUE_MS = 50
/** tbf bucket: 4 ms worth of bytes, at least a few full-size packets. */
const TBF_BURST_MS = 4
const TBF_MIN_BURST_BYTES = 6_000
/** Timeouts of the start-up steps and of probes. */
const START_TIMEOUT_MS = 15_000
const PROBE_TIMEOUT_MS = 20_000
/** How long teardown waits for SIGTERM to work before SIGKILL. */
const TERM_GRACE_MS = 2_000

const HARNESS_DIR = path.dirname(fileURLToPath(import.meta.url))
const DELAY_RELAY_SCRIPT = path.join(HARNESS_DIR, 'delay-relay.mjs')
const UDP_PROBE_SCRIPT = path.join(HARNESS_DIR, 'udp-probe.mjs')
/** Names are `lhn<pid>-<seq>-r` / `-h<i>`: the pid lets a later run sweep what a killed run left. */
const NAME_PATTERN = /^lhn(\d+)-\d+-/

let topologySeq = 0
const liveTopologies = new Set<TopologyImpl>()
let availability: Promise<{ ok: boolean; reason?: string }> | undefined
let netemAvailability: Promise<{ ok: boolean; reason?: string }> | undefined
let hasSwept = false

/**
 * Whether this process can create network namespaces (probed once: `ip netns add` + delete).
 * Never throws; `reason` says why not. LONGHAUL_HARNESS_NO_NETNS=1 answers "no" without probing,
 * to run everything on loopback.
 */
export function namespacesAvailable(): Promise<{ ok: boolean; reason?: string }> {
  availability ??= (async () => {
    if (process.env['LONGHAUL_HARNESS_NO_NETNS'] === '1') {
      return { ok: false, reason: 'disabled by LONGHAUL_HARNESS_NO_NETNS=1' }
    }
    if (process.platform !== 'linux')
      return { ok: false, reason: `network namespaces need Linux, not ${process.platform}` }
    if ((await findExecutable('ip')) === undefined)
      return { ok: false, reason: 'iproute2 (`ip`) is not installed' }
    const ns = `lhn${process.pid}-0-probe`
    try {
      await run('ip', ['netns', 'add', ns])
    } catch (err) {
      return { ok: false, reason: `ip netns add failed (root or CAP_SYS_ADMIN needed): ${String(err)}` }
    }
    await run('ip', ['netns', 'del', ns]).catch(() => undefined)
    return { ok: true }
  })()
  return availability
}

/** Whether the kernel offers the netem qdisc inside a namespace (probed once). Never throws. */
export function netemAvailable(): Promise<{ ok: boolean; reason?: string }> {
  netemAvailability ??= (async () => {
    const namespaces = await namespacesAvailable()
    if (!namespaces.ok) return namespaces
    const ns = `lhn${process.pid}-0-netem`
    try {
      await run('ip', ['netns', 'add', ns])
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
      await run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'])
      return { ok: true }
    } catch (err) {
      return { ok: false, reason: `tc netem failed: ${err instanceof Error ? err.message : String(err)}` }
    } finally {
      await run('ip', ['netns', 'del', ns]).catch(() => undefined)
    }
  })()
  return netemAvailability
}

/**
 * Resolves the mode createTopology() would use for `requested`, with one note per reason.
 * Throws HarnessError (ERR_NETNS_UNAVAILABLE, ERR_TURN_UNAVAILABLE, ERR_NETEM_UNAVAILABLE) when an
 * explicitly requested mode cannot run here; 'auto' never throws.
 */
export async function chooseMode(
  requested: TopologyMode | 'auto' = 'auto',
): Promise<{ mode: TopologyMode; notes: string[] }> {
  if (requested === 'loopback') return { mode: 'loopback', notes: ['mode loopback: requested'] }
  const namespaces = await namespacesAvailable()
  if (!namespaces.ok) {
    const reason = namespaces.reason ?? 'unknown'
    if (requested !== 'auto') throw new HarnessError('ERR_NETNS_UNAVAILABLE', reason)
    return {
      mode: 'loopback',
      notes: [`mode loopback: network namespaces unavailable (${reason}); links are NOT shaped`],
    }
  }
  const hasTurn = (await findExecutable('turnserver')) !== undefined
  const netem = await netemAvailable()
  if (requested === 'turn-relay' || (requested === 'auto' && hasTurn)) {
    if (!hasTurn) throw new HarnessError('ERR_TURN_UNAVAILABLE', 'coturn (`turnserver`) is not on PATH')
    const why = netem.ok
      ? 'netem exists but the TURN path is preferred'
      : `no netem (${netem.reason ?? 'unknown'})`
    return { mode: 'turn-relay', notes: [`mode turn-relay: ${requested === 'auto' ? why : 'requested'}`] }
  }
  if (requested === 'netem' || (requested === 'auto' && netem.ok)) {
    if (!netem.ok) throw new HarnessError('ERR_NETEM_UNAVAILABLE', netem.reason ?? 'no netem qdisc')
    return {
      mode: 'netem',
      notes: [`mode netem: ${requested === 'auto' ? 'coturn is not installed' : 'requested'}`],
    }
  }
  return {
    mode: 'loopback',
    notes: [
      `mode loopback: neither coturn nor netem (${netem.reason ?? 'unknown'}) is available; links are NOT shaped`,
    ],
  }
}

/**
 * Builds a topology of `options.hosts` emulated hosts (see the module comment). On any failure it
 * tears down what it had built and rethrows. Call teardown() when done, or use withTopology().
 */
export async function createTopology(options: TopologyOptions): Promise<Topology> {
  validate(options)
  if (!hasSwept) {
    hasSwept = true
    sweepStaleResources()
  }
  const { mode, notes } = await chooseMode(options.mode ?? 'auto')
  topologySeq += 1
  const id = `lhn${process.pid}-${topologySeq}`
  const tempDir = await mkdtemp(path.join(tmpdir(), `${id}-`))
  const topology = new TopologyImpl(id, mode, options, tempDir, notes)
  liveTopologies.add(topology)
  installExitHandlers()
  try {
    await topology.build()
  } catch (err) {
    await topology.teardown()
    throw err
  }
  return topology
}

/** Builds a topology, runs `body` with it, and always tears it down, also when `body` throws. */
export async function withTopology<T>(
  options: TopologyOptions,
  body: (topology: Topology) => Promise<T>,
): Promise<T> {
  const topology = await createTopology(options)
  try {
    return await body(topology)
  } finally {
    await topology.teardown()
  }
}

/** Names of every network namespace on this machine (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list'])
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '')
}

function validate(options: TopologyOptions): void {
  const bad = (message: string): never => {
    throw new HarnessError('ERR_INVALID_ARGUMENT', message)
  }
  if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > MAX_HOSTS) {
    bad(`hosts must be an integer in [1, ${MAX_HOSTS}], got ${options.hosts}`)
  }
  validateDelay(options.delayMs)
  validateShape(options)
}

function validateDelay(delayMs: number | undefined): void {
  if (delayMs !== undefined && (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > 10_000)) {
    throw new HarnessError('ERR_INVALID_ARGUMENT', `delayMs must be in [0, 10000], got ${delayMs}`)
  }
}

function validateShape(link: LinkShape): void {
  const { rateMbit, lossPercent } = link
  if (rateMbit !== undefined && (!Number.isFinite(rateMbit) || rateMbit <= 0 || rateMbit > 10_000)) {
    throw new HarnessError('ERR_INVALID_ARGUMENT', `rateMbit must be in (0, 10000], got ${rateMbit}`)
  }
  if (lossPercent !== undefined && (!Number.isFinite(lossPercent) || lossPercent < 0 || lossPercent >= 100)) {
    throw new HarnessError('ERR_INVALID_ARGUMENT', `lossPercent must be in [0, 100), got ${lossPercent}`)
  }
}

function hostSubnetAddress(index: number, last: 1 | 2): string {
  return `10.77.${index + 1}.${last}`
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but is not ours to signal.
    return err instanceof Error && 'code' in err && err.code === 'EPERM'
  }
}

class TopologyImpl implements Topology {
  readonly id: string
  readonly mode: TopologyMode
  readonly hosts: EmulatedHost[]
  readonly router: { readonly ns: string } | undefined
  readonly serviceAddress: string
  turn: TurnServer | undefined
  delayMs: number
  readonly notes: string[]
  readonly tempDir: string
  private readonly links: LinkShape[]
  private readonly children = new Set<ChildProcess>()
  private delayRelay: ManagedProcess | undefined
  private tearingDown: Promise<void> | undefined

  constructor(id: string, mode: TopologyMode, options: TopologyOptions, tempDir: string, notes: string[]) {
    this.id = id
    this.mode = mode
    this.tempDir = tempDir
    this.notes = notes
    this.delayMs = options.delayMs ?? 0
    const inNamespaces = mode !== 'loopback'
    this.router = inNamespaces ? { ns: `${id}-r` } : undefined
    this.serviceAddress = inNamespaces ? SERVICE_ADDRESS : '127.0.0.1'
    this.hosts = Array.from({ length: options.hosts }, (_, index) => ({
      index,
      name: `h${index}`,
      ns: inNamespaces ? `${id}-h${index}` : undefined,
      address: inNamespaces ? hostSubnetAddress(index, 2) : '127.0.0.1',
      gateway: inNamespaces ? hostSubnetAddress(index, 1) : undefined,
    }))
    this.links = this.hosts.map(() => ({ rateMbit: options.rateMbit, lossPercent: options.lossPercent }))
  }

  async build(): Promise<void> {
    if (this.router === undefined) {
      const wanted =
        this.delayMs > 0 || this.links.some((l) => l.rateMbit !== undefined || (l.lossPercent ?? 0) > 0)
      if (wanted) this.notes.push('loopback: delay, rate and loss were requested but are NOT applied')
      return
    }
    const routerNs = this.router.ns
    await run('ip', ['netns', 'add', routerNs])
    for (const host of this.hosts) await run('ip', ['netns', 'add', this.nsOf(host.index)])
    const forwarding = this.mode === 'netem' ? '1' : '0'
    await this.sysctl(routerNs, [`net.ipv4.ip_forward=${forwarding}`])
    const routerCommands = [
      'link set lo up',
      `addr add ${SERVICE_ADDRESS}/32 dev lo`,
      `addr add ${INTERNAL_ADDRESS}/32 dev lo`,
    ]
    for (const host of this.hosts) {
      const hostNs = this.nsOf(host.index)
      await this.sysctl(hostNs, [])
      // Created from inside the router namespace with the peer end moved straight into the host's,
      // so no interface ever appears in the machine's own namespace.
      await run('ip', [
        '-n',
        routerNs,
        'link',
        'add',
        `h${host.index}`,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        hostNs,
      ])
      routerCommands.push(
        `addr add ${hostSubnetAddress(host.index, 1)}/24 dev h${host.index}`,
        `link set h${host.index} up`,
      )
      const gateway = hostSubnetAddress(host.index, 1)
      // Only the router is routable: its service address (turn-relay), or the host subnets through
      // it (netem). Nothing else has a route, so nothing can leave the topology.
      const reachable = this.mode === 'netem' ? HOSTS_PREFIX : `${SERVICE_ADDRESS}/32`
      await run(
        'ip',
        ['-n', hostNs, '-batch', '-'],
        [
          'link set lo up',
          `addr add ${host.address}/24 dev eth0`,
          'link set eth0 up',
          `route add ${reachable} via ${gateway}`,
          '',
        ].join('\n'),
      )
    }
    await run('ip', ['-n', routerNs, '-batch', '-'], `${routerCommands.join('\n')}\n`)
    await this.routerFirewall()
    for (const host of this.hosts) await this.applyLink(host.index)
    this.notes.push(...this.shapeNotes())
    if (this.mode === 'turn-relay') await this.startTurn()
  }

  nsOf(index: number): string {
    const host = this.hosts[index]
    if (host?.ns === undefined)
      throw new HarnessError('ERR_INVALID_ARGUMENT', `no namespace for host ${index}`)
    return host.ns
  }

  exec(place: Place, cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    if (this.tearingDown !== undefined) throw new HarnessError('ERR_TORN_DOWN', `${this.id} is torn down`)
    const ns = place === 'router' ? this.router?.ns : this.hosts[place]?.ns
    if (place !== 'router' && this.hosts[place] === undefined) {
      throw new HarnessError('ERR_INVALID_ARGUMENT', `no host ${place} in ${this.id}`)
    }
    const child =
      ns === undefined
        ? spawn(cmd, [...args], options)
        : spawn('ip', ['netns', 'exec', ns, cmd, ...args], options)
    this.children.add(child)
    child.once('close', () => this.children.delete(child))
    return child
  }

  spawn(
    place: Place,
    cmd: string,
    args: readonly string[],
    options: ManagedSpawnOptions = {},
  ): ManagedProcess {
    const { linesFrom, ...spawnOptions } = options
    const child = this.exec(place, cmd, args, { ...spawnOptions, stdio: ['pipe', 'pipe', 'pipe'] })
    const label = `${this.id}:${place === 'router' ? 'router' : `h${place}`}:${path.basename(cmd)}`
    return new ManagedProcess(child, label, linesFrom)
  }

  async measureRtt(from: number, to: number, options: ProbeOptions = {}): Promise<RttMeasurement> {
    if (this.turn === undefined) return this.directRtt(from, to, options)
    const turn = this.turn
    const server = { address: SERVICE_ADDRESS, port: TURN_PORT }
    const credentials = { server, username: turn.username, credential: turn.credential }
    const echo = this.startProbe(to)
    const pinger = this.startProbe(from)
    try {
      const [echoAllocation, pingerAllocation] = await Promise.all([
        echo.call({ type: 'turn-allocate', ...credentials }, 'allocated', PROBE_TIMEOUT_MS),
        pinger.call({ type: 'turn-allocate', ...credentials }, 'allocated', PROBE_TIMEOUT_MS),
      ])
      const echoRelayed = endpointField(echoAllocation, 'relayed')
      const pingerRelayed = endpointField(pingerAllocation, 'relayed')
      await Promise.all([
        echo.call({ type: 'permit', address: pingerRelayed.address }, 'permitted', PROBE_TIMEOUT_MS),
        pinger.call({ type: 'permit', address: echoRelayed.address }, 'permitted', PROBE_TIMEOUT_MS),
      ])
      return await this.ping(pinger, echoRelayed, options)
    } finally {
      // 'close' releases the TURN allocations before the probes exit.
      for (const probe of [echo, pinger]) if (!probe.hasExited) probe.send({ type: 'close' })
      await Promise.all([echo.close(), pinger.close()])
    }
  }

  async measuredRttMs(from: number, to: number): Promise<number> {
    const measurement = await this.measureRtt(from, to)
    if (measurement.samplesMs.length === 0) {
      throw new HarnessError('ERR_TIMEOUT', `every RTT probe from host ${from} to host ${to} was lost`)
    }
    return measurement.medianMs
  }

  async directRtt(from: number, to: Place, options: ProbeOptions = {}): Promise<RttMeasurement> {
    const target = to === 'router' ? this.serviceAddress : this.hosts[to]?.address
    const source = this.hosts[from]?.address
    if (target === undefined || source === undefined) {
      throw new HarnessError('ERR_INVALID_ARGUMENT', `no such hosts: ${from} -> ${String(to)}`)
    }
    const echo = this.startProbe(to)
    const pinger = this.startProbe(from)
    try {
      const bound = await echo.call({ type: 'udp-bind', address: target }, 'bound', PROBE_TIMEOUT_MS)
      await pinger.call({ type: 'udp-bind', address: source }, 'bound', PROBE_TIMEOUT_MS)
      return await this.ping(pinger, { address: target, port: numberField(bound, 'port') }, options)
    } finally {
      await Promise.all([echo.close(), pinger.close()])
    }
  }

  async udpThroughput(from: number, to: Place, options: UdpThroughputOptions): Promise<UdpThroughput> {
    const target = to === 'router' ? this.serviceAddress : this.hosts[to]?.address
    const source = this.hosts[from]?.address
    if (target === undefined || source === undefined) {
      throw new HarnessError('ERR_INVALID_ARGUMENT', `no such hosts: ${from} -> ${String(to)}`)
    }
    const payloadBytes = options.payloadBytes ?? 1200
    const sink = this.startProbe(to)
    const sender = this.startProbe(from)
    try {
      const bound = await sink.call({ type: 'udp-bind', address: target }, 'bound', PROBE_TIMEOUT_MS)
      await sender.call({ type: 'udp-bind', address: source }, 'bound', PROBE_TIMEOUT_MS)
      const peer = { address: target, port: numberField(bound, 'port') }
      const blast = {
        type: 'blast',
        peer,
        durationMs: options.durationMs,
        offeredMbit: options.offeredMbit,
        payloadBytes,
      }
      const sent = await sender.call(blast, 'blasted', options.durationMs + PROBE_TIMEOUT_MS)
      // Let the shaper's queue drain (it holds at most TBF_QUEUE_MS of traffic) before counting.
      await delay(TBF_QUEUE_MS * 2 + this.delayMs + 100)
      const report = await sink.call({ type: 'sink-report' }, 'sink', PROBE_TIMEOUT_MS)
      const receivedPackets = numberField(report, 'packets')
      const receivedBytes = numberField(report, 'bytes')
      const spanMs = numberField(report, 'lastMs') - numberField(report, 'firstMs')
      return {
        sentBytes: numberField(sent, 'bytes'),
        receivedBytes,
        receivedPackets,
        spanMs,
        payloadMbit: spanMs > 0 ? ((receivedBytes - payloadBytes) * 8) / spanMs / 1000 : Number.NaN,
        payloadBytes,
      }
    } finally {
      await Promise.all([sink.close(), sender.close()])
    }
  }

  async shape(link: LinkShape, host?: number): Promise<void> {
    this.assertUsable()
    validateShape(link)
    const indices = host === undefined ? this.hosts.map((h) => h.index) : [host]
    for (const index of indices) {
      const current = this.links[index]
      if (current === undefined)
        throw new HarnessError('ERR_INVALID_ARGUMENT', `no host ${index} in ${this.id}`)
      this.links[index] = { ...current, ...link }
      await this.applyLink(index)
    }
  }

  async setDelay(delayMs: number): Promise<void> {
    this.assertUsable()
    validateDelay(delayMs)
    if (this.mode === 'loopback')
      throw new HarnessError('ERR_INVALID_ARGUMENT', 'loopback mode cannot add delay')
    this.delayMs = delayMs
    if (this.mode === 'netem') {
      for (const host of this.hosts) await this.applyLink(host.index)
      return
    }
    const relay = this.delayRelay
    if (relay === undefined) throw new HarnessError('ERR_PROCESS', 'the delay relay is not running')
    const ack = await relay.call({ legDelayMs: delayMs / 2 }, 'delay', START_TIMEOUT_MS)
    if (numberField(ack, 'legDelayMs') !== delayMs / 2)
      throw new HarnessError('ERR_PROCESS', 'the delay relay did not apply the delay')
  }

  async resources(): Promise<TopologyResources> {
    const existing = new Set(this.router === undefined ? [] : await listNamespaces())
    const namespaces = this.ownNamespaces().filter((ns) => existing.has(ns))
    const pids = new Set<number>()
    for (const ns of namespaces) for (const pid of await this.namespacePids(ns)) pids.add(pid)
    for (const child of this.children)
      if (child.pid !== undefined && child.exitCode === null) pids.add(child.pid)
    return { namespaces, pids: [...pids], tempDir: this.tempDir }
  }

  teardown(): Promise<void> {
    this.tearingDown ??= this.doTeardown()
    return this.tearingDown
  }

  /** The exit-path twin of teardown(): synchronous, SIGKILL at once, never throws. */
  teardownSync(): void {
    for (const child of this.children) if (child.pid !== undefined) tryKill(child.pid, 'SIGKILL')
    for (const ns of this.ownNamespaces()) {
      const listed = runSync('ip', ['netns', 'pids', ns])
      for (const pid of parsePids(listed.stdout)) tryKill(pid, 'SIGKILL')
      runSync('ip', ['netns', 'del', ns])
    }
    rmSync(this.tempDir, { recursive: true, force: true })
    liveTopologies.delete(this)
  }

  private async doTeardown(): Promise<void> {
    const errors: unknown[] = []
    const step = async (work: () => Promise<unknown>): Promise<void> => {
      try {
        await work()
      } catch (err) {
        errors.push(err)
      }
    }
    // Processes first (namespaces stay alive while a process is inside), then namespaces (their
    // veths go with them), then files.
    await step(() => this.killAll('SIGTERM'))
    await step(async () => {
      const deadline = Date.now() + TERM_GRACE_MS
      while (Date.now() < deadline && (await this.remainingPids()).length > 0) await delay(50)
    })
    await step(() => this.killAll('SIGKILL'))
    await step(async () => {
      if (this.router === undefined) return // loopback: no namespaces, maybe no `ip` at all
      const existing = new Set(await listNamespaces())
      for (const ns of this.ownNamespaces()) if (existing.has(ns)) await run('ip', ['netns', 'del', ns])
    })
    await step(() => rm(this.tempDir, { recursive: true, force: true }))
    liveTopologies.delete(this)
    if (errors.length > 0) throw new AggregateError(errors, `teardown of ${this.id} was incomplete`)
  }

  private async killAll(signal: NodeJS.Signals): Promise<void> {
    for (const pid of await this.remainingPids()) tryKill(pid, signal)
    if (signal === 'SIGKILL') {
      const deadline = Date.now() + TERM_GRACE_MS
      while (Date.now() < deadline && (await this.remainingPids()).length > 0) await delay(20)
    }
  }

  private async remainingPids(): Promise<number[]> {
    const pids = new Set<number>()
    for (const child of this.children)
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) pids.add(child.pid)
    const existing = this.router === undefined ? new Set<string>() : new Set(await listNamespaces())
    for (const ns of this.ownNamespaces()) {
      if (existing.has(ns)) for (const pid of await this.namespacePids(ns)) pids.add(pid)
    }
    return [...pids].filter(isAlive)
  }

  private async namespacePids(ns: string): Promise<number[]> {
    return parsePids(await run('ip', ['netns', 'pids', ns]))
  }

  private ownNamespaces(): string[] {
    const names = this.hosts.flatMap((host) => (host.ns === undefined ? [] : [host.ns]))
    return this.router === undefined ? names : [this.router.ns, ...names]
  }

  private assertUsable(): void {
    if (this.tearingDown !== undefined) throw new HarnessError('ERR_TORN_DOWN', `${this.id} is torn down`)
  }

  private async sysctl(ns: string, extra: readonly string[]): Promise<void> {
    // IPv6 off: link-local addresses would give WebRTC candidates that bypass the emulated paths.
    const settings = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', ...extra]
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...settings])
  }

  /**
   * The router never forwards between hosts in turn-relay mode, and the internal TURN address is
   * unreachable for hosts in both directions, so the only way from host to host is through the
   * delay relay. In netem mode it forwards between host subnets and nothing else.
   */
  private async routerFirewall(): Promise<void> {
    if (this.router === undefined) return
    const forward =
      this.mode === 'netem' ? [`-A FORWARD -s ${HOSTS_PREFIX} -d ${HOSTS_PREFIX} -j ACCEPT`] : []
    const rules = [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD DROP [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      `-A INPUT -s ${HOSTS_PREFIX} -d ${INTERNAL_PREFIX} -j DROP`,
      `-A OUTPUT -s ${INTERNAL_PREFIX} -d ${HOSTS_PREFIX} -j DROP`,
      ...forward,
      'COMMIT',
      '',
    ]
    await run('ip', ['netns', 'exec', this.router.ns, 'iptables-restore'], rules.join('\n'))
  }

  /** (Re)applies rate, loss and (netem mode) delay to one access link, both ends. */
  private async applyLink(index: number): Promise<void> {
    const link = this.links[index]
    if (this.router === undefined || link === undefined) return
    const hostNs = this.nsOf(index)
    const ends: Array<[string, string]> = [
      [hostNs, 'eth0'],
      [this.router.ns, `h${index}`],
    ]
    for (const [ns, dev] of ends) {
      const qdisc = this.qdiscArgs(link)
      if (qdisc === undefined)
        await run('tc', ['-n', ns, 'qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined)
      else await run('tc', ['-n', ns, 'qdisc', 'replace', 'dev', dev, 'root', ...qdisc])
    }
    const probability = (link.lossPercent ?? 0) / 100
    const rules = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]']
    if (probability > 0) {
      rules.push(
        `-A OUTPUT -o eth0 -m statistic --mode random --probability ${probability.toFixed(6)} -j DROP`,
      )
    }
    rules.push('COMMIT', '')
    await run('ip', ['netns', 'exec', hostNs, 'iptables-restore'], rules.join('\n'))
  }

  private qdiscArgs(link: LinkShape): string[] | undefined {
    const rate = link.rateMbit
    if (this.mode === 'netem') {
      if (this.delayMs === 0 && rate === undefined) return undefined
      const rateArgs = rate === undefined ? [] : ['rate', `${rate}mbit`]
      // Each end adds half: one way = sender's uplink + receiver's downlink = delayMs.
      return ['netem', 'delay', `${(this.delayMs / 2).toFixed(3)}ms`, ...rateArgs, 'limit', '100000']
    }
    if (rate === undefined) return undefined
    const bytesPerSecond = (rate * 1e6) / 8
    const burstBytes = Math.max(TBF_MIN_BURST_BYTES, Math.ceil((bytesPerSecond * TBF_BURST_MS) / 1000))
    return ['tbf', 'rate', `${rate}mbit`, 'burst', String(burstBytes), 'latency', `${TBF_QUEUE_MS}ms`]
  }

  private shapeNotes(): string[] {
    const notes: string[] = []
    if (this.mode === 'turn-relay') {
      notes.push(
        `delay: the relay holds each of the 2 crossings per one-way trip ${this.delayMs / 2} ms -> one way ${this.delayMs} ms, RTT ${2 * this.delayMs} ms`,
      )
    } else if (this.delayMs > 0) {
      notes.push(
        `delay: netem adds ${this.delayMs / 2} ms at each end of every access link -> RTT ${2 * this.delayMs} ms`,
      )
    }
    this.links.forEach((link, index) => {
      const parts = [
        link.rateMbit === undefined
          ? 'rate unlimited'
          : `rate ${link.rateMbit} Mbit/s per direction (${this.mode === 'netem' ? 'netem' : 'tbf'})`,
        `loss ${link.lossPercent ?? 0}% of sent datagrams (iptables statistic)`,
      ]
      notes.push(`host ${index}: ${parts.join(', ')}`)
    })
    return notes
  }

  private async startTurn(): Promise<void> {
    const credential = randomBytes(12).toString('hex')
    const coturn = this.spawn('router', 'turnserver', [
      '-n', // no config file: only these flags count
      '--no-tls',
      '--no-dtls',
      '--no-tcp',
      '--no-tcp-relay',
      '--listening-ip',
      INTERNAL_ADDRESS,
      '--relay-ip',
      INTERNAL_ADDRESS,
      '--listening-port',
      String(TURN_PORT),
      '--min-port',
      '49152',
      '--max-port',
      '65535',
      '--lt-cred-mech',
      '--user',
      `${TURN_USER}:${credential}`,
      '--realm',
      TURN_REALM,
      '--no-cli',
      '--no-rfc5780',
      '--no-software-attribute',
      '--no-multicast-peers',
      // Refuse to relay to the hosts' own subnets. Without this, ICE's relay->host pairs make
      // coturn send towards 10.77.x.y, the router's OUTPUT rule rejects that with EPERM, and
      // (observed with 4.6.1) the allocation then relays nothing more, relay->relay included, so
      // peers with iceTransportPolicy 'all' never connected.
      '--denied-peer-ip',
      '10.77.0.0-10.77.255.255',
      '--denied-peer-ip',
      RELAY_CLIENT_ADDRESS,
      '--pidfile',
      path.join(this.tempDir, 'turnserver.pid'),
      '--log-file',
      path.join(this.tempDir, 'turnserver.log'),
      '--simple-log',
      '--no-stdout-log',
      // Without this coturn opens (and may create) the system-wide /var/lib/turn/turndb.
      '--userdb',
      path.join(this.tempDir, 'turndb'),
      // Sessions, permissions and channel binds in turnserver.log, for debugging a failed test.
      ...(process.env['LONGHAUL_HARNESS_DEBUG'] === '1'
        ? [process.env['LONGHAUL_HARNESS_DEBUG_V'] === '1' ? '--Verbose' : '--verbose']
        : []),
    ])
    const relay = this.spawn('router', process.execPath, [
      DELAY_RELAY_SCRIPT,
      '--listen',
      `${SERVICE_ADDRESS}:${TURN_PORT}`,
      '--upstream',
      `${INTERNAL_ADDRESS}:${TURN_PORT}`,
      '--bind',
      RELAY_CLIENT_ADDRESS,
      '--leg-delay-ms',
      String(this.delayMs / 2),
    ])
    this.delayRelay = relay
    try {
      await relay.next('ready', START_TIMEOUT_MS)
    } catch (err) {
      const exited = coturn.hasExited ? `; turnserver exited: ${coturn.stderrTail()}` : ''
      throw new HarnessError('ERR_PROCESS', `TURN path did not start${exited}`, { cause: err })
    }
    this.turn = {
      urls: [`turn:${SERVICE_ADDRESS}:${TURN_PORT}?transport=udp`],
      username: TURN_USER,
      credential,
    }
    this.notes.push(
      `turn: coturn on ${INTERNAL_ADDRESS}:${TURN_PORT} behind the delay relay on ${SERVICE_ADDRESS}:${TURN_PORT}`,
    )
  }

  private startProbe(place: Place): ManagedProcess {
    return this.spawn(place, process.execPath, [UDP_PROBE_SCRIPT])
  }

  private async ping(
    pinger: ManagedProcess,
    peer: { address: string; port: number },
    options: ProbeOptions,
  ): Promise<RttMeasurement> {
    const count = options.count ?? 10
    const gapMs = options.gapMs ?? 10
    const timeoutMs = options.timeoutMs ?? 1_000
    const budgetMs =
      count * (gapMs + (options.pipelined === true ? 0 : timeoutMs)) + timeoutMs + PROBE_TIMEOUT_MS
    const result = await pinger.call(
      { type: 'ping', peer, count, gapMs, timeoutMs, pipelined: options.pipelined === true },
      'ping',
      budgetMs,
    )
    const samplesMs = numberArrayField(result, 'samplesMs')
    const errors = result['errors']
    return {
      samplesMs,
      sent: count,
      lost: numberField(result, 'lost'),
      medianMs: median(samplesMs),
      errors: Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string') : [],
    }
  }
}

function parsePids(out: string): number[] {
  return out
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0)
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

/**
 * Removes namespaces (and the processes inside) and temp dirs that a harness run killed with
 * SIGKILL left behind: only names of our own pattern whose owning pid no longer exists.
 * createTopology() calls it once per process. Returns the namespaces it removed. Never throws.
 */
export function sweepStaleResources(): string[] {
  const removed: string[] = []
  const listed = runSync('ip', ['netns', 'list'])
  for (const line of listed.stdout.split('\n')) {
    const ns = line.split(' ')[0] ?? ''
    const owner = NAME_PATTERN.exec(ns)?.[1]
    if (owner === undefined || isAlive(Number(owner))) continue
    for (const pid of parsePids(runSync('ip', ['netns', 'pids', ns]).stdout)) tryKill(pid, 'SIGKILL')
    if (runSync('ip', ['netns', 'del', ns]).ok) removed.push(ns)
  }
  const tmp = tmpdir()
  for (const entry of existsSync(tmp) ? readdirSync(tmp) : []) {
    const owner = NAME_PATTERN.exec(entry)?.[1]
    if (owner !== undefined && !isAlive(Number(owner)))
      rmSync(path.join(tmp, entry), { recursive: true, force: true })
  }
  return removed
}

let exitHandlersInstalled = false

/** Tears down live topologies when the process exits or is told to stop by a signal. */
function installExitHandlers(): void {
  if (exitHandlersInstalled) return
  exitHandlersInstalled = true
  process.on('exit', () => {
    for (const topology of [...liveTopologies]) topology.teardownSync()
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      for (const topology of [...liveTopologies]) topology.teardownSync()
      process.removeListener(signal, onSignal)
      // Keep the signal's usual effect unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    }
    process.on(signal, onSignal)
  }
}
