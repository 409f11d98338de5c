/**
 * Room membership for one training node: who is in the room, which of them we are connected
 * to and have admitted, their worker slots, whether they are alive, and the transfer of a
 * model snapshot to a late joiner. Training itself is the node's (core/node); the swarm only
 * moves frames and keeps the roster.
 *
 * Connections. The signaling client (core/signaling) admits us to the room with the room
 * secret and tells us the members; we open one WebRTC transport per member. The peer with
 * the smaller peer id makes the offer, so each pair has exactly one initiator, for the first
 * connection and every reconnect alike. Signals are relayed through the signaling client,
 * which checks their end-to-end MACs. A connection that fails before it is admitted is
 * retried up to `connectAttempts` times (the responder replaces its transport when a fresh
 * offer arrives), then reported as 'peer-failed' and left out: nothing ever waits for it.
 *
 * Admission (the handshake, both directions at once): on connect each side sends `hello`
 * (protocol version, capabilities, layout fingerprint, run-manifest hash), a `manifest`
 * control message (the whole manifest) and a `member` control message (its slot). A peer is
 * admitted when its hello and manifest match ours; a difference is refused on both sides with
 * one message naming the fields (an `error` frame tells the other side; frames of another
 * layout or protocol version cannot even be decoded, which is refused the same way).
 *
 * Liveness. Every `heartbeatMs` each open link gets a heartbeat carrying our round and send
 * time; a heartbeat without an echo is answered at once with one that echoes its time, so the
 * sender measures the round trip through the data channel (`rttMs`). A peer from which
 * neither a whole frame nor any byte arrived for `peerTimeoutMs` is removed (ERR_PEER_TIMEOUT),
 * as is one the signaling server reports gone, one that says `bye`, and one that sent
 * `maxProtocolErrors` invalid frames. An admitted link whose transport closes while the peer
 * is still in the room reconnects (bounded, as above), and so does a timed-out peer the signaling
 * server still lists (it may only have stalled).
 *
 * Slots. The algorithms number workers 0..workerSlots−1 (run manifest). The first node of a
 * room takes slot 0; a joiner gets its slot from the peer that sends it the snapshot
 * (`serveSnapshot`): the lowest slot no member holds and none was promised to, preferring
 * slots never used in this session (a reused slot could meet stale messages of its previous
 * holder). Two members claiming one slot (two sources assigning concurrently) is resolved by
 * peer id: the smaller keeps it, the other gets 'slot-conflict' and must join again.
 * `present(step)` lists the slots of admitted, connected members whose start step is <= step,
 * so every worker adds a joiner at the same step (the step its snapshot was taken at).
 *
 * Snapshots. A joiner calls `requestSnapshot(peer)`; the peer's node answers with
 * `serveSnapshot(peer, bytes, startStep)` at its next round boundary: a `snapshot.assign`
 * control message, then `snapshot.chunk` frames (core/protocol/snapshot.ts), whose hash the
 * joiner's assembler verifies before 'snapshot' fires.
 */
import { CoreError, ERROR_CODES, isCoreError, type ErrorCode } from '../errors.ts'
import type { RoomCredentials } from '../signaling/room-auth.ts'
import type { SignalingClient } from '../signaling/signaling-client.ts'
import type { SignalData } from '../protocol/signaling.ts'
import { DEFAULT_CHUNK_BYTES, negotiateChunkBytes } from '../protocol/chunker.ts'
import { DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../protocol/frame.ts'
import { roomIdFromName, senderIdFromPeerId } from '../protocol/ids.ts'
import { MAX_TEXT_BYTES, decodeMessage, encodeMessage, type Message } from '../protocol/messages.ts'
import { DEFAULT_SNAPSHOT_CHUNK_BYTES, SnapshotAssembler, splitSnapshot } from '../protocol/snapshot.ts'
import { Emitter } from '../transport/emitter.ts'
import { systemClock, type SignaledPeerTransport, type TransportClock } from '../transport/peer-transport.ts'
import {
  MAX_REASON_CHARS,
  controlToDelta,
  deltaToControl,
  isControlDelta,
  type ControlMessage,
} from './control-messages.ts'
import { NO_MEMBERSHIP, PeerLink, type Membership, type SwarmPeerStats } from './peer-link.ts'
import { diffManifests, manifestHash, type RunManifest } from './run-manifest.ts'

/** The part of `SignalingClient` the swarm uses (tests pass an in-process fake). */
export type SwarmSignaling = Pick<SignalingClient, 'peerId' | 'join' | 'signal' | 'on' | 'close' | 'peers'>

/** Every tunable of the swarm with its default. */
export const SWARM_DEFAULTS = {
  /** Period of heartbeats and liveness checks. */
  heartbeatMs: 1000,
  /**
   * A peer silent (no frame, no byte) this long is removed. Increase it on links where one
   * delta takes longer than this to arrive, or when steps block the event loop for long.
   */
  peerTimeoutMs: 10_000,
  /** Time after connect for hello and manifest to arrive. */
  handshakeTimeoutMs: 10_000,
  /** Connection attempts per peer (per failure streak) before it is reported as failed. */
  connectAttempts: 3,
  /** Invalid frames from one peer before it is dropped. */
  maxProtocolErrors: 5,
  /** A promised slot is released when its joiner has not announced it after this long. */
  slotPromiseTtlMs: 120_000,
  /** Time an `error` frame gets to leave before a refused peer's transport is closed. */
  refuseGraceMs: 300,
  /** Longest time `leave` waits for `bye` frames to leave. */
  byeGraceMs: 1000,
  /** Poll period of `leave` while channels drain. */
  drainPollMs: 20,
  /**
   * Extra wait after the channels report empty: libwebrtc hands data to its own SCTP buffer,
   * which `bufferedAmount` does not count, and closing the connection drops it.
   */
  byeLingerMs: 150,
} as const

export interface SwarmOptions {
  readonly signaling: SwarmSignaling
  readonly room: string
  readonly secret: string | RoomCredentials
  readonly manifest: RunManifest
  /** Opens a transport to `peerId`; the swarm feeds it signals and listens to it. */
  readonly createTransport: (peerId: string, initiator: boolean) => SignaledPeerTransport
  readonly clock?: TransportClock
  readonly heartbeatMs?: number
  readonly peerTimeoutMs?: number
  readonly handshakeTimeoutMs?: number
  readonly connectAttempts?: number
  readonly maxProtocolErrors?: number
  readonly slotPromiseTtlMs?: number
  /** Largest frame accepted from a peer (default DEFAULT_MAX_FRAME_BYTES). */
  readonly maxFrameBytes?: number
  /** Largest data-channel message we accept, announced in hello (default 16 KiB). */
  readonly maxChunkBytes?: number
  /** Snapshot bytes per `snapshot.chunk` frame. */
  readonly snapshotChunkBytes?: number
  readonly maxSnapshotBytes?: number
  /** Printable ASCII, up to 64 characters (hello). */
  readonly softwareVersion?: string
  /** Compressor specs and algorithm names we can run (hello; informative). */
  readonly capabilities?: { readonly compressors: readonly string[]; readonly algorithms: readonly string[] }
}

export type PeerLeftReason = 'bye' | 'timeout' | 'closed' | 'signaling' | 'protocol-errors' | 'error'

export interface PeerLeftInfo {
  readonly peer: string
  readonly slot: number | null
  readonly reason: PeerLeftReason
  readonly code?: ErrorCode
  readonly message: string
  /** False when the peer left before it was ever admitted. */
  readonly wasAdmitted: boolean
}

export interface SwarmEvents {
  'peer-connected': (peer: string) => void
  'peer-admitted': (peer: string) => void
  /** Admission refused; `by` says which side found the mismatch. */
  'peer-refused': (info: {
    readonly peer: string
    readonly code: ErrorCode
    readonly reason: string
    readonly by: 'self' | 'peer'
  }) => void
  /** An admitted peer's slot or start step became known or changed. */
  member: (peer: string, membership: Membership) => void
  'peer-left': (info: PeerLeftInfo) => void
  /** Connection attempts used up: the peer is left out and never waited for. */
  'peer-failed': (info: { readonly peer: string; readonly attempts: number; readonly reason: string }) => void
  /** An algorithm frame (delta or push-sum envelope) from an admitted peer. */
  message: (peer: string, slot: number | null, message: Message) => void
  'protocol-error': (info: {
    readonly peer: string
    readonly code: ErrorCode
    readonly message: string
    readonly count: number
  }) => void
  'snapshot-request': (peer: string) => void
  snapshot: (snapshot: {
    readonly from: string
    readonly bytes: Uint8Array
    readonly slot: number
    readonly startStep: number
  }) => void
  /** A chunk of the snapshot we asked `peer` for arrived (the joiner's wait is on progress, not size). */
  'snapshot-progress': (info: { readonly peer: string; readonly chunks: number }) => void
  'snapshot-failed': (info: {
    readonly peer: string
    readonly code: ErrorCode
    readonly reason: string
  }) => void
  'snapshot-served': (info: {
    readonly peer: string
    readonly slot: number
    readonly bytes: number
    readonly ms: number
  }) => void
  /** Another member holds our slot and wins the tie: leave the slot and join again. */
  'slot-conflict': (info: { readonly peer: string; readonly slot: number }) => void
  'signaling-closed': (info: { readonly code: number; readonly reason: string }) => void
  log: (level: 'debug' | 'info' | 'warn', message: string) => void
}

interface SlotPromise {
  readonly slot: number
  readonly startStep: number
  readonly atMs: number
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value))
    throw new CoreError('ERR_INVALID_ARGUMENT', `${name} must be a positive number, got ${value}`)
  return value
}

function clip(text: string, max: number): string {
  if (text.length <= max) return text
  return `${text.slice(0, max - 3)}...`
}

/** Keeps a text under the protocol's byte limit for bye reasons and error messages. */
function wireText(text: string): string {
  const encoder = new TextEncoder()
  let out = clip(text, MAX_TEXT_BYTES)
  while (encoder.encode(out).length > MAX_TEXT_BYTES) out = clip(out, out.length - 16)
  return out
}

export class Swarm {
  readonly selfId: string
  readonly roomId: string
  readonly manifest: RunManifest
  readonly manifestHash: string
  private readonly options: SwarmOptions
  private readonly signaling: SwarmSignaling
  private readonly clock: TransportClock
  private readonly emitter: Emitter<SwarmEvents>
  private readonly links = new Map<string, PeerLink>()
  private readonly heartbeatMs: number
  private readonly peerTimeoutMs: number
  private readonly handshakeTimeoutMs: number
  private readonly connectAttempts: number
  private readonly maxProtocolErrors: number
  private readonly slotPromiseTtlMs: number
  private readonly maxFrameBytes: number
  private readonly maxChunkBytes: number
  private self: Membership = NO_MEMBERSHIP
  private round = 0
  private readonly promises = new Map<string, SlotPromise>()
  private readonly everUsedSlots = new Set<number>()
  private readonly reportedConflicts = new Set<string>()
  private readonly signalingUnsubscribe: Array<() => void> = []
  private cancelTick: (() => void) | undefined
  private nextSnapshotId = 1
  private isJoined = false
  private closing: Promise<void> | undefined
  private isLeaving = false
  /** `close` waits until then (refusals in flight). */
  private lingerUntilMs = 0
  private isSignalingJoined = false
  private isClosed = false

  constructor(options: SwarmOptions) {
    this.options = options
    this.signaling = options.signaling
    this.selfId = options.signaling.peerId
    this.roomId = roomIdFromName(options.room)
    this.manifest = options.manifest
    this.manifestHash = manifestHash(options.manifest)
    this.clock = options.clock ?? systemClock
    this.heartbeatMs = positive('heartbeatMs', options.heartbeatMs ?? SWARM_DEFAULTS.heartbeatMs)
    this.peerTimeoutMs = positive('peerTimeoutMs', options.peerTimeoutMs ?? SWARM_DEFAULTS.peerTimeoutMs)
    this.handshakeTimeoutMs = positive(
      'handshakeTimeoutMs',
      options.handshakeTimeoutMs ?? SWARM_DEFAULTS.handshakeTimeoutMs,
    )
    this.connectAttempts = Math.floor(
      positive('connectAttempts', options.connectAttempts ?? SWARM_DEFAULTS.connectAttempts),
    )
    this.maxProtocolErrors = Math.floor(
      positive('maxProtocolErrors', options.maxProtocolErrors ?? SWARM_DEFAULTS.maxProtocolErrors),
    )
    this.slotPromiseTtlMs = positive(
      'slotPromiseTtlMs',
      options.slotPromiseTtlMs ?? SWARM_DEFAULTS.slotPromiseTtlMs,
    )
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    this.maxChunkBytes = options.maxChunkBytes ?? DEFAULT_CHUNK_BYTES
    if (this.peerTimeoutMs <= this.heartbeatMs) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `peerTimeoutMs (${this.peerTimeoutMs}) must be longer than heartbeatMs (${this.heartbeatMs})`,
      )
    }
    if (!Number.isSafeInteger(this.manifest.workerSlots) || this.manifest.workerSlots < 1) {
      throw new CoreError('ERR_INVALID_ARGUMENT', `workerSlots must be a positive integer`)
    }
    this.emitter = new Emitter<SwarmEvents>((event, error) => {
      // A listener's bug is a programmer error: surface it, but never inside our state machine.
      queueMicrotask(() => {
        throw new Error(`swarm listener for '${String(event)}' threw`, { cause: error })
      })
    })
  }

  on<K extends keyof SwarmEvents>(event: K, listener: SwarmEvents[K]): () => void {
    return this.emitter.on(event, listener)
  }

  /** This node's slot and start step (nulls while it has none). */
  get membership(): Membership {
    return this.self
  }

  /**
   * Joins the room through signaling and starts connecting to its members.
   * @returns the members at join time (without us); empty means we are the first.
   * @throws CoreError from SignalingClient.join (ERR_AUTH_FAILED for a wrong secret, ...).
   */
  async join(
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<{ readonly peers: readonly string[] }> {
    this.guard()
    if (this.isJoined) throw new CoreError('ERR_INVALID_ARGUMENT', 'join() may be called once')
    this.isJoined = true
    const s = this.signaling
    this.signalingUnsubscribe.push(
      s.on('peer-joined', (peer) => this.onSignalingPeerJoined(peer)),
      s.on('peer-left', (peer) => this.onSignalingPeerLeft(peer)),
      s.on('signal', (incoming) => this.onSignal(incoming.from, incoming.data)),
      s.on('close', (info) => {
        // Before join resolves, the failure comes back from join() itself.
        if (!this.isClosed && this.isSignalingJoined)
          this.emit('signaling-closed', { code: info.code, reason: info.reason })
      }),
    )
    const result = await s.join(this.options.room, this.options.secret, options)
    this.guard()
    this.isSignalingJoined = true
    for (const peer of result.peers) this.addLink(peer)
    this.scheduleTick()
    return { peers: result.peers }
  }

  /** Announces our slot and the step we train from (nulls: we hold none) to every open link. */
  setMembership(membership: Membership): void {
    this.guard()
    if (membership.slot !== null) {
      if (
        !Number.isSafeInteger(membership.slot) ||
        membership.slot < 0 ||
        membership.slot >= this.manifest.workerSlots
      )
        throw new CoreError(
          'ERR_INVALID_ARGUMENT',
          `slot ${membership.slot} is outside 0..${this.manifest.workerSlots - 1}`,
        )
      this.everUsedSlots.add(membership.slot)
    }
    this.self = membership
    this.reportedConflicts.clear()
    for (const link of this.links.values()) {
      // Also to links whose transport has not fired 'connect' yet: sends queue until it does.
      if (link.state === 'handshake' || link.state === 'admitted')
        this.sendControl(link, this.memberControl())
    }
    this.checkConflicts()
  }

  /** Our current round, sent in heartbeats (peers show it as our progress). */
  setRound(round: number): void {
    if (Number.isSafeInteger(round) && round >= 0) this.round = round
  }

  /** Admitted peers, whatever their slot. */
  admittedPeers(): string[] {
    return [...this.links.values()].filter((l) => l.state === 'admitted').map((l) => l.peerId)
  }

  /**
   * Admitted peers that train: they own a slot they announced themselves. A joiner only promised
   * a slot (by us or by another member's roster) is not among them: it has no model to give yet.
   */
  trainingPeers(): string[] {
    return [...this.links.values()]
      .filter((l) => !l.isProvisional && this.slotOf(l.peerId) !== null)
      .map((l) => l.peerId)
  }

  /** Members of the room we have not settled with yet (still connecting or in the handshake). */
  pendingPeers(): string[] {
    return [...this.links.values()]
      .filter((l) => l.state === 'connecting' || l.state === 'handshake')
      .map((l) => l.peerId)
  }

  /** The membership an admitted peer announced (undefined when the peer is not admitted). */
  membershipOf(peer: string): Membership | undefined {
    const link = this.links.get(peer)
    return link?.state === 'admitted' ? link.member : undefined
  }

  /** The admitted peer that owns `slot` (ties between claimants go to the smaller peer id). */
  ownerOf(slot: number): string | undefined {
    if (slot === this.self.slot) return undefined
    let owner: PeerLink | undefined
    for (const link of this.links.values()) {
      if (link.state !== 'admitted' || link.member.slot !== slot) continue
      if (owner === undefined || link.peerId < owner.peerId) owner = link
    }
    return owner?.peerId
  }

  /** Slot of an admitted peer that owns it, else null. */
  slotOf(peer: string): number | null {
    const link = this.links.get(peer)
    if (link?.state !== 'admitted' || link.member.slot === null) return null
    return this.ownerOf(link.member.slot) === peer ? link.member.slot : null
  }

  /**
   * The slots present at `step` (the algorithms' `present`): admitted, connected members that
   * own their slot and train from a step <= `step`. Ascending, without our own slot.
   */
  present(step: number): number[] {
    const out: number[] = []
    for (const link of this.links.values()) {
      const { slot, startStep } = link.member
      if (!link.isOpen || link.state !== 'admitted' || slot === null || startStep === null) continue
      if (startStep > step || slot === this.self.slot || this.ownerOf(slot) !== link.peerId) continue
      out.push(slot)
    }
    return out.sort((a, b) => a - b)
  }

  /**
   * Encodes a message for this room and layout (the frame context every receiver checks).
   * `layoutFingerprint` overrides ours: fault injection in tests only.
   */
  encode(message: Message, layoutFingerprint = this.manifest.model.layoutFingerprint): Uint8Array {
    return encodeMessage(message, {
      roomId: this.roomId,
      senderId: senderIdFromPeerId(this.selfId),
      layoutFingerprint,
    })
  }

  /**
   * Sends one encoded frame to the owners of `slots` ('all': every admitted member that owns
   * a slot, whatever its start step). Does not wait; a failed send is logged, and the peer's
   * liveness checks deal with a broken link. Returns the peers it was handed to.
   */
  sendToSlots(slots: 'all' | readonly number[], frame: Uint8Array): string[] {
    const targets: PeerLink[] = []
    if (slots === 'all') {
      for (const link of this.links.values()) {
        if (link.isOpen && link.state === 'admitted' && this.slotOf(link.peerId) !== null) targets.push(link)
      }
    } else {
      for (const slot of new Set(slots)) {
        const owner = this.ownerOf(slot)
        const link = owner === undefined ? undefined : this.links.get(owner)
        if (link?.isOpen === true) targets.push(link)
      }
    }
    for (const link of targets) this.sendFrame(link, frame)
    return targets.map((l) => l.peerId)
  }

  /** Sends one encoded frame to one admitted peer; false when it is not open. */
  sendToPeer(peer: string, frame: Uint8Array): boolean {
    const link = this.links.get(peer)
    if (link?.isOpen !== true || link.state !== 'admitted') return false
    this.sendFrame(link, frame)
    return true
  }

  /**
   * Counts an invalid message found above the swarm (a NaN delta, which the caller reports
   * itself) toward the drop threshold; no 'protocol-error' event.
   */
  reportBadMessage(peer: string, code: ErrorCode, message: string): void {
    const link = this.links.get(peer)
    if (link !== undefined && !link.isFinal) this.protocolError(link, code, message, true)
  }

  // ---- snapshots ----------------------------------------------------------------------------

  /** Asks an admitted peer for its snapshot; false when it is not admitted and open. */
  requestSnapshot(peer: string): boolean {
    this.guard()
    const link = this.links.get(peer)
    if (link?.state !== 'admitted' || !link.isOpen) return false
    link.abandonSnapshot()
    link.assembler = new SnapshotAssembler(
      this.options.maxSnapshotBytes === undefined ? {} : { maxSnapshotBytes: this.options.maxSnapshotBytes },
    )
    link.assign = undefined
    this.sendControl(link, { type: 'snapshot.request' })
    return true
  }

  /** Stops waiting for a snapshot from `peer` (its chunks are refused from now on). */
  cancelSnapshot(peer: string): void {
    this.links.get(peer)?.abandonSnapshot()
  }

  /** Tells a joiner we will not send it a snapshot. */
  refuseSnapshot(peer: string, code: ErrorCode, reason: string): void {
    const link = this.links.get(peer)
    if (link?.isOpen === true)
      this.sendControl(link, { type: 'snapshot.refused', code, reason: clip(reason, MAX_REASON_CHARS) })
  }

  /**
   * Promises `peer` a free slot and sends it `bytes` (taken at `startStep`) in chunks, in the
   * background. Returns the slot, or undefined (after telling the peer) when the room is full
   * or the peer is gone.
   */
  serveSnapshot(peer: string, bytes: Uint8Array, startStep: number): number | undefined {
    this.guard()
    const link = this.links.get(peer)
    if (link?.state !== 'admitted' || !link.isOpen) return undefined
    const slot = this.promiseSlot(peer, startStep)
    if (slot === undefined) {
      this.refuseSnapshot(
        peer,
        'ERR_ROOM_FULL',
        `all ${this.manifest.workerSlots} worker slots are taken (--max-peers)`,
      )
      return undefined
    }
    // Count the joiner present from `startStep` at once, here and (through `roster`) at the
    // other members, before any of our messages of that step leave.
    link.member = { slot, startStep }
    link.isProvisional = true
    link.provisionalAtMs = this.clock.now()
    this.emit('member', peer, link.member)
    for (const other of this.links.values()) {
      if (other !== link && other.state === 'admitted' && other.transport !== undefined) {
        this.sendControl(other, { type: 'roster', peer, slot, startStep })
      }
    }
    const snapshotId = this.nextSnapshotId++ >>> 0
    const chunks = splitSnapshot(bytes, {
      snapshotId,
      round: startStep,
      chunkBytes: this.options.snapshotChunkBytes ?? DEFAULT_SNAPSHOT_CHUNK_BYTES,
    })
    const transport = link.transport
    if (transport === undefined) return undefined
    const started = this.clock.now()
    const frames = [
      this.encode(controlToDelta({ type: 'snapshot.assign', slot, startStep, snapshotId })),
      ...chunks.map((c) => this.encode(c)),
    ]
    void (async () => {
      try {
        for (const frame of frames) await transport.send(frame)
        this.emit('snapshot-served', { peer, slot, bytes: bytes.length, ms: this.clock.now() - started })
      } catch (error) {
        this.emit('log', 'warn', `snapshot to ${peer} failed: ${describe(error)}`)
      }
    })()
    return slot
  }

  private promiseSlot(peer: string, startStep: number): number | undefined {
    const now = this.clock.now()
    for (const [p, promise] of this.promises) {
      if (now - promise.atMs > this.slotPromiseTtlMs) this.promises.delete(p)
    }
    const taken = new Set<number>()
    if (this.self.slot !== null) taken.add(this.self.slot)
    for (const link of this.links.values()) {
      if (link.state === 'admitted' && link.member.slot !== null && link.peerId !== peer)
        taken.add(link.member.slot)
    }
    for (const [p, promise] of this.promises) if (p !== peer) taken.add(promise.slot)
    let best: number | undefined
    for (let slot = 0; slot < this.manifest.workerSlots; slot++) {
      if (taken.has(slot)) continue
      if (!this.everUsedSlots.has(slot)) {
        best = slot
        break
      }
      best ??= slot
    }
    if (best === undefined) return undefined
    this.promises.set(peer, { slot: best, startStep, atMs: now })
    this.everUsedSlots.add(best)
    return best
  }

  // ---- stats, leaving -------------------------------------------------------------------------

  /**
   * Per-peer numbers of the links we know; `includeGone: false` leaves out peers that left,
   * failed or were refused (default: all, for byte totals).
   */
  peerStats(options: { readonly includeGone?: boolean } = {}): SwarmPeerStats[] {
    const now = this.clock.now()
    const links = [...this.links.values()]
    return (options.includeGone === false ? links.filter((l) => !l.isFinal) : links).map((l) => l.stats(now))
  }

  /** Bytes on all data channels so far, closed ones included. */
  totals(): { bytesSent: number; bytesReceived: number } {
    let bytesSent = 0
    let bytesReceived = 0
    for (const s of this.peerStats()) {
      bytesSent += s.bytesSent
      bytesReceived += s.bytesReceived
    }
    return { bytesSent, bytesReceived }
  }

  /**
   * Leaves gracefully: `bye` to every open link, a short wait for it to leave, then closes
   * everything. Idempotent with `close`.
   */
  async leave(reason: string): Promise<void> {
    if (this.isClosed || this.closing !== undefined) return this.close()
    this.isLeaving = true
    const frame = this.encode({ type: 'bye', reason: wireText(reason) })
    const open: SignaledPeerTransport[] = []
    const sends: Promise<void>[] = []
    for (const link of this.links.values()) {
      const t = link.transport
      if (link.isOpen && t !== undefined) {
        open.push(t)
        sends.push(t.send(frame))
      }
    }
    const deadline = this.clock.now() + SWARM_DEFAULTS.byeGraceMs
    const sleep = (ms: number): Promise<void> =>
      new Promise((resolve) => this.clock.setTimeout(resolve, Math.max(0, ms)))
    await Promise.race([Promise.allSettled(sends), sleep(SWARM_DEFAULTS.byeGraceMs)])
    // Closing a connection drops what its channel still holds: let the byes drain first.
    while (this.clock.now() < deadline && open.some((t) => t.state === 'connected' && t.bufferedAmount > 0)) {
      await sleep(SWARM_DEFAULTS.drainPollMs)
    }
    if (open.length > 0) await sleep(Math.min(SWARM_DEFAULTS.byeLingerMs, deadline - this.clock.now()))
    await this.close()
  }

  /**
   * Closes every transport and the signaling client. Idempotent. A refusal of the last
   * `refuseGraceMs` is given the rest of that time first, so the refused peer still gets
   * our `error` frame and manifest (and refuses us too) before the signaling server
   * announces that we left.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow()
    return this.closing
  }

  private async closeNow(): Promise<void> {
    const lingerMs = this.lingerUntilMs - this.clock.now()
    if (lingerMs > 0 && !this.isClosed) {
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, lingerMs))
    }
    if (this.isClosed) return
    this.isClosed = true
    this.cancelTick?.()
    this.cancelTick = undefined
    for (const undo of this.signalingUnsubscribe.splice(0)) undo()
    const closing: Promise<void>[] = []
    for (const link of this.links.values()) {
      const t = link.retireTransport()
      if (t !== undefined) closing.push(t.close())
      if (!link.isFinal) link.state = 'left'
    }
    try {
      this.signaling.close()
    } catch {
      // Already closed.
    }
    await Promise.allSettled(closing)
  }

  // ---- links ----------------------------------------------------------------------------------

  private guard(): void {
    if (this.isClosed) throw new CoreError('ERR_DESTROYED', 'the swarm is closed')
  }

  private emit<K extends keyof SwarmEvents>(event: K, ...args: Parameters<SwarmEvents[K]>): void {
    ;(this.emitter.emit as (e: K, ...a: Parameters<SwarmEvents[K]>) => void)(event, ...args)
  }

  private isSignalingMember(peer: string): boolean {
    return this.signaling.peers.includes(peer)
  }

  private addLink(peer: string): PeerLink {
    const existing = this.links.get(peer)
    if (existing !== undefined && !existing.isFinal) return existing
    const link = new PeerLink(peer, senderIdFromPeerId(peer))
    this.links.set(peer, link)
    this.openTransport(link)
    return link
  }

  private openTransport(link: PeerLink): void {
    if (this.isClosed) return
    const old = link.retireTransport()
    if (old !== undefined) void old.close()
    link.attempts++
    link.state = 'connecting'
    link.resetSession()
    const initiator = this.selfId < link.peerId
    let t: SignaledPeerTransport
    try {
      t = this.options.createTransport(link.peerId, initiator)
    } catch (error) {
      link.state = 'failed'
      this.emit('peer-failed', { peer: link.peerId, attempts: link.attempts, reason: describe(error) })
      return
    }
    link.transport = t
    link.lastByteActivityMs = this.clock.now()
    link.detach = [
      t.on('signal', (data) => {
        if (link.transport !== t) return
        this.signaling.signal(link.peerId, data).catch((error: unknown) => {
          this.emit('log', 'debug', `signal to ${link.peerId} not sent: ${describe(error)}`)
        })
      }),
      t.on('connect', () => {
        if (link.transport === t) this.onConnect(link)
      }),
      t.on('frame', (bytes) => {
        if (link.transport === t) this.onFrame(link, bytes)
      }),
      t.on('protocol-error', (error) => {
        if (link.transport === t) this.protocolError(link, error.code, error.message)
      }),
      t.on('error', (error) => {
        if (link.transport === t) link.transportError = error.message
      }),
      t.on('close', () => {
        if (link.transport === t) this.onTransportClosed(link)
      }),
    ]
  }

  /**
   * Starts the handshake, once per transport: on its 'connect' event or on its first frame,
   * whichever comes first (simple-peer delivers channel data before it emits 'connect').
   */
  private onConnect(link: PeerLink): void {
    const t = link.transport
    if (t === undefined || link.state !== 'connecting') return
    link.state = 'handshake'
    link.connectedAtMs = this.clock.now()
    link.lastFrameAtMs = undefined
    this.emit('peer-connected', link.peerId)
    this.sendFrame(
      link,
      this.encode({
        type: 'hello',
        round: this.round,
        protocolVersion: PROTOCOL_VERSION,
        softwareVersion: this.options.softwareVersion ?? '',
        capabilities: {
          compressors: [...(this.options.capabilities?.compressors ?? [])],
          algorithms: [...(this.options.capabilities?.algorithms ?? [])],
          maxChunkBytes: this.maxChunkBytes,
        },
        layoutFingerprint: this.manifest.model.layoutFingerprint,
        manifestHash: this.manifestHash,
      }),
    )
    this.sendControl(link, { type: 'manifest', manifest: this.manifest })
    this.sendControl(link, this.memberControl())
  }

  private onTransportClosed(link: PeerLink): void {
    const failure = link.transportError
    link.retireTransport()
    if (link.isFinal || this.isClosed) return
    if (this.isLeaving) {
      // Peers drop us as our bye arrives: neither news nor a reason to reconnect.
      link.state = link.wasAdmitted ? 'left' : 'failed'
      return
    }
    const wasAdmitted = link.state === 'admitted'
    const closed = failure === undefined ? 'the data channel closed' : `the data channel failed (${failure})`
    if (wasAdmitted) {
      this.emit('peer-left', {
        peer: link.peerId,
        slot: link.member.slot,
        reason: 'closed',
        code: 'ERR_CONNECTION_FAILED',
        message: closed,
        wasAdmitted: true,
      })
    }
    this.retryOrGiveUp(
      link,
      wasAdmitted
        ? closed
        : `the connection could not be established${failure === undefined ? '' : ` (${failure})`}`,
    )
  }

  private retryOrGiveUp(link: PeerLink, reason: string): void {
    if (this.isSignalingMember(link.peerId) && link.attempts < this.connectAttempts) {
      this.emit(
        'log',
        'info',
        `${reason} with ${link.peerId}; attempt ${link.attempts + 1} of ${this.connectAttempts}`,
      )
      this.openTransport(link)
      return
    }
    const wasAdmitted = link.wasAdmitted
    link.state = wasAdmitted ? 'left' : 'failed'
    if (!wasAdmitted) this.emit('peer-failed', { peer: link.peerId, attempts: link.attempts, reason })
  }

  private onSignalingPeerJoined(peer: string): void {
    if (this.isClosed) return
    this.addLink(peer)
  }

  private onSignalingPeerLeft(peer: string): void {
    const link = this.links.get(peer)
    if (link === undefined || link.isFinal) return
    this.removeLink(link, 'signaling', undefined, 'the signaling server reports it left the room')
  }

  private onSignal(from: string, data: SignalData): void {
    if (this.isClosed) return
    let link = this.links.get(from)
    if (link === undefined || (link.isFinal && link.state === 'left' && this.isSignalingMember(from))) {
      link = this.addLink(from)
    }
    if (link.isFinal) return
    if (data.type === 'offer') {
      const t = link.transport
      if (t?.isInitiator === true) {
        this.emit('log', 'warn', `ignoring an offer from ${from}: we are the initiator of this pair`)
        return
      }
      // A fresh offer on a transport that already had one: the initiator started over.
      if (t === undefined || link.hasRemoteOffer || t.state === 'closed' || t.state === 'failed') {
        this.openTransport(link)
      }
      link.hasRemoteOffer = true
    }
    const t = link.transport
    if (t === undefined) return
    try {
      t.signal(data)
    } catch (error) {
      this.emit('log', 'debug', `signal from ${from} not applied: ${describe(error)}`)
    }
  }

  /** Final removal of a peer (bye, timeout, protocol errors, signaling, error). */
  private removeLink(
    link: PeerLink,
    reason: Exclude<PeerLeftReason, 'closed'>,
    code: ErrorCode | undefined,
    message: string,
  ): void {
    if (link.isFinal) return
    const wasAdmitted = link.state === 'admitted'
    const slot = link.member.slot
    link.state = wasAdmitted || link.wasAdmitted ? 'left' : 'failed'
    this.promises.delete(link.peerId)
    const t = link.retireTransport()
    if (t !== undefined) void t.close()
    this.emit('peer-left', {
      peer: link.peerId,
      slot,
      reason,
      ...(code !== undefined && { code }),
      message,
      wasAdmitted,
    })
  }

  private refuse(link: PeerLink, code: ErrorCode, reason: string, by: 'self' | 'peer'): void {
    if (link.isFinal) return
    link.state = 'refused'
    this.lingerUntilMs = Math.max(this.lingerUntilMs, this.clock.now() + SWARM_DEFAULTS.refuseGraceMs)
    const t = link.transport
    if (t !== undefined && by === 'self' && t.state === 'connected') {
      try {
        t.trySend(this.encode({ type: 'error', code, message: wireText(reason) }))
      } catch {
        // Closing anyway.
      }
    }
    this.clock.setTimeout(() => {
      const old = link.retireTransport()
      if (old !== undefined) void old.close()
    }, SWARM_DEFAULTS.refuseGraceMs)
    this.emit('peer-refused', { peer: link.peerId, code, reason, by })
  }

  /** Counts an invalid frame (reported as 'protocol-error' unless `isReported`); drops the peer at the limit. */
  private protocolError(link: PeerLink, code: ErrorCode, message: string, isReported = false): void {
    link.protocolErrors++
    if (!isReported)
      this.emit('protocol-error', { peer: link.peerId, code, message, count: link.protocolErrors })
    if (link.protocolErrors < this.maxProtocolErrors || link.isFinal) return
    const t = link.transport
    const text = `dropped after ${link.protocolErrors} invalid frames (last: ${message})`
    if (t?.state === 'connected') {
      try {
        t.trySend(this.encode({ type: 'error', code: 'ERR_BAD_MESSAGE', message: wireText(text) }))
      } catch {
        // Closing anyway.
      }
    }
    this.removeLink(link, 'protocol-errors', code, text)
  }

  private sendFrame(link: PeerLink, frame: Uint8Array): void {
    const t = link.transport
    if (t === undefined) return
    t.send(frame).catch((error: unknown) => {
      this.emit('log', 'debug', `send to ${link.peerId} failed: ${describe(error)}`)
    })
  }

  private sendControl(link: PeerLink, control: ControlMessage): void {
    this.sendFrame(link, this.encode(controlToDelta(control)))
  }

  private memberControl(): ControlMessage {
    return { type: 'member', slot: this.self.slot, startStep: this.self.startStep }
  }

  // ---- incoming frames ------------------------------------------------------------------------

  private onFrame(link: PeerLink, bytes: Uint8Array): void {
    if (link.isFinal) return
    if (link.state === 'connecting') this.onConnect(link)
    link.lastFrameAtMs = this.clock.now()
    let message: Message
    try {
      message = decodeMessage(bytes, {
        roomId: this.roomId,
        layoutFingerprint: this.manifest.model.layoutFingerprint,
        maxFrameBytes: this.maxFrameBytes,
        senderId: link.senderId,
      }).message
    } catch (error) {
      const code: ErrorCode = isCoreError(error) ? error.code : 'ERR_BAD_MESSAGE'
      const text = describe(error)
      if (link.state === 'handshake' && (code === 'ERR_SCHEMA_MISMATCH' || code === 'ERR_WRONG_ROOM')) {
        this.refuse(link, code, `${text} (a different model, protocol version or room)`, 'self')
      } else {
        this.protocolError(link, code, text)
      }
      return
    }
    switch (message.type) {
      case 'hello':
        if (link.state !== 'handshake' || link.hello !== undefined) {
          this.protocolError(
            link,
            'ERR_BAD_MESSAGE',
            `hello while the link is ${link.hello ? 'past its handshake' : link.state}`,
          )
          return
        }
        link.hello = message
        this.maybeAdmit(link)
        return
      case 'heartbeat':
        this.onHeartbeat(link, message.round, message.sentAtMs, message.echoOfMs)
        return
      case 'bye':
        this.removeLink(link, 'bye', undefined, message.reason.length > 0 ? message.reason : 'left the room')
        return
      case 'error':
        if (link.state === 'handshake') {
          this.refuse(
            link,
            isErrorCodeText(message.code) ? message.code : 'ERR_SCHEMA_MISMATCH',
            `refused by the peer: ${message.message}`,
            'peer',
          )
        } else {
          this.removeLink(
            link,
            'error',
            isErrorCodeText(message.code) ? message.code : undefined,
            `the peer dropped us: ${message.message}`,
          )
        }
        return
      case 'snapshot.chunk':
        this.onSnapshotChunk(link, message)
        return
      case 'delta':
        if (isControlDelta(message)) {
          let control: ControlMessage
          try {
            control = deltaToControl(message)
          } catch (error) {
            this.protocolError(link, isCoreError(error) ? error.code : 'ERR_BAD_MESSAGE', describe(error))
            return
          }
          this.onControl(link, control)
          return
        }
        break
      case 'pushsum.share':
        break
    }
    if (link.state !== 'admitted') {
      this.protocolError(link, 'ERR_BAD_MESSAGE', `${message.type} frame before admission`)
      return
    }
    this.emit('message', link.peerId, this.slotOf(link.peerId), message)
  }

  private onHeartbeat(link: PeerLink, round: number, sentAtMs: number, echoOfMs: number | undefined): void {
    link.peerRound = round
    const now = this.clock.now()
    if (echoOfMs === undefined) {
      const t = link.transport
      if (t?.state === 'connected') {
        try {
          t.trySend(
            this.encode({
              type: 'heartbeat',
              round: this.round,
              sentAtMs: Math.max(0, now),
              echoOfMs: sentAtMs,
            }),
          )
        } catch {
          // The transport is closing; liveness will notice.
        }
      }
      return
    }
    const rtt = now - echoOfMs
    if (rtt >= 0 && rtt < 10 * this.peerTimeoutMs) link.rttMs = rtt
  }

  private onControl(link: PeerLink, control: ControlMessage): void {
    switch (control.type) {
      case 'manifest':
        if (link.state !== 'handshake' || link.manifest !== undefined) {
          this.protocolError(link, 'ERR_BAD_MESSAGE', 'unexpected run manifest')
          return
        }
        link.manifest = control.manifest
        this.maybeAdmit(link)
        return
      case 'member': {
        const membership: Membership = { slot: control.slot, startStep: control.startStep }
        if (control.slot !== null && control.slot >= this.manifest.workerSlots) {
          this.protocolError(
            link,
            'ERR_BAD_MESSAGE',
            `slot ${control.slot} is outside 0..${this.manifest.workerSlots - 1}`,
          )
          return
        }
        // A joiner still waiting for its snapshot announces nulls: keep what its source promised.
        if (link.isProvisional && control.slot === null) return
        link.member = membership
        link.isProvisional = false
        if (control.slot !== null) {
          this.everUsedSlots.add(control.slot)
          this.promises.delete(link.peerId)
        }
        if (link.state === 'admitted') {
          this.emit('member', link.peerId, membership)
          this.checkConflicts()
        }
        return
      }
      case 'roster': {
        if (link.state !== 'admitted' || control.slot >= this.manifest.workerSlots) return
        const joiner = this.links.get(control.peer)
        if (joiner === undefined || joiner.isFinal || control.peer === this.selfId) return
        this.everUsedSlots.add(control.slot)
        const hint: Membership = { slot: control.slot, startStep: control.startStep }
        if (joiner.state !== 'admitted') {
          joiner.rosterHint = hint
          return
        }
        if (joiner.member.slot !== null && !joiner.isProvisional) return
        joiner.member = hint
        joiner.isProvisional = true
        joiner.provisionalAtMs = this.clock.now()
        this.emit('member', joiner.peerId, hint)
        this.checkConflicts()
        return
      }
      case 'snapshot.request':
        if (link.state !== 'admitted') {
          this.protocolError(link, 'ERR_BAD_MESSAGE', 'snapshot request before admission')
          return
        }
        this.emit('snapshot-request', link.peerId)
        return
      case 'snapshot.assign':
        if (link.abandonedAnswers > 0) {
          // The answer to a request we gave up on: its chunks follow and are dropped.
          link.abandonedAnswers -= 1
          link.abandonedSnapshotIds.add(control.snapshotId)
          return
        }
        if (link.assembler === undefined) {
          this.protocolError(link, 'ERR_BAD_MESSAGE', 'snapshot.assign we did not ask for')
          return
        }
        if (control.slot >= this.manifest.workerSlots) {
          this.failSnapshot(link, 'ERR_BAD_MESSAGE', `assigned slot ${control.slot} is outside the room`)
          return
        }
        link.assign = { slot: control.slot, startStep: control.startStep, snapshotId: control.snapshotId }
        return
      case 'snapshot.refused':
        if (link.abandonedAnswers > 0) {
          link.abandonedAnswers -= 1
          return
        }
        if (link.assembler === undefined) return
        this.failSnapshot(link, control.code, control.reason)
        return
    }
  }

  private failSnapshot(link: PeerLink, code: ErrorCode, reason: string): void {
    // The rest of a failed transfer may still be on its way: drop it quietly when it comes.
    if (link.assign !== undefined) link.abandonedSnapshotIds.add(link.assign.snapshotId)
    link.assembler = undefined
    link.assign = undefined
    this.emit('snapshot-failed', { peer: link.peerId, code, reason })
  }

  private onSnapshotChunk(link: PeerLink, chunk: Extract<Message, { type: 'snapshot.chunk' }>): void {
    // A transfer we gave up on keeps arriving for a while (the source does not know): not an error.
    if (link.abandonedSnapshotIds.has(chunk.snapshotId)) return
    const assembler = link.assembler
    if (assembler === undefined || link.state !== 'admitted') {
      this.protocolError(link, 'ERR_BAD_MESSAGE', 'snapshot chunk we did not ask for')
      return
    }
    const assign = link.assign
    if (assign === undefined || assign.snapshotId !== chunk.snapshotId || assign.startStep !== chunk.round) {
      this.failSnapshot(
        link,
        'ERR_BAD_MESSAGE',
        `snapshot chunk ${chunk.snapshotId} does not match its assignment`,
      )
      return
    }
    let done: ReturnType<SnapshotAssembler['add']>
    try {
      done = assembler.add(chunk)
    } catch (error) {
      this.failSnapshot(link, isCoreError(error) ? error.code : 'ERR_BAD_MESSAGE', describe(error))
      return
    }
    if (done === null) {
      this.emit('snapshot-progress', { peer: link.peerId, chunks: chunk.chunkIndex + 1 })
      return
    }
    link.assembler = undefined
    link.assign = undefined
    this.emit('snapshot', {
      from: link.peerId,
      bytes: done.bytes,
      slot: assign.slot,
      startStep: assign.startStep,
    })
  }

  private maybeAdmit(link: PeerLink): void {
    const hello = link.hello
    const theirs = link.manifest
    if (hello === undefined || theirs === undefined || link.state !== 'handshake') return
    const diff = diffManifests(this.manifest, theirs)
    if (
      diff.length === 0 &&
      (hello.manifestHash !== this.manifestHash || manifestHash(theirs) !== this.manifestHash)
    ) {
      diff.push(`manifest hash: ours ${this.manifestHash}, theirs ${hello.manifestHash}`)
    }
    if (diff.length > 0) {
      this.refuse(link, 'ERR_SCHEMA_MISMATCH', `run manifest differs: ${diff.join('; ')}`, 'self')
      return
    }
    const t = link.transport
    if (t !== undefined) {
      try {
        t.setMaxChunkBytes(negotiateChunkBytes(this.maxChunkBytes, hello.capabilities.maxChunkBytes))
      } catch (error) {
        this.emit('log', 'warn', `keeping the chunk size for ${link.peerId}: ${describe(error)}`)
      }
    }
    link.state = 'admitted'
    link.wasAdmitted = true
    link.attempts = 0
    const hint = link.rosterHint
    link.rosterHint = undefined
    if (hint !== undefined && link.member.slot === null) {
      link.member = hint
      link.isProvisional = true
      link.provisionalAtMs = this.clock.now()
    }
    this.emit('peer-admitted', link.peerId)
    if (link.member.slot !== null) this.emit('member', link.peerId, link.member)
    this.checkConflicts()
  }

  private checkConflicts(): void {
    const slot = this.self.slot
    if (slot === null) return
    for (const link of this.links.values()) {
      if (link.state !== 'admitted' || link.member.slot !== slot || this.selfId < link.peerId) continue
      const key = `${link.peerId}:${slot}`
      if (this.reportedConflicts.has(key)) continue
      this.reportedConflicts.add(key)
      this.emit('slot-conflict', { peer: link.peerId, slot })
    }
  }

  // ---- heartbeats and liveness ----------------------------------------------------------------

  private scheduleTick(): void {
    if (this.isClosed) return
    this.cancelTick = this.clock.setTimeout(() => {
      this.cancelTick = undefined
      this.tick()
      this.scheduleTick()
    }, this.heartbeatMs)
  }

  private tick(): void {
    const now = this.clock.now()
    for (const link of [...this.links.values()]) {
      const t = link.transport
      if (link.isFinal || t === undefined || t.state !== 'connected') continue
      if (link.state !== 'handshake' && link.state !== 'admitted') continue
      const received = t.getStats().bytesReceived
      if (received !== link.lastBytesReceived) {
        link.lastBytesReceived = received
        link.lastByteActivityMs = now
      }
      if (link.isProvisional && now - link.provisionalAtMs > this.slotPromiseTtlMs) {
        // A joiner that never confirmed its promised slot stops counting as present.
        link.member = NO_MEMBERSHIP
        link.isProvisional = false
        this.emit('member', link.peerId, link.member)
      }
      const lastActivity = Math.max(link.lastFrameAtMs ?? link.connectedAtMs, link.lastByteActivityMs)
      if (now - lastActivity > this.peerTimeoutMs) {
        this.removeLink(
          link,
          'timeout',
          'ERR_PEER_TIMEOUT',
          `no message for ${Math.round(now - lastActivity)} ms`,
        )
        // A peer the signaling server still lists may only have stalled (a starved process, a
        // stuck channel): connect again, bounded like any connection. Without this, a pair whose
        // initiator timed the other out would never meet again: the other side, seeing only its
        // channel close, waits for an offer as the responder.
        if (this.isSignalingMember(link.peerId) && !this.isLeaving) {
          this.emit('log', 'info', `connecting again to ${link.peerId}, which is still in the room`)
          this.addLink(link.peerId)
        }
        continue
      }
      if (link.state === 'handshake' && now - link.connectedAtMs > this.handshakeTimeoutMs) {
        this.removeLink(
          link,
          'timeout',
          'ERR_TIMEOUT',
          `no hello and manifest within ${this.handshakeTimeoutMs} ms of connecting`,
        )
        continue
      }
      try {
        t.trySend(this.encode({ type: 'heartbeat', round: this.round, sentAtMs: Math.max(0, now) }))
      } catch {
        // Closing; the close handler takes over.
      }
    }
  }
}

function isErrorCodeText(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, code)
}

function describe(error: unknown): string {
  if (isCoreError(error)) return `${error.message} (${error.code})`
  return error instanceof Error ? error.message : String(error)
}
