/**
 * The engine process's side of engine-messages.ts, independent of how it was started: in the app
 * the parent is Electron's `process.parentPort` (utilityProcess), in tests a Node child's IPC
 * channel. It starts the engine once on `engine.start`, answers `engine.ready` or
 * `engine.failed`, routes trainer-window answers to the window host providers, and on
 * `engine.shutdown` closes the engine, answers `engine.stopped` and exits.
 */
import type { EngineStartConfig, EngineToMain, MainToEngine } from './engine-messages.ts'
import { parseMainToEngine } from './engine-messages.ts'
import type { MessagePortMainLike } from './port-adapter.ts'
import type { MainLink } from './window-host-provider.ts'

/** The process's link to main. */
export interface ParentPortLike {
  onMessage(listener: (data: unknown, ports: readonly MessagePortMainLike[]) => void): void
  post(message: EngineToMain): void
}

/** A started engine with its API server. */
export interface RunningEngine {
  readonly url: string
  readonly token: string
  readonly uiUrl: string
  /** Stops the engine (its room, its training) and the server. */
  close(): Promise<void>
}

/** Starts the engine; `link` is set when main hosts trainer windows (the desktop GPU routes). */
export type StartEngine = (config: EngineStartConfig, link: MainLink | undefined) => Promise<RunningEngine>

export interface EngineHostOptions {
  readonly parent: ParentPortLike
  readonly startEngine: StartEngine
  readonly exit: (code: number) => void
  readonly log: (line: string) => void
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

export function runEngineHost(options: EngineHostOptions): void {
  const { parent, log } = options
  type WindowMessage = Extract<MainToEngine, { type: `trainer-window.${string}` }>
  const windowListeners = new Set<(message: WindowMessage, ports: readonly MessagePortMainLike[]) => void>()
  const link: MainLink = {
    post: (message) => parent.post(message),
    onTrainerWindowMessage: (listener) => {
      windowListeners.add(listener)
      return () => windowListeners.delete(listener)
    },
  }
  let starting: Promise<RunningEngine | undefined> | undefined
  let isShuttingDown = false

  const shutdown = async (): Promise<void> => {
    if (isShuttingDown) return
    isShuttingDown = true
    const engine = await starting
    try {
      await engine?.close()
    } catch (error) {
      log(`engine host: closing the engine failed: ${reasonOf(error)}`)
    }
    parent.post({ type: 'engine.stopped' })
    // Let the message leave before the process goes.
    setTimeout(() => options.exit(0), 50)
  }

  parent.onMessage((data, ports) => {
    const message = parseMainToEngine(data)
    if (message === undefined) {
      log('engine host: ignored a message that is not part of the protocol')
      return
    }
    switch (message.type) {
      case 'engine.start':
        if (starting !== undefined) {
          log('engine host: ignored a second engine.start')
          return
        }
        starting = options
          .startEngine(message.config, message.config.hasTrainerWindows ? link : undefined)
          .then(
            (engine) => {
              if (isShuttingDown) return engine
              parent.post({ type: 'engine.ready', url: engine.url, token: engine.token, uiUrl: engine.uiUrl })
              return engine
            },
            (error: unknown) => {
              parent.post({ type: 'engine.failed', message: reasonOf(error) })
              return undefined
            },
          )
        return
      case 'engine.shutdown':
        void shutdown()
        return
      default:
        for (const listener of windowListeners) listener(message, ports)
    }
  })
}
