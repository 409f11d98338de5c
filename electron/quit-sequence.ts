/**
 * Graceful quit, in order: (1) stop training, which makes the engine write a checkpoint;
 * (2) leave the room, which closes the peer connections and tells the others; (3) shut the
 * engine's process down. Each step has its own time limit and a failed step is reported and
 * skipped, never allowed to keep the app from quitting. Pure: the engine arrives as
 * EngineControl plus a shutdown function.
 */
import { isTrainingPhase } from './engine-client.ts'
import type { EngineControl, EngineSummary } from './engine-client.ts'

export const DEFAULT_STOP_TRAINING_TIMEOUT_MS = 30_000
export const DEFAULT_LEAVE_ROOM_TIMEOUT_MS = 5_000

export interface QuitPrompt {
  readonly title: string
  readonly message: string
  readonly detail: string
  readonly buttons: readonly [quit: string, stay: string]
}

/** The confirmation to show before quitting, or undefined when nothing would be interrupted. */
export function quitPrompt(summary: EngineSummary | undefined): QuitPrompt | undefined {
  if (summary === undefined || !isTrainingPhase(summary.phase)) return undefined
  return {
    title: 'Training is running',
    message: 'Quit Longhaul and stop training?',
    detail:
      'Quitting stops training, saves a checkpoint you can resume from, and leaves the room so the other peers carry on without you.',
    buttons: ['Stop training and quit', 'Keep training'],
  }
}

export type QuitStep = 'read-state' | 'stop-training' | 'leave-room' | 'shutdown'

export interface QuitStepReport {
  readonly step: QuitStep
  readonly outcome: 'done' | 'skipped' | 'failed'
  /** Why it was skipped or how it failed. */
  readonly detail?: string
}

export interface QuitSequenceOptions {
  /** Undefined when the engine never became ready (nothing to stop, only a process to end). */
  readonly engine: EngineControl | undefined
  /** Ends the engine process (asks, then kills after its own limit). */
  readonly shutdown: () => Promise<void>
  readonly stopTrainingTimeoutMs?: number
  readonly leaveRoomTimeoutMs?: number
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeoutMs} ms`)), timeoutMs)
  })
  return Promise.race([promise, timedOut]).finally(() => clearTimeout(timer))
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Runs the sequence; resolves (never rejects) with what each step did. */
export async function runQuitSequence(options: QuitSequenceOptions): Promise<readonly QuitStepReport[]> {
  const reports: QuitStepReport[] = []
  const { engine } = options
  let summary: EngineSummary | undefined
  if (engine === undefined) {
    reports.push({ step: 'read-state', outcome: 'skipped', detail: 'the engine was not running' })
  } else {
    try {
      summary = await withTimeout(
        engine.summary(),
        options.leaveRoomTimeoutMs ?? DEFAULT_LEAVE_ROOM_TIMEOUT_MS,
        'reading the engine state',
      )
      reports.push({ step: 'read-state', outcome: 'done', detail: `training ${summary.phase}` })
    } catch (error) {
      reports.push({ step: 'read-state', outcome: 'failed', detail: reasonOf(error) })
    }
  }

  if (engine !== undefined && summary !== undefined && isTrainingPhase(summary.phase)) {
    try {
      await withTimeout(
        engine.run('training.stop', {}),
        options.stopTrainingTimeoutMs ?? DEFAULT_STOP_TRAINING_TIMEOUT_MS,
        'stopping training',
      )
      reports.push({ step: 'stop-training', outcome: 'done' })
    } catch (error) {
      reports.push({ step: 'stop-training', outcome: 'failed', detail: reasonOf(error) })
    }
  } else {
    reports.push({ step: 'stop-training', outcome: 'skipped', detail: 'no training was running' })
  }

  // Leave even when the state could not be read: leaving a room one is not in is harmless.
  if (engine !== undefined && (summary === undefined || summary.isInRoom)) {
    try {
      await withTimeout(
        engine.run('room.leave', {}),
        options.leaveRoomTimeoutMs ?? DEFAULT_LEAVE_ROOM_TIMEOUT_MS,
        'leaving the room',
      )
      reports.push({ step: 'leave-room', outcome: 'done' })
    } catch (error) {
      reports.push({ step: 'leave-room', outcome: 'failed', detail: reasonOf(error) })
    }
  } else {
    reports.push({ step: 'leave-room', outcome: 'skipped', detail: 'not in a room' })
  }

  try {
    await options.shutdown()
    reports.push({ step: 'shutdown', outcome: 'done' })
  } catch (error) {
    reports.push({ step: 'shutdown', outcome: 'failed', detail: reasonOf(error) })
  }
  return reports
}
