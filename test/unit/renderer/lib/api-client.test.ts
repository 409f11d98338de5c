/**
 * The API client against a real HTTP + WebSocket server on 127.0.0.1 (port 0) that speaks the
 * contract's envelope; the engine's own server is exercised by the browser tests (test/e2e).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import type { ApiEvent } from '../../../../core/api/contract.ts'
import {
  ApiClient,
  ApiRequestError,
  readLaunchToken,
  type ConnectionStatus,
  type WebSocketConstructor,
} from '../../../../renderer/src/lib/api-client.ts'

const TOKEN = 'test-token-0123456789'
const STATE = {
  apiVersion: 1,
  version: 't',
  datasets: [],
  training: { phase: 'idle' },
  checkpoints: [],
  models: [],
  builtinDatasets: [],
}

interface Running {
  readonly url: string
  readonly requests: { method: string; url: string; auth: string | undefined; body: string }[]
  close(): Promise<void>
}

let running: Running | undefined

async function startApi(): Promise<Running> {
  const requests: Running['requests'] = []
  const reply = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body })
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        return reply(res, 401, { ok: false, error: { code: 'ERR_UNAUTHORIZED', message: 'Token refused.' } })
      }
      if (req.url === '/api/state') return reply(res, 200, STATE)
      if (req.url === '/api/command/datasets.add') {
        return reply(res, 400, {
          ok: false,
          error: { code: 'ERR_NOT_FOUND', message: 'No dataset at /nope.' },
        })
      }
      if (req.url === '/api/command/room.leave') return reply(res, 200, { ok: true, result: { left: true } })
      res.writeHead(500)
      res.end('not json')
    })
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (url.pathname !== '/api/events' || url.searchParams.get('token') !== TOKEN) {
      socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n')
      socket.destroy()
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ kind: 'hello', apiVersion: 1, state: STATE }))
      ws.send('{"not an event"')
      ws.send(JSON.stringify({ kind: 'node', event: { t: 1, type: 'log', level: 'info', message: 'hi' } }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => wss.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

const NodeWebSocket = WebSocket as unknown as WebSocketConstructor

afterEach(async () => {
  await running?.close()
  running = undefined
})

describe('ApiClient', () => {
  it('sends the token as a Bearer header and returns the command result', async () => {
    running = await startApi()
    const client = new ApiClient({ baseUrl: running.url, token: TOKEN })
    await expect(client.command('room.leave', {})).resolves.toEqual({ left: true })
    expect(running.requests[0]).toMatchObject({
      method: 'POST',
      url: '/api/command/room.leave',
      auth: `Bearer ${TOKEN}`,
      body: '{}',
    })
  })

  it('rejects with the engine’s code and message when a command fails', async () => {
    running = await startApi()
    const client = new ApiClient({ baseUrl: running.url, token: TOKEN })
    const error = await client.command('datasets.add', { source: '/nope' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiRequestError)
    expect(error).toMatchObject({ code: 'ERR_NOT_FOUND', message: 'No dataset at /nope.' })
  })

  it('reports a refused token as ERR_UNAUTHORIZED', async () => {
    running = await startApi()
    const client = new ApiClient({ baseUrl: running.url, token: 'wrong' })
    await expect(client.state()).rejects.toMatchObject({ code: 'ERR_UNAUTHORIZED', status: 401 })
  })

  it('turns an answer without JSON into a clear error', async () => {
    running = await startApi()
    const client = new ApiClient({ baseUrl: running.url, token: TOKEN })
    await expect(client.command('training.stop', {})).rejects.toMatchObject({
      code: 'ERR_INTERNAL',
      status: 500,
    })
  })

  it('streams events, skipping messages that are not events', async () => {
    running = await startApi()
    const client = new ApiClient({ baseUrl: running.url, token: TOKEN, WebSocket: NodeWebSocket })
    const events: ApiEvent[] = []
    const statuses: ConnectionStatus[] = []
    const stop = client.subscribe({ onEvent: (e) => events.push(e), onStatus: (s) => statuses.push(s) })
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(2)
    stop()
    expect(events.map((e) => e.kind)).toEqual(['hello', 'node'])
    expect(statuses).toEqual(['connecting', 'open'])
  })

  it('stops reconnecting once the engine refuses the token', async () => {
    running = await startApi()
    const client = new ApiClient({
      baseUrl: running.url,
      token: 'wrong',
      WebSocket: NodeWebSocket,
      reconnectDelayMs: 10,
    })
    const statuses: ConnectionStatus[] = []
    const stop = client.subscribe({ onEvent: () => {}, onStatus: (s) => statuses.push(s) })
    await expect.poll(() => statuses.at(-1), { timeout: 5000 }).toBe('unauthorized')
    stop()
    expect(statuses).toEqual(['connecting', 'reconnecting', 'unauthorized'])
  })

  it('says there is no token instead of connecting without one', () => {
    const client = new ApiClient({ baseUrl: 'http://127.0.0.1:9', token: undefined })
    const statuses: ConnectionStatus[] = []
    client.subscribe({ onEvent: () => {}, onStatus: (s) => statuses.push(s) })
    expect(statuses).toEqual(['no-token'])
  })
})

describe('readLaunchToken', () => {
  function memoryStorage(): Pick<Storage, 'getItem' | 'setItem'> {
    const items = new Map<string, string>()
    return { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v) }
  }

  it('takes the token from the fragment and removes it from the address bar', () => {
    const storage = memoryStorage()
    const replaced: string[] = []
    const history = {
      replaceState: (_d: unknown, _t: string, url?: string | URL | null) => void replaced.push(String(url)),
    }
    const token = readLaunchToken({ hash: '#token=abc%2Bdef', pathname: '/', search: '' }, storage, history)
    expect(token).toBe('abc+def')
    expect(replaced).toEqual(['/'])
    // A reload of the same tab finds it again.
    expect(readLaunchToken({ hash: '', pathname: '/', search: '' }, storage, history)).toBe('abc+def')
  })

  it('returns undefined when there is none', () => {
    const history = { replaceState: () => {} }
    expect(
      readLaunchToken({ hash: '#other=1', pathname: '/', search: '' }, memoryStorage(), history),
    ).toBeUndefined()
  })
})
