/**
 * A child process the harness started, read line by line. Harness scripts (probes, relays, WebRTC
 * peers) and `longhaul` processes all report on stdout, one line per event; tests wait for the
 * line they need with a timeout, and every wait fails fast, with the process's stderr, when the
 * process exits or reports `{"type":"error"}` first.
 */
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { HarnessError } from './harness-error.ts'

/** How much of stderr an error message quotes. */
const STDERR_TAIL_CHARS = 2_000
/** How long close() waits after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2_000

/** A JSON object one of our processes printed; fields are unknown until a guard checks them. */
export type JsonLine = Readonly<Record<string, unknown>>

/** Type guard for plain objects parsed from outside data. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

interface Waiter {
  readonly match: (line: string) => boolean
  readonly resolve: (line: string) => void
  readonly reject: (err: Error) => void
  readonly timer: NodeJS.Timeout
}

/** Wraps a spawned child whose stdout is line-oriented; see the module comment. */
export class ManagedProcess {
  readonly label: string
  readonly child: ChildProcess
  /** Every stdout line so far, in order. */
  readonly lines: string[] = []
  private readonly unread: string[] = []
  private readonly waiters = new Set<Waiter>()
  private readonly subscribers = new Map<string, (line: JsonLine) => void>()
  private stderr = ''
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined
  private readonly exited: Promise<void>

  /**
   * @param linesFrom which output streams count as lines for the waits: 'stdout' (the harness
   *   scripts) or 'both' (programs that log to stderr, such as `longhaul signal`). stderr's tail
   *   is kept for error messages either way.
   */
  constructor(child: ChildProcess, label: string, linesFrom: 'stdout' | 'both' = 'stdout') {
    this.child = child
    this.label = label
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exitInfo = { code, signal }
        for (const waiter of this.waiters) waiter.reject(this.failure('exited'))
        this.waiters.clear()
        resolve()
      })
    })
    child.once('error', (err) => {
      for (const waiter of this.waiters) waiter.reject(this.failure(`could not start: ${err.message}`))
      this.waiters.clear()
    })
    // Writing to a process that just died fails with EPIPE; the exit itself is what callers see.
    child.stdin?.on('error', () => undefined)
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-STDERR_TAIL_CHARS)
    })
    if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line))
    if (linesFrom === 'both' && child.stderr) {
      createInterface({ input: child.stderr }).on('line', (line) => this.onLine(line))
    }
  }

  /** The process id, or undefined if spawning failed. */
  get pid(): number | undefined {
    return this.child.pid
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.exitInfo !== undefined
  }

  /** The last characters the process wrote to stderr. */
  stderrTail(): string {
    return this.stderr
  }

  /** Writes one JSON line to the process's stdin. */
  send(message: Record<string, unknown>): void {
    if (this.child.stdin === null || this.child.stdin.destroyed) {
      throw new HarnessError('ERR_PROCESS', `${this.label}: stdin is closed`)
    }
    this.child.stdin.write(`${JSON.stringify(message)}\n`)
  }

  /**
   * Waits for the first unread stdout line that satisfies `match` and consumes it (lines that do
   * not match stay unread for later waits). Rejects with HarnessError ERR_TIMEOUT after
   * `timeoutMs`, or ERR_PROCESS when the process exits first.
   */
  waitForLine(
    match: (line: string) => boolean,
    timeoutMs: number,
    what = 'a matching line',
  ): Promise<string> {
    const index = this.unread.findIndex(match)
    if (index >= 0) return Promise.resolve(this.unread.splice(index, 1)[0] ?? '')
    if (this.exitInfo !== undefined) return Promise.reject(this.failure('exited'))
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter)
          reject(
            new HarnessError(
              'ERR_TIMEOUT',
              `${this.label}: no ${what} within ${timeoutMs} ms${this.context()}`,
            ),
          )
        }, timeoutMs),
      }
      this.waiters.add(waiter)
    })
  }

  /**
   * Waits for the next JSON line whose `type` is `type`. A `{"type":"error"}` line from the
   * process rejects every wait with its message.
   */
  async next(type: string, timeoutMs: number): Promise<JsonLine> {
    const line = await this.waitForLine(
      (candidate) => {
        const parsed = parseJsonLine(candidate)
        return parsed !== undefined && (parsed['type'] === type || parsed['type'] === 'error')
      },
      timeoutMs,
      `"${type}" message`,
    )
    const parsed = parseJsonLine(line) ?? {}
    if (parsed['type'] === 'error') {
      throw new HarnessError(
        'ERR_PROCESS',
        `${this.label} reported: ${String(parsed['message'])}${this.context()}`,
      )
    }
    return parsed
  }

  /**
   * Hands every JSON line of `type` (from now on, and any still unread) to `listener` instead of
   * keeping it for next(); for event streams such as trickled ICE candidates. One listener per type.
   */
  onJson(type: string, listener: (line: JsonLine) => void): void {
    this.subscribers.set(type, listener)
    for (let i = 0; i < this.unread.length;) {
      const parsed = parseJsonLine(this.unread[i] ?? '')
      if (parsed !== undefined && parsed['type'] === type) {
        this.unread.splice(i, 1)
        listener(parsed)
      } else {
        i += 1
      }
    }
  }

  /** Sends `request` and waits for the reply of type `replyType`. */
  async call(request: Record<string, unknown>, replyType: string, timeoutMs: number): Promise<JsonLine> {
    this.send(request)
    return this.next(replyType, timeoutMs)
  }

  /**
   * Ends the process: closes stdin (our scripts exit on that), then SIGTERM, then SIGKILL after a
   * grace period. Safe to call more than once.
   */
  async close(): Promise<void> {
    if (this.exitInfo !== undefined || this.child.pid === undefined) return
    this.child.stdin?.end()
    const graceful = await Promise.race([this.exited.then(() => true), delay(200).then(() => false)])
    if (graceful) return
    this.child.kill('SIGTERM')
    const terminated = await Promise.race([
      this.exited.then(() => true),
      delay(KILL_GRACE_MS).then(() => false),
    ])
    if (!terminated) {
      this.child.kill('SIGKILL')
      await this.exited
    }
  }

  private onLine(line: string): void {
    this.lines.push(line)
    const parsed = this.subscribers.size > 0 ? parseJsonLine(line) : undefined
    const type = parsed?.['type']
    const subscriber = typeof type === 'string' ? this.subscribers.get(type) : undefined
    if (parsed !== undefined && subscriber !== undefined) {
      subscriber(parsed)
      return
    }
    for (const waiter of this.waiters) {
      if (waiter.match(line)) {
        clearTimeout(waiter.timer)
        this.waiters.delete(waiter)
        waiter.resolve(line)
        return
      }
    }
    this.unread.push(line)
  }

  private failure(what: string): HarnessError {
    return new HarnessError('ERR_PROCESS', `${this.label} ${what}${this.context()}`)
  }

  private context(): string {
    const exit =
      this.exitInfo === undefined ? '' : ` (exit code ${this.exitInfo.code}, signal ${this.exitInfo.signal})`
    const stderr = this.stderr.trim() === '' ? '' : `; stderr: ${this.stderr.trim()}`
    return `${exit}${stderr}`
  }
}

/** Parses one stdout line as a JSON object, or undefined if it is anything else. */
export function parseJsonLine(line: string): JsonLine | undefined {
  try {
    const value: unknown = JSON.parse(line)
    return isRecord(value) ? value : undefined
  } catch {
    return undefined
  }
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Reads a finite number field, or throws naming the field and the line. */
export function numberField(line: JsonLine, field: string): number {
  const value = line[field]
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new HarnessError('ERR_PROCESS', `expected a number in "${field}" of ${JSON.stringify(line)}`)
  }
  return value
}

/** Reads a string field, or throws naming the field and the line. */
export function stringField(line: JsonLine, field: string): string {
  const value = line[field]
  if (typeof value !== 'string') {
    throw new HarnessError('ERR_PROCESS', `expected a string in "${field}" of ${JSON.stringify(line)}`)
  }
  return value
}

/** Reads an array of finite numbers, or throws naming the field and the line. */
export function numberArrayField(line: JsonLine, field: string): number[] {
  const value = line[field]
  if (
    !Array.isArray(value) ||
    !value.every((x): x is number => typeof x === 'number' && Number.isFinite(x))
  ) {
    throw new HarnessError(
      'ERR_PROCESS',
      `expected an array of numbers in "${field}" of ${JSON.stringify(line)}`,
    )
  }
  return value
}

/** Reads an { address, port } field, or throws naming the field and the line. */
export function endpointField(line: JsonLine, field: string): { address: string; port: number } {
  const value = line[field]
  if (!isRecord(value))
    throw new HarnessError('ERR_PROCESS', `expected an endpoint in "${field}" of ${JSON.stringify(line)}`)
  return { address: stringField(value, 'address'), port: numberField(value, 'port') }
}
