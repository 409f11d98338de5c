/**
 * The runtime-agnostic engine: param validation, state, phases and event history, on an
 * in-memory host (the Node host with real data, training and HTTP is covered by
 * test/integration/api/).
 */
import { describe, expect, it } from 'vitest'
import type { ApiEvent, CheckpointInfo, DatasetEntry } from '../../../../core/api/contract.ts'
import {
  Engine,
  type EngineHost,
  type TrainingRequest,
  type TrainingRun,
} from '../../../../core/api/engine.ts'
import { parseInvite } from '../../../../core/api/invite.ts'
import { CoreError } from '../../../../core/errors.ts'
import type { NodeSummary } from '../../../../core/node/node-events.ts'

const MANIFEST = {
  name: 'shapes',
  source: 'builtin',
  inputShape: [28, 28, 1],
  classes: ['a', 'b'],
  counts: { train: [5, 5], test: [1, 1] },
  trainCount: 10,
  testCount: 2,
  split: 'given',
  contentHash: 'abc',
} as const

const SUMMARY: NodeSummary = {
  testAccuracy: 0.9,
  testLoss: 0.1,
  rounds: 3,
  averagedRounds: 2,
  localOnlyRounds: 1,
  steps: 10,
  finalStep: 10,
  epochs: 1,
  bytesSent: 1,
  bytesReceived: 1,
  peersSeen: 1,
  role: 'founder',
  slot: 0,
  seconds: 1,
  rejectedMessages: 0,
  protocolErrors: 0,
  isStopped: false,
}

interface ControlledRun extends TrainingRun {
  readonly calls: string[]
  finish(summary: NodeSummary): void
  fail(error: unknown): void
}

function controlledRun(): ControlledRun {
  let finish: (s: NodeSummary) => void = () => {}
  let fail: (e: unknown) => void = () => {}
  const done = new Promise<NodeSummary>((resolve, reject) => {
    finish = resolve
    fail = reject
  })
  const calls: string[] = []
  return {
    calls,
    backend: { name: 'cpu', isHardware: false, reason: 'cpu: chosen' },
    connections: 'test transports',
    pause: () => calls.push('pause'),
    resume: () => calls.push('resume'),
    stop: () => {
      calls.push('stop')
      finish({ ...SUMMARY, isStopped: true })
    },
    done,
    finish: (s) => finish(s),
    fail: (e) => fail(e),
  }
}

function fakeHost() {
  const datasets: DatasetEntry[] = []
  const checkpoints: CheckpointInfo[] = []
  const requests: TrainingRequest[] = []
  const runs: ControlledRun[] = []
  let saved: { backend?: string } = {}
  let closedServers = 0
  const host: EngineHost = {
    version: '9.9.9',
    models: ['mlp', 'cnn'],
    builtinDatasets: ['shapes'],
    backendNames: ['wasm', 'cpu'],
    datasets: {
      list: () => Promise.resolve([...datasets]),
      add: (source) => {
        const entry = {
          id: `id-${source.length}`,
          source,
          manifest: MANIFEST,
          addedAt: '2024-01-01T00:00:00Z',
        }
        if (!datasets.some((d) => d.id === entry.id)) datasets.push(entry)
        return Promise.resolve(entry)
      },
      remove: (id) => {
        const i = datasets.findIndex((d) => d.id === id)
        if (i >= 0) datasets.splice(i, 1)
        return Promise.resolve(i >= 0)
      },
      preview: () => Promise.resolve({ total: 10, samples: [] }),
    },
    checkpoints: {
      list: () => Promise.resolve([...checkpoints]),
      export: () => Promise.resolve({ directory: '/x', files: ['/x/model.json'] }),
    },
    settings: {
      load: () => Promise.resolve(saved),
      save: (s) => {
        saved = s
        return Promise.resolve()
      },
    },
    startSignalingServer: ({ host: h, port }) =>
      Promise.resolve({
        url: `ws://${h}:${port === 0 ? 40000 : port}`,
        close: () => {
          closedServers++
          return Promise.resolve()
        },
      }),
    listBackends: () => Promise.resolve([]),
    startTraining: (request) => {
      requests.push(request)
      const run = controlledRun()
      runs.push(run)
      return Promise.resolve(run)
    },
  }
  return { host, datasets, checkpoints, requests, runs, closedServers: () => closedServers }
}

async function open(options: Parameters<typeof Engine.open>[1] = {}) {
  const fake = fakeHost()
  const engine = await Engine.open(fake.host, options)
  const events: ApiEvent[] = []
  engine.subscribe((e) => events.push(e))
  return { ...fake, engine, events }
}

const CONFIG = {
  datasetId: 'id-6',
  model: 'mlp',
  preset: 'long-haul',
  epochs: 1,
  batchSize: 32,
  optimizer: 'adam',
} as const

describe('Engine commands', () => {
  it('answers an unknown command and unknown fields with a sentence, not an exception', async () => {
    const { engine } = await open()
    expect(await engine.execute('datasets.explode', {})).toEqual({
      ok: false,
      error: { code: 'ERR_UNKNOWN_COMMAND', message: 'no command "datasets.explode"' },
    })
    const typo = await engine.execute('datasets.add', { sorce: '/x' })
    expect(typo.ok).toBe(false)
    if (!typo.ok) {
      expect(typo.error.code).toBe('ERR_INVALID_ARGUMENT')
      expect(typo.error.message).toContain('"sorce"')
    }
    const notObject = await engine.execute('datasets.add', 'shapes')
    expect(notObject.ok ? '' : notObject.error.message).toContain('params must be a JSON object')
  })

  it('refuses a relative dataset path and adds a built-in one, announcing the new state', async () => {
    const { engine, events } = await open()
    await expect(engine.command('datasets.add', { source: 'data/cats' })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
    const entry = await engine.command('datasets.add', { source: 'shapes' })
    expect(engine.state().datasets).toEqual([entry])
    expect(events.some((e) => e.kind === 'state' && e.state.datasets.length === 1)).toBe(true)
    await expect(engine.command('datasets.inspect', { id: 'nope' })).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    })
    expect(await engine.command('datasets.inspect', { id: entry.id })).toEqual(entry)
  })

  it('validates preview ranges and the split', async () => {
    const { engine } = await open()
    await engine.command('datasets.add', { source: 'shapes' })
    for (const bad of [
      { id: 'id-6', split: 'train', offset: 0, count: 0 },
      { id: 'id-6', split: 'train', offset: 0, count: 257 },
      { id: 'id-6', split: 'valid', offset: 0, count: 4 },
      { id: 'id-6', split: 'train', offset: -1, count: 4 },
      { id: 'id-6', split: 'train', offset: 0.5, count: 4 },
    ]) {
      const answer = await engine.execute('datasets.preview', bad)
      expect(answer.ok ? '' : answer.error.code, JSON.stringify(bad)).toBe('ERR_INVALID_ARGUMENT')
    }
    expect(
      await engine.command('datasets.preview', { id: 'id-6', split: 'test', offset: 0, count: 4 }),
    ).toEqual({ total: 10, samples: [] })
  })

  it('creates a local room whose invite parses back to its address, and refuses a second room', async () => {
    const { engine } = await open()
    const room = await engine.command('room.create', { room: 'lab' })
    expect(room.isEmbeddedSignaling).toBe(true)
    expect(room.signalUrl).toBe('ws://127.0.0.1:40000')
    const address = parseInvite(room.invite)
    expect(address).toMatchObject({ signalUrl: room.signalUrl, room: 'lab' })
    expect(address.secret.length).toBeGreaterThanOrEqual(32)
    expect(room.joinCommand).toContain(`--secret ${address.secret}`)
    await expect(engine.command('room.join', { invite: room.invite })).rejects.toMatchObject({
      code: 'ERR_INVALID_STATE',
    })

    const other = await open()
    const joined = await other.engine.command('room.join', { invite: room.invite })
    expect(joined).toMatchObject({ room: 'lab', signalUrl: room.signalUrl, isEmbeddedSignaling: false })
    expect(joined.peerId).not.toBe(room.peerId)
  })

  it('refuses malformed rooms: bad invites, mixed params, short secrets, non-ws URLs', async () => {
    const { engine } = await open()
    const cases: Array<[unknown, string]> = [
      [{ invite: 'https://example.com' }, 'invite starts with'],
      [{ invite: 'longhaul://join?v=2&signal=ws://a&room=r&secret=12345678' }, 'version 2'],
      [{ invite: 'longhaul://join?v=1&room=r&secret=12345678' }, 'no signal'],
      [{ invite: 'longhaul://join?v=1&signal=ws://a&room=r', room: 'r' }, 'not both'],
      [{ signalUrl: 'ws://a', room: 'r' }, 'together'],
      [{ signalUrl: 'ws://a', room: 'r', secret: 'short' }, 'at least 8'],
      [{ signalUrl: 'http://a', room: 'r', secret: '12345678' }, 'ws:// or wss://'],
      [{ signalUrl: 'ws://a', room: 'bad room', secret: '12345678' }, 'room "bad room"'],
    ]
    for (const [params, message] of cases) {
      const answer = await engine.execute('room.join', params)
      expect(answer.ok ? '' : answer.error.message, JSON.stringify(params)).toContain(message)
    }
    expect(engine.state().room).toBeUndefined()
  })

  it('leaves a local room by closing its embedded server', async () => {
    const fake = await open()
    expect(await fake.engine.command('room.leave', {})).toEqual({ left: false })
    await fake.engine.command('room.create', {})
    expect(await fake.engine.command('room.leave', {})).toEqual({ left: true })
    expect(fake.closedServers()).toBe(1)
    expect(fake.engine.state().room).toBeUndefined()
  })
})

describe('Engine training', () => {
  it('needs a room, a known dataset, a known model and a valid algorithm before it starts', async () => {
    const { engine, requests } = await open()
    await engine.command('datasets.add', { source: 'shapes' })
    await expect(engine.command('training.start', CONFIG)).rejects.toMatchObject({
      code: 'ERR_INVALID_STATE',
    })
    await engine.command('room.create', {})
    await expect(engine.command('training.start', { ...CONFIG, datasetId: 'x' })).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    })
    await expect(engine.command('training.start', { ...CONFIG, model: 'vgg' })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
    const badAlgorithm = await engine.execute('training.start', {
      ...CONFIG,
      algorithm: { kind: 'olco3', H: 0 },
    })
    expect(badAlgorithm.ok ? '' : badAlgorithm.error.code).toBe('ERR_INVALID_ARGUMENT')
    const badPartition = await engine.execute('training.start', {
      ...CONFIG,
      partition: { index: 2, count: 2 },
    })
    expect(badPartition.ok ? '' : badPartition.error.message).toContain('index')
    const badEpochs = await engine.execute('training.start', { ...CONFIG, epochs: 0 })
    expect(badEpochs.ok ? '' : badEpochs.error.message).toContain('epochs must be an integer from 1')
    await expect(
      engine.command('training.start', { ...CONFIG, resumeFrom: 'missing' }),
    ).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
    expect(requests).toEqual([])
    expect(engine.state().training.phase).toBe('idle')
  })

  it('runs through starting, running, paused, running, stopping and finished', async () => {
    const { engine, requests, runs, events } = await open()
    await engine.command('datasets.add', { source: 'shapes' })
    await engine.command('room.create', { room: 'lab' })
    await expect(engine.command('training.pause', {})).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' })
    const started = await engine.command('training.start', { ...CONFIG, maxPeers: 4 })
    expect(started.phase).toBe('running')
    expect(started.connections).toBe('test transports')
    expect(started.algorithm).toEqual({ kind: 'olco3', H: 4, staleness: 1, compressor: 'topk:0.1' })
    expect(requests[0]).toMatchObject({
      maxPeers: 4,
      room: { room: 'lab' },
      checkpointId: started.checkpointId,
    })
    expect(engine.state().backend?.name).toBe('cpu')
    // The join command now carries what a second node must match.
    expect(engine.state().room?.joinCommand).toContain('--algo olco3:H=4,staleness=1,compressor=topk:0.1')
    expect(engine.state().room?.joinCommand).toContain('--max-peers 4')
    await expect(engine.command('training.start', CONFIG)).rejects.toMatchObject({
      code: 'ERR_INVALID_STATE',
    })
    expect((await engine.command('training.pause', {})).phase).toBe('paused')
    expect((await engine.command('training.resume', {})).phase).toBe('running')
    const stopped = await engine.command('training.stop', {})
    expect(stopped.phase).toBe('finished')
    expect(stopped.summary?.isStopped).toBe(true)
    expect(runs[0]?.calls).toEqual(['pause', 'resume', 'stop'])
    const phases = events.flatMap((e) => (e.kind === 'state' ? [e.state.training.phase] : []))
    expect(phases.filter((p, i) => p !== phases[i - 1])).toEqual([
      'idle',
      'starting',
      'running',
      'paused',
      'running',
      'stopping',
      'finished',
    ])
  })

  it('reports a failed run as a phase and an error event, then starts again', async () => {
    const { engine, runs, events } = await open()
    await engine.command('datasets.add', { source: 'shapes' })
    await engine.command('room.create', {})
    await engine.command('training.start', CONFIG)
    runs[0]?.fail(new CoreError('ERR_NON_FINITE', 'training diverged'))
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(engine.state().training).toMatchObject({
      phase: 'failed',
      error: { code: 'ERR_NON_FINITE', message: 'training diverged' },
    })
    expect(events.some((e) => e.kind === 'error' && e.error.code === 'ERR_NON_FINITE')).toBe(true)
    expect((await engine.command('training.start', CONFIG)).phase).toBe('running')
    runs[1]?.finish(SUMMARY)
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(engine.state().training).toMatchObject({ phase: 'finished', summary: SUMMARY })
  })

  it('replays node events marked as replay, newest peers only, within its bounds', async () => {
    const { engine, requests } = await open({ historyLimits: { main: 3, perRound: 2 } })
    await engine.command('datasets.add', { source: 'shapes' })
    await engine.command('room.create', {})
    await engine.command('training.start', CONFIG)
    const emit = requests[0]?.onEvent ?? (() => {})
    for (let i = 0; i < 5; i++) {
      emit({ t: i, type: 'log', level: 'info', message: `log ${i}` })
      emit({ t: i, type: 'topology', round: i, slot: 0, sentTo: [1], receivedFrom: [1] })
      emit({ t: i, type: 'peers', round: i, peers: [] })
    }
    const replay = engine.replay()
    expect(replay.every((e) => e.kind !== 'node' || e.replay === true)).toBe(true)
    const nodeEvents = replay.flatMap((e) => (e.kind === 'node' ? [e.event] : []))
    expect(nodeEvents.filter((e) => e.type === 'peers').map((e) => e.t)).toEqual([4])
    expect(nodeEvents.filter((e) => e.type === 'topology').map((e) => e.t)).toEqual([3, 4])
    expect(replay.length).toBe(3 + 2 + 1)
  })

  it('keeps a backend setting, refuses unknown names, and lets a launch flag win', async () => {
    const { engine } = await open()
    await expect(engine.command('settings.setBackend', { backend: 'tpu' })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
    expect((await engine.command('settings.setBackend', { backend: 'wasm' })).preferredBackend).toBe('wasm')
    expect((await engine.command('settings.setBackend', {})).preferredBackend).toBeUndefined()
    const flagged = await open({ preferredBackend: 'cpu' })
    await flagged.engine.command('settings.setBackend', { backend: 'wasm' })
    expect(flagged.engine.state().preferredBackend).toBe('cpu')
    await expect(open({ preferredBackend: 'tpu' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
  })

  it('stops a run and closes its room on close, and refuses commands afterwards', async () => {
    const fake = await open()
    await fake.engine.command('datasets.add', { source: 'shapes' })
    await fake.engine.command('room.create', {})
    await fake.engine.command('training.start', CONFIG)
    await fake.engine.close()
    expect(fake.runs[0]?.calls).toEqual(['stop'])
    expect(fake.closedServers()).toBe(1)
    await expect(fake.engine.command('datasets.list', {})).rejects.toMatchObject({ code: 'ERR_DESTROYED' })
  })
})
