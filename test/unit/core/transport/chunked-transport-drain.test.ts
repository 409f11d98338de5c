/**
 * What ChunkedTransport does while a send waits for the channel to drain, on a virtual clock:
 * the drain watchdog (a channel that never drains fails the transport with ERR_TIMEOUT; one that
 * drains, however slowly, never trips it) and the subclass's drain poll; both run only while a
 * send waits.
 */
import { describe, expect, it } from 'vitest'
import type { CoreError } from '../../../../core/errors.ts'
import {
  ChunkedTransport,
  type ChunkedTransportOptions,
} from '../../../../core/transport/chunked-transport.ts'
import type { IceSummary } from '../../../../core/transport/ice-stats.ts'
import type { ChunkSink } from '../../../../core/transport/send-queue.ts'
import { ManualClock } from './manual-clock.ts'

/** A channel whose buffer drains only when the test says so. */
class ControlledSink implements ChunkSink {
  bufferedAmount = 0

  send(chunk: Uint8Array): void {
    this.bufferedAmount += chunk.length
  }

  drain(bytes: number): void {
    this.bufferedAmount = Math.max(0, this.bufferedAmount - bytes)
  }
}

/** The smallest concrete transport: the test owns the channel and says when it drained. */
class ControlledTransport extends ChunkedTransport {
  readonly channel = new ControlledSink()
  polls = 0
  /** Bytes each poll finds drained. */
  drainPerPoll = 0

  constructor(
    options: Omit<ChunkedTransportOptions, 'peerId'>,
    private readonly pollPeriodMs?: number,
  ) {
    super({ peerId: 'far-peer', ...options }, 0)
  }

  protected override drainPollPeriodMs(): number | undefined {
    return this.pollPeriodMs
  }

  protected override pollDrain(): void {
    this.polls++
    this.channel.drain(this.drainPerPoll)
    this.notifyDrain()
  }

  open(): void {
    this.markConnected(this.channel)
  }

  drain(bytes: number): void {
    this.channel.drain(bytes)
    this.notifyDrain()
  }

  protected releaseChannel(): Promise<void> {
    return Promise.resolve()
  }

  protected readLink(): Promise<IceSummary> {
    return Promise.resolve({})
  }
}

const MARKS = { highWaterMarkBytes: 64 * 1024, lowWaterMarkBytes: 16 * 1024, maxChunkBytes: 16 * 1024 }

function connectedTransport(
  drainStallTimeoutMs?: number,
  pollPeriodMs?: number,
): {
  transport: ControlledTransport
  clock: ManualClock
  errors: CoreError[]
} {
  const clock = new ManualClock()
  const transport = new ControlledTransport(
    {
      ...MARKS,
      clock,
      ...(drainStallTimeoutMs !== undefined && { drainStallTimeoutMs }),
    },
    pollPeriodMs,
  )
  const errors: CoreError[] = []
  transport.on('error', (error) => errors.push(error))
  transport.open()
  return { transport, clock, errors }
}

describe('ChunkedTransport drain watchdog', () => {
  it('fails a transport whose waiting send sees no drain for the stall timeout, and rejects the send', async () => {
    const { transport, clock, errors } = connectedTransport(10_000)
    // 200 KB: more than the high-water mark, so the send waits with 64 KB buffered.
    const send = transport.send(new Uint8Array(200_000))
    const outcome = send.then(
      () => 'sent',
      (error: CoreError) => error.code,
    )
    await clock.advance(9_000)
    expect(transport.state).toBe('connected')
    await clock.advance(1_000)
    expect(transport.state).toBe('failed')
    expect(errors.map((e) => e.code)).toEqual(['ERR_TIMEOUT'])
    expect(errors[0]?.message).toMatch(/to far-peer stopped sending: \d+ bytes buffered, none sent for 10 s/)
    expect(await outcome).toBe('ERR_DESTROYED')
  })

  it('keeps a slow channel that drains a little every few seconds', async () => {
    const { transport, clock, errors } = connectedTransport(10_000)
    const send = transport.send(new Uint8Array(200_000))
    let isSent = false
    void send.then(() => (isSent = true))
    for (let i = 0; i < 200 && !isSent; i++) {
      await clock.advance(6_000)
      transport.drain(4_000)
    }
    expect(isSent).toBe(true)
    expect(errors).toEqual([])
    expect(transport.state).toBe('connected')
  })

  it('measures the stall from the last drain, not from when the send began to wait', async () => {
    const { transport, clock, errors } = connectedTransport(10_000)
    void transport.send(new Uint8Array(200_000)).catch(() => {})
    await clock.advance(8_000)
    transport.drain(1_000)
    await clock.advance(8_000)
    expect(transport.state).toBe('connected')
    await clock.advance(3_000)
    expect(transport.state).toBe('failed')
    expect(errors[0]?.message).toMatch(/none sent for 1[01] s/)
  })

  it('does not run while no send waits: an idle channel with bytes buffered stays open', async () => {
    const { transport, clock } = connectedTransport(10_000)
    await transport.send(new Uint8Array(30_000))
    expect(transport.bufferedAmount).toBeGreaterThan(0)
    await clock.advance(60_000)
    expect(transport.state).toBe('connected')
    expect(clock.pendingTimers).toBe(0)
  })

  it('stops sampling once the send no longer waits and when the transport closes', async () => {
    const { transport, clock } = connectedTransport(10_000)
    const send = transport.send(new Uint8Array(100_000))
    await clock.advance(2_000)
    transport.drain(1_000_000)
    transport.drain(1_000_000)
    await send
    expect(clock.pendingTimers).toBe(0)
    void transport.send(new Uint8Array(200_000)).catch(() => {})
    expect(clock.pendingTimers).toBe(1)
    await transport.close()
    expect(clock.pendingTimers).toBe(0)
  })

  it('is off with drainStallTimeoutMs 0', async () => {
    const { transport, clock } = connectedTransport(0)
    void transport.send(new Uint8Array(200_000)).catch(() => {})
    await clock.advance(600_000)
    expect(transport.state).toBe('connected')
    expect(clock.pendingTimers).toBe(0)
    await transport.close()
  })

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses drainStallTimeoutMs %s', (value) => {
    expect(() => new ControlledTransport({ ...MARKS, drainStallTimeoutMs: value })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
  })
})

describe('ChunkedTransport drain poll', () => {
  it('polls at the period only while a send waits, and the polls alone can finish the send', async () => {
    const { transport, clock, errors } = connectedTransport(0, 50)
    await clock.advance(1_000)
    expect(transport.polls).toBe(0)
    transport.drainPerPoll = 8_000
    let isSent = false
    void transport.send(new Uint8Array(200_000)).then(() => (isSent = true))
    await clock.advance(50)
    expect(transport.polls).toBe(1)
    for (let i = 0; i < 100 && !isSent; i++) await clock.advance(50)
    expect(isSent).toBe(true)
    const pollsWhenSent = transport.polls
    expect(pollsWhenSent).toBeGreaterThan(10)
    await clock.advance(10_000)
    expect(transport.polls).toBe(pollsWhenSent)
    expect(clock.pendingTimers).toBe(0)
    expect(errors).toEqual([])
  })

  it('stops polling when the transport closes mid-wait', async () => {
    const { transport, clock } = connectedTransport(0, 50)
    const send = transport.send(new Uint8Array(200_000)).catch((error: CoreError) => error.code)
    await clock.advance(120)
    expect(transport.polls).toBe(2)
    await transport.close()
    expect(await send).toBe('ERR_DESTROYED')
    await clock.advance(1_000)
    expect(transport.polls).toBe(2)
    expect(clock.pendingTimers).toBe(0)
  })
})
