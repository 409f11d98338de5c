// Property and fuzz tests across the protocol: random and mutated frames, hostile chunk
// streams and snapshot chunks. The contract under test: nothing but CoreError ever escapes,
// memory held stays under the configured limits, every call returns promptly, and whatever
// is accepted is exactly what a valid sender could have sent.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CoreError } from '../../../../core/errors.ts'
import type { ErrorCode } from '../../../../core/errors.ts'
import { Reassembler, chunkFrame } from '../../../../core/protocol/chunker.ts'
import { FRAME_HEADER_BYTES, PROTOCOL_VERSION, encodeFrame } from '../../../../core/protocol/frame.ts'
import { MESSAGE_TYPES } from '../../../../core/protocol/message-types.ts'
import { decodeMessage, encodeMessage } from '../../../../core/protocol/messages.ts'
import type { Message, SnapshotChunkMessage } from '../../../../core/protocol/messages.ts'
import { SnapshotAssembler } from '../../../../core/protocol/snapshot.ts'
import { expectedPieceLength, planSplit } from '../../../../core/protocol/split.ts'
import { CONTEXT, EXPECT, LAYOUT, reseal } from './fixtures.ts'

/** Multiply every run count, e.g. FUZZ_SCALE=50 for a deep local run; CI keeps 1. */
const SCALE = Math.max(1, Number(process.env['FUZZ_SCALE'] ?? 1) || 1)
const runs = (n: number): { numRuns: number } => ({ numRuns: n * SCALE })

/** A call that takes longer than this is treated as a hang (generous: the CPU is shared). */
const PROMPT_MS = 250

const DECODE_CODES: ReadonlySet<ErrorCode> = new Set([
  'ERR_BAD_MESSAGE',
  'ERR_WRONG_ROOM',
  'ERR_SCHEMA_MISMATCH',
  'ERR_FRAME_TOO_LARGE',
])
const CHUNK_CODES: ReadonlySet<ErrorCode> = new Set([
  'ERR_BAD_MESSAGE',
  'ERR_FRAME_TOO_LARGE',
  'ERR_TOO_MANY_IN_FLIGHT',
])

/** Runs `fn`, asserting it returns promptly and throws nothing but a CoreError with one of `codes`. */
function guarded<T>(
  fn: () => T,
  codes: ReadonlySet<ErrorCode>,
): { ok: true; value: T } | { ok: false; error: CoreError } {
  const start = performance.now()
  try {
    return { ok: true, value: fn() }
  } catch (err) {
    if (!(err instanceof CoreError)) throw new Error(`non-CoreError escaped: ${String(err)}`, { cause: err })
    if (!codes.has(err.code)) throw new Error(`unexpected code ${err.code}: ${err.message}`, { cause: err })
    return { ok: false, error: err }
  } finally {
    expect(performance.now() - start).toBeLessThan(PROMPT_MS)
  }
}

// ---------------------------------------------------------------------------- arbitraries

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c))
const nameArb = (minLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: printable, minLength, maxLength: 64 })
const hex16Arb = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b).toString('hex'))
const roundArb = fc.oneof(fc.nat(1000), fc.maxSafeNat())
const bytesArb = fc.uint8Array({ maxLength: 300 })
const timeArb = fc.double({ min: 0, max: 1e13, noNaN: true })

const snapshotChunkArb: fc.Arbitrary<SnapshotChunkMessage> = fc
  .record({
    total: fc.nat(3000),
    maxPiece: fc.integer({ min: 48, max: 1000 }),
    at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    round: roundArb,
    snapshotId: fc.nat(0xffffffff),
    snapshotHash: hex16Arb,
  })
  .map(({ total, maxPiece, at, round, snapshotId, snapshotHash }) => {
    const { pieceCount } = planSplit(total, maxPiece)
    const chunkIndex = Math.floor(at * pieceCount)
    const length = expectedPieceLength(total, pieceCount, chunkIndex) ?? 0
    return {
      type: 'snapshot.chunk',
      round,
      snapshotId,
      chunkIndex,
      chunkCount: pieceCount,
      totalBytes: total,
      snapshotHash,
      bytes: new Uint8Array(length).fill(chunkIndex & 0xff),
    } as const
  })

const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('hello' as const),
    round: roundArb,
    protocolVersion: fc.constant(PROTOCOL_VERSION),
    softwareVersion: nameArb(0),
    capabilities: fc.record({
      compressors: fc.array(nameArb(1), { maxLength: 32 }),
      maxChunkBytes: fc.integer({ min: 64, max: 0xffffffff }),
      algorithms: fc.array(nameArb(1), { maxLength: 32 }),
    }),
    layoutFingerprint: fc.constant(LAYOUT),
    manifestHash: hex16Arb,
  }),
  fc.record(
    {
      type: fc.constant('delta' as const),
      round: roundArb,
      compressorWireId: fc.nat(255),
      payload: bytesArb,
      sampleCount: fc.nat(0xffffffff),
    },
    { requiredKeys: ['type', 'round', 'compressorWireId', 'payload'] },
  ),
  fc.record({
    type: fc.constant('pushsum.share' as const),
    step: roundArb,
    weight: fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }),
    compressorWireId: fc.nat(255),
    values: bytesArb,
  }),
  snapshotChunkArb,
  fc.record(
    { type: fc.constant('heartbeat' as const), round: roundArb, sentAtMs: timeArb, echoOfMs: timeArb },
    { requiredKeys: ['type', 'round', 'sentAtMs'] },
  ),
  fc.record({ type: fc.constant('bye' as const), reason: fc.string({ unit: 'binary', maxLength: 200 }) }),
  fc.record({
    type: fc.constant('error' as const),
    code: fc.string({
      unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'),
      minLength: 1,
      maxLength: 64,
    }),
    message: fc.string({ unit: 'binary', maxLength: 200 }),
  }),
)

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set8'; at: number; value: number }
  | { kind: 'set32'; at: number; value: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'extend'; bytes: Uint8Array }

const hugeU32 = fc.constantFrom(0, 1, 0x7f, 0xff, 0xffff, 0x10000, 0x7fffffff, 0xfffffffe, 0xffffffff)
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({
    kind: fc.constant('set8' as const),
    at: fc.nat(),
    value: fc.oneof(fc.nat(255), fc.constantFrom(0, 255)),
  }),
  // Length and count fields sit at the start of the payload and in the header: aim there often.
  fc.record({
    kind: fc.constant('set32' as const),
    at: fc.oneof(fc.constantFrom(56, 64, 65, 66, 67, 68, 72, 76), fc.nat()),
    value: fc.oneof(hugeU32, fc.nat(0xffffffff)),
  }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
)

function mutate(frame: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = frame.slice()
  for (const m of mutations) {
    if (out.length === 0) break
    if (m.kind === 'flip') out[m.at % out.length] = out[m.at % out.length]! ^ (1 << m.bit)
    else if (m.kind === 'set8') out[m.at % out.length] = m.value
    else if (m.kind === 'set32') {
      const at = m.at % out.length
      for (let i = 0; i < 4 && at + i < out.length; i++) out[at + i] = (m.value >>> (8 * i)) & 0xff
    } else if (m.kind === 'truncate') out = out.slice(0, m.keep % (out.length + 1))
    else out = new Uint8Array([...out, ...m.bytes])
  }
  return out
}

/** Asserts that an accepted frame is the canonical encoding of what it decoded to. */
function expectCanonical(frame: Uint8Array): void {
  const result = guarded(() => decodeMessage(frame, EXPECT), DECODE_CODES)
  if (!result.ok) return
  const { header, message } = result.value
  const again = encodeMessage(message, {
    roomId: header.roomId,
    senderId: header.senderId,
    layoutFingerprint: header.layoutFingerprint,
  })
  expect(Buffer.from(again).equals(Buffer.from(frame))).toBe(true)
}

// ---------------------------------------------------------------------------- frames

describe('decodeMessage under fuzzing', () => {
  it('round-trips every valid message exactly', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const frame = encodeMessage(message, CONTEXT)
        const decoded = guarded(() => decodeMessage(frame, EXPECT), DECODE_CODES)
        expect(decoded.ok).toBe(true)
        if (decoded.ok) expect(decoded.value.message).toEqual(message)
      }),
      runs(400),
    )
  })

  it('throws only CoreError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        expect(guarded(() => decodeMessage(bytes, EXPECT), DECODE_CODES).ok).toBe(false)
      }),
      runs(500),
    )
  })

  it('throws only CoreError on random bytes behind a valid-looking header', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MESSAGE_TYPES),
        fc.nat(255),
        fc.uint8Array({ maxLength: 400 }),
        (type, compressorId, payload) => {
          // A correct checksum over garbage: the payload decoders themselves must hold.
          expectCanonical(encodeFrame({ ...CONTEXT, type, compressorId }, payload))
        },
      ),
      runs(1500),
    )
  })

  it('throws only CoreError on mutated valid frames, and accepts only canonical ones', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (message, mutations, shouldReseal) => {
          const mutated = mutate(encodeMessage(message, CONTEXT), mutations)
          const frame = shouldReseal && mutated.length >= FRAME_HEADER_BYTES ? reseal(mutated) : mutated
          expectCanonical(frame)
          if (!shouldReseal && frame.length >= FRAME_HEADER_BYTES) {
            // Without resealing, every change must be refused (CRC-32C misses a random
            // corruption with probability 2^-32).
            const original = encodeMessage(message, CONTEXT)
            if (!Buffer.from(original).equals(Buffer.from(frame)))
              expect(guarded(() => decodeMessage(frame, EXPECT), DECODE_CODES).ok).toBe(false)
          }
        },
      ),
      runs(1500),
    )
  })
})

// ---------------------------------------------------------------------------- chunks

const MAX_FRAME = 4096
const MAX_IN_FLIGHT = 3

describe('Reassembler under fuzzing', () => {
  it('keeps its memory bound and throws only CoreError on hostile chunk streams', () => {
    const chunkHeader = fc.tuple(
      fc.nat(4),
      fc.oneof(fc.nat(200), hugeU32),
      fc.oneof(fc.nat(200), hugeU32),
      fc.oneof(fc.nat(MAX_FRAME + 10), hugeU32),
    )
    // Valid chunks of many frames (ids collide, sizes straddle the limit) push the in-flight
    // and byte limits; raw and forged chunks probe the header checks.
    const validChunk = fc
      .tuple(fc.nat(6), fc.integer({ min: 1, max: MAX_FRAME + 200 }), fc.nat())
      .map(([id, size, pick]) => {
        const chunks = chunkFrame(new Uint8Array(size).fill(id), id, 64)
        return chunks[pick % chunks.length]!
      })
    const hostileChunk = fc.oneof(
      validChunk,
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(chunkHeader, fc.uint8Array({ maxLength: 300 })).map(([[id, index, count, total], piece]) => {
        const chunk = new Uint8Array(16 + piece.length)
        const view = new DataView(chunk.buffer)
        view.setUint32(0, id, true)
        view.setUint32(4, index, true)
        view.setUint32(8, count, true)
        view.setUint32(12, total, true)
        chunk.set(piece, 16)
        return chunk
      }),
    )
    fc.assert(
      fc.property(fc.array(fc.tuple(hostileChunk, fc.nat(40)), { maxLength: 80 }), (stream) => {
        let now = 0
        const r = new Reassembler({
          maxFrameBytes: MAX_FRAME,
          maxInFlightFrames: MAX_IN_FLIGHT,
          incompleteTimeoutMs: 100,
          clock: () => now,
        })
        for (const [chunk, advanceMs] of stream) {
          now += advanceMs
          const result = guarded(() => r.push(chunk), CHUNK_CODES)
          if (result.ok && result.value !== null) expect(result.value.length).toBeLessThanOrEqual(MAX_FRAME)
          expect(r.bufferedBytes).toBeLessThanOrEqual(MAX_IN_FLIGHT * MAX_FRAME)
          expect(r.inFlightFrames).toBeLessThanOrEqual(MAX_IN_FLIGHT)
        }
      }),
      runs(400),
    )
  })

  it('delivers exactly the frames whose chunks all arrived, whatever the order, and drops the rest', () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 64, max: 400 }),
        fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
        fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
        (messages, chunkBytes, keepFlags, orderKeys) => {
          const frames = messages.map((m) => encodeMessage(m, CONTEXT))
          const tagged = frames.flatMap((f, id) =>
            chunkFrame(f, id, chunkBytes).map((chunk) => ({ id, chunk })),
          )
          // Drop roughly one chunk in eight, then shuffle everything across frames.
          const kept = tagged.filter((_, i) => keepFlags[i % keepFlags.length]! || i % 8 !== 0)
          const shuffled = kept
            .map((t, i) => ({ t, key: orderKeys[i % orderKeys.length]! + i / 1e6 }))
            .sort((a, b) => a.key - b.key)
            .map(({ t }) => t)
          const r = new Reassembler({ maxInFlightFrames: frames.length, maxFrameBytes: 1 << 20 })
          const out: Uint8Array[] = []
          for (const { chunk } of shuffled) {
            const result = guarded(() => r.push(chunk), CHUNK_CODES)
            expect(result.ok).toBe(true)
            if (result.ok && result.value !== null) out.push(result.value)
          }
          const count = (list: Array<{ id: number }>, id: number): number =>
            list.filter((t) => t.id === id).length
          const complete = frames.filter((_, id) => count(kept, id) === count(tagged, id))
          const partial = frames.filter((_, id) => count(kept, id) > 0 && count(kept, id) < count(tagged, id))
          const key = (b: Uint8Array): string => Buffer.from(b).toString('hex')
          expect(out.map(key).sort()).toEqual(complete.map(key).sort())
          for (const frame of out)
            expect(guarded(() => decodeMessage(frame, EXPECT), DECODE_CODES).ok).toBe(true)
          expect(r.inFlightFrames).toBe(partial.length)
          expect(r.bufferedBytes).toBe(partial.reduce((n, f) => n + f.length, 0))
        },
      ),
      runs(200),
    )
  })

  it('never delivers a wrong frame when valid chunks are duplicated or mutated', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.integer({ min: 64, max: 300 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom('dup', 'mutate', 'none'), mutationArb), { maxLength: 6 }),
        (message, chunkBytes, edits) => {
          const frame = encodeMessage(message, CONTEXT)
          const chunks = chunkFrame(frame, 1, chunkBytes)
          const stream = [...chunks]
          for (const [at, kind, m] of edits) {
            const i = at % stream.length
            if (kind === 'dup') stream.splice(i, 0, stream[i]!)
            else if (kind === 'mutate') stream[i] = mutate(stream[i]!, [m])
          }
          const r = new Reassembler({ maxFrameBytes: 1 << 20, maxInFlightFrames: 2 })
          for (const chunk of stream) {
            const result = guarded(() => r.push(chunk), CHUNK_CODES)
            if (result.ok && result.value !== null) {
              // Whatever comes out either is the frame or fails decoding with a typed error.
              const decoded = guarded(() => decodeMessage(result.value!, EXPECT), DECODE_CODES)
              if (decoded.ok) expectCanonical(result.value)
            }
            expect(r.bufferedBytes).toBeLessThanOrEqual(2 << 20)
          }
        },
      ),
      runs(400),
    )
  })
})

// ---------------------------------------------------------------------------- snapshots

describe('SnapshotAssembler under fuzzing', () => {
  it('keeps its memory bound and throws only CoreError on arbitrary chunk messages', () => {
    const rawChunk = fc.record({
      type: fc.constant('snapshot.chunk' as const),
      round: fc.nat(3),
      snapshotId: fc.nat(2),
      chunkIndex: fc.oneof(fc.nat(10), hugeU32),
      chunkCount: fc.oneof(fc.nat(10), hugeU32),
      totalBytes: fc.oneof(fc.nat(2000), hugeU32),
      snapshotHash: fc.constantFrom('0000000000000000', 'cbf29ce484222325'),
      bytes: fc.nat(400).map((n) => new Uint8Array(n)),
    })
    fc.assert(
      fc.property(fc.array(fc.oneof(rawChunk, snapshotChunkArb), { maxLength: 40 }), (chunks) => {
        const a = new SnapshotAssembler({ maxSnapshotBytes: 1500 })
        for (const chunk of chunks) {
          const result = guarded(
            () => a.add(chunk),
            new Set<ErrorCode>(['ERR_BAD_MESSAGE', 'ERR_FRAME_TOO_LARGE']),
          )
          if (result.ok && result.value !== null) expect(result.value.bytes.length).toBeLessThanOrEqual(1500)
          expect(a.bufferedBytes).toBeLessThanOrEqual(1500)
        }
      }),
      runs(400),
    )
  })
})
