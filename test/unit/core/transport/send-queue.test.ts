import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CoreError, isCoreError } from '../../../../core/errors.ts'
import { SendQueue } from '../../../../core/transport/send-queue.ts'
import type { ChunkSink, SendQueueOptions } from '../../../../core/transport/send-queue.ts'

/** A channel whose buffer drains only when the test says so; records the peak it reached. */
class FakeSink implements ChunkSink {
  bufferedAmount = 0
  peak = 0
  readonly sent: Uint8Array[] = []
  failNext: Error | undefined

  send(chunk: Uint8Array): void {
    if (this.failNext !== undefined) throw this.failNext
    this.sent.push(chunk)
    this.bufferedAmount += chunk.length
    this.peak = Math.max(this.peak, this.bufferedAmount)
  }

  drain(bytes: number): void {
    this.bufferedAmount = Math.max(0, this.bufferedAmount - bytes)
  }
}

function chunksOf(tag: number, count: number, bytes: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(bytes).fill((tag * 16 + i) & 0xff))
}

function makeQueue(overrides: Partial<SendQueueOptions> = {}): {
  queue: SendQueue
  sink: FakeSink
  waiting: boolean[]
  sinkErrors: unknown[]
} {
  const waiting: boolean[] = []
  const sinkErrors: unknown[] = []
  const queue = new SendQueue({
    highWaterMarkBytes: 100,
    lowWaterMarkBytes: 40,
    maxQueuedBytes: 1000,
    onWaitingChange: (w) => waiting.push(w),
    onSinkError: (e) => sinkErrors.push(e),
    ...overrides,
  })
  const sink = new FakeSink()
  return { queue, sink, waiting, sinkErrors }
}

async function settled(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  let state: 'resolved' | 'rejected' | 'pending' = 'pending'
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  )
  for (let i = 0; i < 5; i++) await Promise.resolve()
  return state
}

describe('SendQueue', () => {
  it('sends every chunk at once and resolves when they fit under the high-water mark', async () => {
    const { queue, sink } = makeQueue()
    queue.attach(sink)
    const done = queue.enqueue(chunksOf(1, 3, 30))
    expect(sink.sent).toHaveLength(3)
    expect(sink.bufferedAmount).toBe(90)
    await expect(done).resolves.toBeUndefined()
    expect(queue.queuedBytes).toBe(0)
  })

  it('holds frames queued before attach and sends them once attached', async () => {
    const { queue, sink } = makeQueue()
    const done = queue.enqueue(chunksOf(1, 2, 10))
    expect(await settled(done)).toBe('pending')
    expect(queue.queuedBytes).toBe(20)
    queue.attach(sink)
    expect(sink.sent).toHaveLength(2)
    expect(await settled(done)).toBe('resolved')
  })

  it('stops before the chunk that would pass the high-water mark and waits for a drain', async () => {
    const { queue, sink, waiting } = makeQueue()
    queue.attach(sink)
    const done = queue.enqueue(chunksOf(1, 5, 30))
    expect(sink.sent).toHaveLength(3)
    expect(sink.peak).toBeLessThanOrEqual(100)
    expect(queue.isWaiting).toBe(true)
    expect(waiting).toEqual([true])
    expect(await settled(done)).toBe('pending')
  })

  it('does not resume while the buffer is still above the low-water mark', async () => {
    const { queue, sink } = makeQueue()
    queue.attach(sink)
    const done = queue.enqueue(chunksOf(1, 5, 30))
    sink.drain(45) // 90 -> 45: room for a chunk, but above the low-water mark of 40
    queue.notifyDrain()
    expect(sink.sent).toHaveLength(3)
    expect(queue.isWaiting).toBe(true)
    expect(await settled(done)).toBe('pending')
  })

  it('resumes at the low-water mark and resolves once the last chunk is in the sink', async () => {
    const { queue, sink, waiting } = makeQueue()
    queue.attach(sink)
    const done = queue.enqueue(chunksOf(1, 5, 30))
    sink.drain(50) // 90 -> 40
    queue.notifyDrain()
    expect(sink.sent).toHaveLength(5)
    expect(waiting).toEqual([true, false])
    expect(await settled(done)).toBe('resolved')
    expect(sink.peak).toBeLessThanOrEqual(100)
  })

  it('keeps frames whole and in FIFO order when sends are not awaited', async () => {
    const { queue, sink } = makeQueue()
    queue.attach(sink)
    const sends = [1, 2, 3].map((tag) => queue.enqueue(chunksOf(tag, 3, 25)))
    while (queue.queuedFrames > 0) {
      sink.drain(1000)
      queue.notifyDrain()
    }
    await Promise.all(sends)
    const tags = sink.sent.map((c) => c[0]! >> 4)
    expect(tags).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3])
    const indices = sink.sent.map((c) => c[0]! & 0xf)
    expect(indices).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2])
  })

  it('resolves each frame only when its own last chunk is sent', async () => {
    const { queue, sink } = makeQueue()
    queue.attach(sink)
    const first = queue.enqueue(chunksOf(1, 2, 30)) // 60 buffered
    const second = queue.enqueue(chunksOf(2, 2, 30)) // one more fits (90), the last waits
    expect(await settled(first)).toBe('resolved')
    expect(await settled(second)).toBe('pending')
    sink.drain(90)
    queue.notifyDrain()
    expect(await settled(second)).toBe('resolved')
  })

  it('trySend sends a whole frame when it fits and nothing is queued', () => {
    const frames: number[] = []
    const { queue, sink } = makeQueue({ onFrameSent: () => frames.push(1) })
    queue.attach(sink)
    expect(queue.trySend(chunksOf(1, 2, 40))).toBe(true)
    expect(sink.sent).toHaveLength(2)
    expect(frames).toHaveLength(1)
  })

  it('trySend refuses a frame that would pass the high-water mark and sends none of it', () => {
    const { queue, sink } = makeQueue()
    queue.attach(sink)
    expect(queue.trySend(chunksOf(1, 2, 40))).toBe(true)
    expect(queue.trySend(chunksOf(2, 1, 21))).toBe(false)
    expect(sink.sent).toHaveLength(2)
  })

  it('trySend refuses while frames are queued, so it never overtakes a pending send', async () => {
    const { queue, sink } = makeQueue()
    queue.attach(sink)
    const pending = queue.enqueue(chunksOf(1, 5, 30))
    sink.drain(90) // empty buffer, but the queue still has 2 chunks waiting for notifyDrain
    expect(queue.trySend(chunksOf(2, 1, 1))).toBe(false)
    queue.notifyDrain()
    await pending
    expect(sink.sent.every((c) => c[0]! >> 4 === 1)).toBe(true)
  })

  it('trySend refuses before the sink is attached', () => {
    const { queue } = makeQueue()
    expect(queue.trySend(chunksOf(1, 1, 1))).toBe(false)
  })

  it('rejects with ERR_SLOW_CONSUMER when queued bytes would pass maxQueuedBytes', async () => {
    const { queue } = makeQueue({ maxQueuedBytes: 100 })
    const first = queue.enqueue(chunksOf(1, 2, 40))
    await expect(queue.enqueue(chunksOf(2, 1, 21))).rejects.toSatisfy((e) =>
      isCoreError(e, 'ERR_SLOW_CONSUMER'),
    )
    expect(await settled(first)).toBe('pending')
    expect(queue.queuedBytes).toBe(80)
  })

  it('accepts one frame larger than maxQueuedBytes into an empty queue', async () => {
    const { queue, sink } = makeQueue({ maxQueuedBytes: 10 })
    const done = queue.enqueue(chunksOf(1, 2, 30))
    queue.attach(sink)
    await expect(done).resolves.toBeUndefined()
  })

  it('rejects every pending send with the close error and refuses new ones', async () => {
    const { queue, sink, waiting } = makeQueue()
    queue.attach(sink)
    const a = queue.enqueue(chunksOf(1, 5, 30))
    const b = queue.enqueue(chunksOf(2, 1, 30))
    const error = new CoreError('ERR_DESTROYED', 'closed')
    queue.close(error)
    await expect(a).rejects.toBe(error)
    await expect(b).rejects.toBe(error)
    await expect(queue.enqueue(chunksOf(3, 1, 1))).rejects.toBe(error)
    expect(() => queue.trySend(chunksOf(3, 1, 1))).toThrow(error)
    expect(queue.queuedBytes).toBe(0)
    expect(waiting).toEqual([true, false])
  })

  it('sends nothing more after close even when drained', () => {
    const { queue, sink } = makeQueue()
    queue.attach(sink)
    void queue.enqueue(chunksOf(1, 5, 30)).catch(() => {})
    queue.close(new CoreError('ERR_DESTROYED', 'closed'))
    sink.drain(1000)
    queue.notifyDrain()
    expect(sink.sent).toHaveLength(3)
  })

  it('closes itself and reports the sink error when the sink throws', async () => {
    const { queue, sink, sinkErrors } = makeQueue()
    queue.attach(sink)
    const boom = new Error('channel closed')
    sink.failNext = boom
    const done = queue.enqueue(chunksOf(1, 2, 10))
    await expect(done).rejects.toSatisfy((e) => isCoreError(e, 'ERR_DESTROYED'))
    expect(sinkErrors).toEqual([boom])
    expect(queue.isClosed).toBe(true)
  })

  it('sends a chunk wider than the gap between the marks once at the low-water mark instead of stalling', async () => {
    const { queue, sink } = makeQueue({ highWaterMarkBytes: 100, lowWaterMarkBytes: 50 })
    queue.attach(sink)
    const done = queue.enqueue([new Uint8Array(60), new Uint8Array(60)])
    expect(sink.sent).toHaveLength(1)
    sink.drain(10) // 60 -> 50: at the low-water mark, yet 50 + 60 > 100
    queue.notifyDrain()
    await expect(done).resolves.toBeUndefined()
    expect(sink.peak).toBe(110) // bounded by low + chunk in this (transport-forbidden) setting
  })

  it('refuses water marks that are not 0 <= low < high', () => {
    expect(() => makeQueue({ highWaterMarkBytes: 100, lowWaterMarkBytes: 100 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
    expect(() => makeQueue({ highWaterMarkBytes: 0, lowWaterMarkBytes: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
    expect(() => makeQueue({ lowWaterMarkBytes: -1 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
    expect(() => makeQueue({ maxQueuedBytes: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
  })

  it('never lets the buffer pass the high-water mark and delivers every frame in order, for any drain pattern', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 6 }), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 30 }),
        async (frames, drains) => {
          const { queue, sink } = makeQueue({
            highWaterMarkBytes: 100,
            lowWaterMarkBytes: 40,
            maxQueuedBytes: 1e9,
          })
          queue.attach(sink)
          const sends = frames.map((sizes, tag) =>
            queue.enqueue(sizes.map((size, i) => new Uint8Array(size).fill((tag * 7 + i) & 0xff))),
          )
          for (let step = 0; queue.queuedFrames > 0; step++) {
            sink.drain(drains[step % drains.length]! || 1)
            queue.notifyDrain()
            expect(sink.bufferedAmount).toBeLessThanOrEqual(100)
          }
          await Promise.all(sends)
          expect(sink.peak).toBeLessThanOrEqual(100)
          const expected = frames.flatMap((sizes, tag) =>
            sizes.map((size, i) => [size, (tag * 7 + i) & 0xff]),
          )
          expect(sink.sent.map((c) => [c.length, c[0]])).toEqual(expected)
        },
      ),
      { numRuns: 200 },
    )
  })
})
