import { describe, expect, it } from 'vitest'
import {
  CHUNK_HEADER_BYTES,
  Chunker,
  DEFAULT_CHUNK_BYTES,
  MAX_CHUNK_BYTES,
  MIN_CHUNK_BYTES,
  Reassembler,
  chunkFrame,
  negotiateChunkBytes,
} from '../../../../core/protocol/chunker.ts'
import { expectCode } from './fixtures.ts'

const frameOf = (length: number, seed = 1): Uint8Array =>
  Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff)

function fakeClock(start = 1000): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => (t += ms) }
}

/** Pushes every chunk; returns the frames that came out. */
function pushAll(r: Reassembler, chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const c of chunks) {
    const frame = r.push(c)
    if (frame !== null) out.push(frame)
  }
  return out
}

function rechunk(chunk: Uint8Array, edit: (view: DataView) => void): Uint8Array {
  const copy = chunk.slice()
  edit(new DataView(copy.buffer))
  return copy
}

describe('chunkFrame', () => {
  it.each([1, 47, 48, 49, 100, 16_368, 16_369, 50_000, 200_000])(
    'cuts a %i-byte frame into messages no larger than the chunk size',
    (length) => {
      const frame = frameOf(length)
      const chunks = chunkFrame(frame, 7, DEFAULT_CHUNK_BYTES)
      expect(chunks.length).toBe(Math.ceil(length / (DEFAULT_CHUNK_BYTES - CHUNK_HEADER_BYTES)))
      for (const c of chunks) expect(c.length).toBeLessThanOrEqual(DEFAULT_CHUNK_BYTES)
      const out = pushAll(new Reassembler(), chunks)
      expect(out.length).toBe(1)
      // Buffer.equals: element-wise toEqual on 200 kB takes seconds.
      expect(Buffer.from(out[0]!).equals(Buffer.from(frame))).toBe(true)
    },
  )

  it('writes the documented 16-byte chunk header', () => {
    const [first, second] = chunkFrame(frameOf(101), 0xabcdef01, 64 + CHUNK_HEADER_BYTES)
    const view = new DataView(second!.buffer)
    expect([
      view.getUint32(0, true),
      view.getUint32(4, true),
      view.getUint32(8, true),
      view.getUint32(12, true),
    ]).toEqual([0xabcdef01, 1, 2, 101])
    expect(first!.length - CHUNK_HEADER_BYTES).toBe(51) // balanced: 51 + 50, not 64 + 37
    expect(second!.length - CHUNK_HEADER_BYTES).toBe(50)
  })

  it('refuses an empty frame, a non-u32 frame id and a chunk size below the minimum', () => {
    expectCode(() => chunkFrame(new Uint8Array(0), 1, DEFAULT_CHUNK_BYTES), 'ERR_INVALID_ARGUMENT')
    expectCode(() => chunkFrame(frameOf(10), 2 ** 32, DEFAULT_CHUNK_BYTES), 'ERR_INVALID_ARGUMENT')
    expectCode(() => chunkFrame(frameOf(10), 1, MIN_CHUNK_BYTES - 1), 'ERR_INVALID_ARGUMENT')
  })
})

describe('Chunker', () => {
  it('gives each frame the next id and wraps at 2^32', () => {
    const chunker = new Chunker({ maxChunkBytes: MIN_CHUNK_BYTES, firstFrameId: 0xffffffff })
    const ids = [chunker.split(frameOf(10)), chunker.split(frameOf(10))].map((c) =>
      new DataView(c[0]!.buffer).getUint32(0, true),
    )
    expect(ids).toEqual([0xffffffff, 0])
  })

  it('uses a renegotiated chunk size for later frames', () => {
    const chunker = new Chunker()
    expect(chunker.split(frameOf(20_000)).length).toBe(2)
    chunker.setMaxChunkBytes(64 * 1024)
    expect(chunker.split(frameOf(20_000)).length).toBe(1)
    expectCode(() => chunker.setMaxChunkBytes(10), 'ERR_INVALID_ARGUMENT')
  })
})

describe('negotiateChunkBytes', () => {
  it('takes the smaller advertised size, capped at the maximum', () => {
    expect(negotiateChunkBytes(65_536, 262_144)).toBe(65_536)
    expect(negotiateChunkBytes(1 << 30, 1 << 30)).toBe(MAX_CHUNK_BYTES)
    expect(negotiateChunkBytes(65_536)).toBe(DEFAULT_CHUNK_BYTES)
  })

  it('refuses a size below the minimum', () => {
    expectCode(() => negotiateChunkBytes(65_536, 10), 'ERR_INVALID_ARGUMENT')
  })
})

describe('Reassembler', () => {
  const SMALL = 64 // 48-byte pieces

  it('reassembles chunks that arrive in reverse order', () => {
    const frame = frameOf(1000)
    const r = new Reassembler()
    expect(pushAll(r, chunkFrame(frame, 1, SMALL).reverse())).toEqual([frame])
    expect(r.bufferedBytes).toBe(0)
    expect(r.inFlightFrames).toBe(0)
  })

  it('reassembles interleaved frames independently', () => {
    const a = chunkFrame(frameOf(500, 1), 1, SMALL)
    const b = chunkFrame(frameOf(300, 2), 2, SMALL)
    const mixed = a.flatMap((c, i) => (b[i] ? [c, b[i]] : [c]))
    expect(pushAll(new Reassembler(), mixed)).toEqual([frameOf(300, 2), frameOf(500, 1)])
  })

  it('returns a single-chunk frame as a view of the chunk without buffering it', () => {
    const [chunk] = chunkFrame(frameOf(30), 9, DEFAULT_CHUNK_BYTES)
    const r = new Reassembler()
    const frame = r.push(chunk!)
    expect(frame?.buffer).toBe(chunk!.buffer)
    expect(r.bufferedBytes).toBe(0)
  })

  it('accounts exactly the declared frame size while a frame is in flight', () => {
    const chunks = chunkFrame(frameOf(1000), 1, SMALL)
    const r = new Reassembler()
    r.push(chunks[0]!)
    expect(r.bufferedBytes).toBe(1000)
    expect(r.inFlightFrames).toBe(1)
  })

  it('refuses a chunk shorter than its header', () => {
    expectCode(() => new Reassembler().push(new Uint8Array(CHUNK_HEADER_BYTES - 1)), 'ERR_BAD_MESSAGE')
  })

  it('refuses a declared total above maxFrameBytes before allocating', () => {
    const r = new Reassembler({ maxFrameBytes: 999 })
    expectCode(() => r.push(chunkFrame(frameOf(1000), 1, SMALL)[0]!), 'ERR_FRAME_TOO_LARGE')
    const huge = rechunk(chunkFrame(frameOf(1000), 1, SMALL)[0]!, (v) => v.setUint32(12, 0xffffffff, true))
    expectCode(() => new Reassembler().push(huge), 'ERR_FRAME_TOO_LARGE')
    expect(r.bufferedBytes).toBe(0)
  })

  it('refuses a duplicate chunk and drops the partial frame', () => {
    const chunks = chunkFrame(frameOf(1000), 1, SMALL)
    const r = new Reassembler()
    r.push(chunks[0]!)
    expectCode(() => r.push(chunks[0]!), 'ERR_BAD_MESSAGE')
    expect(r.bufferedBytes).toBe(0)
    expect(r.inFlightFrames).toBe(0)
  })

  it('refuses a chunk whose count or total disagrees with earlier chunks and drops the frame', () => {
    const chunks = chunkFrame(frameOf(1000), 1, SMALL)
    const other = chunkFrame(frameOf(990), 1, SMALL)
    const r = new Reassembler()
    r.push(chunks[0]!)
    expectCode(() => r.push(other[1]!), 'ERR_BAD_MESSAGE')
    expect(r.inFlightFrames).toBe(0)
  })

  it('refuses chunks whose length, index or count breaks the split rule', () => {
    const [first] = chunkFrame(frameOf(1000), 1, SMALL)
    expectCode(() => new Reassembler().push(first!.subarray(0, first!.length - 1)), 'ERR_BAD_MESSAGE')
    expectCode(
      () => new Reassembler().push(rechunk(first!, (v) => v.setUint32(4, 5000, true))),
      'ERR_BAD_MESSAGE',
    )
    expectCode(
      () => new Reassembler().push(rechunk(first!, (v) => v.setUint32(8, 0, true))),
      'ERR_BAD_MESSAGE',
    )
    expectCode(
      () => new Reassembler().push(rechunk(first!, (v) => v.setUint32(12, 0, true))),
      'ERR_BAD_MESSAGE',
    )
  })

  it('refuses a new frame beyond maxInFlightFrames and keeps the others', () => {
    const r = new Reassembler({ maxInFlightFrames: 2 })
    r.push(chunkFrame(frameOf(200), 1, SMALL)[0]!)
    r.push(chunkFrame(frameOf(200), 2, SMALL)[0]!)
    expectCode(() => r.push(chunkFrame(frameOf(200), 3, SMALL)[0]!), 'ERR_TOO_MANY_IN_FLIGHT')
    expect(r.inFlightFrames).toBe(2)
    expect(r.bufferedBytes).toBe(400)
  })

  it('evicts a partial frame after incompleteTimeoutMs without progress, on push', () => {
    const clock = fakeClock()
    const r = new Reassembler({ maxInFlightFrames: 1, incompleteTimeoutMs: 100, clock: clock.now })
    const stalled = chunkFrame(frameOf(200), 1, SMALL)
    r.push(stalled[0]!)
    clock.advance(99)
    expectCode(() => r.push(chunkFrame(frameOf(200), 2, SMALL)[0]!), 'ERR_TOO_MANY_IN_FLIGHT')
    clock.advance(1)
    const fresh = chunkFrame(frameOf(200), 2, SMALL)
    expect(pushAll(r, fresh)).toEqual([frameOf(200)])
    expect(r.evictedFrames).toBe(1)
    // The late rest of the evicted frame starts a new partial frame that never completes.
    expect(pushAll(r, stalled.slice(1))).toEqual([])
  })

  it('keeps a slow frame alive while its chunks keep arriving', () => {
    const clock = fakeClock()
    const r = new Reassembler({ incompleteTimeoutMs: 100, clock: clock.now })
    const out: Uint8Array[] = []
    for (const c of chunkFrame(frameOf(1000), 1, SMALL)) {
      clock.advance(90)
      const f = r.push(c)
      if (f) out.push(f)
    }
    expect(out).toEqual([frameOf(1000)])
    expect(r.evictedFrames).toBe(0)
  })

  it('evicts on an explicit sweep and reports how many', () => {
    const clock = fakeClock()
    const r = new Reassembler({ incompleteTimeoutMs: 100, clock: clock.now })
    r.push(chunkFrame(frameOf(200), 1, SMALL)[0]!)
    r.push(chunkFrame(frameOf(200), 2, SMALL)[0]!)
    expect(r.sweep(clock.now() + 50)).toBe(0)
    expect(r.sweep(clock.now() + 100)).toBe(2)
    expect(r.bufferedBytes).toBe(0)
  })

  it('evicts nothing when the clock steps back', () => {
    const clock = fakeClock()
    const r = new Reassembler({ incompleteTimeoutMs: 100, clock: clock.now })
    r.push(chunkFrame(frameOf(200), 1, SMALL)[0]!)
    expect(r.sweep(clock.now() - 10_000)).toBe(0)
    expect(r.inFlightFrames).toBe(1)
  })

  it('drops everything on clear', () => {
    const r = new Reassembler()
    r.push(chunkFrame(frameOf(200), 1, SMALL)[0]!)
    r.clear()
    expect([r.bufferedBytes, r.inFlightFrames]).toEqual([0, 0])
  })

  it('refuses nonsensical options', () => {
    expectCode(() => new Reassembler({ maxFrameBytes: 0 }), 'ERR_INVALID_ARGUMENT')
    expectCode(() => new Reassembler({ maxInFlightFrames: 0 }), 'ERR_INVALID_ARGUMENT')
    expectCode(() => new Reassembler({ incompleteTimeoutMs: NaN }), 'ERR_INVALID_ARGUMENT')
  })
})
