/**
 * What SimplePeerTransport decides before any network is involved; the WebRTC behaviour is
 * covered in test/integration/transport/ with @roamhq/wrtc.
 */
import { describe, expect, it } from 'vitest'
import { SimplePeerTransport } from '../../../../core/transport/simple-peer-transport.ts'
import { ManualClock, flushMicrotasks } from './manual-clock.ts'

describe('SimplePeerTransport', () => {
  it('throws ERR_WEBRTC_UNAVAILABLE in Node when no wrtc implementation is passed', () => {
    expect(() => new SimplePeerTransport({ peerId: 'p', initiator: true })).toThrow(
      expect.objectContaining({ code: 'ERR_WEBRTC_UNAVAILABLE' }),
    )
  })

  it.each([
    ['an empty peer id', { peerId: '' }],
    ['a low-water mark at the high-water mark', { highWaterMarkBytes: 65_536, lowWaterMarkBytes: 65_536 }],
    ['a chunk size wider than the gap between the marks', { maxChunkBytes: 64 * 1024 }],
    ['a chunk size below the protocol minimum', { maxChunkBytes: 8 }],
    ['a zero connect timeout', { connectTimeoutMs: 0 }],
    ['a negative stats interval', { statsIntervalMs: -1 }],
    ['a zero drain poll period', { drainPollMs: 0 }],
  ])('refuses %s with ERR_INVALID_ARGUMENT', (_name, options) => {
    expect(
      () =>
        new SimplePeerTransport({
          peerId: 'p',
          initiator: true,
          highWaterMarkBytes: 1024 * 1024,
          lowWaterMarkBytes: 1024 * 1024 - 32 * 1024,
          ...options,
        }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
  })

  it.each([
    ['bad options', { drainPollMs: 0 }],
    ['no WebRTC implementation', {}],
  ])('leaves no timer behind when the constructor throws for %s', async (_name, options) => {
    const clock = new ManualClock()
    expect(() => new SimplePeerTransport({ peerId: 'p', initiator: true, clock, ...options })).toThrow()
    await flushMicrotasks()
    expect(clock.pendingTimers).toBe(0)
  })
})
