import { describe, expect, it } from 'vitest'
import { isCoreError } from '../../../../core/errors.ts'
import { parseMembershipEvents, parseStragglers } from '../../../../core/sim/sim-specs.ts'

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return isCoreError(error) ? error.code : 'not a CoreError'
  }
  return undefined
}

describe('parseStragglers', () => {
  it('gives listed workers their factor and everyone else 1', () => {
    expect(parseStragglers('1:3,4:1.5', 6)).toEqual([1, 3, 1, 1, 1.5, 1])
    expect(parseStragglers('', 3)).toEqual([1, 1, 1])
  })

  it('rejects bad workers and factors', () => {
    for (const bad of ['1', '1:0.5', '8:2', 'x:2', '1:2:3', '1:', '-1:2']) {
      expect(
        codeOf(() => parseStragglers(bad, 8)),
        bad,
      ).toBe('ERR_BAD_SPEC')
    }
  })
})

describe('parseMembershipEvents', () => {
  it('reads seconds, milliseconds and minutes', () => {
    expect(parseMembershipEvents('3@120s, 5@90000ms,1@2min,2@1.5', 8, '--leave')).toEqual([
      { worker: 3, atMs: 120_000 },
      { worker: 5, atMs: 90_000 },
      { worker: 1, atMs: 120_000 },
      { worker: 2, atMs: 1500 },
    ])
    expect(parseMembershipEvents('', 8, '--join')).toEqual([])
  })

  it('rejects malformed events and repeated workers', () => {
    for (const bad of ['3', '@5s', '3@', '3@5h', '9@1s', '3@1s,3@2s', '3@-1s']) {
      expect(
        codeOf(() => parseMembershipEvents(bad, 8, '--join')),
        bad,
      ).toBe('ERR_BAD_SPEC')
    }
  })
})
