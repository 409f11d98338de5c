/**
 * HostedPeerTransport over real WebRTC: the peer-host service runs here with @roamhq/wrtc (in the
 * app it runs in a Chromium page or Electron window; test/e2e/chromium-peer-host.test.ts covers
 * that), the engine side drives it over a real MessageChannel, and the other end of every
 * connection is the ordinary in-process SimplePeerTransport. Everything on the wire is real.
 */
import SimplePeer from 'simple-peer'
import { waitFor } from '../../harness/node-process.ts'
import { MessageChannel } from 'node:worker_threads'
import type { MessagePort } from 'node:worker_threads'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createPortChannel } from '../../../core/browser/channel.ts'
import type { MessagePortLike, TrainerChannel } from '../../../core/browser/channel.ts'
import { PeerHostService } from '../../../core/browser/peer-host-service.ts'
import type { HostedPeer } from '../../../core/browser/peer-host-service.ts'
import { CoreError, isCoreError } from '../../../core/errors.ts'
import { loadNodeWrtc } from '../../../core/platform/wrtc.node.ts'
import { CHUNK_HEADER_BYTES, DEFAULT_CHUNK_BYTES } from '../../../core/protocol/chunker.ts'
import { PeerHostClient } from '../../../core/transport/hosted-peer-transport.ts'
import type { HostedPeerTransport } from '../../../core/transport/hosted-peer-transport.ts'
import { DEFAULT_HIGH_WATER_MARK_BYTES } from '../../../core/transport/peer-transport.ts'
import type { PeerTransport, SignaledPeerTransport } from '../../../core/transport/peer-transport.ts'
import { SimplePeerTransport } from '../../../core/transport/simple-peer-transport.ts'
import { clearIceCompleteTimer } from '../../../core/transport/simple-peer-internals.ts'
import type { WebRtcImplementation } from '../../../core/transport/simple-peer-transport.ts'

const PIECE_BYTES = DEFAULT_CHUNK_BYTES - CHUNK_HEADER_BYTES

let wrtc: WebRtcImplementation
const cleanups: Array<() => Promise<void> | void> = []

beforeAll(async () => {
  wrtc = await loadNodeWrtc()
})

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** Node's MessagePort as the channel's MessagePortLike (its events carry `data` like the DOM's). */
function portLike(port: MessagePort): MessagePortLike {
  return port as unknown as MessagePortLike
}

interface Host {
  readonly client: PeerHostClient
  readonly service: PeerHostService
  readonly pageChannel: TrainerChannel
  readonly peers: HostedPeer[]
}

async function startHost(): Promise<Host> {
  const { port1, port2 } = new MessageChannel()
  const pageChannel = createPortChannel(portLike(port2))
  const peers: HostedPeer[] = []
  const service = new PeerHostService({
    channel: pageChannel,
    userAgent: 'node-test',
    createPeer: (options) => {
      const peer = new SimplePeer({ ...options, wrtc })
      peers.push(peer)
      return peer
    },
  })
  const engineChannel = createPortChannel(portLike(port1))
  // A DOM MessagePort says nothing when its peer closes; Node's (like Electron's MessagePortMain,
  // electron/port-adapter.ts) emits 'close', which is how the engine learns the page is gone.
  port1.on('close', () =>
    engineChannel.close(new CoreError('ERR_CONNECTION_FAILED', 'the page closed its port')),
  )
  const client = await PeerHostClient.connect({ channel: engineChannel, description: 'test page' })
  cleanups.push(() => {
    client.close()
    pageChannel.close()
    for (const peer of peers) clearIceCompleteTimer(peer)
  })
  return { client, service, pageChannel, peers }
}

function frameOf(length: number, seed: number): Uint8Array {
  const frame = new Uint8Array(length)
  for (let i = 0; i < length; i++) frame[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff
  return frame
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b))
}

function link(from: SignaledPeerTransport, to: SignaledPeerTransport): void {
  from.on('signal', (data) => {
    if (to.state === 'connecting' || to.state === 'connected') to.signal(data)
  })
}

function once(transport: PeerTransport, event: 'connect' | 'close'): Promise<void> {
  return new Promise((resolve) => {
    const off = transport.on(event, () => {
      off()
      resolve()
    })
  })
}

async function connectPair(
  host: Host,
  hostedIsInitiator = true,
): Promise<{ hosted: HostedPeerTransport; local: SimplePeerTransport }> {
  const hosted = host.client.createTransport({ peerId: 'local', initiator: hostedIsInitiator })
  const local = new SimplePeerTransport({ peerId: 'hosted', initiator: !hostedIsInitiator, wrtc })
  cleanups.push(async () => {
    await Promise.all([hosted.close(), local.close()])
  })
  link(hosted, local)
  link(local, hosted)
  await Promise.all([once(hosted, 'connect'), once(local, 'connect')])
  return { hosted, local }
}

describe('HostedPeerTransport: WebRTC held by a peer-host service', () => {
  it('connects either way round and carries frames both ways, intact and in order', async () => {
    const host = await startHost()
    expect(host.client.userAgent).toBe('node-test')
    for (const hostedIsInitiator of [true, false]) {
      const { hosted, local } = await connectPair(host, hostedIsInitiator)
      const frames = [frameOf(1, 1), frameOf(PIECE_BYTES, 2), frameOf(3 * 1024 * 1024 + 5, 3), frameOf(17, 4)]
      const atLocal: Uint8Array[] = []
      const atHosted: Uint8Array[] = []
      local.on('frame', (f) => atLocal.push(f))
      hosted.on('frame', (f) => atHosted.push(f))
      await Promise.all([
        (async () => {
          for (const f of frames) await hosted.send(f)
        })(),
        (async () => {
          for (const f of [...frames].reverse()) await local.send(f)
        })(),
      ])
      await waitFor(() => atLocal.length === 4 && atHosted.length === 4, 'frames both ways', [], 20_000)
      frames.forEach((f, i) => expect(sameBytes(atLocal[i]!, f)).toBe(true))
      ;[...frames].reverse().forEach((f, i) => expect(sameBytes(atHosted[i]!, f)).toBe(true))
      const chunks = frames.reduce((n, f) => n + Math.ceil(f.length / PIECE_BYTES), 0)
      const wireBytes = frames.reduce((n, f) => n + f.length, 0) + chunks * CHUNK_HEADER_BYTES
      expect(hosted.getStats().bytesSent).toBe(wireBytes)
      expect(hosted.getStats().bytesReceived).toBe(wireBytes)
      await Promise.all([hosted.close(), local.close()])
    }
  })

  it('keeps bufferedAmount under the high-water mark while a big frame streams, and reports the ICE path', async () => {
    const host = await startHost()
    const { hosted, local } = await connectPair(host)
    let received = 0
    local.on('frame', () => received++)
    let peak = 0
    const sampler = setInterval(() => {
      peak = Math.max(peak, hosted.bufferedAmount)
    }, 1)
    const frame = frameOf(8 * 1024 * 1024, 9)
    for (let i = 0; i < 3; i++) await hosted.send(frame)
    await waitFor(() => received === 3, 'three 8 MB frames', [], 20_000)
    clearInterval(sampler)
    expect(peak).toBeGreaterThan(0)
    expect(peak).toBeLessThanOrEqual(DEFAULT_HIGH_WATER_MARK_BYTES)
    const stats = await hosted.refreshStats()
    expect(stats.connectionType).toBe('host')
    expect(stats.localCandidate?.type).toBe('host')
  })

  it('closes cleanly when either side closes, and the page lets go of the connection', async () => {
    const host = await startHost()
    const first = await connectPair(host)
    const closed = once(first.hosted, 'close')
    await first.local.close()
    await closed
    expect(first.hosted.state).toBe('closed')
    const second = await connectPair(host)
    await second.hosted.close()
    await waitFor(() => second.local.isClosed, 'the remote end closing', [], 20_000)
    await waitFor(() => host.service.connectionCount === 0, 'the page releasing both connections', [], 20_000)
    expect(host.client.connectionCount).toBe(0)
  })

  it('fails every transport with one sentence when the page goes away', async () => {
    const host = await startHost()
    const { hosted } = await connectPair(host)
    const waiting = host.client.createTransport({ peerId: 'nobody', initiator: true })
    const errors: string[] = []
    hosted.on('error', (e) => errors.push(e.message))
    waiting.on('error', (e) => errors.push(e.message))
    host.pageChannel.close()
    await waitFor(
      () => hosted.state === 'failed' && waiting.state === 'failed',
      'both transports failing',
      [],
      20_000,
    )
    expect(errors).toHaveLength(2)
    for (const message of errors)
      expect(message).toMatch(/^WebRTC connections through test page were lost: the page closed its port$/)
    expect(() => host.client.createTransport({ peerId: 'x', initiator: true })).toThrow(/were lost/)
  })

  it('refuses a page that does not say hello, or serves something else', async () => {
    const silent = new MessageChannel()
    cleanups.push(() => {
      silent.port1.close()
      silent.port2.close()
    })
    await expect(
      PeerHostClient.connect({
        channel: createPortChannel(portLike(silent.port1)),
        description: 'silent page',
        helloTimeoutMs: 200,
      }),
    ).rejects.toThrow(/silent page\) did not answer within 200 ms/)

    const trainer = new MessageChannel()
    const trainerSide = createPortChannel(portLike(trainer.port2))
    cleanups.push(() => trainerSide.close())
    const connecting = PeerHostClient.connect({
      channel: createPortChannel(portLike(trainer.port1)),
      description: 'trainer page',
    })
    trainerSide.send({ head: { v: 1, type: 'rtc.hello', service: 'trainer', userAgent: 'x' }, buffers: [] })
    const error: unknown = await connecting.catch((e: unknown) => e)
    expect(isCoreError(error)).toBe(true)
    expect(String(error)).toMatch(/serves "trainer", not webrtc/)
  })
})
