/**
 * What the shell does when the engine's utility process exits: nothing when main asked it to
 * stop; otherwise a dialog that says what happened and offers a restart. After
 * `maxCrashes` crashes within `windowMs` it stops offering an automatic-looking restart and says
 * the engine keeps failing, pointing at the log. Pure: the caller shows the dialog.
 */

export const DEFAULT_MAX_CRASHES = 3
export const DEFAULT_CRASH_WINDOW_MS = 5 * 60_000

export interface EngineExit {
  /** Exit code (Electron reports a signal death as a non-zero code). */
  readonly code: number
  /** Whether main asked the engine to stop (quit, restart). */
  readonly wasRequested: boolean
  /** Last lines the engine wrote to stderr, for the dialog's detail. */
  readonly stderrTail?: string
}

export interface CrashDialog {
  readonly title: string
  readonly message: string
  readonly detail: string
  /** Button labels; index 0 is the default. */
  readonly buttons: readonly string[]
  /** What each button does, by index. */
  readonly actions: readonly ('restart' | 'quit' | 'open-logs')[]
}

export type CrashDecision =
  | { readonly kind: 'expected' }
  | { readonly kind: 'ask'; readonly dialog: CrashDialog; readonly crashTimes: readonly number[] }

export interface CrashPolicyOptions {
  readonly maxCrashes?: number
  readonly windowMs?: number
}

/**
 * The decision for one exit. `crashTimes` are the times of earlier crashes (ms); the decision
 * returns the list to keep, with this crash added and the ones outside the window dropped.
 */
export function decideAfterEngineExit(
  exit: EngineExit,
  crashTimes: readonly number[],
  now: number,
  options: CrashPolicyOptions & { readonly dataDir: string; readonly logFile: string },
): CrashDecision {
  if (exit.wasRequested) return { kind: 'expected' }
  const windowMs = options.windowMs ?? DEFAULT_CRASH_WINDOW_MS
  const maxCrashes = options.maxCrashes ?? DEFAULT_MAX_CRASHES
  const recent = [...crashTimes.filter((t) => now - t < windowMs), now]
  const minutes = Math.round(windowMs / 60_000)
  const tail =
    exit.stderrTail !== undefined && exit.stderrTail.trim() !== ''
      ? `\n\nLast output:\n${exit.stderrTail.trim()}`
      : ''
  const where =
    `Datasets and checkpoints are kept in ${options.dataDir}; training resumes from the last checkpoint ` +
    `once you start it again. The log is ${options.logFile}.`
  if (recent.length >= maxCrashes) {
    return {
      kind: 'ask',
      crashTimes: recent,
      dialog: {
        title: 'The Longhaul engine keeps stopping',
        message: `The training engine stopped unexpectedly ${recent.length} times in ${minutes} minutes (last exit code ${exit.code}).`,
        detail: `${where}${tail}`,
        buttons: ['Quit', 'Try again', 'Open the log folder'],
        actions: ['quit', 'restart', 'open-logs'],
      },
    }
  }
  return {
    kind: 'ask',
    crashTimes: recent,
    dialog: {
      title: 'The Longhaul engine stopped',
      message: `The training engine stopped unexpectedly (exit code ${exit.code}). Any training in progress was interrupted.`,
      detail: `${where}${tail}`,
      buttons: ['Restart the engine', 'Quit'],
      actions: ['restart', 'quit'],
    },
  }
}

/** Keeps the last `maxLines` lines of a stream, for crash dialogs. */
export class OutputTail {
  private lines: string[] = []
  private partial = ''

  constructor(private readonly maxLines = 12) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split('\n')
    this.partial = parts.pop() ?? ''
    this.lines.push(...parts)
    if (this.lines.length > this.maxLines) this.lines = this.lines.slice(-this.maxLines)
  }

  text(): string {
    return [...this.lines, this.partial]
      .filter((line) => line !== '')
      .slice(-this.maxLines)
      .join('\n')
  }
}
