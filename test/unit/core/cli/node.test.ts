import { describe, expect, it } from 'vitest'
import type { CliIo } from '../../../../core/cli/io.ts'
import {
  createEventPrinter,
  nodeAlgorithmFromFlags,
  parseIceServers,
  parsePartition,
} from '../../../../core/cli/node.ts'

function captureIo(): CliIo & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    isInteractive: false,
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
    status: () => {},
  }
}

describe('longhaul node flags', () => {
  it('fills in the node defaults for a bare algorithm name', () => {
    expect(nodeAlgorithmFromFlags({})).toEqual({ kind: 'olco3', H: 4, staleness: 1, compressor: 'topk:0.1' })
    expect(nodeAlgorithmFromFlags({ algo: 'local' })).toMatchObject({ kind: 'local', H: 8 })
    expect(nodeAlgorithmFromFlags({ algo: 'sync' })).toMatchObject({ kind: 'sync', compressor: 'none' })
  })

  it('lets the spec and then the shorthand flags override the defaults', () => {
    expect(nodeAlgorithmFromFlags({ algo: 'olco3:H=8,compressor=none' })).toEqual({
      kind: 'olco3',
      H: 8,
      staleness: 1,
      compressor: 'none',
    })
    expect(nodeAlgorithmFromFlags({ algo: 'olco3:H=8', H: '16', staleness: '2', compress: 'fp16' })).toEqual({
      kind: 'olco3',
      H: 16,
      staleness: 2,
      compressor: 'fp16',
    })
  })

  it('resolves diloco to its SlowMo form', () => {
    expect(nodeAlgorithmFromFlags({ algo: 'diloco' })).toMatchObject({
      kind: 'slowmo',
      tau: 8,
      nesterov: true,
    })
  })

  it('refuses a flag the algorithm does not have', () => {
    expect(() => nodeAlgorithmFromFlags({ algo: 'sgp', H: '4' })).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_SPEC' }),
    )
  })

  it('parses a partition i/n and refuses one outside it', () => {
    expect(parsePartition('2/3')).toEqual({ index: 2, count: 3 })
    for (const bad of ['3/3', '1/0', '-1/3', 'a/b', '1/2/3']) {
      expect(() => parsePartition(bad), bad).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
      )
    }
  })

  it('attaches TURN credentials to turn urls only', () => {
    expect(parseIceServers('stun:s.example:3478, turn:t.example:3478', 'u', 'p')).toEqual([
      { urls: 'stun:s.example:3478' },
      { urls: 'turn:t.example:3478', username: 'u', credential: 'p' },
    ])
    expect(parseIceServers(undefined, undefined, undefined)).toEqual([])
  })

  it('refuses a turn url without credentials and a url that is not STUN or TURN', () => {
    expect(() => parseIceServers('turn:t.example:3478', undefined, undefined)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
    expect(() => parseIceServers('http://x', undefined, undefined)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    )
  })

  it('prints refusals, departures and real round timeouts, and nothing for abstained rounds', () => {
    const io = captureIo()
    const print = createEventPrinter(io, 3, 4000)
    print({
      t: 1,
      type: 'peer-refused',
      peer: 'p',
      code: 'ERR_SCHEMA_MISMATCH',
      reason: 'run manifest differs: x',
      by: 'self',
    })
    print({
      t: 2,
      type: 'peer-left',
      peer: 'q',
      slot: 1,
      reason: 'timeout',
      message: 'no message for 4100 ms',
    })
    const outcome = { kind: 'local-only', messageKind: 'delta', round: 3, reason: 'ERR_TIMEOUT' } as const
    print({ t: 3, type: 'round', outcome, waitedMs: 0, present: [1] })
    print({ t: 4, type: 'round', outcome, waitedMs: 4001, present: [1] })
    expect(io.lines).toEqual([
      'refused peer p: run manifest differs: x',
      'peer q left (timeout): no message for 4100 ms',
      "round 3: no peer's contribution within 4001 ms (ERR_TIMEOUT); went on with the local model",
    ])
  })
})
