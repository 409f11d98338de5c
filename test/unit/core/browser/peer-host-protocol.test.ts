// The peer-host protocol's decoders: every valid message round-trips, and hostile heads and
// buffers (random, or one field of a valid message replaced) give ERR_BAD_MESSAGE and nothing else.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ChannelMessage } from '../../../../core/browser/channel.ts'
import {
  MAX_BATCH_MESSAGES,
  TurnBatcher,
  MAX_HOSTED_MESSAGE_BYTES,
  MAX_ICE_SERVERS,
  decodePeerHostEvent,
  decodePeerHostRequest,
  encodePeerHostEvent,
  encodePeerHostRequest,
} from '../../../../core/browser/peer-host-protocol.ts'
import type { PeerHostEvent, PeerHostRequest } from '../../../../core/browser/peer-host-protocol.ts'
import { CoreError } from '../../../../core/errors.ts'

const SCALE = Math.max(1, Number(process.env['FUZZ_SCALE'] ?? 1) || 1)
const runs = (n: number): { numRuns: number } => ({ numRuns: n * SCALE })

const offer = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' } as const
const candidate = {
  type: 'candidate',
  candidate: {
    candidate: 'candidate:1 1 udp 2113937151 192.0.2.2 45428 typ host',
    sdpMid: '0',
    sdpMLineIndex: 0,
  },
} as const

function bytes(length: number): ArrayBuffer {
  return new Uint8Array(length).map((_, i) => i & 0xff).buffer
}

const requests: PeerHostRequest[] = [
  {
    type: 'rtc.open',
    conn: 1,
    initiator: true,
    ordered: true,
    iceServers: [
      { urls: 'stun:stun.example.org:3478' },
      { urls: ['turn:turn.example.org:3478?transport=udp'], username: 'u', credential: 'p' },
    ],
    lowWaterMarkBytes: 262_144,
  },
  { type: 'rtc.signal', conn: 2, data: offer },
  { type: 'rtc.signal', conn: 2, data: candidate },
  { type: 'rtc.send', conn: 3, seq: 17, messages: [bytes(16_384), bytes(3)] },
  { type: 'rtc.query', conn: 3 },
  { type: 'rtc.stats', conn: 3, request: 4 },
  { type: 'rtc.close', conn: 9 },
]

const events: PeerHostEvent[] = [
  { type: 'rtc.hello', userAgent: 'HeadlessChrome/156' },
  { type: 'rtc.signal', conn: 1, data: candidate },
  { type: 'rtc.connect', conn: 1 },
  { type: 'rtc.data', conn: 1, messages: [bytes(1024)] },
  { type: 'rtc.buffered', conn: 1, seq: 0, bufferedAmount: 65_536 },
  { type: 'rtc.stats', conn: 1, request: 2, reports: [{ type: 'transport', id: 'T01' }] },
  { type: 'rtc.stats', conn: 1, request: 3, reports: [], error: 'closed' },
  { type: 'rtc.error', conn: 1, code: 'ERR_ICE_CONNECTION_FAILURE', message: 'Ice connection failed.' },
  { type: 'rtc.closed', conn: 1 },
  { type: 'rtc.fault', message: 'bad peer-host message: unknown request type' },
]

/** Plain JSON-able form, with buffers as byte arrays, for comparing decoded with original. */
function comparable(value: object): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => (v instanceof ArrayBuffer ? [...new Uint8Array(v)] : v)),
  )
}

/** The decoder either accepts or throws ERR_BAD_MESSAGE; nothing else may escape. */
function decodeOrBad(decode: (message: ChannelMessage) => unknown, message: ChannelMessage): boolean {
  try {
    decode(message)
    return true
  } catch (error) {
    if (!(error instanceof CoreError) || error.code !== 'ERR_BAD_MESSAGE') {
      throw new Error(`decoder let ${String(error)} escape`, { cause: error })
    }
    return false
  }
}

describe('peer-host protocol', () => {
  it('round-trips every request and event', () => {
    for (const request of requests) {
      expect(comparable(decodePeerHostRequest(encodePeerHostRequest(request)))).toEqual(comparable(request))
    }
    for (const event of events) {
      expect(comparable(decodePeerHostEvent(encodePeerHostEvent(event)))).toEqual(comparable(event))
    }
    const largest = decodePeerHostEvent(
      encodePeerHostEvent({ type: 'rtc.data', conn: 1, messages: [bytes(MAX_HOSTED_MESSAGE_BYTES)] }),
    )
    expect(largest.type === 'rtc.data' && largest.messages[0]?.byteLength).toBe(MAX_HOSTED_MESSAGE_BYTES)
  })

  it('refuses messages that break a rule, saying which', () => {
    const head = (fields: Record<string, unknown>): ChannelMessage => ({
      head: { v: 1, ...fields },
      buffers: [],
    })
    const cases: Array<[ChannelMessage, RegExp]> = [
      [{ head: 'open', buffers: [] }, /head is not an object/],
      [{ head: { v: 2, type: 'rtc.query', conn: 1 }, buffers: [] }, /protocol version 2, expected 1/],
      [head({ type: 'rtc.query', conn: 0 }), /"conn" must be a positive integer/],
      [head({ type: 'rtc.query', conn: 1.5 }), /"conn" must be a positive integer/],
      [head({ type: 'rtc.send', conn: 1, seq: 1 }), /carries 1 to 16 buffers, got 0/],
      [
        {
          head: { v: 1, type: 'rtc.send', conn: 1, seq: 1 },
          buffers: Array.from({ length: 17 }, () => bytes(1)),
        },
        /carries 1 to 16 buffers, got 17/,
      ],
      [
        { head: { v: 1, type: 'rtc.send', conn: 1, seq: 1 }, buffers: [new ArrayBuffer(0)] },
        /0 bytes \(1 to 262144 allowed\)/,
      ],
      [
        {
          head: { v: 1, type: 'rtc.send', conn: 1, seq: 1 },
          buffers: [new ArrayBuffer(MAX_HOSTED_MESSAGE_BYTES + 1)],
        },
        /262145 bytes/,
      ],
      [head({ type: 'rtc.signal', conn: 1, data: { type: 'transceiverRequest' } }), /signal data/],
      [
        head({
          type: 'rtc.open',
          conn: 1,
          initiator: true,
          ordered: true,
          lowWaterMarkBytes: 1,
          iceServers: Array(MAX_ICE_SERVERS + 1).fill({ urls: 'stun:x' }),
        }),
        /"iceServers" must be a list of at most 16/,
      ],
      [
        head({
          type: 'rtc.open',
          conn: 1,
          initiator: true,
          ordered: true,
          lowWaterMarkBytes: 1,
          iceServers: [{ urls: [] }],
        }),
        /needs "urls"/,
      ],
      [head({ type: 'rtc.launch', conn: 1 }), /unknown request type "rtc.launch"/],
      [
        { head: { v: { toString: false }, type: 'rtc.query', conn: 1 }, buffers: [] },
        /protocol version object/,
      ],
    ]
    for (const [message, pattern] of cases) {
      expect(() => decodePeerHostRequest(message)).toThrow(pattern)
    }
    expect(() =>
      decodePeerHostEvent(head({ type: 'rtc.hello', service: 'trainer', userAgent: 'x' })),
    ).toThrow(/serves "trainer", not webrtc/)
    expect(() => decodePeerHostEvent(head({ type: 'rtc.stats', conn: 1, request: 1, reports: [1] }))).toThrow(
      /"reports" must be a list/,
    )
  })

  it('fuzz: random heads and buffers never throw anything but ERR_BAD_MESSAGE', () => {
    const typeArb = fc.oneof(
      fc.constantFrom(
        'rtc.open',
        'rtc.signal',
        'rtc.send',
        'rtc.query',
        'rtc.stats',
        'rtc.close',
        'rtc.hello',
        'rtc.connect',
        'rtc.data',
        'rtc.buffered',
        'rtc.error',
        'rtc.closed',
        'rtc.fault',
      ),
      fc.string(),
    )
    const headArb = fc.oneof(
      fc.anything(),
      fc.record(
        {
          v: fc.oneof(fc.constant(1), fc.anything()),
          type: typeArb,
          conn: fc.oneof(fc.nat(), fc.double(), fc.anything()),
          seq: fc.oneof(fc.nat(), fc.anything()),
          request: fc.oneof(fc.nat(), fc.anything()),
          initiator: fc.anything(),
          ordered: fc.anything(),
          iceServers: fc.oneof(fc.array(fc.record({ urls: fc.anything() })), fc.anything()),
          lowWaterMarkBytes: fc.anything(),
          data: fc.oneof(fc.constant(offer), fc.constant(candidate), fc.anything()),
          bufferedAmount: fc.anything(),
          reports: fc.oneof(fc.array(fc.object()), fc.anything()),
          userAgent: fc.anything(),
          service: fc.oneof(fc.constant('webrtc'), fc.anything()),
          code: fc.anything(),
          message: fc.anything(),
          error: fc.anything(),
        },
        { requiredKeys: ['v', 'type'] },
      ),
    )
    const buffersArb = fc.array(
      fc
        .oneof(fc.integer({ min: 0, max: 64 }), fc.constant(MAX_HOSTED_MESSAGE_BYTES + 1))
        .map((n) => new ArrayBuffer(n)),
      { maxLength: 3 },
    )
    fc.assert(
      fc.property(headArb, buffersArb, (head, buffers) => {
        const message: ChannelMessage = { head, buffers }
        decodeOrBad(decodePeerHostRequest, message)
        decodeOrBad(decodePeerHostEvent, message)
      }),
      runs(2000),
    )
  })

  it('fuzz: one field of a valid message replaced is accepted only when it is still valid', () => {
    const valid = [
      ...requests.map((r) => ['request', encodePeerHostRequest(r)] as const),
      ...events.map((e) => ['event', encodePeerHostEvent(e)] as const),
    ]
    const keyArb = fc.oneof(
      fc.constantFrom('v', 'type', 'conn', 'seq', 'request', 'data', 'iceServers', 'reports', 'service'),
      fc.string({ maxLength: 20 }),
    )
    fc.assert(
      fc.property(fc.constantFrom(...valid), keyArb, fc.anything(), ([kind, message], key, value) => {
        const head = { ...(message.head as Record<string, unknown>), [key]: value }
        const mutated: ChannelMessage = { head, buffers: message.buffers }
        if (kind === 'request') {
          if (!decodeOrBad(decodePeerHostRequest, mutated)) return
          // Accepted: what was read is itself a valid request (it re-encodes to the same thing).
          const read = decodePeerHostRequest(mutated)
          expect(comparable(decodePeerHostRequest(encodePeerHostRequest(read)))).toEqual(comparable(read))
        } else {
          if (!decodeOrBad(decodePeerHostEvent, mutated)) return
          const read = decodePeerHostEvent(mutated)
          expect(comparable(decodePeerHostEvent(encodePeerHostEvent(read)))).toEqual(comparable(read))
        }
      }),
      runs(2000),
    )
  })
})

describe('TurnBatcher', () => {
  const message = (tag: number): ArrayBuffer => new Uint8Array([tag]).buffer
  const tags = (batch: ArrayBuffer[]): number[] => batch.map((m) => new Uint8Array(m)[0] ?? -1)

  it('passes MAX_BATCH_MESSAGES on at once and the rest at the end of the turn, in order', async () => {
    const batches: ArrayBuffer[][] = []
    const batcher = new TurnBatcher((messages) => batches.push(messages))
    for (let i = 0; i < MAX_BATCH_MESSAGES + 3; i++) batcher.add(message(i))
    expect(batches.map(tags)).toEqual([Array.from({ length: MAX_BATCH_MESSAGES }, (_, i) => i)])
    await Promise.resolve()
    expect(batches.map(tags).at(-1)).toEqual([
      MAX_BATCH_MESSAGES,
      MAX_BATCH_MESSAGES + 1,
      MAX_BATCH_MESSAGES + 2,
    ])
    await Promise.resolve()
    expect(batches).toHaveLength(2)
  })

  it('passes on at once when flushed, and never an empty batch', async () => {
    const batches: ArrayBuffer[][] = []
    const batcher = new TurnBatcher((messages) => batches.push(messages))
    batcher.flush()
    batcher.add(message(7))
    batcher.flush()
    expect(batches.map(tags)).toEqual([[7]])
    await Promise.resolve()
    expect(batches).toHaveLength(1)
  })
})
