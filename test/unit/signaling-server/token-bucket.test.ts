import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { createTokenBucket, takeToken } from '../../../signaling-server/token-bucket.ts'

describe('token-bucket', () => {
  it('allows a full burst at once, then refuses', () => {
    const b = createTokenBucket(5, 0)
    const results = Array.from({ length: 7 }, () => takeToken(b, 10, 5, 0))
    expect(results).toEqual([true, true, true, true, true, false, false])
  })

  it('refills at the configured rate', () => {
    const b = createTokenBucket(2, 0)
    takeToken(b, 10, 2, 0)
    takeToken(b, 10, 2, 0)
    expect(takeToken(b, 10, 2, 99)).toBe(false)
    expect(takeToken(b, 10, 2, 100)).toBe(true)
    expect(takeToken(b, 10, 2, 100)).toBe(false)
  })

  it('never holds more than the burst, however long it idles', () => {
    const b = createTokenBucket(3, 0)
    let granted = 0
    while (takeToken(b, 1000, 3, 1e9)) granted++
    expect(granted).toBe(3)
  })

  it('refills nothing when the clock goes backwards', () => {
    const b = createTokenBucket(1, 1000)
    expect(takeToken(b, 10, 1, 1000)).toBe(true)
    expect(takeToken(b, 10, 1, 0)).toBe(false)
  })

  it('grants at most burst + rate × elapsed over any schedule', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 200 }),
        (rate, burst, gaps) => {
          const b = createTokenBucket(burst, 0)
          let now = 0
          let granted = 0
          for (const gap of gaps) {
            now += gap
            if (takeToken(b, rate, burst, now)) granted++
          }
          return granted <= burst + (rate * now) / 1000 + 1e-9
        },
      ),
    )
  })
})
