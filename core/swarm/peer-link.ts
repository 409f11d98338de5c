/**
 * Everything the swarm knows about one remote peer of the room, across connection attempts:
 * the current transport, where the handshake stands, the peer's membership (slot and start
 * step), liveness and RTT measurements, error counts and byte totals. Plain state plus small
 * helpers; the orchestration (what happens on each event) lives in swarm.ts.
 *
 * Life of a link:
 *   connecting --transport connect--> handshake --hello + manifest agree--> admitted
 *   connecting | handshake --transport fails--> connecting (retry) | failed (attempts used up)
 *   handshake --manifest or layout differs, or the peer refuses us--> refused
 *   admitted --bye, timeout, protocol errors, signaling peer.left--> left
 *   admitted --transport closes, peer still in the room--> connecting (reconnect, bounded)
 * 'failed', 'refused' and 'left' are final.
 */
import type { HelloMessage } from '../protocol/messages.ts'
import type { SnapshotAssembler } from '../protocol/snapshot.ts'
import type { IceCandidateType, SignaledPeerTransport } from '../transport/peer-transport.ts'
import type { RunManifest } from './run-manifest.ts'

export type LinkState = 'connecting' | 'handshake' | 'admitted' | 'refused' | 'failed' | 'left'

/** A peer's place in the algorithms' index space; nulls while it has none (a joiner). */
export interface Membership {
  readonly slot: number | null
  readonly startStep: number | null
}

export const NO_MEMBERSHIP: Membership = Object.freeze({ slot: null, startStep: null })

/** Per-peer numbers for the node's event stream (all plain data). */
export interface SwarmPeerStats {
  readonly peer: string
  readonly state: LinkState
  readonly slot: number | null
  readonly startStep: number | null
  /** Connection attempts in the current failure streak (reset on admission). */
  readonly attempts: number
  /** Round trip of heartbeat and echo through the data channel, ms (includes queueing). */
  readonly rttMs?: number
  /** The ICE candidate pair's RTT as WebRTC measures it, ms. */
  readonly iceRttMs?: number
  /** 'host', 'srflx', 'prflx' or 'relay': the worse end of the path in use. */
  readonly connectionType?: IceCandidateType
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly sendRateBytesPerSec: number
  readonly receiveRateBytesPerSec: number
  /** Milliseconds since the last whole frame from this peer. */
  readonly lastMessageAgeMs?: number
  /** The round the peer announced in its last heartbeat. */
  readonly peerRound?: number
  readonly protocolErrors: number
}

export class PeerLink {
  state: LinkState = 'connecting'
  transport: SignaledPeerTransport | undefined
  /** Undo functions of the current transport's listeners. */
  detach: Array<() => void> = []
  attempts = 0
  /** Responder side: the current transport has already been given an offer. */
  hasRemoteOffer = false
  hello: HelloMessage | undefined
  manifest: RunManifest | undefined
  member: Membership = NO_MEMBERSHIP
  /**
   * True while `member` comes from a slot promise (ours, or another member's `roster`)
   * rather than from the peer's own announcement.
   */
  isProvisional = false
  /** When the provisional membership was set (it expires unless the peer confirms it). */
  provisionalAtMs = 0
  /** A `roster` entry for this peer that arrived before it was admitted. */
  rosterHint: Membership | undefined
  wasAdmitted = false
  connectedAtMs = 0
  lastFrameAtMs: number | undefined
  lastBytesReceived = 0
  lastByteActivityMs = 0
  rttMs: number | undefined
  peerRound: number | undefined
  protocolErrors = 0
  /** Why the current transport failed, once it said so (its 'error' comes before its 'close'). */
  transportError: string | undefined
  /** Byte counters of this link's earlier, closed transports. */
  closedBytesSent = 0
  closedBytesReceived = 0
  /** Set while we wait for a snapshot from this peer. */
  assembler: SnapshotAssembler | undefined
  assign: { readonly slot: number; readonly startStep: number; readonly snapshotId: number } | undefined
  /**
   * Snapshots we gave up on while the source may still be sending them: their chunks are dropped
   * quietly instead of failing the next request to the same peer. A source answers requests in
   * order, so `abandonedAnswers` counts answers (assign or refusal) still due for abandoned
   * requests whose assign had not arrived yet; each such answer is consumed before a live one.
   */
  readonly abandonedSnapshotIds = new Set<number>()
  abandonedAnswers = 0

  constructor(
    readonly peerId: string,
    readonly senderId: string,
  ) {}

  get isFinal(): boolean {
    return this.state === 'failed' || this.state === 'refused' || this.state === 'left'
  }

  get isOpen(): boolean {
    return (this.state === 'handshake' || this.state === 'admitted') && this.transport?.state === 'connected'
  }

  /** Moves the current transport's counters into the totals and forgets it. */
  retireTransport(): SignaledPeerTransport | undefined {
    const t = this.transport
    for (const undo of this.detach) undo()
    this.detach = []
    this.transport = undefined
    if (t !== undefined) {
      const s = t.getStats()
      this.closedBytesSent += s.bytesSent
      this.closedBytesReceived += s.bytesReceived
    }
    this.hasRemoteOffer = false
    this.lastBytesReceived = 0
    this.transportError = undefined
    return t
  }

  /** Forgets what the last connection told us (before a reconnect). */
  resetSession(): void {
    this.hello = undefined
    this.manifest = undefined
    this.member = NO_MEMBERSHIP
    this.isProvisional = false
    this.rosterHint = undefined
    this.rttMs = undefined
    this.peerRound = undefined
    this.assembler = undefined
    this.assign = undefined
    this.abandonedSnapshotIds.clear()
    this.abandonedAnswers = 0
  }

  /** Forgets the snapshot in flight, remembering what of it may still arrive. */
  abandonSnapshot(): void {
    if (this.assembler === undefined) return
    if (this.assign === undefined) this.abandonedAnswers += 1
    else this.abandonedSnapshotIds.add(this.assign.snapshotId)
    this.assembler = undefined
    this.assign = undefined
  }

  stats(nowMs: number): SwarmPeerStats {
    const s = this.transport?.getStats()
    return {
      peer: this.peerId,
      state: this.state,
      slot: this.member.slot,
      startStep: this.member.startStep,
      attempts: this.attempts,
      ...(this.rttMs !== undefined && { rttMs: this.rttMs }),
      ...(s?.rttMs !== undefined && { iceRttMs: s.rttMs }),
      ...(s?.connectionType !== undefined && { connectionType: s.connectionType }),
      bytesSent: this.closedBytesSent + (s?.bytesSent ?? 0),
      bytesReceived: this.closedBytesReceived + (s?.bytesReceived ?? 0),
      sendRateBytesPerSec: s?.sendRateBytesPerSec ?? 0,
      receiveRateBytesPerSec: s?.receiveRateBytesPerSec ?? 0,
      ...(this.lastFrameAtMs !== undefined && { lastMessageAgeMs: Math.max(0, nowMs - this.lastFrameAtMs) }),
      ...(this.peerRound !== undefined && { peerRound: this.peerRound }),
      protocolErrors: this.protocolErrors,
    }
  }
}
