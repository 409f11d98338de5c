/**
 * The engine API for real: `createNodeEngine` on a temp data folder, `startApiServer` on
 * 127.0.0.1 port 0, requests over node:http and the event stream over a `ws` WebSocket, an
 * embedded signaling server, in-process training on the wasm backend and a second node as a
 * real `longhaul node` process over WebRTC on loopback. Small data (shapes, 1000 samples per
 * node) so the whole file stays within a minute or two.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import type { ApiEvent, EngineState, NodeEvent, TrainingStatus } from '../../../core/api/contract.ts'
import type { Engine } from '../../../core/api/engine.ts'
import { createNodeEngine, startApiServer, type ApiServer } from '../../../core/api/http-server.node.ts'
import { parseInvite } from '../../../core/api/invite.ts'
import { generateShapes } from '../../../core/data/shapes.ts'
import { importModel } from '../../../core/tensor/model-files.node.ts'
import { startSignalingServer } from '../../../signaling-server/server.ts'
import { exitOf, killAllNodes, trackNode, type NodeProcess } from '../../harness/node-process.ts'

const BIN = path.resolve('bin/longhaul.mjs')
const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

let dataDir = ''
let staticDir = ''
let engine: Engine
let server: ApiServer

interface HttpResult {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly text: string
}

function http(
  pathname: string,
  options: { method?: string; body?: string; token?: string | null; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const token = options.token === undefined ? server.token : options.token
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.url}${pathname}`,
      {
        method: options.method ?? 'GET',
        headers: {
          ...(token !== null && { Authorization: `Bearer ${token}` }),
          ...(options.body !== undefined && { 'Content-Type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

async function command<T = unknown>(name: string, params: unknown = {}): Promise<T> {
  const res = await http(`/api/command/${name}`, { method: 'POST', body: JSON.stringify(params) })
  const body = JSON.parse(res.text) as { ok: boolean; result?: T; error?: { code: string; message: string } }
  if (!body.ok) throw new Error(`${name}: ${res.status} ${body.error?.code}: ${body.error?.message}`)
  expect(res.status).toBe(200)
  return body.result as T
}

async function commandError(
  name: string,
  params: unknown,
): Promise<{ status: number; code: string; message: string }> {
  const res = await http(`/api/command/${name}`, { method: 'POST', body: JSON.stringify(params) })
  const body = JSON.parse(res.text) as { ok: boolean; error: { code: string; message: string } }
  expect(body.ok).toBe(false)
  return { status: res.status, ...body.error }
}

interface EventStream {
  readonly events: ApiEvent[]
  readonly arrivedAt: number[]
  node(type: string): NodeEvent[]
  close(): void
}

function openEvents(): Promise<EventStream> {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/events?token=${server.token}`)
  const events: ApiEvent[] = []
  const arrivedAt: number[] = []
  ws.on('message', (data: Buffer) => {
    events.push(JSON.parse(data.toString('utf8')) as ApiEvent)
    arrivedAt.push(Date.now())
  })
  return new Promise((resolve, reject) => {
    ws.once('error', reject)
    ws.once('open', () =>
      resolve({
        events,
        arrivedAt,
        node: (type) => events.flatMap((e) => (e.kind === 'node' && e.event.type === type ? [e.event] : [])),
        close: () => ws.close(),
      }),
    )
  })
}

async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 60_000,
  context: () => string = () => '',
): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}\n${context()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The engine's last log lines and the CLI node's stderr tail (with its exit, if any). */
function describeBothSides(stream: EventStream, cli: NodeProcess): string {
  const engineLog = stream
    .node('log')
    .flatMap((e) => (e.type === 'log' ? [e.message] : []))
    .slice(-8)
  const exit = cli.child.exitCode ?? cli.child.signalCode ?? 'running'
  return [
    `engine (phase ${phase()}): ${engineLog.join(' / ')}`,
    `cli-node (${exit}): ${cli.stderr.slice(-8).join(' / ')}`,
  ].join('\n')
}

function phase(): string {
  return engine.state().training.phase
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'longhaul-api-'))
  staticDir = await mkdtemp(path.join(tmpdir(), 'longhaul-ui-'))
  await mkdir(path.join(staticDir, 'assets'))
  await writeFile(path.join(staticDir, 'index.html'), '<!doctype html><title>Longhaul</title>')
  await writeFile(path.join(staticDir, 'assets', 'app.js'), 'console.log(1)')
  await writeFile(path.join(path.dirname(staticDir), `${path.basename(staticDir)}-secret.txt`), 'secret')
  engine = await createNodeEngine({
    dataDir,
    startSignalingServer: (options) => startSignalingServer({ config: options.config, logger: QUIET }),
    nodeTimeouts: { heartbeatMs: 500, peerTimeoutMs: 4000, roundTimeoutMs: 4000 },
    loadOptions: { allowDownload: false },
    warn: () => {},
  })
  server = await startApiServer({ engine, staticDir, allowedOrigins: ['http://ui.dev:5173'] })
})

afterAll(async () => {
  killAllNodes()
  await server?.close()
  await engine?.close()
  await rm(dataDir, { recursive: true, force: true })
  await rm(staticDir, { recursive: true, force: true })
  await rm(path.join(path.dirname(staticDir), `${path.basename(staticDir)}-secret.txt`), { force: true })
})

describe('engine API server: access control', () => {
  it('answers 401 without the token or with a wrong one, and the state with it', async () => {
    for (const token of [null, 'wrong', `${server.token}x`]) {
      const res = await http('/api/state', { token })
      expect(res.status, String(token)).toBe(401)
      expect(JSON.parse(res.text)).toMatchObject({ ok: false, error: { code: 'ERR_UNAUTHORIZED' } })
    }
    expect(
      (await http('/api/command/datasets.list', { method: 'POST', body: '{}', token: null })).status,
    ).toBe(401)
    const ok = await http('/api/state')
    expect(ok.status).toBe(200)
    const state = JSON.parse(ok.text) as EngineState
    expect(state).toMatchObject({ apiVersion: 1, training: { phase: 'idle' } })
    expect(state.models).toContain('mlp')
    expect(server.uiUrl).toBe(`${server.url}/#token=${server.token}`)
  })

  it('answers 403 for a foreign Host or Origin, before the token is even looked at', async () => {
    const foreign: Array<Record<string, string>> = [
      { Host: 'evil.example' },
      { Host: `evil.example:${server.port}` },
      { Host: `127.0.0.1:${server.port + 1}` },
      { Origin: 'http://evil.example' },
      { Origin: 'null' },
    ]
    for (const headers of foreign) {
      const res = await http('/api/state', { headers })
      expect(res.status, JSON.stringify(headers)).toBe(403)
      expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'ERR_FORBIDDEN' } })
      expect((await http('/', { headers, token: null })).status).toBe(403)
    }
    const ours: Array<Record<string, string>> = [
      { Origin: server.url },
      { Origin: 'http://ui.dev:5173' },
      { Host: `localhost:${server.port}` },
    ]
    for (const headers of ours) {
      expect((await http('/api/state', { headers })).status, JSON.stringify(headers)).toBe(200)
    }
  })

  it('opens the event stream only with the token and from an allowed origin', async () => {
    const attempt = (url: string, origin?: string): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(url, origin === undefined ? {} : { origin })
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0)
          ws.terminate()
        })
        ws.on('open', () => {
          resolve(101)
          ws.close()
        })
        ws.on('error', () => {})
      })
    const base = `${server.url.replace('http', 'ws')}/api/events`
    expect(await attempt(base)).toBe(401)
    expect(await attempt(`${base}?token=nope`)).toBe(401)
    expect(await attempt(`${base}?token=${server.token}`, 'http://evil.example')).toBe(403)
    expect(await attempt(`${base.replace('/api/events', '/api/other')}?token=${server.token}`)).toBe(404)
    expect(await attempt(`${base}?token=${server.token}`, server.url)).toBe(101)
    const stream = await openEvents()
    await until(() => stream.events.length > 0, 'hello')
    expect(stream.events[0]).toMatchObject({
      kind: 'hello',
      apiVersion: 1,
      state: { training: { phase: 'idle' } },
    })
    stream.close()
  })

  it('answers bad requests with JSON errors: unknown command, wrong method, bad JSON, oversized body', async () => {
    expect(await commandError('nope.nope', {})).toMatchObject({ status: 404, code: 'ERR_UNKNOWN_COMMAND' })
    expect((await http('/api/command/datasets.list')).status).toBe(405)
    expect((await http('/api/state', { method: 'POST', body: '{}' })).status).toBe(405)
    const badJson = await http('/api/command/datasets.list', { method: 'POST', body: '{nope' })
    expect(badJson.status).toBe(400)
    expect(JSON.parse(badJson.text)).toMatchObject({ error: { code: 'ERR_BAD_REQUEST' } })
    const huge = await http('/api/command/datasets.add', {
      method: 'POST',
      body: JSON.stringify({ source: 'x'.repeat(1024 * 1024 + 10) }),
    })
    expect(huge.status).toBe(413)
    expect((await http('/api/nothing')).status).toBe(404)
    expect(await commandError('datasets.add', { source: 'shapes', extra: 1 })).toMatchObject({
      status: 400,
      code: 'ERR_INVALID_ARGUMENT',
    })
  })

  it('serves the UI files with a strict CSP and nothing outside its folder', async () => {
    const index = await http('/', { token: null })
    expect(index.status).toBe(200)
    expect(index.text).toContain('<title>Longhaul</title>')
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8')
    const csp = String(index.headers['content-security-policy'])
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toContain('unsafe-eval')
    expect(index.headers['x-content-type-options']).toBe('nosniff')
    const js = await http('/assets/app.js', { token: null })
    expect(js.status).toBe(200)
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8')
    const secretName = `${path.basename(staticDir)}-secret.txt`
    for (const attempt of [
      `/../${secretName}`,
      `/%2e%2e/${secretName}`,
      `/assets/..%2f..%2f${secretName}`,
      '/assets/',
      '/%00',
      '/missing.js',
    ]) {
      const res = await http(attempt, { token: null })
      expect(res.status, attempt).toBeGreaterThanOrEqual(400)
      expect(res.text, attempt).not.toContain('secret')
    }
  })
})

describe('engine API server: datasets and rooms', () => {
  it('adds, inspects, previews and removes an image folder, and refuses a missing path', async () => {
    const folder = path.join(dataDir, 'images')
    for (const [c, value] of [
      ['dark', 20],
      ['light', 230],
    ] as const) {
      await mkdir(path.join(folder, c), { recursive: true })
      for (let i = 0; i < 6; i++) {
        const pixels = Buffer.alloc(8 * 8, value + i)
        await sharp(pixels, { raw: { width: 8, height: 8, channels: 1 } })
          .png()
          .toFile(path.join(folder, c, `${i}.png`))
      }
    }
    const entry = await command<{
      id: string
      source: string
      manifest: { classes: string[]; inputShape: number[] }
    }>('datasets.add', { source: folder })
    expect(entry.source).toBe(folder)
    expect(entry.manifest.classes).toEqual(['dark', 'light'])
    const [height, width, channels = 0] = entry.manifest.inputShape
    expect([height, width]).toEqual([8, 8])
    expect(await command('datasets.inspect', { id: entry.id })).toEqual(entry)
    const registry = JSON.parse(await readFile(path.join(dataDir, 'datasets.json'), 'utf8')) as {
      datasets: unknown[]
    }
    expect(registry.datasets).toHaveLength(1)
    const preview = await command<{ total: number; samples: Array<{ pixels: string; className: string }> }>(
      'datasets.preview',
      { id: entry.id, split: 'train', offset: 0, count: 100 },
    )
    expect(preview.total).toBeGreaterThan(0)
    expect(preview.samples).toHaveLength(preview.total)
    for (const sample of preview.samples) {
      const pixels = Buffer.from(sample.pixels, 'base64')
      expect(pixels.length).toBe(64 * channels)
      expect(sample.className === 'dark' ? pixels[0]! < 30 : pixels[0]! > 220).toBe(true)
    }
    expect(await command('datasets.remove', { id: entry.id })).toEqual({ removed: true })
    expect(await command('datasets.remove', { id: entry.id })).toEqual({ removed: false })
    expect(await commandError('datasets.inspect', { id: entry.id })).toMatchObject({ code: 'ERR_NOT_FOUND' })
    const missing = await commandError('datasets.add', { source: path.join(dataDir, 'no-such-folder') })
    expect(missing).toMatchObject({ status: 404, code: 'ERR_NOT_FOUND' })
    expect(missing.message).toContain('no-such-folder')
    expect(engine.state().datasets).toEqual([])
  })

  it('creates a local room whose invite carries its address; a second room is refused until it leaves', async () => {
    const room = await command<{
      invite: string
      signalUrl: string
      room: string
      isEmbeddedSignaling: boolean
    }>('room.create', { room: 'api-first' })
    expect(room.isEmbeddedSignaling).toBe(true)
    expect(parseInvite(room.invite)).toMatchObject({ signalUrl: room.signalUrl, room: 'api-first' })
    expect(await commandError('room.create', {})).toMatchObject({ code: 'ERR_INVALID_STATE' })
    expect(await command('room.leave')).toEqual({ left: true })
  })
})

describe('engine API server: training with a second node', () => {
  it('trains with a CLI node, streams peers, rounds and topology, pauses, resumes, stops, checkpoints and exports', async () => {
    await command('settings.setBackend', { backend: 'wasm' })
    expect(JSON.parse(await readFile(path.join(dataDir, 'settings.json'), 'utf8'))).toEqual({
      backend: 'wasm',
    })
    const dataset = await command<{ id: string }>('datasets.add', { source: 'shapes' })
    await command('room.create', { room: 'api-train' })
    const stream = await openEvents()
    const started = await command<TrainingStatus>('training.start', {
      datasetId: dataset.id,
      model: 'mlp',
      preset: 'long-haul',
      epochs: 4,
      batchSize: 64,
      optimizer: 'adam',
      partition: { index: 0, count: 2 },
      maxTrainSamples: 1000,
      waitForPeers: 1,
    })
    expect(started.phase).toBe('running')
    expect(engine.state().backend?.name).toBe('wasm')

    // The join command the engine offers is what the second node runs.
    const joinCommand = engine.state().room?.joinCommand ?? ''
    expect(joinCommand).toContain(
      '--data shapes --model mlp --algo olco3:H=4,staleness=1,compressor=topk:0.1',
    )
    const words = joinCommand.split(' ').slice(2)
    const child = spawn(
      process.execPath,
      [
        BIN,
        'node',
        ...words,
        '--peer-id',
        'cli-node',
        '--partition',
        '1/2',
        '--max-train-samples',
        '1000',
        '--epochs',
        '2',
        '--heartbeat-ms',
        '500',
        '--peer-timeout-ms',
        '4000',
        '--round-timeout-ms',
        '4000',
        '--json',
      ],
      { env: { ...process.env, LONGHAUL_BACKEND: 'wasm', CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const cli = trackNode('cli-node', child)

    const averagedWithPeer = (): boolean =>
      stream
        .node('topology')
        .some(
          (e) =>
            e.type === 'topology' &&
            e.receivedFrom.some((slot) => slot !== e.slot) &&
            e.sentTo.some((slot) => slot !== e.slot),
        )
    // Stop waiting as soon as the CLI node is gone, and say what both sides last said.
    const cliIsGone = (): boolean => child.exitCode !== null || child.signalCode !== null
    await until(
      () => averagedWithPeer() || cliIsGone(),
      'a round averaged with the CLI node',
      90_000,
      () => describeBothSides(stream, cli),
    )
    if (!averagedWithPeer()) {
      throw new Error(
        `the CLI node ended before a round with it was averaged\n${describeBothSides(stream, cli)}`,
      )
    }
    expect(stream.node('joined')[0]).toMatchObject({ role: 'founder', room: 'api-train' })
    expect(
      stream.node('peer-admitted').some((e) => e.type === 'peer-admitted' && e.peer === 'cli-node'),
    ).toBe(true)

    // Pause: no step of ours runs until resumed; the peer keeps us as a member.
    expect((await command<TrainingStatus>('training.pause')).phase).toBe('paused')
    await until(
      () => stream.node('log').some((e) => e.type === 'log' && e.message.startsWith('paused at step')),
      'the node to pause',
    )
    const pausedAt = stream.events.length
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const whilePaused = stream.events.slice(pausedAt)
    expect(
      whilePaused.filter((e) => e.kind === 'node' && (e.event.type === 'step' || e.event.type === 'round')),
    ).toEqual([])
    expect(whilePaused.some((e) => e.kind === 'node' && e.event.type === 'peers')).toBe(true)
    expect((await command<TrainingStatus>('training.resume')).phase).toBe('running')

    expect(await exitOf(cli)).toBe(0)
    expect(cli.summary?.['averagedRounds']).toBeGreaterThan(0)
    await until(() => phase() === 'finished', 'the engine run to finish', 90_000)
    const finished = engine.state().training
    expect(finished.summary).toMatchObject({ peersSeen: 1, role: 'founder', isStopped: false })
    expect(finished.summary?.averagedRounds).toBeGreaterThan(0)
    expect(finished.summary?.testAccuracy).toBeGreaterThan(0.5)
    const peers = stream.node('peers').flatMap((e) => (e.type === 'peers' ? e.peers : []))
    expect(peers.some((p) => p.peer === 'cli-node' && p.state === 'admitted' && p.bytesReceived > 0)).toBe(
      true,
    )
    expect(stream.node('round').length).toBeGreaterThan(0)
    const checkpoints =
      await command<Array<{ id: string; epoch: number; reason: string }>>('checkpoints.list')
    expect(checkpoints.find((c) => c.id === finished.checkpointId)).toMatchObject({
      epoch: 4,
      reason: 'epoch',
    })

    // A new client gets the run replayed.
    const late = await openEvents()
    await until(() => late.events.some((e) => e.kind === 'node' && e.replay === true), 'a replay')
    expect(late.events[0]?.kind).toBe('hello')
    late.close()

    // Alone in the room now: start, stop mid-run, and resume from the stop checkpoint.
    const epochsBefore = stream.node('epoch').length
    const long = await command<TrainingStatus>('training.start', {
      datasetId: dataset.id,
      model: 'mlp',
      preset: 'long-haul',
      epochs: 40,
      batchSize: 64,
      optimizer: 'adam',
      maxTrainSamples: 1000,
    })
    await until(
      () => stream.node('epoch').length > epochsBefore && phase() === 'running',
      'an epoch of the second run',
    )
    const stopped = await command<TrainingStatus>('training.stop')
    expect(stopped.phase).toBe('finished')
    expect(stopped.summary?.isStopped).toBe(true)
    const stopCheckpoint = (
      await command<Array<{ id: string; reason: string; step: number; epoch: number }>>('checkpoints.list')
    ).find((c) => c.id === long.checkpointId)
    expect(stopCheckpoint?.reason).toBe('stopped')
    expect(stopCheckpoint?.step).toBeGreaterThan(0)

    const startsBefore = stream.node('training-started').length
    const resumed = await command<TrainingStatus>('training.start', {
      datasetId: dataset.id,
      model: 'mlp',
      preset: 'long-haul',
      epochs: 40,
      batchSize: 64,
      optimizer: 'adam',
      maxTrainSamples: 1000,
      resumeFrom: long.checkpointId,
    })
    expect(resumed.phase).toBe('running')
    await until(() => stream.node('training-started').length > startsBefore, 'the resumed run to start')
    expect(stream.node('training-started')[startsBefore]).toMatchObject({ step: stopCheckpoint?.step })
    expect(
      stream
        .node('log')
        .some((e) => e.type === 'log' && e.message.startsWith(`resumed from step ${stopCheckpoint?.step}`)),
    ).toBe(true)
    expect((await command<TrainingStatus>('training.stop')).phase).toBe('finished')

    // Export the first run's model and load it back as a tfjs model that classifies shapes.
    const exported = await command<{ directory: string; files: string[] }>('checkpoints.export', {
      id: finished.checkpointId,
    })
    for (const file of exported.files) expect((await stat(file)).size).toBeGreaterThan(0)
    const model = await importModel(exported.directory)
    const shapes = generateShapes({ seed: 1 })
    const n = 200
    const size = shapes.manifest.inputShape.reduce((a, b) => a * b, 1)
    const predictions = tf.tidy(() => {
      const x = tf.tensor(shapes.test.x.subarray(0, n * size), [n, ...shapes.manifest.inputShape])
      return tf.argMax(model.predict(x) as tf.Tensor, -1).dataSync()
    })
    let correct = 0
    for (let i = 0; i < n; i++) if (predictions[i] === shapes.test.y[i]) correct++
    expect(correct / n).toBeGreaterThan(0.5)
    model.dispose()
    stream.close()
  }, 240_000)
})
