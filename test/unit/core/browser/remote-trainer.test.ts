/**
 * The trainer protocol end to end inside one Node process: a TrainerService (the browser side) and a
 * TrainerClient (the engine side) over a real MessageChannel, on the cpu backend. Both sides run the
 * same Trainer on the same backend, so every number must match a local Trainer exactly.
 */
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { localAsyncTrainer } from '../../../../core/browser/async-trainer.ts'
import type { AsyncTrainer } from '../../../../core/browser/async-trainer.ts'
import { createPortChannel } from '../../../../core/browser/channel.ts'
import type { TrainerChannel } from '../../../../core/browser/channel.ts'
import { TrainerClient } from '../../../../core/browser/remote-trainer.ts'
import { TrainerService } from '../../../../core/browser/trainer-service.ts'
import type { TrainerSpec } from '../../../../core/browser/trainer-protocol.ts'
import { generateShapes } from '../../../../core/data/shapes.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { createCpuRoute } from '../../../../core/platform/cpu-route.ts'
import type { BackendRoute } from '../../../../core/tensor/backend-select.ts'
import { zooModel } from '../../../../core/tensor/models.ts'
import { Trainer } from '../../../../core/training/trainer.ts'

const DATA = generateShapes({ count: 48, testCount: 24, seed: 3, size: 12 })
const SHAPE = { inputShape: [12, 12, 1], classCount: 10 }
const SPEC: TrainerSpec = {
  backend: 'cpu',
  model: 'mlp',
  ...SHAPE,
  optimizer: { kind: 'sgd', learningRate: 0.05 },
}

/** A GPU-looking route that is available but registers no kernels here. */
const KERNEL_LESS: BackendRoute = {
  name: 'fakegpu',
  kind: 'webgl',
  isHardware: true,
  probe: () => Promise.resolve({ available: true, reason: 'pretends', isHardware: true }),
  register: () => Promise.resolve(),
}

interface Pair {
  client: TrainerClient
  service: TrainerService
  serviceChannel: TrainerChannel
}

const open: Pair[] = []

function connect(routes: BackendRoute[] = [createCpuRoute(), KERNEL_LESS], requestTimeoutMs?: number): Pair {
  const { port1, port2 } = new MessageChannel()
  const serviceChannel = createPortChannel(port2)
  const service = new TrainerService({ channel: serviceChannel, routes })
  const client = new TrainerClient({
    channel: createPortChannel(port1),
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
  })
  const pair = { client, service, serviceChannel }
  open.push(pair)
  return pair
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

let previousBackend: string | undefined

beforeAll(async () => {
  previousBackend = tf.engine().backendName ?? undefined
  await tf.setBackend('cpu')
})

afterEach(() => {
  for (const pair of open.splice(0)) {
    pair.client.close()
    pair.service.close()
  }
})

afterAll(async () => {
  if (previousBackend !== undefined) await tf.setBackend(previousBackend)
})

function localTrainer(): Trainer {
  return new Trainer({ model: zooModel('mlp').build(SHAPE), classCount: 10, optimizer: SPEC.optimizer })
}

describe('TrainerClient + TrainerService', () => {
  it('opens a trainer with the same layout as a local one and labels the backend', async () => {
    const { client } = connect()
    const remote = await client.open(SPEC)
    const local = localTrainer()
    expect(remote.totalSize).toBe(local.params.layout.totalSize)
    expect(remote.fingerprint).toBe(local.params.layout.fingerprint)
    expect(remote.info).toMatchObject({ backend: 'cpu', isHardware: false })
    local.close()
    await remote.close()
  })

  it('trains, reads and evaluates exactly like a local Trainer given the same start', async () => {
    const { client } = connect()
    const remote = await client.open(SPEC)
    const local = localAsyncTrainer(localTrainer())
    const start = await local.readParams()
    await remote.writeParams(start)
    expect(await remote.readParams()).toEqual(start)

    const x = DATA.train.x
    const y = DATA.train.y
    const remoteLosses = await remote.trainSteps(x, y, 16)
    const localLosses = await local.trainSteps(x, y, 16)
    expect(remoteLosses).toHaveLength(3)
    expect([...remoteLosses]).toEqual([...localLosses])
    const remoteParams = await remote.readParams()
    expect(remoteParams).toEqual(await local.readParams())
    // The steps moved the parameters: equality above is not two untouched copies.
    expect(remoteParams).not.toEqual(start)
    expect(await remote.evaluate(DATA.test, 10)).toEqual(await local.evaluate(DATA.test, 10))
    await remote.close()
    await local.close()
  })

  it('computes and applies gradients across the channel exactly like locally', async () => {
    const { client } = connect()
    const remote = await client.open(SPEC)
    const local = localAsyncTrainer(localTrainer())
    await remote.writeParams(await local.readParams())
    const x = DATA.train.x.subarray(0, 8 * 144)
    const y = DATA.train.y.subarray(0, 8)
    const remoteGradient = new Float32Array(remote.totalSize)
    const localGradient = new Float32Array(remote.totalSize)
    const remoteLoss = await remote.computeGradients(x, y, remoteGradient)
    expect(remoteLoss).toBe(await local.computeGradients(x, y, localGradient))
    expect(remoteGradient).toEqual(localGradient)
    expect(remoteGradient.some((g) => g !== 0)).toBe(true)
    await remote.applyGradients(localGradient)
    await local.applyGradients(localGradient)
    expect(await remote.readParams()).toEqual(await local.readParams())
    await remote.close()
    await local.close()
  })

  it('exports and imports Adam state across the channel so both sides continue identically', async () => {
    // The cnn's Adam state is 17 tensors: more than a channel message's buffer limit if sent one each.
    const spec: TrainerSpec = { ...SPEC, model: 'cnn', optimizer: { kind: 'adam', learningRate: 0.01 } }
    const cnnTrainer = (): AsyncTrainer =>
      localAsyncTrainer(
        new Trainer({ model: zooModel('cnn').build(SHAPE), classCount: 10, optimizer: spec.optimizer }),
      )
    const { client } = connect()
    const remote = await client.open(spec)
    const source = cnnTrainer()
    const x = DATA.train.x.subarray(0, 8 * 144)
    const y = DATA.train.y.subarray(0, 8)
    await source.trainSteps(x, y, 4)
    const state = await source.exportOptimizerState()
    expect(state.length).toBe(17)
    // The same import into a local trainer and into the page must give the same continuation
    // (tfjs recomputes Adam's bias corrections on import, so compare importer with importer).
    const local = cnnTrainer()
    const params = await source.readParams()
    for (const target of [remote, local]) {
      await target.writeParams(params)
      await target.importOptimizerState(state)
    }
    const back = await remote.exportOptimizerState()
    expect(back.map((t) => [t.name, t.shape, [...t.values]])).toEqual(
      state.map((t) => [t.name, t.shape, [...t.values]]),
    )
    expect([...(await remote.trainSteps(x, y, 8))]).toEqual([...(await local.trainSteps(x, y, 8))])
    const remoteParams = await remote.readParams()
    const localParams = await local.readParams()
    expect(remoteParams.every((v, i) => v === localParams[i])).toBe(true)
    expect(remoteParams.some((v, i) => v !== params[i])).toBe(true)
    for (const trainer of [remote, source, local]) await trainer.close()
  })

  it('leaves the caller vectors usable after sending them', async () => {
    const { client } = connect()
    const remote = await client.open(SPEC)
    const params = await remote.readParams()
    await remote.writeParams(params)
    expect(params.length).toBe(remote.totalSize)
    expect(params.buffer.byteLength).toBeGreaterThan(0)
    await remote.close()
  })

  it('frees every tensor it made once the trainer is closed', async () => {
    const { client } = connect()
    const before = tf.memory().numTensors
    const remote = await client.open(SPEC)
    await remote.trainSteps(DATA.train.x, DATA.train.y, 16)
    await remote.evaluate(DATA.test)
    await remote.close()
    expect(tf.memory().numTensors).toBe(before)
  })

  it('reports the cpu route and its kernels from probe', async () => {
    const { client } = connect()
    const facts = await client.probe(['cpu'])
    expect(facts).toHaveLength(1)
    expect(facts[0]).toMatchObject({ backendName: 'cpu', kind: 'js', available: true, isHardware: false })
    expect(facts[0]?.kernels).toContain('Conv2DBackpropFilter')
  })

  it('refuses to open on a backend that lacks a training kernel, naming it', async () => {
    const { client } = connect()
    const error = await rejection(client.open({ ...SPEC, backend: 'fakegpu' }))
    expect(isCoreError(error, 'ERR_BACKEND_UNAVAILABLE')).toBe(true)
    expect(String(error)).toMatch(
      /Tensor backend 'fakegpu' was requested \(the engine asked for it\) but it lacks/,
    )
    // The refusal left no trainer open: a valid open still works.
    const remote = await client.open(SPEC)
    await remote.close()
  })

  it('refuses a second open while one trainer is open', async () => {
    const { client } = connect()
    const remote = await client.open(SPEC)
    const error = await rejection(client.open(SPEC))
    expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
    await remote.close()
  })

  it('answers requests for a closed trainer with ERR_INVALID_ARGUMENT', async () => {
    const { client } = connect()
    const remote = await client.open(SPEC)
    await remote.close()
    expect(
      isCoreError(await rejection(client.request({ type: 'trainer.read-params' })), 'ERR_INVALID_ARGUMENT'),
    ).toBe(true)
  })

  it('carries the service error code for a wrong-sized parameter vector', async () => {
    const { client } = connect()
    const remote = await client.open(SPEC)
    const error = await rejection(remote.writeParams(new Float32Array(3)))
    expect(isCoreError(error, 'ERR_SHAPE_MISMATCH')).toBe(true)
    expect(String(error)).toContain('has 3 values')
    await remote.close()
  })

  it('checks the caller output sizes before asking', async () => {
    const { client } = connect()
    const remote = await client.open(SPEC)
    expect(isCoreError(await rejection(remote.readParams(new Float32Array(2))), 'ERR_SHAPE_MISMATCH')).toBe(
      true,
    )
    const x = DATA.train.x.subarray(0, 144)
    const y = DATA.train.y.subarray(0, 1)
    expect(
      isCoreError(await rejection(remote.computeGradients(x, y, new Float32Array(1))), 'ERR_SHAPE_MISMATCH'),
    ).toBe(true)
    await remote.close()
  })
})

describe('TrainerClient failures', () => {
  it('fails a request with ERR_TIMEOUT when nothing answers in time', async () => {
    const { port1, port2 } = new MessageChannel()
    const client = new TrainerClient({ channel: createPortChannel(port1), requestTimeoutMs: 30 })
    const error = await rejection(client.probe())
    expect(isCoreError(error, 'ERR_TIMEOUT')).toBe(true)
    expect(String(error)).toContain('did not answer trainer.probe within 30 ms')
    client.close()
    port2.close()
  })

  it('fails waiting requests with ERR_REMOTE_TRAINER when the channel closes', async () => {
    const { port1, port2 } = new MessageChannel()
    const channel = createPortChannel(port1)
    const client = new TrainerClient({ channel, requestTimeoutMs: 5_000 })
    const waiting = rejection(client.probe())
    channel.close()
    expect(isCoreError(await waiting, 'ERR_REMOTE_TRAINER')).toBe(true)
    expect(isCoreError(await rejection(client.probe()), 'ERR_REMOTE_TRAINER')).toBe(true)
    port2.close()
  })

  it('fails with ERR_ABORTED when its signal aborts', async () => {
    const { port1, port2 } = new MessageChannel()
    const controller = new AbortController()
    const client = new TrainerClient({ channel: createPortChannel(port1), signal: controller.signal })
    const waiting = rejection(client.probe())
    controller.abort()
    expect(isCoreError(await waiting, 'ERR_ABORTED')).toBe(true)
    port2.close()
  })

  it('closes when the other side answers a request that is not waiting', async () => {
    const { port1, port2 } = new MessageChannel()
    const clientChannel = createPortChannel(port1)
    const client = new TrainerClient({ channel: clientChannel, requestTimeoutMs: 5_000 })
    const rogue = createPortChannel(port2)
    const closed = new Promise<unknown>((resolve) => clientChannel.onClose(resolve))
    rogue.send({ head: { v: 1, id: 99, type: 'trainer.ok', result: {} }, buffers: [] })
    const error = await closed
    expect(isCoreError(error, 'ERR_REMOTE_TRAINER')).toBe(true)
    expect(String(error)).toContain('request 99, which is not waiting')
    client.close()
  })

  it('has the service answer a malformed request with ERR_BAD_MESSAGE under its id', async () => {
    const { port1, port2 } = new MessageChannel()
    const serviceChannel = createPortChannel(port2)
    const service = new TrainerService({ channel: serviceChannel, routes: [createCpuRoute()] })
    const engine = createPortChannel(port1)
    const reply = new Promise<unknown>((resolve) => engine.onMessage((m) => resolve(m.head)))
    engine.send({ head: { v: 1, id: 5, type: 'trainer.write-params' }, buffers: [] })
    expect(await reply).toMatchObject({ id: 5, type: 'trainer.error', code: 'ERR_BAD_MESSAGE' })
    service.close()
    engine.close()
  })
})
