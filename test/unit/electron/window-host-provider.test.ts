/**
 * The desktop GPU-route seam end to end in one process: the engine-side provider asks "main" for a
 * trainer window; the stand-in main answers with one end of a real MessageChannel, wrapped to
 * behave like Electron's MessagePortMain (Node-style `{ data }` events, no ArrayBuffer transfer);
 * the other end runs the real TrainerService on the cpu backend, as the hidden window's page does.
 */
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { EventEmitter } from 'node:events'
import { MessageChannel } from 'node:worker_threads'
import type { MessagePort } from 'node:worker_threads'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createPortChannel } from '../../../core/browser/channel.ts'
import { TrainerService } from '../../../core/browser/trainer-service.ts'
import { isCoreError } from '../../../core/errors.ts'
import { createCpuRoute } from '../../../core/platform/cpu-route.ts'
import type { EngineToMain, MainToEngine } from '../../../electron/engine-messages.ts'
import type { MessagePortMainLike } from '../../../electron/port-adapter.ts'
import { createWindowHostProvider } from '../../../electron/window-host-provider.ts'
import type { MainLink } from '../../../electron/window-host-provider.ts'

/** A Node MessagePort with Electron MessagePortMain's surface. */
class ElectronStylePort extends EventEmitter implements MessagePortMainLike {
  constructor(private readonly port: MessagePort) {
    super()
    port.on('message', (data: unknown) => this.emit('message', { data, ports: [] }))
    port.on('close', () => this.emit('close'))
  }
  postMessage(message: unknown): void {
    this.port.postMessage(message)
  }
  start(): void {
    this.port.start()
  }
  close(): void {
    this.port.close()
  }
}

type WindowMessage = Extract<MainToEngine, { type: `trainer-window.${string}` }>

function standInMain(behaviour: 'open' | 'fail' | 'silent') {
  const listeners = new Set<(message: WindowMessage, ports: readonly MessagePortMainLike[]) => void>()
  const requests: EngineToMain[] = []
  const services: TrainerService[] = []
  const pagePorts: MessagePort[] = []
  const answer = (message: WindowMessage, ports: MessagePortMainLike[] = []): void => {
    for (const listener of listeners) listener(message, ports)
  }
  const link: MainLink = {
    post: (message) => {
      requests.push(message)
      if (message.type !== 'trainer-window.open') return
      if (behaviour === 'fail')
        answer({ type: 'trainer-window.failed', id: message.id, message: 'no GPU process' })
      if (behaviour !== 'open') return
      const { port1, port2 } = new MessageChannel()
      pagePorts.push(port2)
      services.push(
        new TrainerService({
          channel: createPortChannel(port2 as unknown as Parameters<typeof createPortChannel>[0]),
          routes: [createCpuRoute()],
        }),
      )
      answer({ type: 'trainer-window.opened', id: message.id, description: 'stand-in window' }, [
        new ElectronStylePort(port1),
      ])
    },
    onTrainerWindowMessage: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
  return { link, requests, services, pagePorts, answer }
}

const cleanups: Array<() => void | Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

beforeAll(async () => {
  await tf.setBackend('cpu')
})
afterAll(() => tf.disposeVariables())

describe('createWindowHostProvider', () => {
  it('probes and trains through a trainer window, with parameters copied across the port', async () => {
    const main = standInMain('open')
    const provider = createWindowHostProvider({ link: main.link, backends: ['cpu'] })
    cleanups.push(() => provider.closeHost())
    const probe = await provider.probe()
    if (!('routes' in probe)) throw new Error(`probe failed: ${probe.reason}`)
    expect(probe.host).toBe('stand-in window')
    expect(probe.routes.find((r) => r.backendName === 'cpu')?.available).toBe(true)

    const host = await provider.acquire()
    const trainer = await host.client.open({
      backend: 'cpu',
      model: 'mlp',
      inputShape: [4, 4, 1],
      classCount: 3,
      optimizer: { kind: 'sgd', learningRate: 0.1 },
    })
    const before = await trainer.readParams()
    const x = new Float32Array(8 * 16).map((_, i) => ((i * 7) % 11) / 11)
    const y = new Int32Array(8).map((_, i) => i % 3)
    await trainer.trainSteps(x, y, 4)
    const after = await trainer.readParams()
    expect(after.length).toBe(before.length)
    expect(after.some((value, i) => value !== before[i])).toBe(true)
    expect(main.requests[0]).toEqual({
      type: 'trainer-window.open',
      id: expect.any(Number) as unknown,
      backends: ['cpu'],
    })
  })

  it('passes main refusal on as the probe reason', async () => {
    const main = standInMain('fail')
    const provider = createWindowHostProvider({ link: main.link, backends: ['webgl'] })
    expect(await provider.probe()).toEqual({
      reason: 'the hidden trainer window could not open: no GPU process',
    })
  })

  it('times out when main never answers, and asks main to close the window', async () => {
    const main = standInMain('silent')
    const provider = createWindowHostProvider({ link: main.link, backends: ['webgl'], openTimeoutMs: 100 })
    const error: unknown = await provider.acquire().catch((e: unknown) => e)
    expect(isCoreError(error, 'ERR_TIMEOUT')).toBe(true)
    expect(main.requests.map((r) => r.type)).toEqual(['trainer-window.open', 'trainer-window.close'])
  })

  it('fails waiting requests when the window goes away, then opens a fresh one', async () => {
    const main = standInMain('open')
    const provider = createWindowHostProvider({ link: main.link, backends: ['cpu'] })
    cleanups.push(() => provider.closeHost())
    const first = await provider.acquire()
    const request = main.requests[0]
    if (request?.type !== 'trainer-window.open') throw new Error('no open request')
    main.answer({ type: 'trainer-window.gone', id: request.id, reason: 'its renderer crashed' })
    const error: unknown = await first.client.probe(['cpu']).catch((e: unknown) => e)
    expect(isCoreError(error)).toBe(true)
    const second = await provider.acquire()
    expect(second).not.toBe(first)
    expect(main.requests.filter((r) => r.type === 'trainer-window.open')).toHaveLength(2)
  })
})
