import { describe, expect, it } from 'vitest'
import { CoreError, isCoreError } from '../../../../core/errors.ts'
import { CHUNK_HEADER_BYTES, DEFAULT_CHUNK_BYTES, chunkFrame } from '../../../../core/protocol/chunker.ts'
import { createInMemoryPair } from '../../../../core/transport/in-memory-transport.ts'
import type {
  InMemoryPairOptions,
  InMemoryTransport,
} from '../../../../core/transport/in-memory-transport.ts'
import type { TransportState } from '../../../../core/transport/peer-transport.ts'
import { ManualClock } from './manual-clock.ts'

const PIECE_BYTES = DEFAULT_CHUNK_BYTES - CHUNK_HEADER_BYTES

function frameOf(length: number, seed: number): Uint8Array {
  const frame = new Uint8Array(length)
  for (let i = 0; i < length; i++) frame[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff
  return frame
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

interface Recorder {
  readonly frames: Uint8Array[]
  readonly frameTimesMs: number[]
  readonly events: string[]
  readonly errors: CoreError[]
  readonly protocolErrors: CoreError[]
  readonly states: TransportState[]
}

function record(transport: InMemoryTransport, clock: ManualClock): Recorder {
  const r: Recorder = { frames: [], frameTimesMs: [], events: [], errors: [], protocolErrors: [], states: [] }
  transport.on('frame', (f) => {
    r.frames.push(f)
    r.frameTimesMs.push(clock.now())
  })
  transport.on('connect', () => r.events.push('connect'))
  transport.on('error', (e) => {
    r.events.push('error')
    r.errors.push(e)
  })
  transport.on('close', () => r.events.push('close'))
  transport.on('protocol-error', (e) => r.protocolErrors.push(e))
  transport.on('state', (s) => r.states.push(s))
  return r
}

function setup(options: InMemoryPairOptions = {}) {
  const clock = new ManualClock()
  const pair = createInMemoryPair({ clock, ...options })
  return { clock, pair, ra: record(pair.a, clock), rb: record(pair.b, clock) }
}

describe('InMemoryTransport', () => {
  it('connects both sides after one round trip of latency', async () => {
    const { clock, pair, ra, rb } = setup({ link: { latencyMs: 40 } })
    expect(pair.a.state).toBe('connecting')
    await clock.advance(79)
    expect(pair.a.state).toBe('connecting')
    await clock.advance(1)
    expect(pair.a.state).toBe('connected')
    expect(pair.b.state).toBe('connected')
    expect(ra.events).toEqual(['connect'])
    expect(rb.states).toEqual(['connected'])
    expect(pair.a.getStats().connectMs).toBe(80)
  })

  it('names each side after the peer it talks to', () => {
    const { pair } = setup({ peerIds: ['alice', 'bob'] })
    expect(pair.a.peerId).toBe('bob')
    expect(pair.b.peerId).toBe('alice')
  })

  it.each([
    ['1 byte', 1],
    ['one full chunk of frame bytes', PIECE_BYTES],
    ['16 KiB', 16 * 1024],
    ['exactly two chunks', 2 * PIECE_BYTES],
    ['exactly seven chunks', 7 * PIECE_BYTES],
    ['one byte past three chunks', 3 * PIECE_BYTES + 1],
  ])('delivers a frame of %s intact', async (_name, length) => {
    const { clock, pair, rb } = setup()
    const frame = frameOf(length, length)
    const sent = pair.a.send(frame)
    await clock.runAll()
    await sent
    expect(rb.frames).toHaveLength(1)
    expect(sameBytes(rb.frames[0]!, frame)).toBe(true)
  })

  it('delivers a 5 MB frame and the small frames after it intact and in order', async () => {
    const { clock, pair, rb } = setup({ link: { latencyMs: 5, bandwidthBytesPerSec: 50e6 } })
    const frames = [frameOf(5_000_000, 1), frameOf(1, 2), frameOf(PIECE_BYTES * 2, 3), frameOf(300, 4)]
    const sends = frames.map((f) => pair.a.send(f))
    await clock.runAll()
    await Promise.all(sends)
    expect(rb.frames.map((f) => f.length)).toEqual(frames.map((f) => f.length))
    frames.forEach((f, i) => expect(sameBytes(rb.frames[i]!, f)).toBe(true))
  })

  it('sends frames queued before connect once connected', async () => {
    const { clock, pair, rb } = setup({ link: { latencyMs: 10 } })
    const sent = pair.a.send(frameOf(100, 1))
    await clock.advance(19)
    expect(rb.frames).toHaveLength(0)
    await clock.runAll()
    await sent
    expect(rb.frames).toHaveLength(1)
  })

  it('carries frames both ways at once', async () => {
    const { clock, pair, ra, rb } = setup({ link: { latencyMs: 3 } })
    const sends = [pair.a.send(frameOf(40_000, 1)), pair.b.send(frameOf(50_000, 2))]
    await clock.runAll()
    await Promise.all(sends)
    expect(sameBytes(rb.frames[0]!, frameOf(40_000, 1))).toBe(true)
    expect(sameBytes(ra.frames[0]!, frameOf(50_000, 2))).toBe(true)
  })

  it('delivers a frame after its serialization time plus the latency', async () => {
    const { clock, pair, rb } = setup({
      link: { latencyMs: 50, bandwidthBytesPerSec: 1_000_000 },
      connectDelayMs: 0,
    })
    await clock.advance(0)
    const frame = frameOf(3 * PIECE_BYTES, 1)
    void pair.a.send(frame)
    await clock.runAll()
    const wireBytes = frame.length + 3 * CHUNK_HEADER_BYTES
    expect(rb.frameTimesMs[0]).toBeCloseTo((wireBytes / 1_000_000) * 1000 + 50, 9)
  })

  it('keeps bufferedAmount under the high-water mark while awaited sends fill a slow link', async () => {
    const high = 128 * 1024
    const low = 32 * 1024
    const { clock, pair, rb } = setup({
      link: { latencyMs: 20, bandwidthBytesPerSec: 2_000_000 },
      highWaterMarkBytes: high,
      lowWaterMarkBytes: low,
    })
    let peak = 0
    const sampler = (): void => {
      peak = Math.max(peak, pair.a.bufferedAmount)
      if (!pair.a.isClosed) clock.setTimeout(sampler, 1)
    }
    sampler()
    const frames = Array.from({ length: 10 }, (_, i) => frameOf(200_000, i))
    const sender = (async () => {
      for (const frame of frames) {
        await pair.a.send(frame)
        peak = Math.max(peak, pair.a.bufferedAmount)
        // An awaiting caller never has more than one frame waiting.
        expect(pair.a.getStats().queuedBytes).toBe(0)
      }
    })()
    await clock.advance(5_000)
    await sender
    expect(peak).toBeLessThanOrEqual(high)
    expect(peak).toBeGreaterThan(low) // the window was used, so the bound is not vacuous
    expect(rb.frames).toHaveLength(10)
    frames.forEach((f, i) => expect(sameBytes(rb.frames[i]!, f)).toBe(true))
    await pair.a.close()
  })

  it('holds a send unresolved until the link drains to the low-water mark', async () => {
    const { clock, pair } = setup({
      link: { bandwidthBytesPerSec: 1_000_000 },
      highWaterMarkBytes: 64 * 1024,
      lowWaterMarkBytes: 16 * 1024,
      connectDelayMs: 0,
    })
    await clock.advance(0)
    let isDone = false
    void pair.a.send(frameOf(100_000, 1)).then(() => (isDone = true))
    await clock.advance(0)
    expect(isDone).toBe(false)
    expect(pair.a.bufferedAmount).toBeLessThanOrEqual(64 * 1024)
    await clock.runAll()
    expect(isDone).toBe(true)
  })

  it('trySend refuses a frame while the channel is above the high-water mark and accepts it once drained', async () => {
    const { clock, pair, rb } = setup({
      link: { bandwidthBytesPerSec: 1_000_000 },
      highWaterMarkBytes: 64 * 1024,
      lowWaterMarkBytes: 16 * 1024,
      connectDelayMs: 0,
    })
    expect(pair.a.trySend(frameOf(10, 1))).toBe(false) // not connected yet
    await clock.advance(0)
    void pair.a.send(frameOf(60_000, 2))
    expect(pair.a.trySend(frameOf(10_000, 3))).toBe(false)
    await clock.runAll()
    expect(pair.a.trySend(frameOf(10, 4))).toBe(true)
    await clock.runAll()
    expect(rb.frames.map((f) => f.length)).toEqual([60_000, 10])
  })

  it('rejects a send with ERR_SLOW_CONSUMER when maxQueuedBytes already wait', async () => {
    const { clock, pair } = setup({ maxQueuedBytes: 50_000 })
    const first = pair.a.send(frameOf(40_000, 1))
    await expect(pair.a.send(frameOf(20_000, 2))).rejects.toSatisfy((e) =>
      isCoreError(e, 'ERR_SLOW_CONSUMER'),
    )
    await clock.runAll()
    await expect(first).resolves.toBeUndefined()
  })

  it('delays frames on a lossy link but still delivers all of them intact and in order', async () => {
    const lossless = setup({ link: { latencyMs: 10, bandwidthBytesPerSec: 10e6 } })
    const lossy = setup({ link: { latencyMs: 10, bandwidthBytesPerSec: 10e6, lossRate: 0.2, seed: 7 } })
    const frames = Array.from({ length: 8 }, (_, i) => frameOf(30_000 + i, i))
    for (const run of [lossless, lossy]) {
      for (const f of frames) void run.pair.a.send(f)
      await run.clock.runAll()
      expect(run.rb.frames).toHaveLength(frames.length)
      frames.forEach((f, i) => expect(sameBytes(run.rb.frames[i]!, f)).toBe(true))
    }
    // Loss only ever delays (never reorders or drops), and some frame waited a whole retransmit.
    frames.forEach((_, i) =>
      expect(lossy.rb.frameTimesMs[i]!).toBeGreaterThanOrEqual(lossless.rb.frameTimesMs[i]!),
    )
    const extraMs = frames.map((_, i) => lossy.rb.frameTimesMs[i]! - lossless.rb.frameTimesMs[i]!)
    expect(Math.max(...extraMs)).toBeGreaterThanOrEqual(20)
    for (let i = 1; i < frames.length; i++) {
      expect(lossy.rb.frameTimesMs[i]!).toBeGreaterThanOrEqual(lossy.rb.frameTimesMs[i - 1]!)
    }
  })

  it('draws the same loss delays from the same seed and different ones from another', async () => {
    const arrivals = async (seed: number): Promise<number[]> => {
      const run = setup({ link: { latencyMs: 10, bandwidthBytesPerSec: 10e6, lossRate: 0.3, seed } })
      for (let i = 0; i < 6; i++) void run.pair.a.send(frameOf(20_000, i))
      await run.clock.runAll()
      return run.rb.frameTimesMs
    }
    expect(await arrivals(3)).toEqual(await arrivals(3))
    expect(await arrivals(3)).not.toEqual(await arrivals(4))
  })

  it('counts bytes and frames on both sides and reports the link round trip as RTT', async () => {
    const { clock, pair } = setup({
      link: { latencyMs: 30, bandwidthBytesPerSec: 1_000_000 },
      reverseLink: { latencyMs: 10 },
    })
    const frame = frameOf(2 * PIECE_BYTES + 5, 1)
    void pair.a.send(frame)
    await clock.runAll()
    const sent = await pair.a.refreshStats()
    const received = await pair.b.refreshStats()
    const wireBytes = frame.length + 3 * CHUNK_HEADER_BYTES
    expect(sent.bytesSent).toBe(wireBytes)
    expect(sent.messagesSent).toBe(1)
    expect(received.bytesReceived).toBe(wireBytes)
    expect(received.messagesReceived).toBe(1)
    expect(sent.rttMs).toBe(40)
    expect(sent.connectionType).toBeUndefined()
  })

  it('computes send and receive rates over the interval between refreshes', async () => {
    const { clock, pair } = setup({ connectDelayMs: 0 })
    await clock.advance(0)
    await pair.a.refreshStats()
    await pair.b.refreshStats()
    const frame = frameOf(10 * PIECE_BYTES, 1)
    void pair.a.send(frame)
    await clock.advance(500)
    const wireBytes = frame.length + 10 * CHUNK_HEADER_BYTES
    expect((await pair.a.refreshStats()).sendRateBytesPerSec).toBeCloseTo(wireBytes * 2, 6)
    expect((await pair.b.refreshStats()).receiveRateBytesPerSec).toBeCloseTo(wireBytes * 2, 6)
    await clock.advance(500)
    expect((await pair.a.refreshStats()).sendRateBytesPerSec).toBe(0)
  })

  it('emits stats periodically when statsIntervalMs is set', async () => {
    const { clock, pair } = setup({ statsIntervalMs: 100 })
    const seen: number[] = []
    pair.a.on('stats', () => seen.push(clock.now()))
    await clock.advance(350)
    expect(seen).toEqual([0, 100, 200, 300])
    await pair.a.close()
    await clock.advance(500)
    expect(seen).toHaveLength(4)
  })

  it('uses a new chunk size after setMaxChunkBytes', async () => {
    const { clock, pair, rb } = setup()
    await clock.advance(0)
    pair.a.setMaxChunkBytes(4096)
    expect(pair.a.maxChunkBytes).toBe(4096)
    const frame = frameOf(10_000, 1)
    void pair.a.send(frame)
    await clock.runAll()
    const chunks = Math.ceil(frame.length / (4096 - CHUNK_HEADER_BYTES))
    expect(pair.a.getStats().bytesSent).toBe(frame.length + chunks * CHUNK_HEADER_BYTES)
    expect(sameBytes(rb.frames[0]!, frame)).toBe(true)
  })

  it('refuses a chunk size that does not fit between the water marks', () => {
    const { pair } = setup({ highWaterMarkBytes: 64 * 1024, lowWaterMarkBytes: 32 * 1024 })
    expect(() => pair.a.setMaxChunkBytes(40 * 1024)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
  })

  it('refuses options whose chunk size does not fit between the water marks', () => {
    expect(() => setup({ highWaterMarkBytes: 20_000, lowWaterMarkBytes: 10_000 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
  })

  it.each([
    ['a loss rate of 1', { lossRate: 1 }],
    ['a negative latency', { latencyMs: -1 }],
    ['zero bandwidth', { bandwidthBytesPerSec: 0 }],
  ])('refuses a link model with %s', (_name, link) => {
    expect(() => setup({ link })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
  })

  it('reports garbage from the peer as protocol-error and keeps delivering good frames', async () => {
    const { clock, pair, rb } = setup()
    await clock.advance(0)
    pair.a.sendRawMessage(new Uint8Array([1, 2, 3])) // shorter than a chunk header
    const tooLarge = chunkFrame(frameOf(64, 1), 99, 1024)[0]!
    new DataView(tooLarge.buffer).setUint32(12, 0xffffffff, true) // declares a 4 GiB frame
    pair.a.sendRawMessage(tooLarge)
    void pair.a.send(frameOf(500, 2))
    await clock.runAll()
    expect(rb.protocolErrors.map((e) => e.code)).toEqual(['ERR_BAD_MESSAGE', 'ERR_FRAME_TOO_LARGE'])
    expect(pair.b.getStats().protocolErrors).toBe(2)
    expect(pair.b.state).toBe('connected')
    expect(rb.frames).toHaveLength(1)
    expect(sameBytes(rb.frames[0]!, frameOf(500, 2))).toBe(true)
  })

  it('returns the same promise from every close call and emits close once on both sides', async () => {
    const { clock, pair, ra, rb } = setup({ link: { latencyMs: 15 } })
    await clock.advance(30)
    const first = pair.a.close()
    const second = pair.a.close()
    expect(second).toBe(first)
    await first
    expect(pair.a.state).toBe('closed')
    expect(pair.b.state).toBe('connected') // the close travels one latency
    await clock.advance(15)
    expect(pair.b.state).toBe('closed')
    await pair.a.close()
    await pair.b.close()
    expect(ra.events).toEqual(['connect', 'close'])
    expect(rb.events).toEqual(['connect', 'close'])
    expect(ra.states).toEqual(['connected', 'closed'])
  })

  it('emits error then close and ends in failed when closed with an error', async () => {
    const { clock, pair, ra, rb } = setup()
    await clock.advance(0)
    const reason = new CoreError('ERR_PEER_TIMEOUT', 'no heartbeat')
    await pair.a.close(reason)
    await pair.a.close(new CoreError('ERR_BAD_MESSAGE', 'ignored: already closed'))
    await clock.runAll()
    expect(pair.a.state).toBe('failed')
    expect(ra.events).toEqual(['connect', 'error', 'close'])
    expect(ra.errors).toEqual([reason])
    expect(pair.b.state).toBe('closed')
    expect(rb.events).toEqual(['connect', 'close'])
  })

  it('rejects send with ERR_DESTROYED and throws from trySend and setMaxChunkBytes after close', async () => {
    const { clock, pair } = setup()
    await clock.advance(0)
    await pair.a.close()
    await expect(pair.a.send(frameOf(1, 1))).rejects.toSatisfy((e) => isCoreError(e, 'ERR_DESTROYED'))
    expect(() => pair.a.trySend(frameOf(1, 1))).toThrow(expect.objectContaining({ code: 'ERR_DESTROYED' }))
    expect(() => pair.a.setMaxChunkBytes(8192)).toThrow(expect.objectContaining({ code: 'ERR_DESTROYED' }))
    expect(() => pair.a.sendRawMessage(new Uint8Array(20))).toThrow(
      expect.objectContaining({ code: 'ERR_DESTROYED' }),
    )
  })

  it('rejects sends still waiting for the channel with ERR_DESTROYED on close', async () => {
    const { clock, pair } = setup({ link: { bandwidthBytesPerSec: 100_000 }, connectDelayMs: 0 })
    await clock.advance(0)
    const pending = pair.a.send(frameOf(2_000_000, 1))
    await clock.advance(10)
    await pair.a.close()
    await expect(pending).rejects.toSatisfy((e) => isCoreError(e, 'ERR_DESTROYED'))
    expect(pair.a.getStats().queuedBytes).toBe(0)
  })

  it('drops chunks not yet on the wire when closing, so the peer gets no partial frame', async () => {
    const { clock, pair, rb } = setup({
      link: { latencyMs: 5, bandwidthBytesPerSec: 1_000_000 },
      connectDelayMs: 0,
    })
    await clock.advance(0)
    void pair.a.send(frameOf(20_000, 1))
    void pair.a.send(frameOf(500_000, 2)).catch(() => {})
    await clock.advance(100) // the first frame is on the wire, the second is not
    await pair.a.close()
    await clock.runAll()
    expect(rb.frames.map((f) => f.length)).toEqual([20_000])
    expect(pair.b.state).toBe('closed')
    expect(clock.pendingTimers).toBe(0)
  })

  it('fails both sides with ERR_CONNECTION_FAILED when the link is severed', async () => {
    const { clock, pair, ra, rb } = setup({ link: { latencyMs: 10 } })
    await clock.advance(20)
    void pair.a.send(frameOf(1000, 1))
    await pair.sever('cable cut')
    expect(pair.a.state).toBe('failed')
    expect(pair.b.state).toBe('failed')
    expect(ra.errors[0]?.code).toBe('ERR_CONNECTION_FAILED')
    expect(rb.errors[0]?.message).toContain('cable cut')
    expect(rb.events).toEqual(['connect', 'error', 'close'])
    await clock.runAll()
    expect(rb.frames).toHaveLength(0)
  })

  it('fails with ERR_TIMEOUT when not connected within connectTimeoutMs', async () => {
    const { clock, pair, ra } = setup({ connectDelayMs: 5_000, connectTimeoutMs: 1_000 })
    await clock.advance(1_000)
    expect(pair.a.state).toBe('failed')
    expect(ra.errors[0]?.code).toBe('ERR_TIMEOUT')
    expect(ra.events).toEqual(['error', 'close'])
  })

  it('closes with ERR_LISTENER_FAILED when a frame listener throws', async () => {
    const { clock, pair, rb } = setup()
    pair.b.on('frame', () => {
      throw new Error('listener bug')
    })
    void pair.a.send(frameOf(10, 1))
    await clock.runAll()
    expect(pair.b.state).toBe('failed')
    expect(rb.errors[0]?.code).toBe('ERR_LISTENER_FAILED')
    expect(rb.errors[0]?.message).toContain('listener bug')
  })

  it('works on real timers when no clock is injected', async () => {
    const pair = createInMemoryPair({ link: { latencyMs: 1, bandwidthBytesPerSec: 50e6 } })
    const received: Uint8Array[] = []
    pair.b.on('frame', (f) => received.push(f))
    const frames = [frameOf(200_000, 1), frameOf(1, 2), frameOf(70_000, 3)]
    for (const f of frames) await pair.a.send(f)
    await new Promise<void>((resolve) => {
      const check = (): void => (received.length === frames.length ? resolve() : void setTimeout(check, 2))
      check()
    })
    frames.forEach((f, i) => expect(sameBytes(received[i]!, f)).toBe(true))
    await pair.a.close()
    await new Promise((r) => setTimeout(r, 10))
    expect(pair.b.state).toBe('closed')
  })

  it('stops calling a listener after it unsubscribes', async () => {
    const { clock, pair } = setup()
    const seen: number[] = []
    const off = pair.b.on('frame', (f) => seen.push(f.length))
    void pair.a.send(frameOf(10, 1))
    await clock.runAll()
    off()
    off()
    void pair.a.send(frameOf(20, 2))
    await clock.runAll()
    expect(seen).toEqual([10])
  })
})
