/**
 * Structured logs: one JSON object per line (`{"time","level","msg",...fields}`), written
 * to stderr by default so stdout stays free for tools. Levels below the configured one
 * cost one comparison.
 */
import type { LogLevel } from './config.ts'

export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>

export interface Logger {
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export interface LoggerOptions {
  readonly level: LogLevel
  /** Receives each line, newline included (default: process.stderr). */
  readonly write?: (line: string) => void
  /** Clock for the `time` field (default: Date.now). */
  readonly now?: () => number
}

/** A JSON-lines logger at `level`. */
export function createLogger(options: LoggerOptions): Logger {
  const min = RANK[options.level]
  const write = options.write ?? ((line: string) => void process.stderr.write(line))
  const now = options.now ?? Date.now
  const log =
    (level: Exclude<LogLevel, 'silent'>) =>
    (msg: string, fields?: LogFields): void => {
      if (RANK[level] < min) return
      // Reserved keys come last so a field can never forge them.
      write(`${JSON.stringify({ ...fields, time: new Date(now()).toISOString(), level, msg })}\n`)
    }
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }
}
