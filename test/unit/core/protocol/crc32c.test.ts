import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crc32c, crc32cReference } from '../../../../core/protocol/crc32c.ts'

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s)
const filled = (n: number, f: (i: number) => number): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => f(i))

// RFC 3720 appendix B.4 (iSCSI CRC-32C examples) plus the classic check value.
const VECTORS: Array<[string, Uint8Array, number]> = [
  ['"123456789"', ascii('123456789'), 0xe3069283],
  ['32 zero bytes', filled(32, () => 0x00), 0x8a9136aa],
  ['32 0xff bytes', filled(32, () => 0xff), 0x62a8ab43],
  ['32 incrementing bytes', filled(32, (i) => i), 0x46dd794e],
  ['32 decrementing bytes', filled(32, (i) => 31 - i), 0x113fdb5c],
  [
    'an iSCSI read command PDU',
    Uint8Array.from([
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]),
    0xd9963a56,
  ],
  ['the empty input', new Uint8Array(0), 0x00000000],
]

describe('crc32c', () => {
  it.each(VECTORS)('matches the published value for %s', (_name, bytes, expected) => {
    expect(crc32c(bytes)).toBe(expected)
    expect(crc32cReference(bytes)).toBe(expected)
  })

  it('equals the bit-at-a-time reference on random inputs at unaligned offsets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), (bytes, skip) => {
        const view = bytes.subarray(Math.min(skip, bytes.length))
        expect(crc32c(view)).toBe(crc32cReference(view))
      }),
      { numRuns: 300 },
    )
  })

  it('continues across calls when given the previous result', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(200), (bytes, cutAt) => {
        const cut = Math.min(cutAt, bytes.length)
        expect(crc32c(bytes.subarray(cut), crc32c(bytes.subarray(0, cut)))).toBe(crc32c(bytes))
      }),
      { numRuns: 200 },
    )
  })

  it('changes when any single bit of the input flips', () => {
    const bytes = filled(64, (i) => (i * 37) & 0xff)
    const base = crc32c(bytes)
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const flipped = bytes.slice()
      flipped[bit >>> 3] = flipped[bit >>> 3]! ^ (1 << (bit & 7))
      expect(crc32c(flipped)).not.toBe(base)
    }
  })
})
