import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { isCoreError } from '../../../core/errors.ts'
import {
  DEFAULT_SIGNAL_CONFIG,
  envName,
  flagName,
  parseSignalArgs,
  SIGNAL_OPTIONS,
  signalHelpText,
  type ParsedSignalArgs,
  type SignalServerConfig,
} from '../../../signaling-server/config.ts'

function config(parsed: ParsedSignalArgs): SignalServerConfig {
  if (parsed.help) throw new Error('unexpected --help')
  return parsed.config
}

function expectInvalid(fn: () => unknown, pattern: RegExp): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(isCoreError(thrown, 'ERR_INVALID_ARGUMENT'), String(thrown)).toBe(true)
  expect(String(thrown)).toMatch(pattern)
}

describe('signaling-server config', () => {
  it('uses the documented defaults with no flags and no environment', () => {
    const c = config(parseSignalArgs([], {}))
    expect(c).toEqual(DEFAULT_SIGNAL_CONFIG)
    expect(c.port).toBe(8787)
    expect(c.host).toBe('127.0.0.1')
  })

  it('names flags and environment variables after the option key', () => {
    expect(flagName('maxMessageBytes')).toBe('--max-message-bytes')
    expect(envName('maxMessageBytes')).toBe('LONGHAUL_SIGNAL_MAX_MESSAGE_BYTES')
    expect(envName('port')).toBe('LONGHAUL_SIGNAL_PORT')
  })

  it('reads both --flag value and --flag=value forms', () => {
    const c = config(parseSignalArgs(['--port', '9000', '--max-rooms=5', '--log-level', 'debug'], {}))
    expect(c).toMatchObject({ port: 9000, maxRooms: 5, logLevel: 'debug' })
  })

  it('reads every option from its environment variable', () => {
    const env = {
      LONGHAUL_SIGNAL_PORT: '1234',
      LONGHAUL_SIGNAL_HOST: '0.0.0.0',
      LONGHAUL_SIGNAL_MAX_MESSAGE_BYTES: '4096',
      LONGHAUL_SIGNAL_RATE_LIMIT: '7',
      LONGHAUL_SIGNAL_RATE_BURST: '9',
      LONGHAUL_SIGNAL_MAX_PEERS_PER_ROOM: '3',
      LONGHAUL_SIGNAL_MAX_ROOMS: '11',
      LONGHAUL_SIGNAL_MAX_CONNECTIONS: '13',
      LONGHAUL_SIGNAL_IDLE_TIMEOUT_MS: '1500',
      LONGHAUL_SIGNAL_SHUTDOWN_GRACE_MS: '100',
      LONGHAUL_SIGNAL_TLS_CERT: '/c.pem',
      LONGHAUL_SIGNAL_TLS_KEY: '/k.pem',
      LONGHAUL_SIGNAL_LOG_LEVEL: 'warn',
    }
    expect(Object.keys(env).sort()).toEqual(SIGNAL_OPTIONS.map((o) => envName(o.key)).sort())
    expect(config(parseSignalArgs([], env))).toEqual({
      port: 1234,
      host: '0.0.0.0',
      maxMessageBytes: 4096,
      rateLimit: 7,
      rateBurst: 9,
      maxPeersPerRoom: 3,
      maxRooms: 11,
      maxConnections: 13,
      idleTimeoutMs: 1500,
      shutdownGraceMs: 100,
      tlsCert: '/c.pem',
      tlsKey: '/k.pem',
      logLevel: 'warn',
    })
  })

  it('lets a flag win over the environment, and ignores empty variables', () => {
    const c = config(
      parseSignalArgs(['--port', '2'], { LONGHAUL_SIGNAL_PORT: '1', LONGHAUL_SIGNAL_HOST: '' }),
    )
    expect(c.port).toBe(2)
    expect(c.host).toBe('127.0.0.1')
  })

  it('returns help for --help and -h', () => {
    expect(parseSignalArgs(['--port', '1', '--help'], {}).help).toBe(true)
    expect(parseSignalArgs(['-h'], {}).help).toBe(true)
  })

  it.each([
    [['--nope'], /unknown option/],
    [['--port'], /needs a value/],
    [['--port', 'x'], /integer/],
    [['--port', '-1'], /integer/],
    [['--port', '70000'], /outside/],
    [['--max-peers-per-room', '1'], /outside/],
    [['--max-peers-per-room', '5000'], /outside/],
    [['--idle-timeout-ms', '1.5'], /integer/],
    [['--log-level', 'loud'], /not one of/],
    [['--host='], /empty/],
    [['--tls-cert', '/c.pem'], /go together/],
  ])('rejects %j', (argv, pattern) => {
    expectInvalid(() => parseSignalArgs(argv, {}), pattern)
  })

  it('rejects a bad value from the environment and names the variable', () => {
    expectInvalid(
      () => parseSignalArgs([], { LONGHAUL_SIGNAL_MAX_ROOMS: 'many' }),
      /LONGHAUL_SIGNAL_MAX_ROOMS/,
    )
  })

  it('lists every option, its variable and default in --help', () => {
    const help = signalHelpText()
    for (const o of SIGNAL_OPTIONS) {
      expect(help).toContain(flagName(o.key))
      expect(help).toContain(envName(o.key))
    }
    expect(help).toContain('(default 8787)')
  })

  it('documents every flag and variable in the README', () => {
    const readme = readFileSync(new URL('../../../signaling-server/README.md', import.meta.url), 'utf8')
    for (const o of SIGNAL_OPTIONS) {
      expect(readme, flagName(o.key)).toContain(`\`${flagName(o.key)}\``)
      expect(readme, envName(o.key)).toContain(`\`${envName(o.key)}\``)
    }
  })
})
