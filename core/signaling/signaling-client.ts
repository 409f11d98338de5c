/**
 * The client side of the signaling protocol (`core/protocol/signaling.ts`): one WebSocket
 * to the rendezvous server, one room, one peer id.
 *
 * Runtime-agnostic: the WebSocket constructor is injected (`ws` in Node, `globalThis.WebSocket`
 * in a browser), and crypto is WebCrypto. Lifecycle: `join()` once, then `signal()` and the
 * events until `close()`; after close every method throws ERR_DESTROYED.
 *
 * Ordering invariants. Outgoing signals leave in call order even though MACs are computed
 * asynchronously (a candidate must never overtake its offer); incoming messages are handled
 * one at a time in arrival order for the same reason. Both queues are bounded.
 *
 * End-to-end checks (see room-auth.ts): offers and answers carry a MAC over their DTLS
 * fingerprints that this client adds on send and verifies on receipt. A description that
 * fails is dropped and reported as 'rejected'; so are candidates and renegotiation requests
 * from a peer that has not yet sent a verified description. Only verified signals reach
 * the 'signal' event, so whatever feeds them to WebRTC talks only to holders of the secret.
 */
import { CoreError, isCoreError } from '../errors.ts'
import {
  encodeSignalMessage,
  errorCodeForClose,
  parseServerMessage,
  PEER_ID_PATTERN,
  ROOM_NAME_PATTERN,
  type ClientMessage,
  type ServerMessage,
  type SignalData,
  type SignalLimits,
} from '../protocol/signaling.ts'
import {
  createAdmissionProof,
  deriveRoomCredentials,
  generatePeerId,
  signFingerprint,
  verifyFingerprint,
  type RoomCredentials,
} from './room-auth.ts'

// Method-style signature so both `ws` and the DOM WebSocket (whose handlers take their own
// event classes) are assignable; we only read the fields named here.
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack']

/** The part of the WebSocket API this client uses; `ws` and the browser's WebSocket both fit. */
export interface WebSocketLike {
  readonly readyState: number
  onopen: Handler<unknown> | null
  onmessage: Handler<{ readonly data: unknown }> | null
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null
  onerror: Handler<unknown> | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

/** `new WebSocket(url)`: pass `WebSocket` from `ws`, or `globalThis.WebSocket`. */
export type WebSocketConstructor = new (url: string) => WebSocketLike

/** Timer functions, injectable so tests run without real time. */
export interface SignalingTimers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** Default wait for the whole join handshake (connect, challenge, auth, joined). */
export const DEFAULT_JOIN_TIMEOUT_MS = 10_000
/** Messages waiting for in-order handling before the client gives up on the server. */
export const MAX_PENDING_MESSAGES = 1024
/** A keep-alive ping goes out after this fraction of the server's idle timeout without sending. */
const KEEP_ALIVE_FRACTION = 1 / 3
const WS_OPEN = 1
const NORMAL_CLOSURE = 1000

export interface SignalingClientOptions {
  /** ws:// or wss:// URL of the signaling server. */
  readonly url: string
  /** The WebSocket class (`ws`'s in Node, `globalThis.WebSocket` in a browser). */
  readonly WebSocket: WebSocketConstructor
  /** This peer's id in the room (default: 22 random base64url characters). */
  readonly peerId?: string
  /** Wait for the join handshake; default {@link DEFAULT_JOIN_TIMEOUT_MS}. */
  readonly joinTimeoutMs?: number
  /** Keep-alive ping period; default a third of the server's announced idle timeout. */
  readonly keepAliveMs?: number
  /** PBKDF2 rounds when `join` gets a secret string (must match the other peers). */
  readonly iterations?: number
  readonly timers?: SignalingTimers
}

export interface JoinOptions {
  readonly signal?: AbortSignal
}

/** What `join` resolves to. */
export interface JoinResult {
  readonly peerId: string
  /** The other members when we joined. */
  readonly peers: readonly string[]
  readonly limits: SignalLimits
}

/** A verified signal from another member. */
export interface IncomingSignal {
  readonly from: string
  readonly data: SignalData
}

export interface CloseInfo {
  /** WebSocket close code (1000 when closed locally). */
  readonly code: number
  readonly reason: string
}

export interface SignalingClientEvents {
  'peer-joined': (peerId: string) => void
  'peer-left': (peerId: string) => void
  /** A relayed signal that passed the end-to-end checks. */
  signal: (signal: IncomingSignal) => void
  /**
   * A relayed signal dropped by the end-to-end checks (`from` set), or a message of ours the
   * server refused without closing (ERR_UNKNOWN_PEER). The connection stays up.
   */
  rejected: (error: CoreError, from: string | undefined) => void
  /** A fatal failure; 'close' follows. */
  error: (error: CoreError) => void
  close: (info: CloseInfo) => void
}

type Listeners = { [K in keyof SignalingClientEvents]: Set<SignalingClientEvents[K]> }

type State = 'idle' | 'connecting' | 'challenged' | 'joined' | 'closed'

const defaultTimers: SignalingTimers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => {
    if (handle !== undefined) globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>)
  },
}

/**
 * One peer's membership in one signaling room. See the module header for ordering and
 * end-to-end guarantees.
 */
export class SignalingClient {
  readonly peerId: string
  private readonly options: SignalingClientOptions
  private readonly timers: SignalingTimers
  private readonly listeners: Listeners = {
    'peer-joined': new Set(),
    'peer-left': new Set(),
    signal: new Set(),
    rejected: new Set(),
    error: new Set(),
    close: new Set(),
  }
  private state: State = 'idle'
  private socket: WebSocketLike | undefined
  private credentials: RoomCredentials | undefined
  private readonly members = new Set<string>()
  /** Members from which we accepted a verified description; only they may send candidates. */
  private readonly verifiedPeers = new Set<string>()
  private limits: SignalLimits | undefined
  private joinSettle: { resolve: (r: JoinResult) => void; reject: (e: CoreError) => void } | undefined
  private joinTimer: unknown
  private keepAliveTimer: unknown
  private inbound: Promise<void> = Promise.resolve()
  private outbound: Promise<void> = Promise.resolve()
  private pendingIn = 0
  private pendingOut = 0
  private fatalFromServer: CoreError | undefined

  constructor(options: SignalingClientOptions) {
    this.options = options
    this.timers = options.timers ?? defaultTimers
    this.peerId = options.peerId ?? generatePeerId()
    if (!PEER_ID_PATTERN.test(this.peerId)) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `malformed peer id "${this.peerId}" (1-64 of A-Z a-z 0-9 _ -)`,
      )
    }
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof SignalingClientEvents>(event: K, fn: SignalingClientEvents[K]): () => void {
    const set = this.listeners[event] as Set<SignalingClientEvents[K]>
    set.add(fn)
    return () => {
      set.delete(fn)
    }
  }

  /** The other members we know of (updated by peer-joined / peer-left). */
  get peers(): string[] {
    return [...this.members]
  }

  /** True once joined and until closed. */
  get isJoined(): boolean {
    return this.state === 'joined'
  }

  /**
   * Connects, answers the admission challenge and resolves with the member list.
   * `secret` is the room secret (keys are derived here, slowly) or credentials from
   * `deriveRoomCredentials` (derive once, join many times).
   * @throws CoreError: ERR_AUTH_FAILED (wrong secret), ERR_ROOM_FULL, ERR_DUPLICATE_PEER,
   *   ERR_TIMEOUT, ERR_ABORTED, ERR_CONNECTION_FAILED, ERR_DESTROYED, ERR_INVALID_ARGUMENT
   *   (bad room name, or join called twice). A failed join closes the client.
   */
  async join(room: string, secret: string | RoomCredentials, options: JoinOptions = {}): Promise<JoinResult> {
    this.guard()
    if (this.state !== 'idle')
      throw new CoreError('ERR_INVALID_ARGUMENT', 'join() may be called once per client')
    if (!ROOM_NAME_PATTERN.test(room))
      throw new CoreError('ERR_INVALID_ARGUMENT', `malformed room name "${room}"`)
    if (typeof secret !== 'string' && secret.room !== room) {
      throw new CoreError('ERR_INVALID_ARGUMENT', `credentials are for room "${secret.room}", not "${room}"`)
    }
    this.state = 'connecting'
    const abort = options.signal
    const promise = new Promise<JoinResult>((resolve, reject) => {
      this.joinSettle = { resolve, reject }
    })
    // An abort or timeout can reject it while the keys are still being derived, before the
    // await below: mark it handled so that is not an unhandled rejection (the await rethrows).
    promise.catch(() => {})
    const onAbort = (): void => this.close(new CoreError('ERR_ABORTED', 'join aborted'))
    if (abort?.aborted === true) onAbort()
    abort?.addEventListener('abort', onAbort, { once: true })
    const timeoutMs = this.options.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS
    this.joinTimer = this.timers.setTimeout(() => {
      this.close(new CoreError('ERR_TIMEOUT', `join did not complete within ${timeoutMs} ms`))
    }, timeoutMs)
    try {
      this.credentials =
        typeof secret === 'string'
          ? await deriveRoomCredentials(secret, room, { iterations: this.options.iterations })
          : secret
      if (this.state === 'connecting') this.connect(room)
      return await promise
    } catch (err) {
      this.close(isCoreError(err) ? err : new CoreError('ERR_INVALID_ARGUMENT', String(err)))
      return await promise
    } finally {
      abort?.removeEventListener('abort', onAbort)
      this.timers.clearTimeout(this.joinTimer)
    }
  }

  /**
   * Sends simple-peer signal data to one member. Offers and answers get their end-to-end
   * MAC here. Resolves once the message is handed to the socket, in call order.
   * @throws CoreError: ERR_DESTROYED after close, ERR_INVALID_ARGUMENT before join,
   *   ERR_UNKNOWN_PEER for a peer not in the room, ERR_BAD_MESSAGE for an SDP without
   *   fingerprints, ERR_TOO_MANY_IN_FLIGHT when the send queue is full.
   */
  async signal(to: string, data: SignalData): Promise<void> {
    this.guard()
    if (this.state !== 'joined')
      throw new CoreError('ERR_INVALID_ARGUMENT', 'signal() before join() completed')
    if (!this.members.has(to)) throw new CoreError('ERR_UNKNOWN_PEER', `peer "${to}" is not in the room`)
    if (this.pendingOut >= MAX_PENDING_MESSAGES) {
      throw new CoreError('ERR_TOO_MANY_IN_FLIGHT', `${MAX_PENDING_MESSAGES} signals already queued`)
    }
    const credentials = this.credentials
    if (credentials === undefined) throw new CoreError('ERR_INVALID_ARGUMENT', 'no credentials')
    // Start the MAC now, but send strictly after everything queued before it.
    const macPromise =
      data.type === 'offer' || data.type === 'answer'
        ? signFingerprint(credentials, { sdp: data.sdp, type: data.type, from: this.peerId, to })
        : Promise.resolve(undefined)
    this.pendingOut++
    const turn = this.outbound.then(async () => {
      const mac = await macPromise
      this.guard()
      this.send(
        mac === undefined ? { type: 'signal', v: 1, to, data } : { type: 'signal', v: 1, to, data, mac },
      )
    })
    this.outbound = turn.then(
      () => {
        this.pendingOut--
      },
      () => {
        this.pendingOut--
      },
    )
    return turn
  }

  /**
   * Leaves the room and closes the socket. Idempotent: emits 'error' (when `err` is given)
   * then 'close', once. A pending join rejects with `err` (or ERR_DESTROYED).
   */
  close(err?: CoreError, info: CloseInfo = { code: NORMAL_CLOSURE, reason: '' }): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.timers.clearTimeout(this.joinTimer)
    this.timers.clearTimeout(this.keepAliveTimer)
    const socket = this.socket
    if (socket !== undefined) {
      socket.onopen = null
      socket.onmessage = null
      socket.onclose = null
      socket.onerror = null
      // close() on a CONNECTING socket throws in some implementations.
      try {
        socket.close(NORMAL_CLOSURE)
      } catch {
        // The socket is going away either way.
      }
    }
    const settle = this.joinSettle
    this.joinSettle = undefined
    settle?.reject(err ?? new CoreError('ERR_DESTROYED', 'signaling client closed before join completed'))
    this.members.clear()
    this.verifiedPeers.clear()
    if (err !== undefined) this.emit('error', err)
    this.emit('close', info)
    for (const set of Object.values(this.listeners)) set.clear()
  }

  private guard(): void {
    if (this.state === 'closed') throw new CoreError('ERR_DESTROYED', 'signaling client is closed')
  }

  private emit<K extends keyof SignalingClientEvents>(
    event: K,
    ...args: Parameters<SignalingClientEvents[K]>
  ): void {
    for (const fn of [...this.listeners[event]]) {
      try {
        ;(fn as (...a: Parameters<SignalingClientEvents[K]>) => void)(...args)
      } catch {
        // A listener's bug must not break the protocol state machine (STYLE §9.3).
      }
    }
  }

  private connect(room: string): void {
    let socket: WebSocketLike
    try {
      socket = new this.options.WebSocket(this.options.url)
    } catch (err) {
      throw new CoreError('ERR_CONNECTION_FAILED', `cannot open ${this.options.url}: ${String(err)}`, {
        cause: err,
      })
    }
    this.socket = socket
    socket.onopen = () => {
      try {
        this.send({ type: 'join', v: 1, room, peerId: this.peerId })
      } catch (err) {
        this.close(isCoreError(err) ? err : new CoreError('ERR_CONNECTION_FAILED', String(err)))
      }
    }
    socket.onmessage = (event) => this.onRawMessage(event.data)
    socket.onerror = () => {
      // 'close' follows 'error' on every WebSocket implementation; handle the end there.
    }
    socket.onclose = (event) => this.onSocketClose(event.code, event.reason)
  }

  private send(message: ClientMessage): void {
    const socket = this.socket
    if (socket === undefined || socket.readyState !== WS_OPEN) {
      throw new CoreError('ERR_CONNECTION_FAILED', 'the signaling socket is not open')
    }
    socket.send(encodeSignalMessage(message))
    this.scheduleKeepAlive()
  }

  private scheduleKeepAlive(): void {
    if (this.state !== 'joined' || this.limits === undefined) return
    this.timers.clearTimeout(this.keepAliveTimer)
    const periodMs =
      this.options.keepAliveMs ?? Math.max(1, Math.floor(this.limits.idleTimeoutMs * KEEP_ALIVE_FRACTION))
    this.keepAliveTimer = this.timers.setTimeout(() => {
      if (this.state !== 'joined') return
      try {
        this.send({ type: 'ping', v: 1 })
      } catch (err) {
        this.close(isCoreError(err) ? err : new CoreError('ERR_CONNECTION_FAILED', String(err)))
      }
    }, periodMs)
  }

  private onSocketClose(code: number, reason: string): void {
    if (this.state === 'closed') return
    const fatal = this.fatalFromServer
    if (fatal !== undefined) {
      this.close(fatal, { code, reason })
    } else if (this.state !== 'joined') {
      // The error message may have been lost; the close code still says what happened.
      const known = errorCodeForClose(code)
      const error =
        known === undefined
          ? new CoreError('ERR_CONNECTION_FAILED', `signaling connection closed during join (code ${code})`)
          : new CoreError(known, `signaling server closed the connection: ${reason || code}`)
      this.close(error, { code, reason })
    } else {
      // A close without an error message (shutdown 1001, network loss 1006): not our fault.
      this.close(undefined, { code, reason })
    }
  }

  private onRawMessage(raw: unknown): void {
    if (this.state === 'closed') return
    if (this.pendingIn >= MAX_PENDING_MESSAGES) {
      this.close(new CoreError('ERR_TOO_MANY_IN_FLIGHT', 'the server sends faster than we can verify'))
      return
    }
    let message: ServerMessage
    try {
      if (typeof raw !== 'string')
        throw new CoreError('ERR_BAD_MESSAGE', 'signaling messages are text frames')
      message = parseServerMessage(raw)
    } catch (err) {
      this.close(isCoreError(err) ? err : new CoreError('ERR_BAD_MESSAGE', String(err)))
      return
    }
    if (message.type === 'error' && message.fatal) {
      // Recorded at once, not queued: the close that follows must find it even while
      // earlier messages still wait for their MAC checks.
      this.fatalFromServer = new CoreError(message.code, `signaling server: ${message.message}`)
      return
    }
    this.pendingIn++
    this.inbound = this.inbound
      .then(() => this.handle(message))
      .catch((err: unknown) => {
        this.close(isCoreError(err) ? err : new CoreError('ERR_BAD_MESSAGE', String(err)))
      })
      .finally(() => {
        this.pendingIn--
      })
  }

  private async handle(message: ServerMessage): Promise<void> {
    if (this.state === 'closed') return
    switch (message.type) {
      case 'challenge':
        return this.onChallenge(message.nonce, message.roomExists)
      case 'joined':
        return this.onJoined(message.peerId, message.peers, message.limits)
      case 'peer.joined':
        this.requireJoined(message.type)
        if (message.peerId === this.peerId)
          throw new CoreError('ERR_BAD_MESSAGE', 'server announced ourselves')
        this.members.add(message.peerId)
        this.emit('peer-joined', message.peerId)
        return
      case 'peer.left':
        this.requireJoined(message.type)
        if (!this.members.delete(message.peerId)) return
        this.verifiedPeers.delete(message.peerId)
        this.emit('peer-left', message.peerId)
        return
      case 'signal':
        this.requireJoined(message.type)
        return this.onSignal(message.from, message.to, message.data, message.mac)
      case 'pong':
        return
      case 'error':
        this.emit('rejected', new CoreError(message.code, `signaling server: ${message.message}`), undefined)
        return
    }
  }

  private requireJoined(type: string): void {
    if (this.state !== 'joined') throw new CoreError('ERR_BAD_MESSAGE', `"${type}" before joined`)
  }

  private async onChallenge(nonce: string, roomExists: boolean): Promise<void> {
    const credentials = this.credentials
    if (this.state !== 'connecting' || credentials === undefined) {
      throw new CoreError('ERR_BAD_MESSAGE', 'unexpected challenge')
    }
    this.state = 'challenged'
    const proof = await createAdmissionProof(credentials, this.peerId, nonce)
    if (this.state !== 'challenged') return
    this.send(
      roomExists
        ? { type: 'auth', v: 1, proof }
        : { type: 'auth', v: 1, proof, verifier: credentials.verifier },
    )
  }

  private onJoined(peerId: string, peers: readonly string[], limits: SignalLimits): void {
    if (this.state !== 'challenged') throw new CoreError('ERR_BAD_MESSAGE', 'joined without a challenge')
    if (peerId !== this.peerId) throw new CoreError('ERR_BAD_MESSAGE', 'joined under another peer id')
    this.state = 'joined'
    this.limits = limits
    for (const p of peers) this.members.add(p)
    this.timers.clearTimeout(this.joinTimer)
    this.scheduleKeepAlive()
    const settle = this.joinSettle
    this.joinSettle = undefined
    settle?.resolve({ peerId, peers: [...peers], limits })
  }

  private async onSignal(from: string, to: string, data: SignalData, mac: string | undefined): Promise<void> {
    const credentials = this.credentials
    if (credentials === undefined) return
    if (to !== this.peerId || !this.members.has(from)) {
      this.emit('rejected', new CoreError('ERR_UNKNOWN_PEER', `signal from non-member "${from}"`), from)
      return
    }
    if (data.type === 'offer' || data.type === 'answer') {
      const ok = await verifyFingerprint(credentials, { sdp: data.sdp, type: data.type, from, to }, mac)
      if (this.state !== 'joined') return
      if (!ok) {
        // A forged description also revokes what an earlier good one allowed.
        this.verifiedPeers.delete(from)
        this.emit(
          'rejected',
          new CoreError('ERR_AUTH_FAILED', `${data.type} from "${from}" failed its MAC`),
          from,
        )
        return
      }
      this.verifiedPeers.add(from)
    } else if (!this.verifiedPeers.has(from)) {
      this.emit(
        'rejected',
        new CoreError('ERR_AUTH_FAILED', `${data.type} from "${from}" before a verified description`),
        from,
      )
      return
    }
    this.emit('signal', { from, data })
  }
}
