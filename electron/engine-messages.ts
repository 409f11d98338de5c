/**
 * Messages between the main process and the engine's utility process (engine-host.ts), over
 * `child.postMessage` / `process.parentPort`. Small records `{ type: 'engine.<verb>', ... }`;
 * both sides validate every message before use, like every other boundary in Longhaul.
 *
 * Start-up: main forks the utility process and sends `engine.start` with the folders; the engine
 * starts its API server on 127.0.0.1 with a random token and answers `engine.ready` (or
 * `engine.failed` with one sentence). Quit: main sends `engine.shutdown`; the engine closes
 * (training already stopped and checkpointed through the API) and answers `engine.stopped`.
 *
 * Hidden windows (the WebGPU/WebGL routes, and the WebRTC connections): the engine asks
 * `trainer-window.open` with an id, the service the page serves ('trainer' or 'webrtc') and, for
 * a trainer, the backends the page should probe; main creates a hidden window, connects it to the engine with
 * a MessageChannelMain and answers `trainer-window.opened` carrying the engine's end of the
 * channel as the message's only port (or `trainer-window.failed`). `trainer-window.close` and
 * `trainer-window.gone` (the window's renderer died) end one.
 */
import { PAGE_SERVICES } from '../core/browser/channel.ts'
import type { PageService } from '../core/browser/channel.ts'
import { isRecord, isStringArray } from '../core/guards.ts'

export interface EngineStartConfig {
  /** The engine's data folder (datasets list, checkpoints), under userData. */
  readonly dataDir: string
  /** The built UI (renderer/dist) that the engine's server serves. */
  readonly staticDir: string
  /** App version, shown by the engine's state. */
  readonly appVersion: string
  /** Origins, besides the server's own, allowed to call the API (none: the UI is same-origin). */
  readonly allowedOrigins: readonly string[]
  /** Whether main can host trainer windows (false in tests of the engine host). */
  readonly hasTrainerWindows: boolean
}

export type MainToEngine =
  | { readonly type: 'engine.start'; readonly config: EngineStartConfig }
  | { readonly type: 'engine.shutdown' }
  | { readonly type: 'trainer-window.opened'; readonly id: number; readonly description: string }
  | { readonly type: 'trainer-window.failed'; readonly id: number; readonly message: string }
  | { readonly type: 'trainer-window.gone'; readonly id: number; readonly reason: string }

export type EngineToMain =
  | { readonly type: 'engine.ready'; readonly url: string; readonly token: string; readonly uiUrl: string }
  | { readonly type: 'engine.failed'; readonly message: string }
  | { readonly type: 'engine.stopped' }
  | {
      readonly type: 'trainer-window.open'
      readonly id: number
      readonly backends: readonly string[]
      /** What the page serves: 'trainer' (default) or 'webrtc' (the desktop peer connections). */
      readonly service?: PageService
    }
  | { readonly type: 'trainer-window.close'; readonly id: number }

const MAX_TEXT = 4096

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_TEXT
}

function isWindowId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0
}

function isStartConfig(value: unknown): value is EngineStartConfig {
  return (
    isRecord(value) &&
    isText(value['dataDir']) &&
    value['dataDir'] !== '' &&
    isText(value['staticDir']) &&
    isText(value['appVersion']) &&
    isStringArray(value['allowedOrigins']) &&
    typeof value['hasTrainerWindows'] === 'boolean'
  )
}

/** The message, or undefined when it is not one main sends. */
export function parseMainToEngine(value: unknown): MainToEngine | undefined {
  if (!isRecord(value)) return undefined
  switch (value['type']) {
    case 'engine.start':
      return isStartConfig(value['config']) ? { type: 'engine.start', config: value['config'] } : undefined
    case 'engine.shutdown':
      return { type: 'engine.shutdown' }
    case 'trainer-window.opened':
      return isWindowId(value['id']) && isText(value['description'])
        ? { type: 'trainer-window.opened', id: value['id'], description: value['description'] }
        : undefined
    case 'trainer-window.failed':
    case 'trainer-window.gone': {
      const text = value['type'] === 'trainer-window.failed' ? value['message'] : value['reason']
      if (!isWindowId(value['id']) || !isText(text)) return undefined
      return value['type'] === 'trainer-window.failed'
        ? { type: 'trainer-window.failed', id: value['id'], message: text }
        : { type: 'trainer-window.gone', id: value['id'], reason: text }
    }
    default:
      return undefined
  }
}

function isLoopbackHttpUrl(value: unknown): value is string {
  if (!isText(value)) return false
  try {
    const url = new URL(value)
    return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === '[::1]')
  } catch {
    return false
  }
}

/** The message, or undefined when it is not one the engine sends. */
export function parseEngineToMain(value: unknown): EngineToMain | undefined {
  if (!isRecord(value)) return undefined
  switch (value['type']) {
    case 'engine.ready': {
      const { url, token, uiUrl } = value
      return isLoopbackHttpUrl(url) && isText(token) && token !== '' && isLoopbackHttpUrl(uiUrl)
        ? { type: 'engine.ready', url, token, uiUrl }
        : undefined
    }
    case 'engine.failed':
      return isText(value['message']) ? { type: 'engine.failed', message: value['message'] } : undefined
    case 'engine.stopped':
      return { type: 'engine.stopped' }
    case 'trainer-window.open': {
      const backends = value['backends']
      const service =
        value['service'] === undefined ? 'trainer' : PAGE_SERVICES.find((s) => s === value['service'])
      return isWindowId(value['id']) &&
        isStringArray(backends) &&
        backends.length <= 8 &&
        service !== undefined
        ? { type: 'trainer-window.open', id: value['id'], backends, service }
        : undefined
    }
    case 'trainer-window.close':
      return isWindowId(value['id']) ? { type: 'trainer-window.close', id: value['id'] } : undefined
    default:
      return undefined
  }
}
