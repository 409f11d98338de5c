import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { get as httpsGet } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { SIGNAL_CLOSE_CODES } from '../../../core/protocol/signaling.ts'
import {
  SignalingClient,
  type CloseInfo,
  type WebSocketConstructor,
} from '../../../core/signaling/signaling-client.ts'
import { runSignalCli } from '../../../signaling-server/main.ts'
import { credentialsFor, httpGet, memoryLogger, startTestServer, TEST_ITERATIONS } from './helpers.ts'

const REPO = fileURLToPath(new URL('../../../', import.meta.url))
const SECRET = 'cli test room secret'

const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function closed(c: SignalingClient): Promise<CloseInfo> {
  return new Promise((resolve) => c.on('close', resolve))
}

async function joinClient(
  url: string,
  peerId: string,
  Ctor: WebSocketConstructor = WebSocket,
): Promise<SignalingClient> {
  const c = new SignalingClient({ url, WebSocket: Ctor, peerId, iterations: TEST_ITERATIONS })
  cleanups.push(() => c.close())
  await c.join('lab', await credentialsFor(SECRET, 'lab'))
  return c
}

/** Starts runSignalCli in-process; resolves with its URL once it listens. */
async function runInProcess(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ url: string; httpUrl: string; stop: () => Promise<number> }> {
  const ac = new AbortController()
  let exit: Promise<number> | undefined
  const info = await new Promise<{ url: string; httpUrl: string }>((resolve, reject) => {
    exit = runSignalCli(argv, { env, signal: ac.signal, logger: memoryLogger(), onListening: resolve })
    exit.then((code) => reject(new Error(`exited early with ${code}`)), reject)
  })
  const stop = async (): Promise<number> => {
    ac.abort()
    return (await exit) ?? -1
  }
  cleanups.push(async () => void (await stop()))
  return { ...info, stop }
}

describe('runSignalCli', () => {
  it('prints help with every option and returns 0', async () => {
    let out = ''
    expect(await runSignalCli(['--help'], { env: {}, stdout: (t) => (out += t) })).toBe(0)
    expect(out).toContain('--max-peers-per-room')
    expect(out).toContain('LONGHAUL_SIGNAL_IDLE_TIMEOUT_MS')
  })

  it('returns 2 with a message for a bad argument', async () => {
    let err = ''
    expect(await runSignalCli(['--port', 'x'], { env: {}, stderr: (t) => (err += t) })).toBe(2)
    expect(err).toMatch(/--port: expected an integer/)
  })

  it('returns 1 when the port is taken', async () => {
    const other = await startTestServer()
    cleanups.push(() => other.close())
    const log = memoryLogger()
    expect(await runSignalCli(['--port', String(other.port)], { env: {}, logger: log })).toBe(1)
    expect(log.lines.some((l) => l.level === 'error' && l.msg === 'cannot start')).toBe(true)
  })

  it('reads limits from the environment when no flag is given', async () => {
    const { url } = await runInProcess(['--port', '0'], { LONGHAUL_SIGNAL_MAX_PEERS_PER_ROOM: '2' })
    const a = await joinClient(url, 'a')
    expect(a.peers).toEqual([])
    await joinClient(url, 'b')
    await expect(joinClient(url, 'c')).rejects.toMatchObject({ code: 'ERR_ROOM_FULL' })
  })

  it('serves until aborted, then shuts down gracefully and returns 0', async () => {
    const run = await runInProcess(['--port', '0'])
    const a = await joinClient(run.url, 'alice')
    const gone = closed(a)
    expect(await run.stop()).toBe(0)
    expect((await gone).code).toBe(SIGNAL_CLOSE_CODES.GOING_AWAY)
  })
})

describe('signaling server over TLS', () => {
  let dir = ''
  let hasOpenssl = true
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'longhaul-tls-'))
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
        ],
        { stdio: 'ignore' },
      )
    } catch {
      hasOpenssl = false
    }
    return () => rmSync(dir, { recursive: true, force: true })
  })

  it('serves wss:// and https:// when given --tls-cert and --tls-key', async (ctx) => {
    if (!hasOpenssl) ctx.skip()
    const ca = readFileSync(join(dir, 'cert.pem'))
    const run = await runInProcess([
      '--port',
      '0',
      '--tls-cert',
      join(dir, 'cert.pem'),
      '--tls-key',
      join(dir, 'key.pem'),
    ])
    expect(run.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
    const health = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      httpsGet(`${run.httpUrl}/healthz`, { ca }, (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      }).on('error', reject)
    })
    expect(health.status).toBe(200)
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' })
    // The WebSocket constructor is injected, so trusting a private CA is the caller's choice.
    const TrustingWs = class extends WebSocket {
      constructor(url: string) {
        super(url, { ca })
      }
    }
    const a = await joinClient(run.url, 'alice', TrustingWs)
    const b = await joinClient(run.url, 'bob', TrustingWs)
    expect(b.peers).toEqual(['alice'])
    expect(a.isJoined).toBe(true)
    // A client that does not trust the certificate cannot connect.
    await expect(joinClient(run.url, 'carol')).rejects.toMatchObject({ code: 'ERR_CONNECTION_FAILED' })
  })
})

describe('signaling-server/bin.ts as a process', () => {
  let child: ChildProcess | undefined
  afterEach(() => {
    child?.kill('SIGKILL')
    child = undefined
  })

  it('logs JSON lines to stderr and exits 0 on SIGTERM after closing clients with 1001', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'signaling-server/bin.ts', '--port', '0'], {
      cwd: REPO,
      env: { ...process.env, LONGHAUL_SIGNAL_LOG_LEVEL: 'debug' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const proc = child
    const lines: Record<string, unknown>[] = []
    let buffer = ''
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
    const listening = new Promise<number>((resolve, reject) => {
      proc.stderr?.on('data', (d: Buffer) => {
        buffer += d.toString()
        let nl
        while ((nl = buffer.indexOf('\n')) !== -1) {
          const line = buffer.slice(0, nl)
          buffer = buffer.slice(nl + 1)
          const parsed: unknown = JSON.parse(line)
          if (typeof parsed !== 'object' || parsed === null) throw new Error(`not a JSON object: ${line}`)
          const entry = { ...parsed } as Record<string, unknown>
          lines.push(entry)
          if (entry.msg === 'listening' && typeof entry.port === 'number') resolve(entry.port)
        }
      })
      void exited.then((code) => reject(new Error(`server exited with ${code}`)))
    })
    const port = await listening
    const url = `ws://127.0.0.1:${port}`
    expect(JSON.parse((await httpGet(`http://127.0.0.1:${port}/healthz`)).body)).toMatchObject({
      status: 'ok',
    })
    const a = await joinClient(url, 'alice')
    const gone = closed(a)
    proc.kill('SIGTERM')
    expect((await gone).code).toBe(SIGNAL_CLOSE_CODES.GOING_AWAY)
    expect(await exited).toBe(0)
    const msgs = lines.map((l) => l.msg)
    expect(msgs).toEqual(
      expect.arrayContaining(['listening', 'connected', 'joined', 'stop requested', 'stopped']),
    )
    for (const l of lines) {
      expect(typeof l.time).toBe('string')
      expect(['debug', 'info', 'warn', 'error']).toContain(l.level)
    }
  })
})
