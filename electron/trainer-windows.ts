/**
 * Main's half of the desktop GPU routes and WebRTC connections: on the engine's
 * `trainer-window.open`, create a hidden, sandboxed window on the trainer page (serving the trainer
 * or the peer-host protocol, as the request says), wait for it to load, make a MessageChannelMain, give one
 * port to the window (its preload passes it into the page) and the other to the engine with
 * `trainer-window.opened`. From then on the engine and the page talk directly over the ports;
 * main only watches the window and reports `trainer-window.gone` if its renderer dies.
 *
 * The Electron objects come in through TrainerWindowDeps, so this logic runs in plain Node tests.
 */
import type { PageService } from '../core/browser/channel.ts'
import type { EngineToMain, MainToEngine } from './engine-messages.ts'

/** At most one window per GPU API (webgpu, webgl), and one for the WebRTC connections. */
export const MAX_TRAINER_WINDOWS = 3
export const DEFAULT_TRAINER_LOAD_TIMEOUT_MS = 30_000

/** A hidden trainer window, as main drives it. */
export interface TrainerWindowHandle {
  /** Loads the trainer page; rejects when it fails to load. */
  load(): Promise<void>
  /** Hands the page its end of the channel. */
  postPort(port: unknown): void
  /** Called once when the window's renderer is gone or the window closed. */
  onGone(listener: (reason: string) => void): void
  close(): void
}

export interface TrainerWindowDeps {
  /** A hidden window whose page serves `service` (its URL fragment says which). */
  readonly createWindow: (service: PageService) => TrainerWindowHandle
  readonly createChannel: () => { readonly port1: unknown; readonly port2: unknown }
  readonly postToEngine: (message: MainToEngine, transfer?: unknown[]) => boolean
  /** "Electron 45.3.4 hidden window (Chromium 140.0...)". */
  readonly description: string
  readonly loadTimeoutMs?: number
  readonly log?: (line: string) => void
}

function withTimeout(promise: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<void>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the trainer page did not load within ${timeoutMs} ms`)),
        timeoutMs,
      )
    }),
  ]).finally(() => clearTimeout(timer))
}

export class TrainerWindows {
  private readonly windows = new Map<number, TrainerWindowHandle>()

  constructor(private readonly deps: TrainerWindowDeps) {}

  get count(): number {
    return this.windows.size
  }

  /** Handles one trainer-window request from the engine. */
  async handle(message: Extract<EngineToMain, { type: `trainer-window.${string}` }>): Promise<void> {
    if (message.type === 'trainer-window.close') {
      this.closeOne(message.id)
      return
    }
    const { id } = message
    const fail = (reason: string): void => {
      this.deps.log?.(`trainer window ${id}: ${reason}`)
      this.deps.postToEngine({ type: 'trainer-window.failed', id, message: reason })
    }
    if (this.windows.has(id)) {
      fail('a trainer window with this id is already open')
      return
    }
    if (this.windows.size >= MAX_TRAINER_WINDOWS) {
      fail(`at most ${MAX_TRAINER_WINDOWS} trainer windows may be open`)
      return
    }
    let window: TrainerWindowHandle
    try {
      window = this.deps.createWindow(message.service ?? 'trainer')
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error))
      return
    }
    this.windows.set(id, window)
    let isGone = false
    window.onGone((reason) => {
      if (isGone) return
      isGone = true
      if (this.windows.get(id) !== window) return
      this.windows.delete(id)
      this.deps.postToEngine({ type: 'trainer-window.gone', id, reason })
    })
    try {
      await withTimeout(window.load(), this.deps.loadTimeoutMs ?? DEFAULT_TRAINER_LOAD_TIMEOUT_MS)
    } catch (error) {
      this.closeOne(id)
      fail(error instanceof Error ? error.message : String(error))
      return
    }
    if (isGone) return
    const { port1, port2 } = this.deps.createChannel()
    window.postPort(port2)
    if (
      !this.deps.postToEngine({ type: 'trainer-window.opened', id, description: this.deps.description }, [
        port1,
      ])
    ) {
      this.closeOne(id)
    }
  }

  private closeOne(id: number): void {
    const window = this.windows.get(id)
    if (window === undefined) return
    this.windows.delete(id)
    window.close()
  }

  closeAll(): void {
    for (const id of [...this.windows.keys()]) this.closeOne(id)
  }
}
