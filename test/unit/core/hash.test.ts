import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Fnv1a64, fnv1a64Hex, fnv1a64Reference } from '../../../core/hash.ts'

describe('Fnv1a64', () => {
  it('matches the published FNV-1a 64 test vectors', () => {
    expect(fnv1a64Hex('')).toBe('cbf29ce484222325')
    expect(fnv1a64Hex('a')).toBe('af63dc4c8601ec8c')
    expect(fnv1a64Hex('foobar')).toBe('85944171f73967e8')
  })

  it('agrees with the BigInt reference on random input, in one piece or streamed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cut) => {
        const at = Math.min(cut, bytes.length)
        const streamed = new Fnv1a64().update(bytes.subarray(0, at)).update(bytes.subarray(at)).digestBigInt()
        expect(streamed).toBe(fnv1a64Reference(bytes))
      }),
    )
  })
})
