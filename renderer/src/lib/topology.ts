/**
 * Layout of the topology view: this node and the room's other worker slots on a circle, an
 * arrow for every slot this node sent its contribution to this round and one for every slot
 * whose contribution it used, each peer coloured by how many rounds behind it is. Only this
 * node's own edges are known to it (each node reports its part of the graph).
 */
import type { PeerMetrics } from '../../../core/api/contract.ts'
import type { TopologyRound } from './run-view.ts'

export type StalenessLevel = 'self' | 'fresh' | 'behind' | 'stale' | 'unknown'

export const STALENESS_LEVELS: ReadonlyArray<{ readonly level: StalenessLevel; readonly label: string }> = [
  { level: 'fresh', label: '0 rounds behind' },
  { level: 'behind', label: '1 round behind' },
  { level: 'stale', label: '2 or more rounds behind' },
  { level: 'unknown', label: 'no round received yet' },
]

export function stalenessLevel(rounds: number | undefined): StalenessLevel {
  if (rounds === undefined || !Number.isFinite(rounds) || rounds < 0) return 'unknown'
  if (rounds === 0) return 'fresh'
  if (rounds === 1) return 'behind'
  return 'stale'
}

export interface TopologyNode {
  readonly slot: number
  readonly x: number
  readonly y: number
  readonly label: string
  readonly level: StalenessLevel
  readonly stalenessRounds?: number
  readonly peer?: string
}

export interface TopologyEdge {
  readonly from: number
  readonly to: number
  readonly direction: 'sent' | 'received'
  readonly level: StalenessLevel
  /** Line end points, shortened to stop at the node circles. */
  readonly x1: number
  readonly y1: number
  readonly x2: number
  readonly y2: number
}

export interface TopologyLayout {
  readonly nodes: readonly TopologyNode[]
  readonly edges: readonly TopologyEdge[]
  readonly summary: string
}

export interface TopologyInput {
  readonly topology: TopologyRound | undefined
  /** This node's slot when no topology event arrived yet. */
  readonly selfSlot: number | undefined
  readonly peers: readonly PeerMetrics[]
  readonly size: number
  readonly nodeRadius: number
}

function shorten(
  ax: number,
  ay: number,
  bx: number,
  by: number,
  gap: number,
): [number, number, number, number] {
  const dx = bx - ax
  const dy = by - ay
  const length = Math.hypot(dx, dy)
  if (length <= 2 * gap) return [ax, ay, bx, by]
  const ux = dx / length
  const uy = dy / length
  return [ax + ux * gap, ay + uy * gap, bx - ux * gap, by - uy * gap]
}

export function layoutTopology(input: TopologyInput): TopologyLayout {
  const selfSlot = input.topology?.slot ?? input.selfSlot
  const peerBySlot = new Map<number, PeerMetrics>()
  for (const p of input.peers) if (p.slot !== null) peerBySlot.set(p.slot, p)
  const slots = new Set<number>(peerBySlot.keys())
  if (selfSlot !== undefined) slots.add(selfSlot)
  for (const s of input.topology?.sentTo ?? []) slots.add(s)
  for (const s of input.topology?.receivedFrom ?? []) slots.add(s)
  const ordered = [...slots].sort((a, b) => a - b)

  const centre = input.size / 2
  const radius = ordered.length <= 1 ? 0 : centre - input.nodeRadius - 18
  const nodes: TopologyNode[] = ordered.map((slot, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / ordered.length
    const peer = peerBySlot.get(slot)
    const isSelf = slot === selfSlot
    return {
      slot,
      x: centre + radius * Math.cos(angle),
      y: centre + radius * Math.sin(angle),
      label: isSelf ? `slot ${slot} (this node)` : `slot ${slot}`,
      level: isSelf ? 'self' : stalenessLevel(peer?.stalenessRounds),
      ...(peer?.stalenessRounds !== undefined && { stalenessRounds: peer.stalenessRounds }),
      ...(peer !== undefined && { peer: peer.peer }),
    }
  })
  const at = new Map(nodes.map((n) => [n.slot, n]))
  const edges: TopologyEdge[] = []
  const gap = input.nodeRadius + 4
  const addEdge = (from: number, to: number, direction: TopologyEdge['direction']): void => {
    const a = at.get(from)
    const b = at.get(to)
    if (a === undefined || b === undefined || from === to) return
    // Two arrows between the same pair (sent and received) are drawn side by side.
    const offset = 4
    const dx = b.x - a.x
    const dy = b.y - a.y
    const length = Math.hypot(dx, dy) || 1
    const nx = (-dy / length) * offset
    const ny = (dx / length) * offset
    const [x1, y1, x2, y2] = shorten(a.x + nx, a.y + ny, b.x + nx, b.y + ny, gap)
    const other = direction === 'sent' ? b : a
    edges.push({ from, to, direction, level: other.level, x1, y1, x2, y2 })
  }
  if (input.topology !== undefined && selfSlot !== undefined) {
    for (const to of input.topology.sentTo) addEdge(selfSlot, to, 'sent')
    for (const from of input.topology.receivedFrom) addEdge(from, selfSlot, 'received')
  }
  return { nodes, edges, summary: describeTopology(input.topology, nodes) }
}

function list(slots: readonly number[]): string {
  return slots.length === 0 ? 'no slot' : slots.map((s) => `slot ${s}`).join(', ')
}

/** The picture in words, for screen readers and for the text under the drawing. */
export function describeTopology(
  topology: TopologyRound | undefined,
  nodes: readonly TopologyNode[],
): string {
  if (topology === undefined) return 'No communication round yet.'
  const stale = nodes
    .filter((n) => n.level !== 'self' && n.stalenessRounds !== undefined)
    .map((n) => `slot ${n.slot} ${n.stalenessRounds} behind`)
  return (
    `Round ${topology.round}: this node (slot ${topology.slot}) sent to ${list(topology.sentTo)} ` +
    `and used contributions from ${list(topology.receivedFrom)}.` +
    (stale.length > 0 ? ` Staleness in rounds: ${stale.join(', ')}.` : '')
  )
}
