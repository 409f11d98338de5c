import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeMessage } from '../../../../core/protocol/messages.ts'
import type { SnapshotChunkMessage } from '../../../../core/protocol/messages.ts'
import { SnapshotAssembler, splitSnapshot } from '../../../../core/protocol/snapshot.ts'
import { CONTEXT, EXPECT, expectCode } from './fixtures.ts'

const snapshotOf = (length: number, seed = 0): Uint8Array =>
  Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff)

function addAll(
  a: SnapshotAssembler,
  chunks: SnapshotChunkMessage[],
): Array<ReturnType<SnapshotAssembler['add']>> {
  return chunks.map((c) => a.add(c))
}

describe('splitSnapshot + SnapshotAssembler', () => {
  it('carries a snapshot through frames and back, chunks in any order', () => {
    const snapshot = snapshotOf(10_000)
    const chunks = splitSnapshot(snapshot, { snapshotId: 4, round: 17, chunkBytes: 1000 })
    expect(chunks.length).toBe(10)
    const received = chunks
      .map((c) => decodeMessage(encodeMessage(c, CONTEXT), EXPECT).message)
      .filter((m): m is SnapshotChunkMessage => m.type === 'snapshot.chunk')
      .reverse()
    const results = addAll(new SnapshotAssembler(), received)
    expect(results.slice(0, -1).every((r) => r === null)).toBe(true)
    expect(results.at(-1)).toEqual({ snapshotId: 4, round: 17, bytes: snapshot })
  })

  it('carries an empty snapshot as one empty chunk', () => {
    const chunks = splitSnapshot(new Uint8Array(0), { snapshotId: 1, round: 0 })
    expect(chunks.length).toBe(1)
    expect(new SnapshotAssembler().add(chunks[0]!)?.bytes.length).toBe(0)
  })

  it('holds the declared size while in progress and nothing after', () => {
    const chunks = splitSnapshot(snapshotOf(5000), { snapshotId: 1, round: 0, chunkBytes: 1000 })
    const a = new SnapshotAssembler()
    a.add(chunks[0]!)
    expect([a.bufferedBytes, a.receivedChunks]).toEqual([5000, 1])
    addAll(a, chunks.slice(1))
    expect(a.bufferedBytes).toBe(0)
  })

  it('refuses a snapshot whose bytes do not match the announced hash', () => {
    const chunks = splitSnapshot(snapshotOf(3000), { snapshotId: 1, round: 0, chunkBytes: 1000 })
    const tampered = { ...chunks[1]!, bytes: chunks[1]!.bytes.map((b) => b ^ 1) }
    const a = new SnapshotAssembler()
    a.add(chunks[0]!)
    a.add(tampered)
    expectCode(() => a.add(chunks[2]!), 'ERR_BAD_MESSAGE')
    expect(a.bufferedBytes).toBe(0)
  })

  it('refuses a snapshot over maxSnapshotBytes before allocating', () => {
    const chunks = splitSnapshot(snapshotOf(3000), { snapshotId: 1, round: 0, chunkBytes: 1000 })
    const a = new SnapshotAssembler({ maxSnapshotBytes: 2999 })
    expectCode(() => a.add(chunks[0]!), 'ERR_FRAME_TOO_LARGE')
    expect(a.bufferedBytes).toBe(0)
  })

  it('refuses a duplicate chunk and drops the partial snapshot', () => {
    const chunks = splitSnapshot(snapshotOf(3000), { snapshotId: 1, round: 0, chunkBytes: 1000 })
    const a = new SnapshotAssembler()
    a.add(chunks[0]!)
    expectCode(() => a.add(chunks[0]!), 'ERR_BAD_MESSAGE')
    expect(a.bufferedBytes).toBe(0)
  })

  it('refuses a chunk that disagrees with earlier chunks of the same snapshot', () => {
    const chunks = splitSnapshot(snapshotOf(3000), { snapshotId: 1, round: 0, chunkBytes: 1000 })
    const a = new SnapshotAssembler()
    a.add(chunks[0]!)
    expectCode(() => a.add({ ...chunks[1]!, round: 5 }), 'ERR_BAD_MESSAGE')
  })

  it('refuses a chunk of the wrong length', () => {
    const chunks = splitSnapshot(snapshotOf(3000), { snapshotId: 1, round: 0, chunkBytes: 1000 })
    expectCode(
      () => new SnapshotAssembler().add({ ...chunks[0]!, bytes: chunks[0]!.bytes.subarray(1) }),
      'ERR_BAD_MESSAGE',
    )
  })

  it('starts over when chunks of a new snapshot id arrive', () => {
    const old = splitSnapshot(snapshotOf(3000, 1), { snapshotId: 1, round: 0, chunkBytes: 1000 })
    const fresh = splitSnapshot(snapshotOf(2000, 2), { snapshotId: 2, round: 3, chunkBytes: 1000 })
    const a = new SnapshotAssembler()
    a.add(old[0]!)
    const results = addAll(a, fresh)
    expect(results.at(-1)).toEqual({ snapshotId: 2, round: 3, bytes: snapshotOf(2000, 2) })
  })

  it('refuses a chunk size below the minimum or a non-u32 snapshot id', () => {
    expectCode(
      () => splitSnapshot(snapshotOf(10), { snapshotId: 1, round: 0, chunkBytes: 10 }),
      'ERR_INVALID_ARGUMENT',
    )
    expectCode(() => splitSnapshot(snapshotOf(10), { snapshotId: -1, round: 0 }), 'ERR_INVALID_ARGUMENT')
  })
})
