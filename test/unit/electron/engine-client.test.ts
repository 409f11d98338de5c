/** The shell's engine client against a real HTTP server on 127.0.0.1 that speaks the contract's paths. */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { HttpEngineClient, summariseState } from '../../../electron/engine-client.ts'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
})

interface Seen {
  method: string
  url: string
  authorization: string | undefined
  body: string
}

async function engineServer(answer: (seen: Seen) => { status: number; body: string }) {
  const seen: Seen[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString()))
    request.on('end', () => {
      const entry = {
        method: request.method ?? '',
        url: request.url ?? '',
        authorization: request.headers.authorization,
        body,
      }
      seen.push(entry)
      const { status, body: text } = answer(entry)
      response.writeHead(status, { 'content-type': 'application/json' }).end(text)
    })
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { url: `http://127.0.0.1:${address.port}`, seen }
}

describe('HttpEngineClient', () => {
  it('reads the training phase with the bearer token', async () => {
    const { url, seen } = await engineServer(() => ({
      status: 200,
      body: JSON.stringify({ training: { phase: 'running' }, room: { room: 'r' }, datasets: [] }),
    }))
    const client = new HttpEngineClient({ baseUrl: url, token: 'secret-token' })
    expect(await client.summary()).toEqual({ phase: 'running', isInRoom: true })
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/state', authorization: 'Bearer secret-token' })
  })

  it('posts commands and surfaces the engine refusal as one sentence', async () => {
    const { url, seen } = await engineServer((s) =>
      s.url.endsWith('training.stop')
        ? { status: 200, body: JSON.stringify({ ok: true, result: { phase: 'idle' } }) }
        : {
            status: 400,
            body: JSON.stringify({
              ok: false,
              error: { code: 'ERR_INVALID_ARGUMENT', message: 'not in a room' },
            }),
          },
    )
    const client = new HttpEngineClient({ baseUrl: `${url}/`, token: 't' })
    await client.run('training.stop', {})
    await expect(client.run('room.leave', {})).rejects.toThrow('room.leave failed: not in a room')
    expect(seen.map((s) => `${s.method} ${s.url} ${s.body}`)).toEqual([
      'POST /api/command/training.stop {}',
      'POST /api/command/room.leave {}',
    ])
  })

  it('says so when the engine cannot be reached or answers garbage', async () => {
    const { url } = await engineServer(() => ({ status: 500, body: 'oops' }))
    await expect(new HttpEngineClient({ baseUrl: url, token: 't' }).summary()).rejects.toThrow(
      /status 500 and no JSON/,
    )
    const closed = new HttpEngineClient({ baseUrl: 'http://127.0.0.1:1', token: 't', timeoutMs: 2000 })
    await expect(closed.summary()).rejects.toThrow(/did not answer GET \/api\/state/)
  })
})

describe('summariseState', () => {
  it('needs a known training phase', () => {
    expect(summariseState({ training: { phase: 'idle' } })).toEqual({ phase: 'idle', isInRoom: false })
    expect(summariseState({ training: { phase: 'dancing' } })).toBeUndefined()
    expect(summariseState({})).toBeUndefined()
  })
})
