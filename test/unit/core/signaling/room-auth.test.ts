import { describe, expect, it } from 'vitest'
import { createHmac, pbkdf2Sync } from 'node:crypto'
import { isCoreError } from '../../../../core/errors.ts'
import { admissionProofInput, KEY32_PATTERN } from '../../../../core/protocol/signaling.ts'
import {
  createAdmissionProof,
  deriveRoomCredentials,
  extractFingerprints,
  fromBase64Url32,
  generatePeerId,
  generateRoomSecret,
  signFingerprint,
  toBase64Url,
  verifyFingerprint,
  type FingerprintContext,
} from '../../../../core/signaling/room-auth.ts'

const ITER = 1000
const SECRET = 'a long shared room secret'
const FP_A = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(':')
const FP_B = FP_A.replace(/^00/, 'FF')

function sdpWith(...lines: string[]): string {
  return ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', ...lines, ''].join('\r\n')
}

const ctx = (over: Partial<FingerprintContext> = {}): FingerprintContext => ({
  sdp: sdpWith('m=application 9 UDP/DTLS/SCTP webrtc-datachannel', `a=fingerprint:sha-256 ${FP_A}`),
  type: 'offer',
  from: 'alice',
  to: 'bob',
  ...over,
})

async function expectCode(p: Promise<unknown>, code: Parameters<typeof isCoreError>[1]): Promise<void> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isCoreError(err, code), String(err)).toBe(true)
}

describe('room-auth', () => {
  it('derives the verifier as HMAC(PBKDF2(secret, room), label), matching an independent implementation', async () => {
    const c = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
    const roomKey = pbkdf2Sync(SECRET, 'longhaul-room-v1\nlab', ITER, 32, 'sha256')
    const expected = createHmac('sha256', roomKey).update('longhaul-room-v1/verifier').digest('base64url')
    expect(c.verifier).toBe(expected)
    expect(c.room).toBe('lab')
  })

  it('derives the same verifier each time and a different one per room, secret or iteration count', async () => {
    const a = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
    const again = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
    const otherRoom = await deriveRoomCredentials(SECRET, 'lab2', { iterations: ITER })
    const otherSecret = await deriveRoomCredentials(SECRET + '!', 'lab', { iterations: ITER })
    const otherIter = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER + 1 })
    expect(again.verifier).toBe(a.verifier)
    expect(new Set([a, otherRoom, otherSecret, otherIter].map((c) => c.verifier)).size).toBe(4)
  })

  it('uses the default iteration count when none is given', async () => {
    const c = await deriveRoomCredentials(SECRET, 'lab')
    const roomKey = pbkdf2Sync(SECRET, 'longhaul-room-v1\nlab', 200_000, 32, 'sha256')
    expect(c.verifier).toBe(
      createHmac('sha256', roomKey).update('longhaul-room-v1/verifier').digest('base64url'),
    )
  })

  it('MACs fingerprints with a key derived beside the verifier, not with the verifier', async () => {
    const c = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
    expect(c.fingerprintKey.extractable).toBe(false)
    const mac = await signFingerprint(c, ctx())
    const input = `longhaul-room-v1/fingerprint-mac\noffer\nalice\nbob\nsha-256 ${FP_A}`
    const roomKey = pbkdf2Sync(SECRET, 'longhaul-room-v1\nlab', ITER, 32, 'sha256')
    const fpKey = createHmac('sha256', roomKey).update('longhaul-room-v1/fingerprint').digest()
    expect(mac).toBe(createHmac('sha256', fpKey).update(input).digest('base64url'))
    // What a server holding only the verifier could compute is something else.
    expect(mac).not.toBe(createHmac('sha256', fromBase64Url32(c.verifier)).update(input).digest('base64url'))
  })

  it.each([
    ['a short secret', 'short', 'lab', ITER],
    ['a malformed room', SECRET, 'no/slash', ITER],
    ['zero iterations', SECRET, 'lab', 0],
  ])('rejects %s with ERR_INVALID_ARGUMENT', async (_n, secret, room, iterations) => {
    await expectCode(deriveRoomCredentials(secret, room, { iterations }), 'ERR_INVALID_ARGUMENT')
  })

  it('makes admission proofs the server can check with the verifier alone', async () => {
    const c = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
    const nonce = toBase64Url(new Uint8Array(32).fill(7))
    const proof = await createAdmissionProof(c, 'alice', nonce)
    const expected = createHmac('sha256', fromBase64Url32(c.verifier))
      .update(admissionProofInput('lab', 'alice', nonce))
      .digest('base64url')
    expect(proof).toBe(expected)
    expect(KEY32_PATTERN.test(proof)).toBe(true)
  })

  it('makes a different proof for another nonce or peer id (no replay, no identity swap)', async () => {
    const c = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
    const n1 = toBase64Url(new Uint8Array(32).fill(1))
    const n2 = toBase64Url(new Uint8Array(32).fill(2))
    const p = await createAdmissionProof(c, 'alice', n1)
    expect(await createAdmissionProof(c, 'alice', n2)).not.toBe(p)
    expect(await createAdmissionProof(c, 'bob', n1)).not.toBe(p)
  })

  it('rejects a malformed nonce or peer id when making a proof', async () => {
    const c = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
    await expectCode(createAdmissionProof(c, 'alice', 'short'), 'ERR_BAD_MESSAGE')
    await expectCode(createAdmissionProof(c, 'a b', toBase64Url(new Uint8Array(32))), 'ERR_INVALID_ARGUMENT')
  })

  it('round-trips 32-byte values through base64url and refuses other lengths', () => {
    const bytes = Uint8Array.from({ length: 32 }, (_, i) => i * 7)
    expect(Array.from(fromBase64Url32(toBase64Url(bytes)))).toEqual(Array.from(bytes))
    expect(toBase64Url(bytes)).toBe(Buffer.from(bytes).toString('base64url'))
    expect(() => fromBase64Url32(toBase64Url(new Uint8Array(31)))).toThrow()
  })

  it('generates distinct secrets and peer ids of the documented form', () => {
    const s = new Set(Array.from({ length: 20 }, generateRoomSecret))
    expect(s.size).toBe(20)
    for (const x of s) expect(KEY32_PATTERN.test(x)).toBe(true)
    expect(generatePeerId()).toMatch(/^[A-Za-z0-9_-]{22}$/)
  })

  describe('extractFingerprints', () => {
    it('collects session- and media-level fingerprints, normalised, de-duplicated and sorted', () => {
      const sdp = sdpWith(
        `a=fingerprint:SHA-256 ${FP_B.toLowerCase()}`,
        'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
        `a=fingerprint:sha-256 ${FP_A}`,
        `a=fingerprint:sha-256 ${FP_B}`,
      )
      expect(extractFingerprints(sdp)).toEqual([`sha-256 ${FP_A}`, `sha-256 ${FP_B}`])
    })

    it('reads LF-only SDPs the same as CRLF ones', () => {
      const crlf = sdpWith(`a=fingerprint:sha-256 ${FP_A}`)
      expect(extractFingerprints(crlf.replace(/\r\n/g, '\n'))).toEqual(extractFingerprints(crlf))
    })

    it.each([
      ['two spaces', `a=fingerprint:sha-256  ${FP_A}`],
      ['a truncated hash', 'a=fingerprint:sha-256 AB:CD'],
      ['trailing junk', `a=fingerprint:sha-256 ${FP_A} x`],
      ['upper-case attribute', `A=FINGERPRINT:sha-256 ${FP_A}`],
      ['leading space', ` a=fingerprint:sha-256 ${FP_A}`],
    ])('refuses a fingerprint line with %s instead of skipping it', (_n, line) => {
      expect(() => extractFingerprints(sdpWith(`a=fingerprint:sha-256 ${FP_A}`, line))).toThrow(/malformed/)
    })

    it('refuses an SDP without fingerprints', () => {
      expect(() => extractFingerprints(sdpWith('a=setup:actpass'))).toThrow(/no a=fingerprint/)
    })
  })

  describe('signFingerprint / verifyFingerprint', () => {
    it('verifies a MAC made with the same room secret', async () => {
      const alice = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
      const bob = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
      expect(await verifyFingerprint(bob, ctx(), await signFingerprint(alice, ctx()))).toBe(true)
    })

    it('ignores SDP changes outside fingerprint lines (only the DTLS identity is bound)', async () => {
      const c = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
      const mac = await signFingerprint(c, ctx())
      const other = ctx({ sdp: ctx().sdp.replace('127.0.0.1', '10.0.0.1') })
      expect(await verifyFingerprint(c, other, mac)).toBe(true)
    })

    it.each([
      ['a rewritten fingerprint', ctx({ sdp: ctx().sdp.replace(FP_A, FP_B) })],
      ['an added fingerprint', ctx({ sdp: ctx().sdp + `a=fingerprint:sha-1 ${FP_A.slice(0, 59)}\r\n` })],
      ['swapped peers', ctx({ from: 'bob', to: 'alice' })],
      ['another sender', ctx({ from: 'mallory' })],
      ['an answer instead of an offer', ctx({ type: 'answer' })],
      ['no fingerprint', ctx({ sdp: sdpWith('a=setup:actpass') })],
    ])('refuses %s', async (_n, tampered) => {
      const c = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
      const mac = await signFingerprint(c, ctx())
      expect(await verifyFingerprint(c, tampered, mac)).toBe(false)
    })

    it('refuses a MAC from another secret or another room', async () => {
      const good = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
      const wrongSecret = await deriveRoomCredentials('another long secret', 'lab', { iterations: ITER })
      const wrongRoom = await deriveRoomCredentials(SECRET, 'lab2', { iterations: ITER })
      expect(await verifyFingerprint(good, ctx(), await signFingerprint(wrongSecret, ctx()))).toBe(false)
      expect(await verifyFingerprint(good, ctx(), await signFingerprint(wrongRoom, ctx()))).toBe(false)
    })

    it('refuses a missing or malformed MAC without throwing', async () => {
      const c = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
      expect(await verifyFingerprint(c, ctx(), undefined)).toBe(false)
      expect(await verifyFingerprint(c, ctx(), 'not-a-mac')).toBe(false)
      expect(await verifyFingerprint(c, ctx({ from: 'bad id' }), await signFingerprint(c, ctx()))).toBe(false)
    })

    it('refuses to sign an SDP without a fingerprint', async () => {
      const c = await deriveRoomCredentials(SECRET, 'lab', { iterations: ITER })
      await expectCode(signFingerprint(c, ctx({ sdp: sdpWith() })), 'ERR_BAD_MESSAGE')
    })
  })
})
