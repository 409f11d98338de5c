/**
 * What the Training and Room screens show about the current run, folded from the node's
 * event stream (NodeEvent, forwarded by the engine as `{ kind: 'node' }`). Pure: one event in,
 * a new view out, so a replayed history rebuilds exactly the view a live session built.
 *
 * Time is the node's own clock (`t`, ms since that node started); the charts count seconds from
 * its 'training-started' event, so a founder's wait for peers is not drawn. "Bytes sent" is everything this node sent to its peers, kept
 * monotone across peers that left (a 'peers' event lists only the present ones).
 */
import type { NodeEvent, NodeSummary, PeerMetrics } from '../../../core/api/contract.ts'

export interface SeriesPoint {
  readonly seconds: number
  readonly bytesSent: number
  readonly value: number
}

export type RoundOutcome = Extract<NodeEvent, { type: 'round' }>['outcome']

export interface RosterEntry {
  readonly peer: string
  readonly state: string
  readonly slot: number | null
  /** Why the peer left, failed or was refused. */
  readonly detail?: string
}

export interface TopologyRound {
  readonly round: number
  readonly slot: number
  readonly sentTo: readonly number[]
  readonly receivedFrom: readonly number[]
}

export interface ActivityEntry {
  readonly seconds: number
  readonly level: 'info' | 'warn'
  readonly text: string
}

export interface RunView {
  readonly peerId?: string
  readonly room?: string
  readonly role?: 'founder' | 'joiner'
  readonly slot?: number
  readonly workerSlots?: number
  /** Node time (ms) training started at: the charts' time zero. */
  readonly trainingStartMs?: number
  readonly epoch?: number
  readonly epochs?: number
  readonly step?: number
  /** Batch within the current epoch, and batches per epoch. */
  readonly batch?: number
  readonly batchesPerEpoch?: number
  readonly round: number
  readonly examplesPerSec?: number
  /** Training loss (mean since the previous step event). */
  readonly loss: readonly SeriesPoint[]
  readonly testLoss: readonly SeriesPoint[]
  readonly accuracy: readonly SeriesPoint[]
  readonly bytesSent: number
  readonly bytesReceived: number
  /** The peers of the last 'peers' event: those present now (the topology draws these). */
  readonly peers: readonly PeerMetrics[]
  /**
   * The peer table: the present peers, then every peer of this run that is gone, with its last
   * numbers, state 'left' and no rates, so a finished run still shows whom it trained with.
   */
  readonly peerTable: readonly PeerMetrics[]
  readonly peersRound?: number
  /** Compression of this node's last message (the same compressor serves every peer). */
  readonly compressionRatio?: number
  readonly roster: Readonly<Record<string, RosterEntry>>
  readonly topology?: TopologyRound
  readonly averagedRounds: number
  readonly localOnlyRounds: number
  readonly lastOutcome?: RoundOutcome
  readonly activity: readonly ActivityEntry[]
  readonly summary?: NodeSummary
  /** Per peer: the most bytes seen sent to / received from it (counters survive its leaving). */
  readonly peerBytes: Readonly<Record<string, { readonly sent: number; readonly received: number }>>
}

/** Most points kept per series; older points are thinned (every other one dropped) beyond it. */
export const MAX_SERIES_POINTS = 1500
const MAX_ACTIVITY = 60

export function emptyRunView(): RunView {
  return {
    round: 0,
    loss: [],
    testLoss: [],
    accuracy: [],
    bytesSent: 0,
    bytesReceived: 0,
    peers: [],
    peerTable: [],
    roster: {},
    averagedRounds: 0,
    localOnlyRounds: 0,
    activity: [],
    peerBytes: {},
  }
}

function appendPoint(series: readonly SeriesPoint[], point: SeriesPoint): readonly SeriesPoint[] {
  if (!Number.isFinite(point.value)) return series
  if (series.length < MAX_SERIES_POINTS) return [...series, point]
  // Thin the history evenly so a long run keeps its shape within the budget.
  const thinned = series.filter((_, i) => i % 2 === 0)
  return [...thinned, point]
}

function withActivity(view: RunView, t: number, level: ActivityEntry['level'], text: string): RunView {
  const entry = { seconds: t / 1000, level, text }
  const activity = [...view.activity, entry]
  return { ...view, activity: activity.length > MAX_ACTIVITY ? activity.slice(-MAX_ACTIVITY) : activity }
}

function withRoster(view: RunView, entry: RosterEntry): RunView {
  return { ...view, roster: { ...view.roster, [entry.peer]: entry } }
}

function short(peer: string): string {
  return peer.length > 12 ? `${peer.slice(0, 10)}…` : peer
}

function point(view: RunView, t: number, value: number): SeriesPoint {
  // Before training starts (a joiner's catch-up) the point belongs at time zero.
  const seconds = view.trainingStartMs === undefined ? 0 : Math.max(0, t - view.trainingStartMs) / 1000
  return { seconds, bytesSent: view.bytesSent, value }
}

function applyPeers(view: RunView, event: Extract<NodeEvent, { type: 'peers' }>): RunView {
  const peerBytes = { ...view.peerBytes }
  let roster = view.roster
  for (const p of event.peers) {
    const before = peerBytes[p.peer]
    peerBytes[p.peer] = {
      sent: Math.max(before?.sent ?? 0, p.bytesSent),
      received: Math.max(before?.received ?? 0, p.bytesReceived),
    }
    const known = roster[p.peer]
    if (known === undefined || known.state !== p.state || known.slot !== p.slot) {
      roster = { ...roster, [p.peer]: { peer: p.peer, state: p.state, slot: p.slot } }
    }
  }
  let bytesSent = 0
  let bytesReceived = 0
  for (const b of Object.values(peerBytes)) {
    bytesSent += b.sent
    bytesReceived += b.received
  }
  const ratios = event.peers.flatMap((p) => (p.compressionRatio !== undefined ? [p.compressionRatio] : []))
  const ratio = ratios.length > 0 ? Math.max(...ratios) : undefined
  const present = new Set(event.peers.map((p) => p.peer))
  const departed = view.peerTable
    .filter((p) => !present.has(p.peer))
    .map((p): PeerMetrics =>
      p.state === 'left' ? p : { ...p, state: 'left', sendRateBytesPerSec: 0, receiveRateBytesPerSec: 0 },
    )
  return {
    ...view,
    peers: event.peers,
    peerTable: [...event.peers, ...departed],
    peersRound: event.round,
    peerBytes,
    roster,
    bytesSent,
    bytesReceived,
    ...(ratio !== undefined && ratio > 0 && { compressionRatio: ratio }),
  }
}

/** Folds one node event into the view. Unknown event types leave it unchanged. */
export function applyNodeEvent(view: RunView, event: NodeEvent): RunView {
  switch (event.type) {
    case 'joined':
      // A new node (a new run): its clock restarts, so does everything drawn against it.
      return withActivity(
        { ...emptyRunView(), peerId: event.peerId, room: event.room, role: event.role },
        event.t,
        'info',
        `Joined room ${event.room} as ${event.role} (${event.members} already there)`,
      )
    case 'peer-connected':
      return withRoster(view, {
        peer: event.peer,
        state: 'handshake',
        slot: view.roster[event.peer]?.slot ?? null,
      })
    case 'peer-admitted':
      return withActivity(
        withRoster(view, {
          peer: event.peer,
          state: 'admitted',
          slot: view.roster[event.peer]?.slot ?? null,
        }),
        event.t,
        'info',
        `Peer ${short(event.peer)} admitted`,
      )
    case 'peer-member':
      return withRoster(view, { peer: event.peer, state: 'admitted', slot: event.slot })
    case 'peer-refused':
      return withActivity(
        withRoster(view, { peer: event.peer, state: 'refused', slot: null, detail: event.reason }),
        event.t,
        'warn',
        `${event.by === 'self' ? 'Refused' : 'Refused by'} ${short(event.peer)}: ${event.reason}`,
      )
    case 'peer-left':
      return withActivity(
        withRoster(view, { peer: event.peer, state: 'left', slot: event.slot, detail: event.message }),
        event.t,
        'warn',
        `Peer ${short(event.peer)} left: ${event.message}`,
      )
    case 'peer-failed':
      return withActivity(
        withRoster(view, { peer: event.peer, state: 'failed', slot: null, detail: event.reason }),
        event.t,
        'warn',
        `Could not connect to ${short(event.peer)} after ${event.attempts} attempts: ${event.reason}`,
      )
    case 'protocol-error':
    case 'message-rejected':
      return withActivity(view, event.t, 'warn', `${short(event.peer)}: ${event.message}`)
    case 'slot-conflict':
      return withActivity(view, event.t, 'warn', `Slot ${event.slot} claimed by ${short(event.peer)} too`)
    case 'training-started':
      return withActivity(
        {
          ...view,
          slot: event.slot,
          workerSlots: event.workerSlots,
          step: event.step,
          trainingStartMs: event.t,
        },
        event.t,
        'info',
        `Training started in slot ${event.slot} at step ${event.step}`,
      )
    case 'catch-up':
      return withActivity(
        { ...view, accuracy: appendPoint(view.accuracy, point(view, event.t, event.testAccuracy)) },
        event.t,
        'info',
        `Caught up from ${short(event.from)} at step ${event.step} (${(event.testAccuracy * 100).toFixed(1)} % accuracy)`,
      )
    case 'step':
      return {
        ...view,
        step: event.step,
        // Step events count epochs from 0, epoch events (and the UI) from 1.
        epoch: event.epoch + 1,
        batch: event.batch,
        batchesPerEpoch: event.batchesPerEpoch,
        round: event.round,
        examplesPerSec: event.examplesPerSec,
        loss: appendPoint(view.loss, point(view, event.t, event.loss)),
      }
    case 'round':
      return {
        ...view,
        lastOutcome: event.outcome,
        averagedRounds: view.averagedRounds + (event.outcome.kind === 'averaged' ? 1 : 0),
        localOnlyRounds: view.localOnlyRounds + (event.outcome.kind === 'local-only' ? 1 : 0),
      }
    case 'peers':
      return applyPeers(view, event)
    case 'topology':
      return {
        ...view,
        topology: {
          round: event.round,
          slot: event.slot,
          sentTo: event.sentTo,
          receivedFrom: event.receivedFrom,
        },
      }
    case 'epoch':
      return withActivity(
        {
          ...view,
          epoch: event.epoch,
          epochs: event.epochs,
          step: event.step,
          accuracy: appendPoint(view.accuracy, point(view, event.t, event.testAccuracy)),
          testLoss: appendPoint(view.testLoss, point(view, event.t, event.testLoss)),
        },
        event.t,
        'info',
        `Epoch ${event.epoch}/${event.epochs}: ${(event.testAccuracy * 100).toFixed(1)} % test accuracy`,
      )
    case 'finished':
      return withActivity(
        { ...view, summary: event.summary },
        event.t,
        'info',
        `Finished: ${(event.summary.testAccuracy * 100).toFixed(1)} % test accuracy`,
      )
    default:
      return view
  }
}

/** The roster as rows, present members first, then by slot and id. */
export function rosterRows(roster: RunView['roster']): RosterEntry[] {
  const rank = (state: string): number => (state === 'admitted' ? 0 : state === 'handshake' ? 1 : 2)
  return Object.values(roster).sort(
    (a, b) =>
      rank(a.state) - rank(b.state) || (a.slot ?? 1e9) - (b.slot ?? 1e9) || a.peer.localeCompare(b.peer),
  )
}
