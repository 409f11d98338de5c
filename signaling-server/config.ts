/**
 * Signaling server configuration: one table of options, each settable by a flag
 * (`--max-rooms 100` or `--max-rooms=100`) or by an environment variable
 * (`LONGHAUL_SIGNAL_MAX_ROOMS=100`); a flag wins over the environment, which wins over the
 * default. The help text and README are written from the same table.
 */
import { CoreError, MAX_PEERS_IN_LIST } from '../core/protocol/signaling.ts'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent']

export interface SignalServerConfig {
  /** TCP port; 0 picks a free one. */
  readonly port: number
  readonly host: string
  /** Largest accepted message; larger ones get ERR_FRAME_TOO_LARGE and close 4413. */
  readonly maxMessageBytes: number
  /** Sustained messages per second per connection (token bucket refill rate). */
  readonly rateLimit: number
  /** Messages a connection may send in a burst (token bucket size). */
  readonly rateBurst: number
  readonly maxPeersPerRoom: number
  readonly maxRooms: number
  readonly maxConnections: number
  /** A connection that sends nothing for this long is closed (4408). */
  readonly idleTimeoutMs: number
  /** On shutdown, how long clients get to close before they are cut. */
  readonly shutdownGraceMs: number
  /** PEM certificate and key paths; both set means the server speaks https/wss itself. */
  readonly tlsCert: string | undefined
  readonly tlsKey: string | undefined
  readonly logLevel: LogLevel
}

export const DEFAULT_SIGNAL_CONFIG: SignalServerConfig = {
  port: 8787,
  host: '127.0.0.1',
  maxMessageBytes: 65_536,
  rateLimit: 50,
  rateBurst: 100,
  maxPeersPerRoom: 64,
  maxRooms: 10_000,
  maxConnections: 20_000,
  idleTimeoutMs: 60_000,
  shutdownGraceMs: 5_000,
  tlsCert: undefined,
  tlsKey: undefined,
  logLevel: 'info',
}

type Key = keyof SignalServerConfig

interface IntOption {
  readonly key: Key
  readonly kind: 'int'
  readonly min: number
  readonly max: number
  readonly help: string
}
interface StringOption {
  readonly key: Key
  readonly kind: 'string' | 'path' | 'level'
  readonly help: string
}
type OptionSpec = IntOption | StringOption

/** Every option, in help order. The flag is the key in kebab-case. */
export const SIGNAL_OPTIONS: readonly OptionSpec[] = [
  { key: 'port', kind: 'int', min: 0, max: 65_535, help: 'TCP port to listen on (0: any free port)' },
  {
    key: 'host',
    kind: 'string',
    help: 'address to bind; 0.0.0.0 for all interfaces (behind a proxy or in a container)',
  },
  {
    key: 'maxMessageBytes',
    kind: 'int',
    min: 256,
    max: 16 * 1024 * 1024,
    help: 'largest message accepted, in bytes',
  },
  {
    key: 'rateLimit',
    kind: 'int',
    min: 1,
    max: 100_000,
    help: 'messages per second per connection, sustained',
  },
  { key: 'rateBurst', kind: 'int', min: 1, max: 1_000_000, help: 'messages per connection in a burst' },
  { key: 'maxPeersPerRoom', kind: 'int', min: 2, max: MAX_PEERS_IN_LIST, help: 'peers per room' },
  { key: 'maxRooms', kind: 'int', min: 1, max: 10_000_000, help: 'rooms per server' },
  {
    key: 'maxConnections',
    kind: 'int',
    min: 1,
    max: 10_000_000,
    help: 'open WebSocket connections per server',
  },
  {
    key: 'idleTimeoutMs',
    kind: 'int',
    min: 10,
    max: 86_400_000,
    help: 'close a connection silent this long, in ms',
  },
  {
    key: 'shutdownGraceMs',
    kind: 'int',
    min: 0,
    max: 600_000,
    help: 'on SIGTERM/SIGINT, wait this long for clients, in ms',
  },
  { key: 'tlsCert', kind: 'path', help: 'PEM certificate file; with --tls-key, serve https/wss directly' },
  { key: 'tlsKey', kind: 'path', help: 'PEM private key file for --tls-cert' },
  { key: 'logLevel', kind: 'level', help: `one of ${LOG_LEVELS.join(', ')}` },
]

/** `maxMessageBytes` → `--max-message-bytes`. */
export function flagName(key: Key): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}

/** `maxMessageBytes` → `LONGHAUL_SIGNAL_MAX_MESSAGE_BYTES`. */
export function envName(key: Key): string {
  return `LONGHAUL_SIGNAL_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value)
}

function convert(spec: OptionSpec, text: string, source: string): number | string {
  const where = source
  if (spec.kind === 'int') {
    if (!/^\d+$/.test(text))
      throw new CoreError('ERR_INVALID_ARGUMENT', `${where}: expected an integer, got "${text}"`)
    const n = Number(text)
    if (n < spec.min || n > spec.max) {
      throw new CoreError('ERR_INVALID_ARGUMENT', `${where}: ${n} is outside [${spec.min}, ${spec.max}]`)
    }
    return n
  }
  if (text.length === 0) throw new CoreError('ERR_INVALID_ARGUMENT', `${where}: must not be empty`)
  if (spec.kind === 'level' && !isLogLevel(text)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `${where}: "${text}" is not one of ${LOG_LEVELS.join(', ')}`)
  }
  return text
}

export type ParsedSignalArgs =
  { readonly help: true } | { readonly help: false; readonly config: SignalServerConfig }

/**
 * Reads flags and environment into a full config.
 * @throws CoreError('ERR_INVALID_ARGUMENT') for an unknown flag, a missing or out-of-range
 *   value, or only one of --tls-cert / --tls-key.
 */
export function parseSignalArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedSignalArgs {
  const values = new Map<Key, number | string>()
  for (const spec of SIGNAL_OPTIONS) {
    const text = env[envName(spec.key)]
    if (text !== undefined && text !== '') values.set(spec.key, convert(spec, text, envName(spec.key)))
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    if (arg === '--help' || arg === '-h') return { help: true }
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    const spec = SIGNAL_OPTIONS.find((s) => flagName(s.key) === flag)
    if (spec === undefined)
      throw new CoreError('ERR_INVALID_ARGUMENT', `unknown option "${arg}" (see --help)`)
    let text: string | undefined
    if (eq !== -1) text = arg.slice(eq + 1)
    else {
      text = argv[i + 1]
      i++
    }
    if (text === undefined) throw new CoreError('ERR_INVALID_ARGUMENT', `${flag} needs a value`)
    values.set(spec.key, convert(spec, text, flag))
  }
  const d = DEFAULT_SIGNAL_CONFIG
  const int = (key: Key, fallback: number): number => {
    const v = values.get(key)
    return typeof v === 'number' ? v : fallback
  }
  const text = (key: Key): string | undefined => {
    const v = values.get(key)
    return typeof v === 'string' ? v : undefined
  }
  const level = text('logLevel')
  const config: SignalServerConfig = {
    port: int('port', d.port),
    host: text('host') ?? d.host,
    maxMessageBytes: int('maxMessageBytes', d.maxMessageBytes),
    rateLimit: int('rateLimit', d.rateLimit),
    rateBurst: int('rateBurst', d.rateBurst),
    maxPeersPerRoom: int('maxPeersPerRoom', d.maxPeersPerRoom),
    maxRooms: int('maxRooms', d.maxRooms),
    maxConnections: int('maxConnections', d.maxConnections),
    idleTimeoutMs: int('idleTimeoutMs', d.idleTimeoutMs),
    shutdownGraceMs: int('shutdownGraceMs', d.shutdownGraceMs),
    tlsCert: text('tlsCert') ?? d.tlsCert,
    tlsKey: text('tlsKey') ?? d.tlsKey,
    logLevel: level !== undefined && isLogLevel(level) ? level : d.logLevel,
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new CoreError('ERR_INVALID_ARGUMENT', '--tls-cert and --tls-key go together')
  }
  return { help: false, config }
}

/** The `--help` text, generated from {@link SIGNAL_OPTIONS}. */
export function signalHelpText(): string {
  const lines = [
    'longhaul signal: the WebSocket rendezvous server for Longhaul rooms.',
    '',
    'Usage: longhaul signal [options]',
    '',
    'Options (each also settable by the environment variable shown; flags win):',
  ]
  for (const spec of SIGNAL_OPTIONS) {
    const def = DEFAULT_SIGNAL_CONFIG[spec.key]
    const shown = def === undefined ? '' : ` (default ${String(def)})`
    lines.push(`  ${flagName(spec.key).padEnd(22)} ${spec.help}${shown}`)
    lines.push(`  ${''.padEnd(22)} env ${envName(spec.key)}`)
  }
  lines.push('  --help                 print this text')
  lines.push('')
  lines.push('Endpoints: ws(s)://HOST:PORT/ (signaling), /healthz, /metrics (Prometheus).')
  lines.push('Logs: one JSON object per line on stderr.')
  return lines.join('\n')
}
