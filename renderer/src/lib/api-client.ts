/**
 * The one client of the engine API (core/api/contract.ts): commands over HTTP with the
 * per-launch token as a Bearer header, and the event stream over a WebSocket that carries the
 * token as a query parameter (browsers cannot set WebSocket headers). Nothing else in the UI
 * talks to the network. The token arrives in the page URL's fragment (`#token=...`), which
 * browsers never send to a server; it is moved to sessionStorage and removed from the address
 * bar so it does not end up in screenshots, bookmarks or shared links.
 */
import { API_PATHS } from '../../../core/api/contract.ts'
import type {
  ApiCommandName,
  ApiError,
  ApiEvent,
  ApiParams,
  ApiResult,
  EngineState,
} from '../../../core/api/contract.ts'

/** A command or request the engine refused, with the engine's stable code. */
export class ApiRequestError extends Error {
  readonly code: ApiError['code']
  /** HTTP status, 0 when the engine could not be reached. */
  readonly status: number

  constructor(code: ApiError['code'], message: string, status: number) {
    super(message)
    this.name = 'ApiRequestError'
    this.code = code
    this.status = status
  }
}

/** State of the event stream, as the header shows it. */
export type ConnectionStatus = 'no-token' | 'connecting' | 'open' | 'reconnecting' | 'unauthorized'

export interface EventHandlers {
  onEvent(event: ApiEvent): void
  onStatus(status: ConnectionStatus): void
}

/** What the stores need from the engine; ApiClient is the implementation over HTTP + WebSocket. */
export interface EngineApi {
  state(): Promise<EngineState>
  command<N extends ApiCommandName>(name: N, params: ApiParams<N>): Promise<ApiResult<N>>
  /** Opens the event stream and keeps it open (reconnecting) until the returned function is called. */
  subscribe(handlers: EventHandlers): () => void
}

/** The part of the WebSocket class the client uses (the browser's, or `ws` in Node tests). */
export type WebSocketConstructor = new (url: string) => {
  onopen: ((this: unknown, ev: unknown) => unknown) | null
  onmessage: ((this: unknown, ev: { data: unknown }) => unknown) | null
  onclose: ((this: unknown, ev: unknown) => unknown) | null
  onerror: ((this: unknown, ev: unknown) => unknown) | null
  close(): void
}

export interface ApiClientOptions {
  /** The engine's origin, e.g. `http://127.0.0.1:7420`. */
  readonly baseUrl: string
  readonly token: string | undefined
  readonly fetch?: typeof fetch
  readonly WebSocket?: WebSocketConstructor
  /** First reconnect delay after the stream drops; doubles up to `maxReconnectDelayMs`. */
  readonly reconnectDelayMs?: number
  readonly maxReconnectDelayMs?: number
}

const TOKEN_STORAGE_KEY = 'longhaul.token'
const DEFAULT_RECONNECT_DELAY_MS = 500
const DEFAULT_MAX_RECONNECT_DELAY_MS = 5_000

const EVENT_KINDS: ReadonlySet<string> = new Set(['hello', 'state', 'node', 'log', 'error'])

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Envelope check of one event-stream message; its body is the engine's, typed by the contract. */
export function parseApiEvent(text: string): ApiEvent | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isObject(value) || typeof value['kind'] !== 'string' || !EVENT_KINDS.has(value['kind']))
    return undefined
  if ((value['kind'] === 'hello' || value['kind'] === 'state') && !isObject(value['state'])) return undefined
  if (value['kind'] === 'node' && (!isObject(value['event']) || typeof value['event']['type'] !== 'string')) {
    return undefined
  }
  // The envelope is checked; the fields inside are the engine's own (same contract, same build).
  return value as unknown as ApiEvent
}

function apiErrorOf(value: unknown): ApiError | undefined {
  if (!isObject(value) || typeof value['code'] !== 'string' || typeof value['message'] !== 'string') {
    return undefined
  }
  return { code: value['code'] as ApiError['code'], message: value['message'] }
}

/**
 * Reads the launch token: from the URL fragment `#token=...` (then moved into sessionStorage
 * and removed from the address bar), else from sessionStorage (a reload of the same tab).
 */
export function readLaunchToken(
  location: Pick<Location, 'hash' | 'pathname' | 'search'>,
  storage: Pick<Storage, 'getItem' | 'setItem'>,
  history: Pick<History, 'replaceState'>,
): string | undefined {
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, '')).get('token')
  if (fromHash !== null && fromHash !== '') {
    storage.setItem(TOKEN_STORAGE_KEY, fromHash)
    history.replaceState(null, '', `${location.pathname}${location.search}`)
    return fromHash
  }
  const stored = storage.getItem(TOKEN_STORAGE_KEY)
  return stored === null || stored === '' ? undefined : stored
}

export class ApiClient implements EngineApi {
  private readonly baseUrl: string
  private readonly token: string | undefined
  private readonly fetchFn: typeof fetch
  private readonly WebSocketClass: WebSocketConstructor | undefined
  private readonly reconnectDelayMs: number
  private readonly maxReconnectDelayMs: number

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.token = options.token
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis)
    this.WebSocketClass =
      options.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketConstructor | undefined)
    this.reconnectDelayMs = options.reconnectDelayMs ?? DEFAULT_RECONNECT_DELAY_MS
    this.maxReconnectDelayMs = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS
  }

  get hasToken(): boolean {
    return this.token !== undefined
  }

  async state(): Promise<EngineState> {
    const body = await this.request('GET', API_PATHS.state)
    if (!isObject(body) || typeof body['apiVersion'] !== 'number') {
      throw new ApiRequestError('ERR_INTERNAL', 'The engine answered /api/state with something else.', 200)
    }
    return body as unknown as EngineState
  }

  /** Runs one command; resolves to its result or rejects with an ApiRequestError carrying the engine's code. */
  async command<N extends ApiCommandName>(name: N, params: ApiParams<N>): Promise<ApiResult<N>> {
    const body = await this.request('POST', `${API_PATHS.command}${name}`, params)
    if (isObject(body) && body['ok'] === true && 'result' in body) {
      return body['result'] as ApiResult<N>
    }
    const error = isObject(body) ? apiErrorOf(body['error']) : undefined
    throw new ApiRequestError(
      error?.code ?? 'ERR_INTERNAL',
      error?.message ?? `The engine gave no usable answer to ${name}.`,
      200,
    )
  }

  subscribe(handlers: EventHandlers): () => void {
    if (this.token === undefined) {
      handlers.onStatus('no-token')
      return () => {}
    }
    const WebSocketClass = this.WebSocketClass
    if (WebSocketClass === undefined) throw new Error('No WebSocket implementation in this runtime')
    const url = new URL(API_PATHS.events, `${this.baseUrl}/`)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    url.searchParams.set('token', this.token)

    let isStopped = false
    let socket: InstanceType<WebSocketConstructor> | undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    let delayMs = this.reconnectDelayMs

    const open = (): void => {
      let hasOpened = false
      handlers.onStatus(socket === undefined ? 'connecting' : 'reconnecting')
      socket = new WebSocketClass(url.toString())
      socket.onopen = () => {
        hasOpened = true
        delayMs = this.reconnectDelayMs
        handlers.onStatus('open')
      }
      socket.onmessage = (message) => {
        if (typeof message.data !== 'string') return
        const event = parseApiEvent(message.data)
        if (event !== undefined) handlers.onEvent(event)
      }
      socket.onerror = () => {}
      socket.onclose = () => {
        if (isStopped) return
        handlers.onStatus('reconnecting')
        // A browser hides why an upgrade failed: ask over HTTP whether the token is refused.
        const retry = (): void => {
          timer = setTimeout(open, delayMs)
          delayMs = Math.min(delayMs * 2, this.maxReconnectDelayMs)
        }
        if (hasOpened) return retry()
        this.state().then(retry, (error: unknown) => {
          if (error instanceof ApiRequestError && error.code === 'ERR_UNAUTHORIZED') {
            handlers.onStatus('unauthorized')
          } else if (!isStopped) {
            retry()
          }
        })
      }
    }
    open()
    return () => {
      isStopped = true
      if (timer !== undefined) clearTimeout(timer)
      socket?.close()
    }
  }

  private async request(method: 'GET' | 'POST', path: string, params?: unknown): Promise<unknown> {
    if (this.token === undefined) {
      throw new ApiRequestError(
        'ERR_UNAUTHORIZED',
        'This page was opened without its access token: open the URL the engine printed (it ends in #token=...).',
        0,
      )
    }
    let response: Response
    try {
      response = await this.fetchFn(`${this.baseUrl}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          ...(params !== undefined && { 'Content-Type': 'application/json' }),
        },
        ...(params !== undefined && { body: JSON.stringify(params) }),
      })
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw new ApiRequestError('ERR_INTERNAL', `The engine could not be reached (${reason}).`, 0)
    }
    let body: unknown
    try {
      body = await response.json()
    } catch {
      body = undefined
    }
    if (response.status === 401 || response.status === 403) {
      const error = isObject(body) ? apiErrorOf(body['error']) : undefined
      throw new ApiRequestError(
        response.status === 401 ? 'ERR_UNAUTHORIZED' : 'ERR_FORBIDDEN',
        error?.message ??
          (response.status === 401
            ? 'The engine refused the access token: open the URL it printed.'
            : 'The engine refused this page (foreign host or origin).'),
        response.status,
      )
    }
    if (body === undefined) {
      throw new ApiRequestError(
        'ERR_INTERNAL',
        `The engine answered ${method} ${path} with HTTP ${response.status} and no JSON.`,
        response.status,
      )
    }
    return body
  }
}
