/**
 * `longhaul signal`: parses flags and environment, runs the server until SIGINT/SIGTERM
 * (or the caller's AbortSignal), then shuts down gracefully. Exit codes: 0 after a clean
 * shutdown or --help, 1 when the server cannot start, 2 for bad arguments.
 */
import { isCoreError } from '../core/protocol/signaling.ts'
import { parseSignalArgs, signalHelpText, type SignalServerConfig } from './config.ts'
import { createLogger, type Logger } from './logger.ts'
import { startSignalingServer } from './server.ts'

export interface RunSignalCliOptions {
  /** Environment to read LONGHAUL_SIGNAL_* from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Stops the server like SIGTERM does (tests, embedding). */
  readonly signal?: AbortSignal
  /** Where --help and argument errors go (default process.stdout / process.stderr). */
  readonly stdout?: (text: string) => void
  readonly stderr?: (text: string) => void
  /** Replaces the JSON-lines logger on stderr. */
  readonly logger?: Logger
  /** Called once the server listens (e.g. to learn the port when --port 0). */
  readonly onListening?: (info: { url: string; httpUrl: string; port: number }) => void
}

/**
 * Runs the signaling server CLI; resolves with the process exit code once it has stopped.
 * Handles SIGINT and SIGTERM while it runs (graceful shutdown) and removes its handlers after.
 */
export async function runSignalCli(argv: string[], options: RunSignalCliOptions = {}): Promise<number> {
  const stdout = options.stdout ?? ((t: string) => void process.stdout.write(t))
  const stderr = options.stderr ?? ((t: string) => void process.stderr.write(t))
  let config: SignalServerConfig
  try {
    const parsed = parseSignalArgs(argv, options.env ?? process.env)
    if (parsed.help) {
      stdout(`${signalHelpText()}\n`)
      return 0
    }
    config = parsed.config
  } catch (err) {
    stderr(`longhaul signal: ${err instanceof Error ? err.message : String(err)}\n`)
    return 2
  }
  const log = options.logger ?? createLogger({ level: config.logLevel })
  let server
  try {
    server = await startSignalingServer({ config, logger: log })
  } catch (err) {
    log.error('cannot start', {
      error: err instanceof Error ? err.message : String(err),
      code: isCoreError(err) ? err.code : undefined,
    })
    return 1
  }
  options.onListening?.({ url: server.url, httpUrl: server.httpUrl, port: server.port })
  const running = server
  await new Promise<void>((resolve) => {
    const stop = (reason: string): void => {
      process.off('SIGINT', onSigint)
      process.off('SIGTERM', onSigterm)
      options.signal?.removeEventListener('abort', onAbort)
      log.info('stop requested', { reason })
      void running.close().then(resolve, (err: unknown) => {
        log.error('shutdown failed', { error: String(err) })
        resolve()
      })
    }
    const onSigint = (): void => stop('SIGINT')
    const onSigterm = (): void => stop('SIGTERM')
    const onAbort = (): void => stop('abort')
    process.once('SIGINT', onSigint)
    process.once('SIGTERM', onSigterm)
    if (options.signal?.aborted === true) onAbort()
    else options.signal?.addEventListener('abort', onAbort, { once: true })
  })
  return 0
}
