import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { isCoreError } from '../../../../core/errors.ts'
import {
  admissionProofInput,
  encodeSignalMessage,
  errorCodeForClose,
  KEY32_PATTERN,
  MAX_SDP_CHARS,
  parseClientMessage,
  parseServerMessage,
  SIGNAL_CLOSE_CODES,
  type ClientMessage,
  type ServerMessage,
} from '../../../../core/protocol/signaling.ts'

const KEY = 'A'.repeat(42) + 'E'
const LIMITS = {
  maxMessageBytes: 1,
  messagesPerSecond: 2,
  messageBurst: 3,
  idleTimeoutMs: 4,
  maxPeersPerRoom: 5,
}
const SDP = 'v=0\r\na=fingerprint:sha-256 AB:CD\r\n'

function expectBad(fn: () => unknown): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(isCoreError(thrown, 'ERR_BAD_MESSAGE'), String(thrown)).toBe(true)
}

const validClient: ClientMessage[] = [
  { type: 'join', v: 1, room: 'lab.run-1_~x', peerId: 'peer_1-A' },
  { type: 'auth', v: 1, proof: KEY },
  { type: 'auth', v: 1, proof: KEY, verifier: KEY },
  { type: 'signal', v: 1, to: 'bob', data: { type: 'offer', sdp: SDP }, mac: KEY },
  { type: 'signal', v: 1, to: 'bob', data: { type: 'answer', sdp: SDP } },
  {
    type: 'signal',
    v: 1,
    to: 'bob',
    data: { type: 'candidate', candidate: { candidate: 'candidate:1', sdpMid: '0', sdpMLineIndex: 0 } },
  },
  {
    type: 'signal',
    v: 1,
    to: 'bob',
    data: {
      type: 'candidate',
      candidate: { candidate: '', sdpMid: null, sdpMLineIndex: null, usernameFragment: 'uf' },
    },
  },
  { type: 'signal', v: 1, to: 'bob', data: { type: 'renegotiate', renegotiate: true } },
  { type: 'ping', v: 1 },
]

const validServer: ServerMessage[] = [
  { type: 'challenge', v: 1, nonce: KEY, roomExists: true },
  { type: 'joined', v: 1, room: 'lab', peerId: 'me', peers: ['a', 'b'], limits: LIMITS },
  { type: 'peer.joined', v: 1, peerId: 'a' },
  { type: 'peer.left', v: 1, peerId: 'a' },
  { type: 'signal', v: 1, from: 'a', to: 'b', data: { type: 'offer', sdp: SDP }, mac: KEY },
  { type: 'pong', v: 1 },
  { type: 'error', v: 1, code: 'ERR_RATE_LIMITED', message: 'slow down', fatal: true },
]

describe('signaling schema', () => {
  it.each(validClient.map((m) => [m.type, m] as const))(
    'round-trips a valid client %s message',
    (_t, message) => {
      expect(parseClientMessage(encodeSignalMessage(message))).toEqual(message)
      expect(parseClientMessage(message)).toEqual(message)
    },
  )

  it.each(validServer.map((m) => [m.type, m] as const))(
    'round-trips a valid server %s message',
    (_t, message) => {
      expect(parseServerMessage(encodeSignalMessage(message))).toEqual(message)
    },
  )

  it('returns a fresh object that carries no field beyond the schema', () => {
    const input = { type: 'ping', v: 1 }
    const out = parseClientMessage(input)
    expect(out).not.toBe(input)
  })

  it.each([
    ['malformed JSON', '{"type":'],
    ['a number', 42],
    ['null', null],
    ['an array', [{ type: 'ping', v: 1 }]],
    ['a class instance', new Date()],
    ['an unknown type', { type: 'nope', v: 1 }],
    ['a missing version', { type: 'ping' }],
    ['another version', { type: 'ping', v: 2 }],
    ['an extra field', { type: 'ping', v: 1, x: 1 }],
    ['a room with a slash', { type: 'join', v: 1, room: 'a/b', peerId: 'p' }],
    ['an empty room', { type: 'join', v: 1, room: '', peerId: 'p' }],
    ['a 129-character room', { type: 'join', v: 1, room: 'r'.repeat(129), peerId: 'p' }],
    ['a 65-character peer id', { type: 'join', v: 1, room: 'r', peerId: 'p'.repeat(65) }],
    ['a peer id with a newline', { type: 'join', v: 1, room: 'r', peerId: 'a\nb' }],
    ['a short proof', { type: 'auth', v: 1, proof: 'AAAA' }],
    ['a non-canonical proof', { type: 'auth', v: 1, proof: 'A'.repeat(42) + 'B' }],
    ['padding in a verifier', { type: 'auth', v: 1, proof: KEY, verifier: KEY + '=' }],
    ['a null verifier', { type: 'auth', v: 1, proof: KEY, verifier: null }],
    ['signal data of unknown type', { type: 'signal', v: 1, to: 'b', data: { type: 'rollback' } }],
    ['a transceiver request', { type: 'signal', v: 1, to: 'b', data: { type: 'transceiverRequest' } }],
    ['an SDP that is not a string', { type: 'signal', v: 1, to: 'b', data: { type: 'offer', sdp: 1 } }],
    [
      'an oversized SDP',
      { type: 'signal', v: 1, to: 'b', data: { type: 'offer', sdp: 'x'.repeat(MAX_SDP_CHARS + 1) } },
    ],
    [
      'an extra field in the SDP object',
      { type: 'signal', v: 1, to: 'b', data: { type: 'offer', sdp: '', x: 1 } },
    ],
    [
      'a MAC on a candidate',
      { type: 'signal', v: 1, to: 'b', data: { type: 'candidate', candidate: { candidate: '' } }, mac: KEY },
    ],
    [
      'a negative sdpMLineIndex',
      {
        type: 'signal',
        v: 1,
        to: 'b',
        data: { type: 'candidate', candidate: { candidate: '', sdpMLineIndex: -1 } },
      },
    ],
    [
      'a fractional sdpMLineIndex',
      {
        type: 'signal',
        v: 1,
        to: 'b',
        data: { type: 'candidate', candidate: { candidate: '', sdpMLineIndex: 0.5 } },
      },
    ],
    [
      'a candidate without its line',
      { type: 'signal', v: 1, to: 'b', data: { type: 'candidate', candidate: { sdpMid: '0' } } },
    ],
    [
      'renegotiate: false',
      { type: 'signal', v: 1, to: 'b', data: { type: 'renegotiate', renegotiate: false } },
    ],
    [
      'a client-set from',
      { type: 'signal', v: 1, to: 'b', from: 'a', data: { type: 'renegotiate', renegotiate: true } },
    ],
  ])('rejects a client message with %s', (_name, raw) => {
    expectBad(() => parseClientMessage(raw))
  })

  it.each([
    ['a challenge with a string roomExists', { type: 'challenge', v: 1, nonce: KEY, roomExists: 'yes' }],
    [
      'joined listing a peer twice',
      { type: 'joined', v: 1, room: 'r', peerId: 'me', peers: ['a', 'a'], limits: LIMITS },
    ],
    [
      'joined listing ourselves',
      { type: 'joined', v: 1, room: 'r', peerId: 'me', peers: ['me'], limits: LIMITS },
    ],
    [
      'joined with a negative limit',
      { type: 'joined', v: 1, room: 'r', peerId: 'me', peers: [], limits: { ...LIMITS, idleTimeoutMs: -1 } },
    ],
    [
      'joined with a missing limit',
      { type: 'joined', v: 1, room: 'r', peerId: 'me', peers: [], limits: { maxMessageBytes: 1 } },
    ],
    [
      'joined with too many peers',
      {
        type: 'joined',
        v: 1,
        room: 'r',
        peerId: 'me',
        peers: Array.from({ length: 1025 }, (_, i) => `p${i}`),
        limits: LIMITS,
      },
    ],
    ['an error with an unknown code', { type: 'error', v: 1, code: 'ERR_NOPE', message: '', fatal: true }],
    [
      'an error whose code is an Object.prototype key',
      { type: 'error', v: 1, code: 'toString', message: '', fatal: true },
    ],
    ['an error without fatal', { type: 'error', v: 1, code: 'ERR_TIMEOUT', message: '' }],
    [
      'a relayed signal without from',
      { type: 'signal', v: 1, to: 'b', data: { type: 'renegotiate', renegotiate: true } },
    ],
    ['a client message type', { type: 'join', v: 1, room: 'r', peerId: 'p' }],
  ])('rejects a server message with %s', (_name, raw) => {
    expectBad(() => parseServerMessage(raw))
  })

  it('throws only ERR_BAD_MESSAGE, whatever JSON arrives', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        for (const parse of [parseClientMessage, parseServerMessage]) {
          try {
            parse(value)
            parse(JSON.stringify(value))
          } catch (err) {
            if (!isCoreError(err, 'ERR_BAD_MESSAGE')) return false
          }
        }
        return true
      }),
      { numRuns: 300 },
    )
  })

  it('round-trips any valid join message', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/)
    const room = fc.stringMatching(/^[A-Za-z0-9._~-]{1,128}$/)
    fc.assert(
      fc.property(room, id, (r, p) => {
        const m: ClientMessage = { type: 'join', v: 1, room: r, peerId: p }
        expect(parseClientMessage(encodeSignalMessage(m))).toEqual(m)
      }),
      { numRuns: 200 },
    )
  })

  it('accepts exactly the canonical base64url encodings of 32 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        expect(KEY32_PATTERN.test(Buffer.from(bytes).toString('base64url'))).toBe(true)
      }),
    )
    expect(KEY32_PATTERN.test(Buffer.alloc(31).toString('base64url'))).toBe(false)
    expect(KEY32_PATTERN.test(Buffer.alloc(33).toString('base64url'))).toBe(false)
  })

  it('maps every server close code except going-away to the error it stands for', () => {
    expect(errorCodeForClose(SIGNAL_CLOSE_CODES.AUTH_FAILED)).toBe('ERR_AUTH_FAILED')
    expect(errorCodeForClose(SIGNAL_CLOSE_CODES.RATE_LIMITED)).toBe('ERR_RATE_LIMITED')
    expect(errorCodeForClose(SIGNAL_CLOSE_CODES.IDLE_TIMEOUT)).toBe('ERR_TIMEOUT')
    for (const [name, code] of Object.entries(SIGNAL_CLOSE_CODES)) {
      if (name === 'GOING_AWAY') expect(errorCodeForClose(code)).toBeUndefined()
      else expect(errorCodeForClose(code), name).toBeDefined()
    }
    expect(errorCodeForClose(1000)).toBeUndefined()
    expect(errorCodeForClose(1006)).toBeUndefined()
  })

  it('binds room, peer id and nonce into distinct admission proof inputs', () => {
    const text = (u: Uint8Array) => new TextDecoder().decode(u)
    const base = text(admissionProofInput('room', 'peer', KEY))
    expect(text(admissionProofInput('room', 'peer', KEY))).toBe(base)
    expect(text(admissionProofInput('roon', 'peer', KEY))).not.toBe(base)
    expect(text(admissionProofInput('room', 'peeR', KEY))).not.toBe(base)
    expect(text(admissionProofInput('room', 'peer', 'B' + KEY.slice(1)))).not.toBe(base)
    // Field boundaries cannot shift: "ab"+"c" differs from "a"+"bc".
    expect(text(admissionProofInput('ab', 'c', KEY))).not.toBe(text(admissionProofInput('a', 'bc', KEY)))
  })
})
