/**
 * The signaling server: rooms, admission by challenge-response, SDP/ICE relay between
 * members of one room, join/leave announcements, limits, /healthz, /metrics, graceful
 * shutdown. The message schema is `core/protocol/signaling.ts`; the admission scheme and
 * what this server can and cannot learn are explained in `core/signaling/room-auth.ts`.
 *
 * Per connection: new → (join) challenged → (auth) joined → closing. Every message first
 * passes the rate limit and the size limit, then the schema; every violation sends one
 * `error` message (fatal) and closes with the matching code from SIGNAL_CLOSE_CODES.
 * Only `signal` to an unknown peer is answered without closing (the peer may just have
 * left). A violation touches only its own connection: everyone else keeps being served.
 *
 * State lives in memory only. A room exists while it has members; its verifier is
 * forgotten when the last member leaves, so the next first joiner sets it again.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import {
  admissionProofInput,
  encodeSignalMessage,
  isCoreError,
  parseClientMessage,
  SIGNAL_CLOSE_CODES,
  type AuthMessage,
  type ClientSignalMessage,
  type ErrorCode,
  type JoinMessage,
  type ServerMessage,
  type SignalCloseCode,
  type SignalLimits,
} from '../core/protocol/signaling.ts'
import { DEFAULT_SIGNAL_CONFIG, type SignalServerConfig } from './config.ts'
import { createLogger, type Logger } from './logger.ts'
import { SignalMetrics, type GaugeSnapshot, type RejectionReason } from './metrics.ts'
import { createTokenBucket, takeToken, type TokenBucket } from './token-bucket.ts'

/** After we send a close frame, a client gets this long to answer before the socket is cut. */
const CLOSE_HANDSHAKE_MS = 2_000
/**
 * Frames above maxMessageBytes × this factor are refused by `ws` itself (close 1009, no
 * error message) so a huge frame is never buffered; frames between the limit and this cap
 * get the ERR_FRAME_TOO_LARGE message and close 4413.
 */
const HARD_FRAME_CAP_FACTOR = 2
/** A connection whose unsent data exceeds max(this, 16 messages) is cut as a slow consumer. */
const MIN_MAX_BUFFERED_BYTES = 1024 * 1024
const NONCE_BYTES = 32

type ConnState = 'new' | 'challenged' | 'joined' | 'closing'

interface Room {
  readonly name: string
  readonly verifier: Buffer
  readonly members: Map<string, Conn>
}

interface Conn {
  readonly id: number
  readonly socket: WebSocket
  readonly remote: string
  state: ConnState
  roomName: string | undefined
  peerId: string | undefined
  nonce: string | undefined
  /** The room this connection is a member of (set only while joined). */
  member: Room | undefined
  readonly bucket: TokenBucket
  readonly idleTimer: NodeJS.Timeout
  killTimer: NodeJS.Timeout | undefined
}

/** A running server. */
export interface SignalingServer {
  /** ws:// or wss:// URL clients connect to. */
  readonly url: string
  /** http:// or https:// base URL of /healthz and /metrics. */
  readonly httpUrl: string
  /** The bound port (useful with port 0). */
  readonly port: number
  /** Open connections, joined peers, rooms. */
  stats(): GaugeSnapshot
  /**
   * Graceful shutdown: stops accepting, closes every client with 1001 (going away), waits
   * up to shutdownGraceMs, then cuts the rest. Idempotent; resolves when fully stopped.
   */
  close(): Promise<void>
}

export interface StartSignalingServerOptions {
  readonly config?: Partial<SignalServerConfig>
  /** Default: JSON lines on stderr at config.logLevel. */
  readonly logger?: Logger
}

function byteLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0)
  return data.byteLength
}

function toText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return data.toString('utf8')
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

/**
 * Starts a signaling server and resolves once it listens.
 * @throws the listen error (e.g. EADDRINUSE) or a TLS file read error.
 */
export async function startSignalingServer(
  options: StartSignalingServerOptions = {},
): Promise<SignalingServer> {
  const config: SignalServerConfig = { ...DEFAULT_SIGNAL_CONFIG, ...options.config }
  const log = options.logger ?? createLogger({ level: config.logLevel })
  const metrics = new SignalMetrics()
  const rooms = new Map<string, Room>()
  const conns = new Set<Conn>()
  const startedMs = performance.now()
  const maxBufferedBytes = Math.max(MIN_MAX_BUFFERED_BYTES, 16 * config.maxMessageBytes)
  const limits: SignalLimits = {
    maxMessageBytes: config.maxMessageBytes,
    messagesPerSecond: config.rateLimit,
    messageBurst: config.rateBurst,
    idleTimeoutMs: config.idleTimeoutMs,
    maxPeersPerRoom: config.maxPeersPerRoom,
  }
  let nextConnId = 1
  let peers = 0
  let draining = false
  let closing: Promise<void> | undefined
  let onDrained: (() => void) | undefined

  const isTls = config.tlsCert !== undefined && config.tlsKey !== undefined
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => handleHttp(req, res)
  let http: Server
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) {
    const [cert, key] = await Promise.all([readFile(config.tlsCert), readFile(config.tlsKey)])
    http = createHttpsServer({ cert, key }, onRequest)
  } else {
    http = createHttpServer(onRequest)
  }
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: config.maxMessageBytes * HARD_FRAME_CAP_FACTOR,
  })

  const stats = (): GaugeSnapshot => ({ connections: conns.size, peers, rooms: rooms.size, draining })

  function handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n')
      return
    }
    if (path === '/healthz') {
      const s = stats()
      const body = JSON.stringify({
        status: draining ? 'draining' : 'ok',
        connections: s.connections,
        peers: s.peers,
        rooms: s.rooms,
        uptimeSeconds: Math.round((performance.now() - startedMs) / 1000),
      })
      res.writeHead(draining ? 503 : 200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(`${body}\n`)
      return
    }
    if (path === '/metrics') {
      const text = metrics.render(stats(), process.memoryUsage(), (performance.now() - startedMs) / 1000)
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'cache-control': 'no-store',
      })
      res.end(text)
      return
    }
    if (path === '/') {
      res.writeHead(426, { upgrade: 'websocket', 'content-type': 'text/plain' }).end('WebSocket endpoint\n')
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
  }

  function send(conn: Conn, message: ServerMessage): void {
    sendText(conn, encodeSignalMessage(message))
  }

  function sendText(conn: Conn, text: string): void {
    // ws drops sends on a closing socket silently; nothing to do for those.
    if (conn.socket.readyState === conn.socket.OPEN) conn.socket.send(text)
  }

  function logFields(conn: Conn): Record<string, string | number | undefined> {
    return { conn: conn.id, remote: conn.remote, room: conn.roomName, peer: conn.peerId }
  }

  /** Refuses one connection: error message, close code, no effect on anyone else. */
  function fail(
    conn: Conn,
    reason: RejectionReason,
    code: ErrorCode,
    closeCode: SignalCloseCode,
    message: string,
  ): void {
    if (conn.state === 'closing') return
    metrics.reject(reason)
    log.info('rejected', { ...logFields(conn), reason, code, closeCode, detail: message })
    send(conn, { type: 'error', v: 1, code, message: message.slice(0, 500), fatal: true })
    conn.state = 'closing'
    leaveRoom(conn)
    conn.socket.close(closeCode, reason)
    conn.killTimer = setTimeout(() => conn.socket.terminate(), CLOSE_HANDSHAKE_MS)
    conn.killTimer.unref()
  }

  function leaveRoom(conn: Conn): void {
    const room = conn.member
    if (room === undefined || conn.peerId === undefined) return
    conn.member = undefined
    room.members.delete(conn.peerId)
    peers--
    if (room.members.size === 0) {
      rooms.delete(room.name)
      log.debug('room closed', { room: room.name })
      return
    }
    if (draining) return
    const text = encodeSignalMessage({ type: 'peer.left', v: 1, peerId: conn.peerId })
    for (const other of room.members.values()) sendText(other, text)
  }

  function onConnection(socket: WebSocket, req: IncomingMessage): void {
    const conn: Conn = {
      id: nextConnId++,
      socket,
      remote: req.socket.remoteAddress ?? '?',
      state: 'new',
      roomName: undefined,
      peerId: undefined,
      nonce: undefined,
      member: undefined,
      bucket: createTokenBucket(config.rateBurst, performance.now()),
      idleTimer: setTimeout(() => {
        fail(
          conn,
          'idle_timeout',
          'ERR_TIMEOUT',
          SIGNAL_CLOSE_CODES.IDLE_TIMEOUT,
          `no message for ${config.idleTimeoutMs} ms`,
        )
      }, config.idleTimeoutMs),
      killTimer: undefined,
    }
    conn.idleTimer.unref()
    conns.add(conn)
    metrics.connectionsTotal++
    socket.on('message', (data, isBinary) => onMessage(conn, data, isBinary))
    socket.on('close', () => onClose(conn))
    socket.on('error', (err) => {
      // ws closes the socket after an error (e.g. 1009 for a frame above the hard cap).
      if ('code' in err && err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.reject('too_large')
      log.info('socket error', { ...logFields(conn), error: err.message })
    })
    log.debug('connected', logFields(conn))
    if (draining) {
      // The upgrade raced the shutdown: treat it like every other client being closed.
      conn.state = 'closing'
      socket.close(SIGNAL_CLOSE_CODES.GOING_AWAY, 'server shutting down')
      return
    }
    if (conns.size > config.maxConnections) {
      fail(
        conn,
        'too_many_connections',
        'ERR_ROOM_FULL',
        SIGNAL_CLOSE_CODES.TOO_MANY_CONNECTIONS,
        `the server holds its maximum of ${config.maxConnections} connections`,
      )
    }
  }

  function onClose(conn: Conn): void {
    clearTimeout(conn.idleTimer)
    clearTimeout(conn.killTimer)
    conn.state = 'closing'
    leaveRoom(conn)
    conns.delete(conn)
    log.debug('disconnected', logFields(conn))
    if (draining && conns.size === 0) onDrained?.()
  }

  function onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    if (conn.state === 'closing') return
    conn.idleTimer.refresh()
    metrics.messagesReceivedTotal++
    if (!takeToken(conn.bucket, config.rateLimit, config.rateBurst, performance.now())) {
      fail(
        conn,
        'rate_limited',
        'ERR_RATE_LIMITED',
        SIGNAL_CLOSE_CODES.RATE_LIMITED,
        `more than ${config.rateLimit} messages per second (burst ${config.rateBurst})`,
      )
      return
    }
    const size = byteLength(data)
    if (size > config.maxMessageBytes) {
      fail(
        conn,
        'too_large',
        'ERR_FRAME_TOO_LARGE',
        SIGNAL_CLOSE_CODES.MESSAGE_TOO_LARGE,
        `message of ${size} bytes exceeds the limit of ${config.maxMessageBytes}`,
      )
      return
    }
    if (isBinary) {
      fail(
        conn,
        'bad_message',
        'ERR_BAD_MESSAGE',
        SIGNAL_CLOSE_CODES.BAD_MESSAGE,
        'binary frames are not accepted',
      )
      return
    }
    let message
    try {
      message = parseClientMessage(toText(data))
    } catch (err) {
      const text = isCoreError(err) ? err.message : 'malformed message'
      fail(conn, 'bad_message', 'ERR_BAD_MESSAGE', SIGNAL_CLOSE_CODES.BAD_MESSAGE, text)
      return
    }
    switch (message.type) {
      case 'join':
        return onJoin(conn, message)
      case 'auth':
        return onAuth(conn, message)
      case 'signal':
        return onSignal(conn, message)
      case 'ping':
        return send(conn, { type: 'pong', v: 1 })
    }
  }

  /** Capacity and uniqueness checks, run at join and again at auth (things change between). */
  function admissible(conn: Conn, roomName: string, peerId: string): boolean {
    const room = rooms.get(roomName)
    if (room !== undefined) {
      if (room.members.has(peerId)) {
        fail(
          conn,
          'duplicate_peer',
          'ERR_DUPLICATE_PEER',
          SIGNAL_CLOSE_CODES.DUPLICATE_PEER,
          `peer id "${peerId}" is taken`,
        )
        return false
      }
      if (room.members.size >= config.maxPeersPerRoom) {
        fail(
          conn,
          'room_full',
          'ERR_ROOM_FULL',
          SIGNAL_CLOSE_CODES.ROOM_FULL,
          `room has its maximum of ${config.maxPeersPerRoom} peers`,
        )
        return false
      }
    } else if (rooms.size >= config.maxRooms) {
      fail(
        conn,
        'too_many_rooms',
        'ERR_ROOM_FULL',
        SIGNAL_CLOSE_CODES.TOO_MANY_ROOMS,
        `the server holds its maximum of ${config.maxRooms} rooms`,
      )
      return false
    }
    return true
  }

  function onJoin(conn: Conn, message: JoinMessage): void {
    if (conn.state !== 'new') {
      fail(conn, 'bad_message', 'ERR_BAD_MESSAGE', SIGNAL_CLOSE_CODES.BAD_MESSAGE, 'join sent twice')
      return
    }
    conn.roomName = message.room
    conn.peerId = message.peerId
    if (!admissible(conn, message.room, message.peerId)) return
    conn.state = 'challenged'
    conn.nonce = randomBytes(NONCE_BYTES).toString('base64url')
    send(conn, { type: 'challenge', v: 1, nonce: conn.nonce, roomExists: rooms.has(message.room) })
  }

  function onAuth(conn: Conn, message: AuthMessage): void {
    const { roomName, peerId, nonce } = conn
    if (
      conn.state !== 'challenged' ||
      roomName === undefined ||
      peerId === undefined ||
      nonce === undefined
    ) {
      fail(conn, 'bad_message', 'ERR_BAD_MESSAGE', SIGNAL_CLOSE_CODES.BAD_MESSAGE, 'auth without a challenge')
      return
    }
    conn.nonce = undefined // one answer per challenge
    const existing = rooms.get(roomName)
    const verifier =
      existing?.verifier ??
      (message.verifier === undefined ? undefined : Buffer.from(message.verifier, 'base64url'))
    if (verifier === undefined) {
      fail(
        conn,
        'auth_failed',
        'ERR_AUTH_FAILED',
        SIGNAL_CLOSE_CODES.AUTH_FAILED,
        'a new room needs its verifier',
      )
      return
    }
    const expected = createHmac('sha256', verifier)
      .update(admissionProofInput(roomName, peerId, nonce))
      .digest()
    const proof = Buffer.from(message.proof, 'base64url')
    if (proof.length !== expected.length || !timingSafeEqual(proof, expected)) {
      fail(
        conn,
        'auth_failed',
        'ERR_AUTH_FAILED',
        SIGNAL_CLOSE_CODES.AUTH_FAILED,
        'admission proof does not verify',
      )
      return
    }
    if (!admissible(conn, roomName, peerId)) return
    let room = existing
    if (room === undefined) {
      room = { name: roomName, verifier, members: new Map() }
      rooms.set(roomName, room)
      log.debug('room opened', { room: roomName })
    }
    const others = [...room.members.keys()]
    room.members.set(peerId, conn)
    conn.member = room
    conn.state = 'joined'
    peers++
    metrics.joinsTotal++
    log.debug('joined', logFields(conn))
    // The newcomer learns the list before anyone can address it, so it knows every sender.
    send(conn, { type: 'joined', v: 1, room: roomName, peerId, peers: others, limits })
    const text = encodeSignalMessage({ type: 'peer.joined', v: 1, peerId })
    for (const other of room.members.values()) if (other !== conn) sendText(other, text)
  }

  function onSignal(conn: Conn, message: ClientSignalMessage): void {
    const room = conn.member
    if (conn.state !== 'joined' || room === undefined || conn.peerId === undefined) {
      fail(conn, 'bad_message', 'ERR_BAD_MESSAGE', SIGNAL_CLOSE_CODES.BAD_MESSAGE, 'signal before joining')
      return
    }
    const target = message.to === conn.peerId ? undefined : room.members.get(message.to)
    if (target === undefined) {
      metrics.reject('unknown_peer')
      log.debug('unknown peer', { ...logFields(conn), to: message.to })
      send(conn, {
        type: 'error',
        v: 1,
        code: 'ERR_UNKNOWN_PEER',
        message: `no peer "${message.to}" in this room`,
        fatal: false,
      })
      return
    }
    if (target.socket.bufferedAmount > maxBufferedBytes) {
      fail(
        target,
        'slow_consumer',
        'ERR_SLOW_CONSUMER',
        SIGNAL_CLOSE_CODES.SLOW_CONSUMER,
        `more than ${maxBufferedBytes} bytes unsent`,
      )
      return
    }
    const { to, data, mac } = message
    send(
      target,
      mac === undefined
        ? { type: 'signal', v: 1, from: conn.peerId, to, data }
        : { type: 'signal', v: 1, from: conn.peerId, to, data, mac },
    )
    metrics.messagesRelayedTotal++
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (draining) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req))
  }

  http.on('upgrade', onUpgrade)
  http.on('clientError', (_err, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    else socket.destroy()
  })

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(config.port, config.host, () => {
      http.off('error', reject)
      resolve()
    })
  })
  http.on('error', (err) => log.error('server error', { error: err.message }))
  const address = http.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const hostPort = `${formatHost(config.host)}:${port}`
  const url = `${isTls ? 'wss' : 'ws'}://${hostPort}`
  const httpUrl = `${isTls ? 'https' : 'http'}://${hostPort}`
  log.info('listening', { url, port, host: config.host, tls: isTls })

  async function shutdown(): Promise<void> {
    draining = true
    log.info('shutting down', { connections: conns.size, graceMs: config.shutdownGraceMs })
    const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()))
    const drained = new Promise<void>((resolve) => {
      onDrained = resolve
      if (conns.size === 0) resolve()
    })
    for (const conn of conns) {
      if (conn.state === 'closing') continue
      conn.state = 'closing'
      leaveRoom(conn)
      conn.socket.close(SIGNAL_CLOSE_CODES.GOING_AWAY, 'server shutting down')
    }
    let graceTimer: NodeJS.Timeout | undefined
    await Promise.race([
      drained,
      new Promise<void>((resolve) => {
        graceTimer = setTimeout(resolve, config.shutdownGraceMs)
      }),
    ])
    clearTimeout(graceTimer)
    for (const conn of conns) conn.socket.terminate()
    http.closeAllConnections()
    await httpClosed
    wss.close()
    log.info('stopped', { connectionsTotal: metrics.connectionsTotal, joinsTotal: metrics.joinsTotal })
  }

  return {
    url,
    httpUrl,
    port,
    stats,
    close: () => (closing ??= shutdown()),
  }
}
