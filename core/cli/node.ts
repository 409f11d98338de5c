/**
 * `longhaul node`: one training node in a room of peers over WebRTC (core/node's
 * TrainingNode). It loads this machine's data, builds the model, joins the room through the
 * signaling server (or starts an embedded one when `--signal` is absent) and trains with
 * whoever is there. Human-readable progress goes to stderr; `--events-jsonl` writes the whole
 * event stream; with `--json` the last stdout line is the summary.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import { parseAlgorithmSpec, resolveAlgorithmConfig } from '../algorithms/config.ts'
import type { AlgorithmConfig } from '../algorithms/config.ts'
import { CoreError } from '../errors.ts'
import { parseFaultPlan, type FaultPlan } from '../node/fault-injection.ts'
import type { NodeEvent, NodeSummary, PeerMetrics } from '../node/node-events.ts'
import {
  createNodeSession,
  DEFAULT_NODE_TIMEOUTS,
  explainNodeFailure,
  type NodeTimeouts,
} from '../node/node-session.node.ts'
import { NODE_DEFAULTS } from '../node/training-node.ts'
import { parseWebRtcStackName } from '../platform/webrtc-stack.node.ts'
import { ROOM_NAME_PATTERN } from '../protocol/signaling.ts'
import { MIN_SECRET_CHARS, generateRoomSecret } from '../signaling/room-auth.ts'
import { SWARM_DEFAULTS } from '../swarm/swarm.ts'
import { MODEL_ZOO } from '../tensor/models.ts'
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../transport/chunked-transport.ts'
import { DEFAULT_LEARNING_RATES } from '../training/trainer.ts'
import { backendHelpLines } from '../training/trainer-setup.node.ts'
import {
  ALGORITHM_OPTION_FLAGS,
  algorithmFlagFields,
  booleanFlag,
  numberFlag,
  parseCommandArgs,
  stringFlag,
  type OptionSpec,
  type ParsedArgs,
} from './args.ts'
import type { CliIo } from './io.ts'
import { LONGHAUL_VERSION } from './main.ts'
import { roundTo } from './model-setup.ts'
import { formatDuration, progressBar } from './progress.ts'
import { parseTrainingFlags, TRAINING_FLAG_OPTIONS } from './training-flags.ts'

/** A signaling server the CLI can start in-process (injected by bin/longhaul.mjs). */
export interface EmbeddedSignalingServer {
  readonly url: string
  close(): Promise<void>
}

/** Platform pieces core/ may not import itself; the composition root passes them in. */
export interface CliPlatform {
  readonly startSignalingServer?: (options: {
    readonly config: { readonly host: string; readonly port: number; readonly logLevel: 'warn' }
  }) => Promise<EmbeddedSignalingServer>
}

/** Environment variable read when --secret is absent. */
export const SECRET_ENV_VAR = 'LONGHAUL_SECRET'

/** Worker slots of a room when --max-peers is absent. */
export const DEFAULT_MAX_PEERS = 8

/** Settings filled in when `--algo` names an algorithm without the options it needs. */
export const NODE_ALGORITHM_DEFAULTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  local: { H: '8' },
  olco3: { H: '4', staleness: '1', compressor: 'topk:0.1' },
  slowmo: { base: 'local', H: '8', alpha: '1', beta: '0.5', tau: '8' },
  diloco: { tau: '8' },
}

const OPTIONS: OptionSpec = {
  room: { type: 'string' },
  secret: { type: 'string' },
  signal: { type: 'string' },
  'signal-host': { type: 'string' },
  'signal-port': { type: 'string' },
  'peer-id': { type: 'string' },
  data: { type: 'string' },
  ...TRAINING_FLAG_OPTIONS,
  algo: { type: 'string' },
  ...ALGORITHM_OPTION_FLAGS,
  backend: { type: 'string' },
  partition: { type: 'string' },
  'max-peers': { type: 'string' },
  ice: { type: 'string' },
  webrtc: { type: 'string' },
  'turn-user': { type: 'string' },
  'turn-pass': { type: 'string' },
  'round-timeout-ms': { type: 'string' },
  'peer-timeout-ms': { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'connect-timeout-ms': { type: 'string' },
  'connect-attempts': { type: 'string' },
  'join-timeout-ms': { type: 'string' },
  'wait-peers': { type: 'string' },
  'wait-peers-timeout-ms': { type: 'string' },
  'events-jsonl': { type: 'string' },
  json: { type: 'boolean' },
  ui: { type: 'boolean' },
  'ui-port': { type: 'string' },
  home: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  // Hidden, TEST ONLY (core/node/fault-injection.ts): corrupts one outgoing message.
  'inject-fault': { type: 'string' },
}

export const NODE_HELP = `Usage: longhaul node --room <name> --secret <secret> --signal <ws-url> --data <dir|file|name> [options]
       longhaul node --ui [--ui-port <n>] [--data <spec>] [--signal <ws-url> --room <name> --secret <secret>]

Join a training room and train one model together with its other nodes over WebRTC.
Without --signal, starts an embedded signaling server on this machine and prints the
command other nodes use to join. Progress goes to stderr; with --json the last stdout line
is {"testAccuracy", "rounds", "averagedRounds", "bytesSent", "bytesReceived", "peersSeen",
"seconds", ...}. A refused admission (wrong secret, different model, algorithm or data
schema) exits with status 1 and one line saying why.

Room:
  --room <name>            room name (letters, digits, . _ ~ -); default "local" with an
                           embedded server
  --secret <secret>        room secret, at least ${MIN_SECRET_CHARS} characters (env ${SECRET_ENV_VAR});
                           generated and printed with an embedded server
  --signal <ws-url>        signaling server, e.g. ws://host:8787 (omit: embedded server)
  --signal-host <addr>     embedded server address (default 127.0.0.1; 0.0.0.0 for a LAN)
  --signal-port <n>        embedded server port (default 0: any free port)
  --peer-id <id>           this node's id in the room (default: random)
  --max-peers <n>          worker slots of the room; must match on every node (default 8)
  --wait-peers <n>         as the room's first node, wait for n peers before training
                           (at most --wait-peers-timeout-ms, default 60000)
  --ice <urls>             comma-separated STUN/TURN urls (default none: host candidates,
                           enough on one machine or a LAN)
  --turn-user <name>       TURN username for turn: urls
  --turn-pass <password>   TURN password for turn: urls
  --webrtc <wrtc|chromium> what carries the peer connections: wrtc (default: @roamhq/wrtc in
                           this process) or chromium (a headless Chromium page's own WebRTC,
                           for platforms where @roamhq/wrtc will not load; needs Chromium and
                           the dev install, like --backend webgl)

Training (model, algorithm and data schema must match on every node):
  --data <spec>            built-in name (shapes, fashion-mnist), a folder of IDX files,
                           a folder of images per class, or a .csv file
  --model <name|path>      ${Object.keys(MODEL_ZOO).join(', ')}, or a tfjs model.json (default: mlp)
  --algo <spec>            sync, local, olco3, sgp, slowmo, diloco, with options, e.g.
                           olco3:H=8,staleness=2,compressor=topk:0.01 (default: olco3, which
                           means olco3:H=4,staleness=1,compressor=topk:0.1)
  --H <n>, --staleness <s>, --compress <spec>, --peers <1|2>, --overlap <steps>,
  --tau <n>, --alpha <a>, --beta <b>, --warmup <steps>
                           set one option of --algo
  --epochs <n>             local epochs over this node's data, then leave (default: 3)
  --batch <n>              batch size (default: 64)
  --optimizer <name>       adam, momentum or sgd (default: adam)
  --lr <rate>              learning rate (default: adam ${DEFAULT_LEARNING_RATES.adam}, momentum ${DEFAULT_LEARNING_RATES.momentum}, sgd ${DEFAULT_LEARNING_RATES.sgd})
${backendHelpLines()}
  --seed <n>               seed of generated data and shuffling (default: 1)
  --partition <i/n>        train on shard i of n of the training split (IID, seeded by
                           --seed), to run several nodes on one dataset
  --max-train-samples <n>  use only the first n samples of this node's data (quick runs)

Timeouts (increase them on slow or far links):
  --round-timeout-ms <ms>  wait per round before going on without the missing peers (default ${NODE_DEFAULTS.roundTimeoutMs})
  --peer-timeout-ms <ms>   remove a peer silent this long (default ${SWARM_DEFAULTS.peerTimeoutMs})
  --heartbeat-ms <ms>      heartbeat period (default ${SWARM_DEFAULTS.heartbeatMs})
  --connect-timeout-ms <ms> WebRTC connection timeout per attempt (default ${DEFAULT_CONNECT_TIMEOUT_MS})
  --connect-attempts <n>   connection attempts per peer before it is left out (default ${SWARM_DEFAULTS.connectAttempts})
  --join-timeout-ms <ms>   time to receive the current model from a member (default ${NODE_DEFAULTS.joinTimeoutMs})

With a UI (--ui):
  --ui                     run the engine with its API and the web UI on 127.0.0.1 instead of
                           training from flags; prints "UI: http://127.0.0.1:PORT/#token=..."
                           (open it in a browser) and runs until Ctrl-C, which stops training
                           (with a checkpoint) and leaves the room. --data adds that dataset,
                           --signal/--room/--secret join that room, --backend, --webrtc and
                           the timeout flags apply; everything else is chosen in the UI. Needs
                           the UI build (renderer/dist: npm run build:ui); the API works without it
  --ui-port <n>            port of the API and UI (default 0: any free port)
  --home <dir>             the engine's data folder: datasets, settings, checkpoints, exports
                           (default $LONGHAUL_HOME, else ~/.longhaul)

Output:
  --events-jsonl <file>    write every event as one JSON line ("-": stdout)
  --json                   print the summary as JSON on the last stdout line
  -h, --help               show this help
`

/** Parses `i/n` (0 <= i < n). */
export function parsePartition(spec: string): { index: number; count: number } {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(spec)
  const index = Number(m?.[1])
  const count = Number(m?.[2])
  if (m === null || !(count >= 1) || !(index >= 0 && index < count)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `--partition must be i/n with 0 <= i < n, got "${spec}"`)
  }
  return { index, count }
}

/**
 * The algorithm from `--algo` and the per-option flags: the spec's own options, then the
 * flags (which win), then NODE_ALGORITHM_DEFAULTS for what is still missing.
 */
export function nodeAlgorithmFromFlags(
  values: Record<string, string | boolean | undefined>,
): AlgorithmConfig {
  const spec = stringFlag(values, 'algo') ?? 'olco3'
  const colon = spec.indexOf(':')
  const name = (colon < 0 ? spec : spec.slice(0, colon)).trim()
  const fields = new Map<string, string>()
  for (const part of (colon < 0 ? '' : spec.slice(colon + 1)).split(',')) {
    if (part.trim() === '') continue
    const eq = part.indexOf('=')
    if (eq <= 0) throw new CoreError('ERR_BAD_SPEC', `algorithm spec ${spec}: "${part}" is not key=value`)
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  for (const [key, value] of algorithmFlagFields(values)) fields.set(key, value)
  for (const [key, v] of Object.entries(NODE_ALGORITHM_DEFAULTS[name] ?? {})) {
    if (!fields.has(key)) fields.set(key, v)
  }
  const rest = [...fields].map(([k, v]) => `${k}=${v}`).join(',')
  return resolveAlgorithmConfig(parseAlgorithmSpec(rest.length > 0 ? `${name}:${rest}` : name))
}

/** RTCIceServer entries from `--ice`, with TURN credentials on turn(s): urls. */
export function parseIceServers(
  ice: string | undefined,
  user: string | undefined,
  pass: string | undefined,
): RTCIceServer[] {
  if (ice === undefined || ice.trim() === '') return []
  return ice
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0)
    .map((urls) => {
      if (!/^(stun|stuns|turn|turns):/.test(urls)) {
        throw new CoreError(
          'ERR_INVALID_ARGUMENT',
          `--ice: "${urls}" is not a stun:, stuns:, turn: or turns: url`,
        )
      }
      if (!urls.startsWith('turn')) return { urls }
      if (user === undefined || pass === undefined) {
        throw new CoreError('ERR_INVALID_ARGUMENT', `--ice: ${urls} needs --turn-user and --turn-pass`)
      }
      return { urls, username: user, credential: pass }
    })
}

function kb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.round(bytes / 1024)} KB`
}

function short(peer: string): string {
  return peer.length > 10 ? peer.slice(0, 8) : peer
}

function peerLine(peers: readonly PeerMetrics[]): string {
  const live = peers.filter((p) => p.state === 'admitted')
  if (live.length === 0) return 'peers: none'
  return `peers: ${live
    .map(
      (p) =>
        `${short(p.peer)} slot ${p.slot ?? '-'} ${p.connectionType ?? '?'} rtt ${p.rttMs === undefined ? '?' : `${Math.round(p.rttMs)} ms`} stale ${p.stalenessRounds ?? '?'} in ${kb(p.bytesReceived)} out ${kb(p.bytesSent)}`,
    )
    .join('; ')}`
}

/** The readable subset of the event stream for stderr. */
export function createEventPrinter(
  io: CliIo,
  epochs: number,
  roundTimeoutMs: number,
): (event: NodeEvent) => void {
  let lastPeers: readonly PeerMetrics[] = []
  return (e) => {
    switch (e.type) {
      case 'joined':
        io.err(
          e.role === 'founder'
            ? `room ${e.room}: joined as ${e.peerId}, the first member: training starts now`
            : `room ${e.room}: joined as ${e.peerId} with ${e.members} member(s); fetching the current model`,
        )
        return
      case 'peer-admitted':
        io.err(`peer ${e.peer}: connected and admitted`)
        return
      case 'peer-member':
        if (e.slot !== null) io.err(`peer ${e.peer}: trains in slot ${e.slot} from step ${e.startStep}`)
        return
      case 'peer-refused':
        io.err(
          e.by === 'self' ? `refused peer ${e.peer}: ${e.reason}` : `peer ${e.peer} refused us: ${e.reason}`,
        )
        return
      case 'peer-left':
        io.err(`peer ${e.peer} left (${e.reason}): ${e.message}`)
        return
      case 'peer-failed':
        io.err(`peer ${e.peer}: no connection after ${e.attempts} attempt(s), left out: ${e.reason}`)
        return
      case 'protocol-error':
        io.err(`invalid frame from ${e.peer}: ${e.message}`)
        return
      case 'message-rejected':
        io.err(`rejected ${e.kind} of round ${e.round} from ${e.peer}: ${e.message}`)
        return
      case 'training-started':
        io.err(`training in slot ${e.slot} of ${e.workerSlots} from step ${e.step}`)
        return
      case 'catch-up':
        io.err(
          `caught up from ${e.from}: step ${e.step}, ${kb(e.bytes)} in ${e.ms} ms; test accuracy of the received model ${(e.testAccuracy * 100).toFixed(2)}%`,
        )
        return
      case 'snapshot-served':
        io.err(`sent the current model to ${e.peer} (slot ${e.slot}, step ${e.step}, ${kb(e.bytes)})`)
        return
      case 'slot-conflict':
        io.err(`slot ${e.slot} is also held by ${e.peer}; joining again`)
        return
      case 'round':
        // A local-only round that did not wait out its deadline had nothing to wait for: every
        // present peer abstained (it joined after that round). Only real timeouts are news.
        if (
          e.outcome.kind === 'local-only' &&
          e.outcome.reason !== 'ERR_NO_PEERS' &&
          e.waitedMs >= roundTimeoutMs
        ) {
          io.err(
            `round ${e.outcome.round}: no peer's contribution within ${e.waitedMs} ms (${e.outcome.reason}); went on with the local model`,
          )
        }
        return
      case 'step': {
        const fraction = e.batchesPerEpoch > 0 ? e.batch / e.batchesPerEpoch : 0
        io.status(
          `epoch ${e.epoch + 1}/${epochs} ${progressBar(fraction)} step ${e.step} round ${e.round}  loss ${e.loss.toFixed(4)}  ${Math.round(e.examplesPerSec)} ex/s  peers ${e.present.length}`,
        )
        return
      }
      case 'peers':
        lastPeers = e.peers
        return
      case 'epoch':
        io.err(
          `epoch ${e.epoch}/${e.epochs} (step ${e.step}): train loss ${e.trainLoss.toFixed(4)}, test loss ${e.testLoss.toFixed(4)}, test accuracy ${(e.testAccuracy * 100).toFixed(2)}%, ${formatDuration(e.seconds)}`,
        )
        io.err(`  ${peerLine(lastPeers)}`)
        return
      case 'log':
        if (e.level !== 'debug') io.err(e.message)
        return
      case 'peer-connected':
      case 'finished':
        return
    }
  }
}

function eventSink(
  target: string | undefined,
  io: CliIo,
): { write: (e: NodeEvent) => void; close: () => Promise<void> } {
  if (target === undefined) return { write: () => {}, close: () => Promise.resolve() }
  if (target === '-') return { write: (e) => io.out(JSON.stringify(e)), close: () => Promise.resolve() }
  const stream: WriteStream = createWriteStream(target, { flags: 'w' })
  return {
    write: (e) => void stream.write(`${JSON.stringify(e)}\n`),
    close: () => new Promise((resolve) => stream.end(() => resolve())),
  }
}

export async function runNodeCommand(args: string[], io: CliIo, platform: CliPlatform = {}): Promise<number> {
  const { values } = parseCommandArgs('node', args, OPTIONS)
  if (booleanFlag(values, 'help')) {
    io.out(NODE_HELP)
    return 0
  }
  if (booleanFlag(values, 'ui')) {
    return (await import('./node-ui.ts')).runNodeUi(values, io, platform)
  }
  const dataSpec = stringFlag(values, 'data')
  if (dataSpec === undefined) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      '--data is required (try --data shapes). Run "longhaul node --help".',
    )
  }
  const signalUrl = stringFlag(values, 'signal')
  const isEmbedded = signalUrl === undefined
  const room = stringFlag(values, 'room') ?? (isEmbedded ? 'local' : undefined)
  if (room === undefined) throw new CoreError('ERR_INVALID_ARGUMENT', '--room is required with --signal')
  if (!ROOM_NAME_PATTERN.test(room)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `--room "${room}": use 1-128 of A-Z a-z 0-9 . _ ~ -`)
  }
  let secret = stringFlag(values, 'secret') ?? process.env[SECRET_ENV_VAR]
  if (secret === undefined) {
    if (!isEmbedded) {
      throw new CoreError('ERR_INVALID_ARGUMENT', `--secret (or ${SECRET_ENV_VAR}) is required with --signal`)
    }
    secret = generateRoomSecret()
  }
  if (secret.length < MIN_SECRET_CHARS) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `the room secret must have at least ${MIN_SECRET_CHARS} characters`,
    )
  }
  const training = parseTrainingFlags(values, { epochs: 3 })
  const maxPeers = maxPeersFromFlags(values)
  const partitionSpec = stringFlag(values, 'partition')
  const partition = partitionSpec === undefined ? undefined : parsePartition(partitionSpec)
  const algorithm = nodeAlgorithmFromFlags(values)
  const iceServers = parseIceServers(
    stringFlag(values, 'ice'),
    stringFlag(values, 'turn-user'),
    stringFlag(values, 'turn-pass'),
  )
  const fault: FaultPlan | undefined =
    stringFlag(values, 'inject-fault') === undefined
      ? undefined
      : parseFaultPlan(stringFlag(values, 'inject-fault') ?? '')
  const timeouts = nodeTimeoutsFromFlags(values)
  const waitForPeers = {
    count: numberFlag(values, 'wait-peers', 0, { integer: true, min: 0, max: 1024 }),
    timeoutMs: numberFlag(values, 'wait-peers-timeout-ms', 60_000, { min: 1 }),
  }
  const isJson = booleanFlag(values, 'json')
  const webrtcFlag = stringFlag(values, 'webrtc')
  const webrtcStack = webrtcFlag === undefined ? 'wrtc' : parseWebRtcStackName(webrtcFlag)
  const started = performance.now()

  const cleanups: Array<() => Promise<void> | void> = []
  const sink = eventSink(stringFlag(values, 'events-jsonl'), io)
  cleanups.push(() => sink.close())
  const controller = new AbortController()
  const onSignal = (): void => {
    io.err('\nleaving the room after this step (press Ctrl-C again to quit at once)...')
    controller.abort()
    process.once('SIGINT', () => process.exit(130))
  }
  try {
    const printer = createEventPrinter(io, training.epochs, timeouts.roundTimeoutMs)
    const startEmbedded = async (): Promise<string> => {
      const start = platform.startSignalingServer
      if (start === undefined) {
        throw new CoreError(
          'ERR_INVALID_ARGUMENT',
          'no embedded signaling server in this build: pass --signal <ws-url>',
        )
      }
      const host = stringFlag(values, 'signal-host') ?? '127.0.0.1'
      const port = numberFlag(values, 'signal-port', 0, { integer: true, min: 0, max: 65535 })
      const server = await start({ config: { host, port, logLevel: 'warn' } })
      cleanups.push(() => server.close())
      io.err(`signaling: embedded server at ${server.url}; other nodes join with:`)
      io.err(
        `  longhaul node --signal ${server.url} --room ${room} --secret ${secret} --data ${dataSpec} --model ${training.modelSpec} --algo ${stringFlag(values, 'algo') ?? 'olco3'}`,
      )
      return server.url
    }
    const peerId = stringFlag(values, 'peer-id')
    const backend = stringFlag(values, 'backend')
    const session = await createNodeSession({
      webrtc: webrtcStack,
      data: { spec: dataSpec },
      training,
      ...(partition !== undefined && { partition }),
      algorithm,
      ...(backend !== undefined && { backend }),
      maxPeers,
      room: { signalUrl: signalUrl ?? startEmbedded, room, secret, ...(peerId !== undefined && { peerId }) },
      iceServers,
      timeouts,
      waitForPeers,
      signal: controller.signal,
      onEvent: (e) => {
        sink.write(e)
        printer(e)
      },
      log: (line) => io.err(line),
      onDataProgress: (line) => io.status(line),
      softwareVersion: `longhaul/${LONGHAUL_VERSION}`,
      ...(fault !== undefined && { fault }),
    })
    cleanups.unshift(() => session.close())
    process.once('SIGINT', onSignal)
    let summary: NodeSummary
    try {
      summary = await session.node.run()
    } catch (error) {
      throw explainNodeFailure(error, session.signalUrl)
    } finally {
      process.removeListener('SIGINT', onSignal)
    }
    const result = {
      testAccuracy: roundTo(summary.testAccuracy, 4),
      rounds: summary.rounds,
      averagedRounds: summary.averagedRounds,
      localOnlyRounds: summary.localOnlyRounds,
      bytesSent: summary.bytesSent,
      bytesReceived: summary.bytesReceived,
      peersSeen: summary.peersSeen,
      seconds: roundTo((performance.now() - started) / 1000, 2),
      steps: summary.steps,
      finalStep: summary.finalStep,
      role: summary.role,
      slot: summary.slot,
      rejectedMessages: summary.rejectedMessages,
      protocolErrors: summary.protocolErrors,
      backend: session.backend.name,
      ...(summary.catchUpAccuracy !== undefined && { catchUpAccuracy: roundTo(summary.catchUpAccuracy, 4) }),
    }
    if (isJson) io.out(JSON.stringify(result))
    else
      io.out(
        `test accuracy ${(result.testAccuracy * 100).toFixed(2)}% after ${training.epochs} epochs with ${summary.peersSeen} peer(s): ${summary.averagedRounds} averaged / ${summary.localOnlyRounds} local rounds, ${kb(summary.bytesSent)} sent, ${kb(summary.bytesReceived)} received, ${formatDuration(result.seconds)}`,
      )
    return summary.isStopped ? 130 : 0
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch {
        // Best effort on the way out.
      }
    }
  }
}

/** `--max-peers`: worker slots of the room. */
export function maxPeersFromFlags(values: ParsedArgs['values']): number {
  return numberFlag(values, 'max-peers', DEFAULT_MAX_PEERS, { integer: true, min: 1, max: 1024 })
}

/** The timeout flags, each with its default. */
export function nodeTimeoutsFromFlags(values: ParsedArgs['values']): NodeTimeouts {
  return {
    roundTimeoutMs: numberFlag(values, 'round-timeout-ms', DEFAULT_NODE_TIMEOUTS.roundTimeoutMs, { min: 1 }),
    joinTimeoutMs: numberFlag(values, 'join-timeout-ms', DEFAULT_NODE_TIMEOUTS.joinTimeoutMs, { min: 1 }),
    peerTimeoutMs: numberFlag(values, 'peer-timeout-ms', DEFAULT_NODE_TIMEOUTS.peerTimeoutMs, { min: 1 }),
    heartbeatMs: numberFlag(values, 'heartbeat-ms', DEFAULT_NODE_TIMEOUTS.heartbeatMs, { min: 1 }),
    connectTimeoutMs: numberFlag(values, 'connect-timeout-ms', DEFAULT_NODE_TIMEOUTS.connectTimeoutMs, {
      min: 1,
    }),
    connectAttempts: numberFlag(values, 'connect-attempts', DEFAULT_NODE_TIMEOUTS.connectAttempts, {
      integer: true,
      min: 1,
      max: 100,
    }),
  }
}
