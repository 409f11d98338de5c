/**
 * Test fixtures for the swarm and the node: an in-process signaling hub (the part of
 * SignalingClient the swarm uses, with the same events) and a transport factory that pairs
 * the two sides' transports into in-memory links on an injected clock, whatever order the
 * sides ask in. No network, no real time.
 */
import { CoreError } from '../../../../core/errors.ts'
import type { SignalData } from '../../../../core/protocol/signaling.ts'
import type { JoinResult, SignalingClientEvents } from '../../../../core/signaling/signaling-client.ts'
import { Emitter } from '../../../../core/transport/emitter.ts'
import { createInMemoryPair, type LinkModel } from '../../../../core/transport/in-memory-transport.ts'
import type {
  PeerTransport,
  SignaledPeerTransport,
  TransportClock,
  TransportEvents,
  TransportState,
  TransportStats,
} from '../../../../core/transport/peer-transport.ts'
import type { SwarmSignaling } from '../../../../core/swarm/swarm.ts'

const LIMITS = {
  maxMessageBytes: 65536,
  messagesPerSecond: 50,
  messageBurst: 100,
  idleTimeoutMs: 60000,
  maxPeersPerRoom: 64,
}

/** One room on an in-process "signaling server". */
export class FakeHub {
  readonly members = new Map<string, FakeSignaling>()
  constructor(readonly secret: string) {}

  client(peerId: string): FakeSignaling {
    return new FakeSignaling(this, peerId)
  }
}

type Listener = (...args: never[]) => void

export class FakeSignaling implements SwarmSignaling {
  private readonly listeners = new Map<string, Set<Listener>>()
  private isClosed = false
  isJoined = false

  constructor(
    private readonly hub: FakeHub,
    readonly peerId: string,
  ) {}

  get peers(): string[] {
    return this.isJoined ? [...this.hub.members.keys()].filter((p) => p !== this.peerId) : []
  }

  on<K extends keyof SignalingClientEvents>(event: K, fn: SignalingClientEvents[K]): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.listeners.set(event, set)
    }
    set.add(fn)
    return () => {
      set.delete(fn)
    }
  }

  emit<K extends keyof SignalingClientEvents>(event: K, ...args: Parameters<SignalingClientEvents[K]>): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      ;(fn as unknown as (...a: Parameters<SignalingClientEvents[K]>) => void)(...args)
    }
  }

  join(_room: string, secret: unknown): Promise<JoinResult> {
    if (secret !== this.hub.secret) {
      this.isClosed = true
      return Promise.reject(
        new CoreError('ERR_AUTH_FAILED', 'signaling server: admission proof did not verify'),
      )
    }
    const peers = [...this.hub.members.keys()]
    this.hub.members.set(this.peerId, this)
    this.isJoined = true
    for (const [id, other] of this.hub.members) if (id !== this.peerId) other.emit('peer-joined', this.peerId)
    return Promise.resolve({ peerId: this.peerId, peers, limits: LIMITS })
  }

  signal(to: string, data: SignalData): Promise<void> {
    const target = this.hub.members.get(to)
    if (target === undefined)
      return Promise.reject(new CoreError('ERR_UNKNOWN_PEER', `${to} is not in the room`))
    queueMicrotask(() => target.emit('signal', { from: this.peerId, data }))
    return Promise.resolve()
  }

  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    if (this.hub.members.get(this.peerId) === this) {
      this.hub.members.delete(this.peerId)
      for (const other of this.hub.members.values()) other.emit('peer-left', this.peerId)
    }
    this.emit('close', { code: 1000, reason: '' })
    this.listeners.clear()
  }
}

const EMPTY_STATS: TransportStats = {
  state: 'connecting',
  bytesSent: 0,
  bytesReceived: 0,
  messagesSent: 0,
  messagesReceived: 0,
  sendRateBytesPerSec: 0,
  receiveRateBytesPerSec: 0,
  bufferedAmountBytes: 0,
  queuedBytes: 0,
  protocolErrors: 0,
}

/**
 * A signaled transport whose in-memory end is attached once the other side asks too. Until
 * then it is 'connecting'; it fails with ERR_TIMEOUT after `connectTimeoutMs` if never
 * attached. `mute()` makes it drop everything it is asked to send (a frozen peer).
 */
export class LazyTransport implements SignaledPeerTransport {
  private inner: PeerTransport | undefined
  private readonly emitter = new Emitter<TransportEvents>()
  private ownState: TransportState = 'connecting'
  private cancelTimeout: () => void
  private readonly waiting: Array<{ frame: Uint8Array; resolve: () => void; reject: (e: unknown) => void }> =
    []
  isMuted = false
  readonly signals: SignalData[] = []

  constructor(
    readonly peerId: string,
    readonly isInitiator: boolean,
    private readonly clock: TransportClock,
    connectTimeoutMs: number,
  ) {
    this.cancelTimeout = clock.setTimeout(() => {
      if (this.inner === undefined) void this.close(new CoreError('ERR_TIMEOUT', 'never connected'))
    }, connectTimeoutMs)
  }

  attach(inner: PeerTransport): void {
    if (this.ownState !== 'connecting') {
      void inner.close()
      return
    }
    this.cancelTimeout()
    this.inner = inner
    inner.on('state', (s, p) => this.emitter.emit('state', s, p))
    inner.on('connect', () => this.emitter.emit('connect'))
    inner.on('frame', (f) => this.emitter.emit('frame', f))
    inner.on('protocol-error', (e) => this.emitter.emit('protocol-error', e))
    inner.on('stats', (s) => this.emitter.emit('stats', s))
    inner.on('error', (e) => this.emitter.emit('error', e))
    inner.on('close', () => {
      this.ownState = inner.state
      this.emitter.emit('close')
    })
    for (const w of this.waiting.splice(0)) inner.send(w.frame).then(w.resolve, w.reject)
  }

  get state(): TransportState {
    return this.inner?.state ?? this.ownState
  }

  get bufferedAmount(): number {
    return this.inner?.bufferedAmount ?? 0
  }

  get maxChunkBytes(): number {
    return this.inner?.maxChunkBytes ?? 16384
  }

  mute(): void {
    this.isMuted = true
  }

  send(frame: Uint8Array): Promise<void> {
    if (this.isMuted) return Promise.resolve()
    if (this.inner !== undefined) return this.inner.send(frame)
    if (this.ownState !== 'connecting') return Promise.reject(new CoreError('ERR_DESTROYED', 'closed'))
    return new Promise((resolve, reject) => this.waiting.push({ frame, resolve, reject }))
  }

  trySend(frame: Uint8Array): boolean {
    if (this.isMuted) return true
    return this.inner?.trySend(frame) ?? false
  }

  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    return this.emitter.on(event, listener)
  }

  getStats(): TransportStats {
    return this.inner?.getStats() ?? { ...EMPTY_STATS, state: this.ownState }
  }

  refreshStats(): Promise<TransportStats> {
    return this.inner?.refreshStats() ?? Promise.resolve(this.getStats())
  }

  setMaxChunkBytes(bytes: number): void {
    this.inner?.setMaxChunkBytes(bytes)
  }

  signal(data: SignalData): void {
    this.signals.push(data)
  }

  close(error?: CoreError): Promise<void> {
    this.cancelTimeout()
    if (this.inner !== undefined) return this.inner.close(error)
    if (this.ownState !== 'connecting') return Promise.resolve()
    this.ownState = error === undefined ? 'closed' : 'failed'
    for (const w of this.waiting.splice(0)) w.reject(new CoreError('ERR_DESTROYED', 'closed'))
    if (error !== undefined) this.emitter.emit('error', error)
    this.emitter.emit('close')
    return Promise.resolve()
  }
}

/** Pairs transports of two sides in the order they are created; some pairs can be blocked. */
export class FakeNet {
  readonly blocked = new Set<string>()
  readonly created: Array<{ owner: string; transport: LazyTransport }> = []
  private readonly unpaired = new Map<string, Array<{ owner: string; transport: LazyTransport }>>()

  constructor(
    readonly clock: TransportClock,
    readonly options: { readonly connectTimeoutMs?: number; readonly link?: LinkModel } = {},
  ) {}

  static key(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`
  }

  factory(owner: string): (peerId: string, initiator: boolean) => SignaledPeerTransport {
    return (peerId, initiator) => this.create(owner, peerId, initiator)
  }

  /** Transports `owner` opened to `peer`, oldest first. */
  transportsOf(owner: string, peer: string): LazyTransport[] {
    return this.created
      .filter((c) => c.owner === owner && c.transport.peerId === peer)
      .map((c) => c.transport)
  }

  private create(owner: string, peer: string, initiator: boolean): LazyTransport {
    const t = new LazyTransport(peer, initiator, this.clock, this.options.connectTimeoutMs ?? 5000)
    this.created.push({ owner, transport: t })
    const key = FakeNet.key(owner, peer)
    if (this.blocked.has(key)) return t
    const queue = this.unpaired.get(key) ?? []
    this.unpaired.set(key, queue)
    const index = queue.findIndex((w) => w.owner === peer && w.transport.state === 'connecting')
    if (index < 0) {
      queue.push({ owner, transport: t })
      return t
    }
    const [waiting] = queue.splice(index, 1)
    const pair = createInMemoryPair({
      clock: this.clock,
      peerIds: [peer, owner],
      ...(this.options.link !== undefined && { link: this.options.link }),
      statsIntervalMs: 0,
    })
    waiting?.transport.attach(pair.a)
    t.attach(pair.b)
    return t
  }
}
