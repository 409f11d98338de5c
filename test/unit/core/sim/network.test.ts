import { describe, expect, it } from 'vitest'
import { isCoreError } from '../../../../core/errors.ts'
import {
  NETWORK_PRESETS,
  NetworkModel,
  Uplinks,
  checkLink,
  parseLinkOverrides,
  resolveNetwork,
  type LinkSpec,
  type NetworkSpec,
} from '../../../../core/sim/network.ts'
import { uniformAt } from '../../../../core/sim/random.ts'

const plain = (link: Partial<LinkSpec> = {}): NetworkSpec => ({
  name: 'test',
  link: { rttMs: 40, jitterMs: 0, bandwidthMbit: 8, loss: 0, ...link },
})

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return isCoreError(error) ? error.code : 'not a CoreError'
  }
  return undefined
}

describe('network presets', () => {
  it('has the issue values for lan, wan and intercontinental', () => {
    expect(NETWORK_PRESETS.lan).toMatchObject({ rttMs: 0.5, bandwidthMbit: 1000, loss: 0 })
    expect(NETWORK_PRESETS.wan).toMatchObject({ rttMs: 100, bandwidthMbit: 20, loss: 0 })
    expect(NETWORK_PRESETS.intercontinental).toMatchObject({ rttMs: 250, bandwidthMbit: 10, loss: 0.01 })
  })

  it('applies custom overrides to a preset and marks the name', () => {
    const spec = resolveNetwork('wan', { rttMs: 300, loss: 0.02 })
    expect(spec.link).toEqual({ ...NETWORK_PRESETS.wan, rttMs: 300, loss: 0.02 })
    expect(spec.name).toBe('wan*')
    expect(resolveNetwork('lan').name).toBe('lan')
  })

  it('rejects an unknown preset name with ERR_BAD_SPEC', () => {
    expect(codeOf(() => resolveNetwork('moon'))).toBe('ERR_BAD_SPEC')
  })

  it('rejects links that are not physical', () => {
    expect(codeOf(() => checkLink({ rttMs: -1, jitterMs: 0, bandwidthMbit: 1, loss: 0 }))).toBe(
      'ERR_BAD_SPEC',
    )
    expect(codeOf(() => checkLink({ rttMs: 1, jitterMs: 0, bandwidthMbit: 0, loss: 0 }))).toBe('ERR_BAD_SPEC')
    expect(codeOf(() => checkLink({ rttMs: 1, jitterMs: 0, bandwidthMbit: 1, loss: 0.6 }))).toBe(
      'ERR_BAD_SPEC',
    )
    expect(codeOf(() => checkLink({ rttMs: 1, jitterMs: Number.NaN, bandwidthMbit: 1, loss: 0 }))).toBe(
      'ERR_BAD_SPEC',
    )
  })
})

describe('parseLinkOverrides', () => {
  it('parses one direction with i-j and both with i=j', () => {
    expect(parseLinkOverrides('0-3:rtt=300,mbit=5')).toEqual([
      { from: 0, to: 3, link: { rttMs: 300, bandwidthMbit: 5 } },
    ])
    const both = parseLinkOverrides('1=2:loss=0.1,jitter=3')
    expect(both.map((o) => [o.from, o.to])).toEqual([
      [1, 2],
      [2, 1],
    ])
    expect(both[0]!.link).toEqual({ loss: 0.1, jitterMs: 3 })
  })

  it('rejects malformed overrides', () => {
    for (const bad of ['0-3', '0-3:speed=5', '0-3:rtt=', 'a-b:rtt=1', '2-2:rtt=1', '0-3:rtt=x']) {
      expect(
        codeOf(() => parseLinkOverrides(bad)),
        bad,
      ).toBe('ERR_BAD_SPEC')
    }
  })
})

describe('NetworkModel.direct', () => {
  it('takes serialisation plus half the RTT on a clean link', () => {
    const net = new NetworkModel(plain(), 1)
    // 10,000 bytes at 8 Mbit/s = 10 ms on the wire, + 20 ms one way.
    const t = net.direct(0, 1, 10_000, 0)
    expect(t.uplinkMs).toBeCloseTo(10, 12)
    expect(t.deliveryMs).toBeCloseTo(30, 12)
    expect(t.lostChunks).toBe(0)
    expect(NetworkModel.serialiseMs(1_000_000, 20)).toBeCloseTo(400, 12)
  })

  it('adds jitter in [0, jitterMs) drawn from the seed and the message id', () => {
    const net = new NetworkModel(plain({ jitterMs: 5 }), 9)
    const extra = Array.from({ length: 200 }, (_, id) => net.direct(0, 1, 1000, id).deliveryMs - 21)
    for (const e of extra) {
      expect(e).toBeGreaterThanOrEqual(0)
      expect(e).toBeLessThan(5)
    }
    expect(new Set(extra.map((e) => e.toFixed(6))).size).toBeGreaterThan(150)
    const again = new NetworkModel(plain({ jitterMs: 5 }), 9)
    expect(again.direct(0, 1, 1000, 17).deliveryMs).toBe(net.direct(0, 1, 1000, 17).deliveryMs)
    const otherSeed = new NetworkModel(plain({ jitterMs: 5 }), 10)
    expect(otherSeed.direct(0, 1, 1000, 17).deliveryMs).not.toBe(net.direct(0, 1, 1000, 17).deliveryMs)
  })

  it('charges one RTO and one resent chunk per lost chunk', () => {
    const net = new NetworkModel({ ...plain({ loss: 0.3 }), chunkBytes: 1000 }, 3)
    let lostTotal = 0
    for (let id = 0; id < 50; id++) {
      const t = net.direct(0, 1, 20_000, id)
      lostTotal += t.lostChunks
      const uplink = NetworkModel.serialiseMs(20_000 + t.lostChunks * 1000, 8)
      expect(t.uplinkMs).toBeCloseTo(uplink, 9)
      // RTO = RTT + 200 ms.
      expect(t.deliveryMs).toBeCloseTo(uplink + 20 + t.lostChunks * 240, 9)
    }
    expect(lostTotal).toBeGreaterThan(0)
  })

  it('loses about loss/(1-loss) resends per chunk over many chunks', () => {
    const net = new NetworkModel({ ...plain({ loss: 0.01 }), chunkBytes: 100 }, 5)
    let lost = 0
    const chunks = 200 * 1000
    for (let id = 0; id < 200; id++) lost += net.direct(0, 1, 100_000, id).lostChunks
    const rate = lost / chunks
    expect(rate).toBeGreaterThan(0.008)
    expect(rate).toBeLessThan(0.0122)
  })

  it('uses a per-link override for that direction only', () => {
    const spec: NetworkSpec = { ...plain(), overrides: parseLinkOverrides('0-1:mbit=1') }
    const net = new NetworkModel(spec, 1)
    expect(net.link(0, 1).bandwidthMbit).toBe(1)
    expect(net.link(1, 0).bandwidthMbit).toBe(8)
    expect(net.direct(0, 1, 1000, 0).uplinkMs).toBeCloseTo(8, 12)
    expect(net.direct(1, 0, 1000, 0).uplinkMs).toBeCloseTo(1, 12)
  })
})

describe('NetworkModel.ring', () => {
  it('takes 2(n-1) steps of one piece each on uniform links', () => {
    const net = new NetworkModel(plain(), 1)
    const members = [0, 1, 2, 3]
    const bytes = 40_000
    const t = net.ring(members, bytes, [0, 7])
    const piece = NetworkModel.serialiseMs(bytes / 4, 8) // 10 ms
    expect(t.durationMs).toBeCloseTo(6 * (piece + 20), 9)
    expect(t.bytesPerMember).toBeCloseTo((2 * 3 * bytes) / 4, 9)
    for (const u of t.uplinkMs) expect(u).toBeCloseTo(6 * piece, 9)
  })

  it('moves at the pace of the slowest link in the ring', () => {
    const spec: NetworkSpec = { ...plain(), overrides: parseLinkOverrides('2-3:mbit=1,rtt=100') }
    const net = new NetworkModel(spec, 1)
    const t = net.ring([0, 1, 2, 3], 40_000, [0, 1])
    const slowPiece = NetworkModel.serialiseMs(10_000, 1) // 80 ms
    expect(t.durationMs).toBeCloseTo(6 * (slowPiece + 50), 9)
    expect(t.uplinkMs[2]).toBeCloseTo(6 * slowPiece, 9)
    expect(t.uplinkMs[0]).toBeCloseTo(6 * 10, 9)
  })

  it('costs nothing for a ring of one', () => {
    const t = new NetworkModel(plain(), 1).ring([3], 1000, [0, 0])
    expect(t.durationMs).toBe(0)
    expect(t.bytesPerMember).toBe(0)
  })
})

describe('Uplinks', () => {
  it('queues a broadcast on the sender uplink, starting after the sender index', () => {
    const up = new Uplinks(new NetworkModel(plain(), 1), 4)
    const r = up.send(2, 100, { kindCode: 1, round: 0, bytes: 10_000, to: [0, 1, 3], messageId: 0 })
    // 10 ms per copy, in the order 3, 0, 1; each arrives 20 ms after its copy left.
    expect(r.deliveries.map((d) => d.to)).toEqual([3, 0, 1])
    expect(r.deliveries.map((d) => d.atMs)).toEqual([130, 140, 150])
    expect(r.wireBytes).toBe(30_000)
    expect(up.freeAt(2)).toBeCloseTo(130, 9)
    // The next message waits for the uplink.
    const next = up.send(2, 105, { kindCode: 1, round: 1, bytes: 10_000, to: [3], messageId: 1 })
    expect(next.deliveries[0]!.atMs).toBeCloseTo(160, 9)
    // Other uplinks are independent.
    const other = up.send(0, 105, { kindCode: 1, round: 1, bytes: 10_000, to: [3], messageId: 0 })
    expect(other.deliveries[0]!.atMs).toBeCloseTo(135, 9)
  })

  it('delivers a ring contribution to every member when the collective ends', () => {
    const up = new Uplinks(new NetworkModel(plain(), 1), 4)
    const r = up.send(1, 50, {
      kindCode: 0,
      round: 3,
      bytes: 40_000,
      to: [0, 2, 3],
      ring: [0, 1, 2, 3],
      messageId: 0,
    })
    const duration = 6 * (10 + 20)
    expect(r.deliveries.map((d) => d.atMs)).toEqual([50 + duration, 50 + duration, 50 + duration])
    expect(r.wireBytes).toBe(60_000)
    expect(up.freeAt(1)).toBeCloseTo(50 + 60, 9)
  })
})

describe('uniformAt', () => {
  it('is a deterministic function of its parts with values in [0, 1)', () => {
    let sum = 0
    let min = 1
    let max = 0
    for (let i = 0; i < 20_000; i++) {
      const u = uniformAt(1, 2, i)
      min = Math.min(min, u)
      max = Math.max(max, u)
      sum += u
    }
    expect(min).toBeGreaterThanOrEqual(0)
    expect(max).toBeLessThan(1)
    expect(sum / 20_000).toBeGreaterThan(0.49)
    expect(sum / 20_000).toBeLessThan(0.51)
    expect(uniformAt(1, 2, 3)).toBe(uniformAt(1, 2, 3))
    expect(uniformAt(1, 2, 3)).not.toBe(uniformAt(1, 3, 2))
    expect(uniformAt(2 ** 40, 1)).not.toBe(uniformAt(2 ** 41, 1))
  })
})
