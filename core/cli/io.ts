/**
 * Where CLI commands write. Human progress goes to stderr so that stdout stays clean for
 * `--json` consumers (whose contract is: the last stdout line is one JSON object).
 */
export interface CliIo {
  /** stdout: results, JSON. */
  out(line: string): void
  /** stderr: progress, logs, warnings. */
  err(line: string): void
  /** Whether stderr is a terminal (progress bars redraw in place only then). */
  readonly isInteractive: boolean
  /** Redraws the current stderr line (terminals only). */
  status(line: string): void
}

export function processIo(): CliIo {
  const isInteractive = process.stderr.isTTY === true && process.env['CI'] !== 'true'
  let hasStatus = false
  const clearStatus = (): void => {
    if (hasStatus) {
      process.stderr.write('\r\x1b[2K')
      hasStatus = false
    }
  }
  return {
    isInteractive,
    out: (line) => {
      clearStatus()
      process.stdout.write(`${line}\n`)
    },
    err: (line) => {
      clearStatus()
      process.stderr.write(`${line}\n`)
    },
    status: (line) => {
      if (!isInteractive) return
      const width = process.stderr.columns ?? 100
      process.stderr.write(`\r\x1b[2K${line.slice(0, width - 1)}`)
      hasStatus = true
    },
  }
}
