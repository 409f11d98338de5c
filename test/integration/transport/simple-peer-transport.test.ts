/**
 * SimplePeerTransport over real WebRTC (@roamhq/wrtc): two transports in this process,
 * connected by handing each one's 'signal' data straight to the other.
 */
import SimplePeer from 'simple-peer'
import { waitFor } from '../../harness/node-process.ts'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CoreError, isCoreError } from '../../../core/errors.ts'
import { loadNodeWrtc } from '../../../core/platform/wrtc.node.ts'
import { CHUNK_HEADER_BYTES, DEFAULT_CHUNK_BYTES, chunkFrame } from '../../../core/protocol/chunker.ts'
import { parseSignalData } from '../../../core/protocol/signaling.ts'
import {
  DEFAULT_HIGH_WATER_MARK_BYTES,
  DEFAULT_LOW_WATER_MARK_BYTES,
} from '../../../core/transport/peer-transport.ts'
import type { TransportEvents } from '../../../core/transport/peer-transport.ts'
import { SimplePeerTransport } from '../../../core/transport/simple-peer-transport.ts'
import { clearIceCompleteTimer } from '../../../core/transport/simple-peer-internals.ts'
import type {
  SimplePeerTransportOptions,
  WebRtcImplementation,
} from '../../../core/transport/simple-peer-transport.ts'

const PIECE_BYTES = DEFAULT_CHUNK_BYTES - CHUNK_HEADER_BYTES

let wrtc: WebRtcImplementation
const transports: SimplePeerTransport[] = []
const rawPeers: SimplePeer.Instance[] = []

beforeAll(async () => {
  wrtc = await loadNodeWrtc()
})

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()))
  await Promise.all(rawPeers.splice(0).map(destroyRawPeer))
})

function frameOf(length: number, seed: number): Uint8Array {
  const frame = new Uint8Array(length)
  for (let i = 0; i < length; i++) frame[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff
  return frame
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  )
}

function nextEvent<K extends 'connect' | 'close'>(
  transport: SimplePeerTransport,
  event: K,
): Promise<Parameters<TransportEvents[K]>> {
  return new Promise((resolve) => {
    const off = transport.on(event, (...args: Parameters<TransportEvents[K]>) => {
      off()
      resolve(args)
    })
  })
}

function prop(value: unknown, key: string): unknown {
  if ((typeof value === 'object' && value !== null) || typeof value === 'function')
    return Reflect.get(value, key)
  return undefined
}

function link(from: SimplePeerTransport, to: SimplePeerTransport): void {
  from.on('signal', (data) => {
    if (!to.isClosed) to.signal(data)
  })
}

async function connectPair(
  options: Partial<SimplePeerTransportOptions> = {},
): Promise<{ a: SimplePeerTransport; b: SimplePeerTransport }> {
  const a = new SimplePeerTransport({ peerId: 'b', initiator: true, wrtc, ...options })
  const b = new SimplePeerTransport({ peerId: 'a', initiator: false, wrtc, ...options })
  transports.push(a, b)
  link(a, b)
  link(b, a)
  await Promise.all([nextEvent(a, 'connect'), nextEvent(b, 'connect')])
  return { a, b }
}

async function destroyRawPeer(peer: SimplePeer.Instance): Promise<void> {
  if (!peer.destroyed) {
    await new Promise<void>((resolve) => {
      peer.once('close', () => resolve())
      peer.destroy()
    })
  }
  clearIceCompleteTimer(peer)
}

describe('SimplePeerTransport over @roamhq/wrtc', () => {
  it('delivers frames of 1 byte, 16 KiB, exact chunk multiples and 5 MB intact and in order', async () => {
    const { a, b } = await connectPair()
    const frames = [
      frameOf(1, 1),
      frameOf(16 * 1024, 2),
      frameOf(PIECE_BYTES, 3),
      frameOf(2 * PIECE_BYTES, 4),
      frameOf(5 * PIECE_BYTES, 5),
      frameOf(5 * 1024 * 1024, 6),
      frameOf(3 * PIECE_BYTES + 1, 7),
      frameOf(1, 8),
    ]
    const received: Uint8Array[] = []
    b.on('frame', (f) => received.push(f))
    for (const frame of frames) await a.send(frame)
    await waitFor(() => received.length === frames.length, 'all frames', [], 20_000)
    expect(received.map((f) => f.length)).toEqual(frames.map((f) => f.length))
    frames.forEach((f, i) => expect(sameBytes(received[i]!, f)).toBe(true))
    const stats = b.getStats()
    expect(stats.messagesReceived).toBe(frames.length)
    const totalChunks = frames.reduce((n, f) => n + Math.ceil(f.length / PIECE_BYTES), 0)
    const wireBytes = frames.reduce((n, f) => n + f.length, 0) + totalChunks * CHUNK_HEADER_BYTES
    expect(stats.bytesReceived).toBe(wireBytes)
    expect(a.getStats().bytesSent).toBe(wireBytes)
  })

  it('carries frames in both directions at once', async () => {
    const { a, b } = await connectPair()
    const toB: Uint8Array[] = []
    const toA: Uint8Array[] = []
    b.on('frame', (f) => toB.push(f))
    a.on('frame', (f) => toA.push(f))
    await Promise.all([a.send(frameOf(2_000_000, 1)), b.send(frameOf(1_500_000, 2))])
    await waitFor(() => toA.length === 1 && toB.length === 1, 'both frames', [], 20_000)
    expect(sameBytes(toB[0]!, frameOf(2_000_000, 1))).toBe(true)
    expect(sameBytes(toA[0]!, frameOf(1_500_000, 2))).toBe(true)
  })

  it('keeps bufferedAmount within the high-water mark plus one chunk while sending 20 MB', async () => {
    const wrtcModule: unknown = await import('@roamhq/wrtc')
    const proto = prop(prop(prop(wrtcModule, 'default') ?? wrtcModule, 'RTCDataChannel'), 'prototype')
    const originalSend = prop(proto, 'send')
    if (typeof proto !== 'object' || proto === null || typeof originalSend !== 'function') {
      throw new Error('RTCDataChannel.prototype.send not found')
    }
    // Sample bufferedAmount right after every data-channel send: the exact peak, not a guess.
    let peak = 0
    let channelSends = 0
    Reflect.set(proto, 'send', function (this: { bufferedAmount: number }, data: unknown) {
      Reflect.apply(originalSend, this, [data])
      channelSends++
      peak = Math.max(peak, this.bufferedAmount)
    })
    try {
      const { a, b } = await connectPair()
      let received = 0
      b.on('frame', (f) => (received += f.length))
      const frameBytes = 1024 * 1024
      for (let i = 0; i < 20; i++) await a.send(frameOf(frameBytes, i))
      await waitFor(() => received === 20 * frameBytes, '20 MB', [], 20_000)
      expect(channelSends).toBeGreaterThanOrEqual(20 * Math.ceil(frameBytes / PIECE_BYTES))
      expect(peak).toBeLessThanOrEqual(DEFAULT_HIGH_WATER_MARK_BYTES + DEFAULT_CHUNK_BYTES)
      // The window was really used: the bound above is not met by a channel that never filled.
      expect(peak).toBeGreaterThan(DEFAULT_LOW_WATER_MARK_BYTES)
    } finally {
      Reflect.set(proto, 'send', originalSend)
    }
  })

  it('refuses trySend while a send is waiting for the channel and accepts it on an idle channel', async () => {
    const { a, b } = await connectPair()
    const received: number[] = []
    b.on('frame', (f) => received.push(f.length))
    expect(a.trySend(frameOf(100, 1))).toBe(true)
    // libwebrtc moves data into its SCTP buffer on its own thread, so how much one send
    // absorbs before bufferedAmount grows varies: send until a frame has to wait.
    const frameBytes = 4 * 1024 * 1024
    const sends: Promise<void>[] = []
    while (a.getStats().queuedBytes === 0 && sends.length < 16) sends.push(a.send(frameOf(frameBytes, 2)))
    expect(a.getStats().queuedBytes).toBeGreaterThan(0)
    expect(a.trySend(frameOf(100, 3))).toBe(false)
    await Promise.all(sends)
    await waitFor(() => received.length === 1 + sends.length, 'the large frames', [], 20_000)
    await waitFor(() => a.bufferedAmount === 0, 'an idle channel', [], 20_000)
    expect(a.trySend(frameOf(100, 4))).toBe(true)
    await waitFor(() => received.length === 2 + sends.length, 'the last frame', [], 20_000)
    expect(received).toEqual([100, ...sends.map(() => frameBytes), 100])
  })

  it('reports a host connection on loopback with a measured RTT', async () => {
    const { a } = await connectPair()
    const stats = await a.refreshStats()
    expect(stats.connectionType).toBe('host')
    expect(stats.localCandidate?.type).toBe('host')
    expect(stats.remoteCandidate?.type).toBe('host')
    expect(typeof stats.rttMs).toBe('number')
    expect(stats.rttMs).toBeGreaterThanOrEqual(0)
    expect(stats.rttMs).toBeLessThan(1000)
    expect(stats.connectMs).toBeGreaterThan(0)
    expect(stats.state).toBe('connected')
  })

  it('emits stats with the connection type right after connecting', async () => {
    const a = new SimplePeerTransport({ peerId: 'b', initiator: true, wrtc, statsIntervalMs: 100 })
    const b = new SimplePeerTransport({ peerId: 'a', initiator: false, wrtc })
    transports.push(a, b)
    const seen: (string | undefined)[] = []
    a.on('stats', (s) => seen.push(s.connectionType))
    link(a, b)
    link(b, a)
    await waitFor(() => seen.length >= 3, 'three stats events', [], 20_000)
    expect(seen.every((t) => t === 'host')).toBe(true)
  })

  it('returns the same promise from every close call and emits close once on both sides', async () => {
    const { a, b } = await connectPair()
    const events: string[] = []
    for (const [name, t] of [
      ['a', a],
      ['b', b],
    ] as const) {
      t.on('close', () => events.push(`${name}:close`))
      t.on('error', () => events.push(`${name}:error`))
    }
    const bClosed = nextEvent(b, 'close')
    const first = a.close()
    expect(a.close()).toBe(first)
    await first
    await bClosed
    await a.close()
    await b.close()
    await new Promise((r) => setTimeout(r, 100))
    expect(events.sort()).toEqual(['a:close', 'b:close'])
    expect(a.state).toBe('closed')
    expect(b.state).toBe('closed')
  })

  it('emits error then close and ends failed when closed with an error; the peer just closes', async () => {
    const { a, b } = await connectPair()
    const aEvents: string[] = []
    a.on('error', (e) => aEvents.push(`error:${e.code}`))
    a.on('close', () => aEvents.push('close'))
    const bErrors: CoreError[] = []
    b.on('error', (e) => bErrors.push(e))
    const bClosed = nextEvent(b, 'close')
    await a.close(new CoreError('ERR_PEER_TIMEOUT', 'no heartbeat'))
    await bClosed
    expect(a.state).toBe('failed')
    expect(aEvents).toEqual(['error:ERR_PEER_TIMEOUT', 'close'])
    expect(b.state).toBe('closed')
    expect(bErrors).toEqual([])
  })

  it('rejects send with ERR_DESTROYED and throws from trySend and signal after close', async () => {
    const { a } = await connectPair()
    await a.close()
    await expect(a.send(frameOf(10, 1))).rejects.toSatisfy((e) => isCoreError(e, 'ERR_DESTROYED'))
    expect(() => a.trySend(frameOf(10, 1))).toThrow(expect.objectContaining({ code: 'ERR_DESTROYED' }))
    expect(() => a.signal({ type: 'renegotiate', renegotiate: true })).toThrow(
      expect.objectContaining({ code: 'ERR_DESTROYED' }),
    )
  })

  it('rejects sends still waiting for the channel with ERR_DESTROYED when closed', async () => {
    const { a } = await connectPair()
    const outcomes: string[] = []
    const sends: Promise<void>[] = []
    while (a.getStats().queuedBytes === 0 && sends.length < 16) {
      const index = sends.length
      outcomes.push('pending')
      sends.push(
        a.send(frameOf(4 * 1024 * 1024, index)).then(
          () => void (outcomes[index] = 'sent'),
          (e: unknown) => void (outcomes[index] = isCoreError(e, 'ERR_DESTROYED') ? 'destroyed' : String(e)),
        ),
      )
    }
    const sentBeforeClose = outcomes.filter((o) => o === 'sent').length
    await a.close()
    await Promise.all(sends)
    // Frames already in the channel stay sent; every one still waiting failed with ERR_DESTROYED.
    expect(outcomes.filter((o) => o !== 'sent' && o !== 'destroyed')).toEqual([])
    expect(outcomes.filter((o) => o === 'destroyed').length).toBeGreaterThanOrEqual(1)
    expect(outcomes.lastIndexOf('sent')).toBeLessThan(outcomes.indexOf('destroyed'))
    expect(outcomes.filter((o) => o === 'sent').length).toBeGreaterThanOrEqual(sentBeforeClose)
  })

  it('reports garbage from a raw peer as protocol-error without crashing and keeps working', async () => {
    const raw = new SimplePeer({ initiator: true, wrtc, config: { iceServers: [] } })
    rawPeers.push(raw)
    const t = new SimplePeerTransport({ peerId: 'raw', initiator: false, wrtc })
    transports.push(t)
    raw.on('signal', (data: unknown) => t.signal(parseSignalData(data)))
    t.on('signal', (data) => raw.signal(JSON.stringify(data)))
    const errors: string[] = []
    const frames: Uint8Array[] = []
    t.on('protocol-error', (e) => errors.push(e.code))
    t.on('frame', (f) => frames.push(f))
    await Promise.all([nextEvent(t, 'connect'), new Promise((r) => raw.once('connect', r))])

    raw.send(new Uint8Array([1, 2, 3])) // shorter than a chunk header
    raw.send('hi') // text: simple-peer's stream hands it over as 2 bytes, too short for a chunk
    const huge = chunkFrame(frameOf(64, 1), 1, DEFAULT_CHUNK_BYTES)[0]!
    new DataView(huge.buffer).setUint32(12, 0xfffffff0, true) // declares a ~4 GiB frame
    raw.send(huge)
    const wrongLength = chunkFrame(frameOf(100, 2), 2, DEFAULT_CHUNK_BYTES)[0]!.subarray(0, 90)
    raw.send(wrongLength) // a piece shorter than its header says
    const good = frameOf(40_000, 3)
    for (const chunk of chunkFrame(good, 3, DEFAULT_CHUNK_BYTES)) raw.send(chunk)

    await waitFor(() => frames.length === 1, 'the good frame', [], 20_000)
    expect(errors).toEqual(['ERR_BAD_MESSAGE', 'ERR_BAD_MESSAGE', 'ERR_FRAME_TOO_LARGE', 'ERR_BAD_MESSAGE'])
    expect(sameBytes(frames[0]!, good)).toBe(true)
    expect(t.state).toBe('connected')
    expect(t.getStats().protocolErrors).toBe(4)
  })

  it('fails with ERR_TIMEOUT when no peer answers within connectTimeoutMs', async () => {
    const lonely = new SimplePeerTransport({ peerId: 'nobody', initiator: true, wrtc, connectTimeoutMs: 400 })
    transports.push(lonely)
    const errors: CoreError[] = []
    lonely.on('error', (e) => errors.push(e))
    await nextEvent(lonely, 'close')
    expect(lonely.state).toBe('failed')
    expect(errors.map((e) => e.code)).toEqual(['ERR_TIMEOUT'])
  })
})
