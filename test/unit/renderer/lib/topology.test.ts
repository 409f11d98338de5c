import { describe, expect, it } from 'vitest'
import type { PeerMetrics } from '../../../../core/api/contract.ts'
import { layoutTopology, stalenessLevel } from '../../../../renderer/src/lib/topology.ts'

function peer(slot: number, stalenessRounds?: number): PeerMetrics {
  return {
    peer: `p${slot}`,
    state: 'admitted',
    slot,
    ...(stalenessRounds !== undefined && { stalenessRounds }),
    bytesSent: 0,
    bytesReceived: 0,
    sendRateBytesPerSec: 0,
    receiveRateBytesPerSec: 0,
    protocolErrors: 0,
    rejectedMessages: 0,
    lateMessages: 0,
  }
}

describe('stalenessLevel', () => {
  it('maps rounds behind to a colour level', () => {
    expect([undefined, 0, 1, 2, 7].map(stalenessLevel)).toEqual([
      'unknown',
      'fresh',
      'behind',
      'stale',
      'stale',
    ])
  })
})

describe('layoutTopology', () => {
  const base = { size: 300, nodeRadius: 20, selfSlot: 0 }

  it('draws one arrow per send and per used contribution, coloured by the peer’s staleness', () => {
    const layout = layoutTopology({
      ...base,
      topology: { round: 5, slot: 0, sentTo: [1, 2], receivedFrom: [2] },
      peers: [peer(1, 0), peer(2, 3)],
    })
    expect(layout.nodes.map((n) => [n.slot, n.level])).toEqual([
      [0, 'self'],
      [1, 'fresh'],
      [2, 'stale'],
    ])
    expect(layout.edges.map((e) => [e.from, e.to, e.direction, e.level])).toEqual([
      [0, 1, 'sent', 'fresh'],
      [0, 2, 'sent', 'stale'],
      [2, 0, 'received', 'stale'],
    ])
    expect(layout.summary).toContain('Round 5')
    expect(layout.summary).toContain('slot 2 3 behind')
  })

  it('places nodes apart inside the drawing and keeps arrows off the circles', () => {
    const layout = layoutTopology({
      ...base,
      topology: { round: 1, slot: 0, sentTo: [1, 2, 3], receivedFrom: [] },
      peers: [peer(1), peer(2), peer(3)],
    })
    for (const n of layout.nodes) {
      expect(n.x).toBeGreaterThanOrEqual(20)
      expect(n.x).toBeLessThanOrEqual(280)
      for (const m of layout.nodes) if (m !== n) expect(Math.hypot(n.x - m.x, n.y - m.y)).toBeGreaterThan(40)
    }
    const self = layout.nodes[0]!
    for (const e of layout.edges) expect(Math.hypot(e.x1 - self.x, e.y1 - self.y)).toBeGreaterThan(20)
  })

  it('says so when no round happened yet', () => {
    const layout = layoutTopology({ ...base, topology: undefined, peers: [] })
    expect(layout.nodes.map((n) => n.slot)).toEqual([0])
    expect(layout.edges).toEqual([])
    expect(layout.summary).toBe('No communication round yet.')
  })
})
