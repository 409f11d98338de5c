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
import { PeerHostService } from '../../../core/browser/peer-host-service.ts'
import { TrainerService } from '../../../core/browser/trainer-service.ts'
import { loadNodeWrtc } from '../../../core/platform/wrtc.node.ts'
import { SimplePeerTransport } from '../../../core/transport/simple-peer-transport.ts'
import { clearIceCompleteTimer } from '../../../core/transport/simple-peer-internals.ts'
import type { WebRtcImplementation } from '../../../core/transport/simple-peer-transport.ts'
import type { SignaledPeerTransport } from '../../../core/transport/peer-transport.ts'
import SimplePeer from 'simple-peer'
import { isCoreError } from '../../../core/errors.ts'
import { createCpuRoute } from '../../../core/platform/cpu-route.ts'
import type { EngineToMain, MainToEngine } from '../../../electron/engine-messages.ts'
import type { MessagePortMainLike } from '../../../electron/port-adapter.ts'
import { createWindowHostProvider, createWindowWebRtc } from '../../../electron/window-host-provider.ts'
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
  const peerHosts: PeerHostService[] = []
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
      const pageChannel = createPortChannel(port2 as unknown as Parameters<typeof createPortChannel>[0])
      if (message.service === 'webrtc') {
        // The window's WebRTC page, with @roamhq/wrtc standing in for Chromium's RTCPeerConnection.
        peerHosts.push(
          new PeerHostService({
            channel: pageChannel,
            userAgent: 'stand-in Chromium',
            createPeer: (options) => {
              const peer = new SimplePeer({ ...options, wrtc: requireWrtc() })
              cleanups.push(() => clearIceCompleteTimer(peer))
              return peer
            },
          }),
        )
      } else {
        services.push(new TrainerService({ channel: pageChannel, routes: [createCpuRoute()] }))
      }
      answer({ type: 'trainer-window.opened', id: message.id, description: 'stand-in window' }, [
        new ElectronStylePort(port1),
      ])
    },
    onTrainerWindowMessage: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
  return { link, requests, services, peerHosts, pagePorts, answer }
}

const cleanups: Array<() => void | Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

let wrtc: WebRtcImplementation | undefined
function requireWrtc(): WebRtcImplementation {
  if (wrtc === undefined) throw new Error('wrtc is not loaded')
  return wrtc
}

beforeAll(async () => {
  await tf.setBackend('cpu')
  wrtc = await loadNodeWrtc()
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
      service: 'trainer',
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

/** Connects `hosted` to a wrtc peer in this process and checks a 100 kB frame arrives intact. */
async function expectFrameFromWrtcPeer(hosted: SignaledPeerTransport): Promise<void> {
  const local = new SimplePeerTransport({ peerId: 'desktop', initiator: false, wrtc: requireWrtc() })
  cleanups.push(async () => {
    await Promise.all([hosted.close(), local.close()])
  })
  hosted.on('signal', (data) => local.signal(data))
  local.on('signal', (data) => hosted.signal(data))
  const received = new Promise<Uint8Array>((resolve) => hosted.on('frame', resolve))
  await new Promise<void>((resolve) => local.on('connect', resolve))
  const frame = new Uint8Array(100_000).map((_, i) => (i * 13) & 0xff)
  await local.send(frame)
  expect(Buffer.from(await received).equals(Buffer.from(frame))).toBe(true)
}

describe('createWindowWebRtc', () => {
  it('carries a real WebRTC connection through the window, and replaces a window that went away', async () => {
    const main = standInMain('open')
    const webrtc = createWindowWebRtc({ link: main.link })
    cleanups.push(() => webrtc.close())
    const stack = await webrtc.open()
    expect(stack.description).toBe("stand-in window: the browser's own WebRTC")
    expect(main.requests[0]).toMatchObject({ type: 'trainer-window.open', service: 'webrtc' })

    const request = { peerId: 'local', initiator: true, iceServers: [], connectTimeoutMs: 20_000 }
    const hosted = stack.createTransport(request)
    // Received bytes crossed a MessagePortMain-style port by copy, as they do in the utility process.
    await expectFrameFromWrtcPeer(hosted)

    // A second session reuses the same window.
    const second = await webrtc.open()
    await second.close()
    expect(main.requests.filter((r) => r.type === 'trainer-window.open')).toHaveLength(1)

    const failed = new Promise<string>((resolve) => hosted.on('error', (e) => resolve(e.message)))
    const opened = main.requests[0]
    if (opened?.type !== 'trainer-window.open') throw new Error('no open request')
    main.answer({ type: 'trainer-window.gone', id: opened.id, reason: 'its renderer crashed' })
    expect(await failed).toBe(
      'WebRTC connections through stand-in window were lost: the hidden webrtc window went away: its renderer crashed',
    )
    // A fresh window is already being opened; until it answers, new transports fail with a reason.
    expect(main.requests.filter((r) => r.type === 'trainer-window.open')).toHaveLength(2)
    expect(() => stack.createTransport(request)).toThrow(
      'the hidden WebRTC window is reopening after it went away',
    )
    // The same session's stack then reconnects through the new window, with no call from the engine.
    let again: ReturnType<typeof stack.createTransport> | undefined
    for (let i = 0; i < 200 && again === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      try {
        again = stack.createTransport(request)
      } catch {
        // Still reopening.
      }
    }
    if (again === undefined) throw new Error('the stack never got a new window')
    await expectFrameFromWrtcPeer(again)
    expect(main.requests.filter((r) => r.type === 'trainer-window.open')).toHaveLength(2)
  })

  it('stops reopening once closed', async () => {
    const main = standInMain('open')
    const webrtc = createWindowWebRtc({ link: main.link })
    await webrtc.open()
    await webrtc.close()
    expect(main.requests.map((r) => r.type)).toEqual(['trainer-window.open', 'trainer-window.close'])
  })

  it('says why when main cannot open the window', async () => {
    const main = standInMain('fail')
    const webrtc = createWindowWebRtc({ link: main.link })
    await expect(webrtc.open()).rejects.toThrow('the hidden webrtc window could not open: no GPU process')
  })
})
