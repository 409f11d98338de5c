/**
 * The engine API over HTTP + WebSocket on a loopback address (routes and auth in
 * core/api/contract.ts), and the built UI as static files. `longhaul node --ui` runs it in
 * the CLI process; the Electron shell runs the same function in its utility process.
 *
 * Defences, in the order a request meets them:
 * 1. Host: only this server's loopback address and port (127.0.0.1, localhost, [::1]); any
 *    other Host header is 403. A DNS-rebinding page reaches us under its own host name, so it
 *    is refused before it can read the UI or try a token.
 * 2. Origin: when present, only this server's own origins or `allowedOrigins`; else 403. A
 *    foreign page cannot drive the API from a browser, not even with a leaked token.
 * 3. Token: every `/api/` request needs the per-launch token (32 random bytes, base64url), as
 *    `Authorization: Bearer` or, for the WebSocket, the `token` query parameter; missing or
 *    wrong is 401. Compared in constant time (SHA-256 of both, then timingSafeEqual).
 * 4. Bodies over API_LIMITS.maxBodyBytes are 413; bodies must be JSON objects.
 * Static files: only inside `staticDir` (resolved, symlinks followed, then checked to lie
 * inside it), with a strict Content-Security-Policy (no inline or foreign script; inline
 * styles allowed for Svelte and chart.js, as the desktop shell's policy does).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { createReadStream, promises as fs } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import * as path from 'node:path'
import { WebSocketServer, type WebSocket } from 'ws'
import { CoreError } from '../errors.ts'
import { isRecord } from '../guards.ts'
import {
  API_LIMITS,
  API_PATHS,
  API_VERSION,
  type ApiCommandName,
  type ApiError,
  type ApiEvent,
  type ApiResponse,
} from './contract.ts'
import type { Engine } from './engine.ts'

export { createNodeEngine, defaultDataDir, type NodeEngineOptions } from './node-engine.node.ts'

export interface ApiServerOptions {
  readonly engine: Engine
  /** A loopback address: 127.0.0.1 (default), ::1 or localhost. */
  readonly host?: string
  /** 0 (default): any free port. */
  readonly port?: number
  /** The built UI (renderer/dist); without it only the API is served. */
  readonly staticDir?: string
  /** Origins besides the server's own that may call the API (e.g. a Vite dev server, Electron's app://). */
  readonly allowedOrigins?: readonly string[]
}

export interface ApiServer {
  /** http://127.0.0.1:PORT */
  readonly url: string
  readonly port: number
  /** The per-launch token. */
  readonly token: string
  /** The UI's address with the token in the fragment (never sent to a server). */
  readonly uiUrl: string
  /** Stops accepting, closes every event stream; idempotent. Does not close the engine. */
  close(): Promise<void>
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1'])
/** An event-stream client further behind than this is dropped (it reconnects and gets a replay). */
const MAX_CLIENT_BUFFER_BYTES = 16 * 1024 * 1024
/** Clients send nothing the server reads; a small limit keeps a misbehaving one cheap. */
const MAX_CLIENT_MESSAGE_BYTES = 4096
/** Close code for a client too slow to keep up. */
const CLOSE_TOO_SLOW = 1013

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
}

/** HTTP status of a command's answer (the body is the ApiResponse either way). */
export function statusOfResponse(response: ApiResponse<ApiCommandName>): number {
  if (response.ok) return 200
  switch (response.error.code) {
    case 'ERR_UNKNOWN_COMMAND':
    case 'ERR_NOT_FOUND':
      return 404
    case 'ERR_INTERNAL':
      return 500
    default:
      return 400
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

function errorBody(code: ApiError['code'], message: string): string {
  return JSON.stringify({ ok: false, error: { code, message } })
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const

function sendJson(
  res: ServerResponse,
  status: number,
  body: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...extra,
  })
  res.end(body)
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = errorBody(
    status === 401 ? 'ERR_UNAUTHORIZED' : status === 403 ? 'ERR_FORBIDDEN' : 'ERR_NOT_FOUND',
    reason,
  )
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Not Found'}\r\n` +
      `Connection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}

/** Reads a body of at most `limit` bytes; undefined (and a 413 sent) when larger. */
async function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
): Promise<Buffer | undefined> {
  const tooLarge = (): undefined => {
    sendJson(res, 413, errorBody('ERR_BAD_REQUEST', `the body is larger than ${limit} bytes`), {
      Connection: 'close',
    })
    req.resume()
    return undefined
  }
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > limit) return tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
    size += buffer.length
    if (size > limit) return tooLarge()
    chunks.push(buffer)
  }
  return Buffer.concat(chunks)
}

/**
 * Serves the engine API (and the UI from `staticDir`) on a loopback address.
 * @throws CoreError ERR_INVALID_ARGUMENT for a non-loopback host; the listen error (EADDRINUSE).
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { engine } = options
  const host = options.host ?? '127.0.0.1'
  if (!LOOPBACK_HOSTS.has(host)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `the engine API listens on loopback only (127.0.0.1, ::1, localhost), not ${host}`,
    )
  }
  const token = randomBytes(32).toString('base64url')
  const tokenDigest = digest(token)
  const staticRoot = options.staticDir === undefined ? undefined : path.resolve(options.staticDir)
  let port = 0
  let allowedHosts = new Set<string>()
  let allowedOrigins = new Set<string>()

  const isTokenOk = (given: string | undefined): boolean =>
    given !== undefined && given.length > 0 && timingSafeEqual(digest(given), tokenDigest)
  const bearerOf = (req: IncomingMessage): string | undefined => {
    const header = req.headers.authorization
    const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header)
    return match?.[1]
  }
  /** 403 reason, or undefined when Host and Origin are ours. */
  const foreignReason = (req: IncomingMessage): string | undefined => {
    const hostHeader = (req.headers.host ?? '').toLowerCase()
    if (!allowedHosts.has(hostHeader)) return `Host "${hostHeader}" is not this engine's address`
    const origin = req.headers.origin
    if (origin !== undefined && !allowedOrigins.has(origin))
      return `Origin "${origin}" may not use this engine`
    return undefined
  }

  const cspOf = (): string =>
    [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data: blob:",
      "font-src 'self'",
      `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
      "manifest-src 'self'",
      "worker-src 'none'",
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ')

  const handleApi = async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> => {
    if (!isTokenOk(bearerOf(req))) {
      sendJson(res, 401, errorBody('ERR_UNAUTHORIZED', 'missing or wrong token'), {
        'WWW-Authenticate': 'Bearer',
      })
      return
    }
    if (pathname === API_PATHS.state) {
      if (req.method !== 'GET') {
        sendJson(res, 405, errorBody('ERR_BAD_REQUEST', `use GET for ${pathname}`), { Allow: 'GET' })
        return
      }
      sendJson(res, 200, JSON.stringify(engine.state()))
      return
    }
    if (pathname.startsWith(API_PATHS.command)) {
      if (req.method !== 'POST') {
        sendJson(res, 405, errorBody('ERR_BAD_REQUEST', `use POST for ${pathname}`), { Allow: 'POST' })
        return
      }
      const body = await readBody(req, res, API_LIMITS.maxBodyBytes)
      if (body === undefined) return
      let params: unknown = {}
      if (body.length > 0) {
        try {
          params = JSON.parse(body.toString('utf8'))
        } catch {
          sendJson(res, 400, errorBody('ERR_BAD_REQUEST', 'the body is not valid JSON'))
          return
        }
      }
      if (!isRecord(params)) {
        sendJson(res, 400, errorBody('ERR_BAD_REQUEST', 'the body must be a JSON object of params'))
        return
      }
      const name = pathname.slice(API_PATHS.command.length)
      const response = await engine.execute(name, params)
      sendJson(res, statusOfResponse(response), JSON.stringify(response))
      return
    }
    if (pathname === API_PATHS.events) {
      sendJson(res, 426, errorBody('ERR_BAD_REQUEST', 'the event stream is a WebSocket'), {
        Upgrade: 'websocket',
      })
      return
    }
    sendJson(res, 404, errorBody('ERR_NOT_FOUND', `no API route ${pathname}`))
  }

  const sendText = (res: ServerResponse, status: number, text: string): void => {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    })
    res.end(text)
  }

  const handleStatic = async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      sendText(res, 405, 'use GET')
      return
    }
    if (staticRoot === undefined) {
      sendText(res, 404, 'this engine serves no UI (only the API under /api/)')
      return
    }
    let relative: string
    try {
      relative = decodeURIComponent(pathname)
    } catch {
      sendText(res, 400, 'malformed path')
      return
    }
    if (relative.includes('\0') || relative.includes('\\')) {
      sendText(res, 400, 'malformed path')
      return
    }
    if (relative.endsWith('/')) relative += 'index.html'
    const candidate = path.resolve(staticRoot, `.${relative}`)
    let file: string
    try {
      const [realRoot, realFile] = await Promise.all([fs.realpath(staticRoot), fs.realpath(candidate)])
      if (!realFile.startsWith(realRoot + path.sep)) throw new Error('outside')
      if (!(await fs.stat(realFile)).isFile()) throw new Error('not a file')
      file = realFile
    } catch {
      sendText(res, 404, relative === '/index.html' ? 'the UI is not built (no index.html)' : 'not found')
      return
    }
    const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream'
    const size = (await fs.stat(file)).size
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': type,
      'Content-Length': size,
      'Cache-Control': 'no-cache',
      ...(type.startsWith('text/html') && { 'Content-Security-Policy': cspOf() }),
    })
    if (req.method === 'HEAD') {
      res.end()
      return
    }
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res)
  }

  const server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://engine.invalid').pathname
    const refuse = foreignReason(req)
    if (refuse !== undefined) {
      sendJson(res, 403, errorBody('ERR_FORBIDDEN', refuse))
      return
    }
    const isApi = pathname === '/api' || pathname.startsWith('/api/')
    ;(isApi ? handleApi(req, res, pathname) : handleStatic(req, res, pathname)).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      sendJson(
        res,
        500,
        errorBody(
          'ERR_INTERNAL',
          `internal error: ${error instanceof Error ? error.message : String(error)}`,
        ),
      )
    })
  })

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES })
  const clients = new Set<WebSocket>()

  const onClient = (ws: WebSocket): void => {
    clients.add(ws)
    const send = (event: ApiEvent): void => {
      if (ws.readyState !== ws.OPEN) return
      if (ws.bufferedAmount > MAX_CLIENT_BUFFER_BYTES) {
        ws.close(CLOSE_TOO_SLOW, 'too far behind; reconnect for a replay')
        ws.terminate()
        return
      }
      ws.send(JSON.stringify(event))
    }
    // Hello, history and subscription in one synchronous turn: no event falls between them.
    send({ kind: 'hello', apiVersion: API_VERSION, state: engine.state() })
    for (const event of engine.replay()) send(event)
    const unsubscribe = engine.subscribe(send)
    ws.on('close', () => {
      unsubscribe()
      clients.delete(ws)
    })
    ws.on('error', () => ws.terminate())
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    const url = new URL(req.url ?? '/', 'http://engine.invalid')
    const refuse = foreignReason(req)
    if (refuse !== undefined) {
      refuseUpgrade(socket, 403, refuse)
      return
    }
    if (url.pathname !== API_PATHS.events) {
      refuseUpgrade(socket, 404, `no WebSocket at ${url.pathname}`)
      return
    }
    if (!isTokenOk(url.searchParams.get('token') ?? bearerOf(req))) {
      refuseUpgrade(socket, 401, 'missing or wrong token')
      return
    }
    wss.handleUpgrade(req, socket, head, onClient)
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('Assertion failed: no TCP address')
  port = address.port
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`])
  allowedOrigins = new Set([
    `http://127.0.0.1:${port}`,
    `http://localhost:${port}`,
    `http://[::1]:${port}`,
    ...(options.allowedOrigins ?? []),
  ])
  const urlHost = host === '::1' ? '[::1]' : host
  const url = `http://${urlHost}:${port}`
  let closing: Promise<void> | undefined
  return {
    url,
    port,
    token,
    uiUrl: `${url}/#token=${token}`,
    close: () => {
      closing ??= (async () => {
        for (const ws of clients) ws.close(1001, 'the engine is shutting down')
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
          for (const ws of clients) ws.terminate()
        })
        await new Promise<void>((resolve) => wss.close(() => resolve()))
      })()
      return closing
    },
  }
}
