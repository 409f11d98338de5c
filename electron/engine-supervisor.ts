/**
 * Main's side of the engine process: forks it (Electron's utilityProcess in the app; any object
 * with the same small surface in tests), does the start handshake (engine-messages.ts), relays
 * the trainer-window requests, reports unexpected exits, and shuts it down: ask, wait, kill.
 *
 * One supervisor runs one process at a time; `start()` after an exit forks a fresh one (restart).
 */
import type { EngineStartConfig, EngineToMain, MainToEngine } from './engine-messages.ts'
import { parseEngineToMain } from './engine-messages.ts'
import { OutputTail } from './crash-policy.ts'
import type { EngineExit } from './crash-policy.ts'

export const DEFAULT_ENGINE_START_TIMEOUT_MS = 60_000
export const DEFAULT_ENGINE_SHUTDOWN_TIMEOUT_MS = 10_000

/** The part of Electron's UtilityProcess (or an adapter around a Node child) the supervisor uses. */
export interface EngineChild {
  postMessage(message: unknown, transfer?: unknown[]): void
  on(event: 'message', listener: (message: unknown) => void): unknown
  on(event: 'exit', listener: (code: number) => void): unknown
  kill(): boolean
  readonly stderr: { on(event: 'data', listener: (chunk: Buffer | string) => void): unknown } | null
}

/** Where the engine serves its API and UI, from `engine.ready`. */
export interface EngineEndpoint {
  readonly url: string
  readonly token: string
  readonly uiUrl: string
}

export interface EngineSupervisorOptions {
  readonly fork: () => EngineChild
  readonly config: EngineStartConfig
  /** Called for every exit main did not ask for (and for ones it did, with wasRequested). */
  readonly onExit: (exit: EngineExit) => void
  /** trainer-window.* requests from the engine. */
  readonly onTrainerRequest?: (message: Extract<EngineToMain, { type: `trainer-window.${string}` }>) => void
  readonly log?: (line: string) => void
  readonly startTimeoutMs?: number
  readonly shutdownTimeoutMs?: number
}

export class EngineStartError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'EngineStartError'
  }
}

export class EngineSupervisor {
  private child: EngineChild | undefined
  private isStopRequested = false
  private exited: Promise<number> | undefined
  private endpointValue: EngineEndpoint | undefined

  constructor(private readonly options: EngineSupervisorOptions) {}

  get endpoint(): EngineEndpoint | undefined {
    return this.endpointValue
  }

  get isRunning(): boolean {
    return this.child !== undefined
  }

  /**
   * Forks the engine and waits for `engine.ready`.
   *
   * @throws EngineStartError when the engine reports `engine.failed`, exits, or is not ready in time
   *   (the process is killed then); the message is one sentence for the dialog.
   */
  start(): Promise<EngineEndpoint> {
    if (this.child !== undefined)
      return Promise.reject(new EngineStartError('The engine is already running.'))
    const log = this.options.log ?? (() => undefined)
    const child = this.options.fork()
    this.child = child
    this.isStopRequested = false
    this.endpointValue = undefined
    const tail = new OutputTail()
    child.stderr?.on('data', (chunk) => tail.push(chunk.toString()))

    let settle: { resolve(endpoint: EngineEndpoint): void; reject(error: Error): void } | undefined
    const ready = new Promise<EngineEndpoint>((resolve, reject) => {
      settle = { resolve, reject }
    })
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_ENGINE_START_TIMEOUT_MS
    const timer = setTimeout(() => {
      settle?.reject(
        new EngineStartError(`The engine did not start within ${Math.round(timeoutMs / 1000)} s.`),
      )
      settle = undefined
      child.kill()
    }, timeoutMs)

    child.on('message', (raw) => {
      const message = parseEngineToMain(raw)
      if (message === undefined) {
        log('engine: ignored a message that is not part of the protocol')
        return
      }
      switch (message.type) {
        case 'engine.ready':
          clearTimeout(timer)
          this.endpointValue = { url: message.url, token: message.token, uiUrl: message.uiUrl }
          settle?.resolve(this.endpointValue)
          settle = undefined
          return
        case 'engine.failed':
          clearTimeout(timer)
          settle?.reject(new EngineStartError(message.message))
          settle = undefined
          log(`engine: failed: ${message.message}`)
          return
        case 'engine.stopped':
          log('engine: stopped')
          return
        default:
          this.options.onTrainerRequest?.(message)
      }
    })

    this.exited = new Promise<number>((resolve) => {
      child.on('exit', (code) => {
        clearTimeout(timer)
        const wasRequested = this.isStopRequested
        this.child = undefined
        this.endpointValue = undefined
        const stderrTail = tail.text()
        settle?.reject(
          new EngineStartError(
            `The engine exited with code ${code} before it was ready${stderrTail !== '' ? `: ${stderrTail.split('\n').at(-1)}` : '.'}`,
          ),
        )
        settle = undefined
        log(`engine: exited with code ${code}${wasRequested ? ' (asked to stop)' : ''}`)
        this.options.onExit({ code, wasRequested, ...(stderrTail !== '' ? { stderrTail } : {}) })
        resolve(code)
      })
    })

    child.postMessage({ type: 'engine.start', config: this.options.config } satisfies MainToEngine)
    return ready
  }

  /** Sends a message (and ports) to the running engine; false when none runs. */
  post(message: MainToEngine, transfer?: unknown[]): boolean {
    if (this.child === undefined) return false
    this.child.postMessage(message, transfer)
    return true
  }

  /**
   * Asks the engine to stop, waits up to the shutdown limit for it to exit, then kills it.
   * Resolves with the exit code; at once when no engine runs. Safe to call twice.
   */
  async shutdown(): Promise<number | undefined> {
    const child = this.child
    const exited = this.exited
    if (child === undefined || exited === undefined) return undefined
    this.isStopRequested = true
    child.postMessage({ type: 'engine.shutdown' } satisfies MainToEngine)
    const limitMs = this.options.shutdownTimeoutMs ?? DEFAULT_ENGINE_SHUTDOWN_TIMEOUT_MS
    let timer: ReturnType<typeof setTimeout> | undefined
    const overdue = new Promise<'overdue'>((resolve) => {
      timer = setTimeout(() => resolve('overdue'), limitMs)
    })
    const first = await Promise.race([exited, overdue])
    clearTimeout(timer)
    if (first !== 'overdue') return first
    this.options.log?.(`engine: did not exit within ${limitMs} ms of being asked; killing it`)
    child.kill()
    return exited
  }
}
