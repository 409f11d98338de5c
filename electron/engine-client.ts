/**
 * The main process's own small client of the engine API (core/api/contract.ts), for the few things
 * the shell must know or do itself: is training running (quit prompt, update policy), stop it and
 * leave the room before quitting. It speaks the same HTTP API as the UI, with the launch token.
 */
import type { ApiCommandName, ApiParams, TrainingPhase } from '../core/api/contract.ts'
import { API_PATHS } from '../core/api/contract.ts'
import { isRecord } from '../core/guards.ts'

export const DEFAULT_ENGINE_REQUEST_TIMEOUT_MS = 10_000

/** Phases in which a model is being trained: quitting or updating would interrupt it. */
const TRAINING_PHASES: ReadonlySet<TrainingPhase> = new Set(['starting', 'running', 'paused', 'stopping'])

export function isTrainingPhase(phase: TrainingPhase | undefined): boolean {
  return phase !== undefined && TRAINING_PHASES.has(phase)
}

/** What the shell reads from the engine's state. */
export interface EngineSummary {
  readonly phase: TrainingPhase
  readonly isInRoom: boolean
}

export interface EngineControl {
  summary(): Promise<EngineSummary>
  /** Runs a command; resolves when the engine answered ok. The shell never needs the result. */
  run<N extends ApiCommandName>(name: N, params: ApiParams<N>): Promise<void>
}

const PHASES: ReadonlySet<string> = new Set([
  'idle',
  'starting',
  'running',
  'paused',
  'stopping',
  'finished',
  'failed',
])

function isPhase(value: unknown): value is TrainingPhase {
  return typeof value === 'string' && PHASES.has(value)
}

/** The fields the shell needs from `GET /api/state`, validated. */
export function summariseState(value: unknown): EngineSummary | undefined {
  if (!isRecord(value) || !isRecord(value['training']) || !isPhase(value['training']['phase']))
    return undefined
  return { phase: value['training']['phase'], isInRoom: isRecord(value['room']) }
}

export class EngineRequestError extends Error {
  readonly status: number
  constructor(message: string, status: number) {
    super(message)
    this.name = 'EngineRequestError'
    this.status = status
  }
}

export class HttpEngineClient implements EngineControl {
  private readonly baseUrl: string
  private readonly token: string
  private readonly timeoutMs: number
  private readonly fetchFn: typeof fetch

  constructor(options: { baseUrl: string; token: string; timeoutMs?: number; fetch?: typeof fetch }) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.token = options.token
    this.timeoutMs = options.timeoutMs ?? DEFAULT_ENGINE_REQUEST_TIMEOUT_MS
    this.fetchFn = options.fetch ?? fetch
  }

  private async request(path: string, init: { method: 'GET' | 'POST'; body?: string }): Promise<unknown> {
    let response: Response
    try {
      response = await this.fetchFn(`${this.baseUrl}${path}`, {
        method: init.method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          ...(init.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        ...(init.body !== undefined ? { body: init.body } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw new EngineRequestError(`The engine did not answer ${init.method} ${path}: ${reason}`, 0)
    }
    const text = await response.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      throw new EngineRequestError(
        `The engine answered ${init.method} ${path} with status ${response.status} and no JSON`,
        response.status,
      )
    }
    if (!response.ok && !isRecord(body)) {
      throw new EngineRequestError(
        `The engine answered ${init.method} ${path} with status ${response.status}`,
        response.status,
      )
    }
    return body
  }

  async summary(): Promise<EngineSummary> {
    const body = await this.request(API_PATHS.state, { method: 'GET' })
    const summary = summariseState(body)
    if (summary === undefined) throw new EngineRequestError('The engine state has no training phase', 200)
    return summary
  }

  async run<N extends ApiCommandName>(name: N, params: ApiParams<N>): Promise<void> {
    const body = await this.request(`${API_PATHS.command}${name}`, {
      method: 'POST',
      body: JSON.stringify(params),
    })
    if (!isRecord(body) || typeof body['ok'] !== 'boolean') {
      throw new EngineRequestError(`The engine's answer to ${name} is not { ok, ... }`, 200)
    }
    if (!body['ok']) {
      const error = body['error']
      const message =
        isRecord(error) && typeof error['message'] === 'string' ? error['message'] : 'no reason given'
      throw new EngineRequestError(`${name} failed: ${message}`, 200)
    }
  }
}
