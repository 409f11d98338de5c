/**
 * `longhaul node --ui`: a headless node with its engine API on 127.0.0.1 and the built UI
 * (renderer/dist) as a web page. Prints `UI: http://127.0.0.1:PORT/#token=...` on stdout and
 * runs until Ctrl-C (or SIGTERM), then stops gracefully: training stops after its step and
 * checkpoints, the node leaves the room, an embedded signaling server closes.
 *
 * `--data` adds that dataset; `--signal` with `--room` and `--secret` joins that room (the
 * node connects when training starts). Training settings are chosen in the UI.
 */
import { existsSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNodeEngine, defaultDataDir } from '../api/node-engine.node.ts'
import { parseWebRtcStackName } from '../platform/webrtc-stack.node.ts'
import { startApiServer, type ApiServer } from '../api/http-server.node.ts'
import type { ApiEvent, TrainingPhase } from '../api/contract.ts'
import type { Engine } from '../api/engine.ts'
import { CoreError } from '../errors.ts'
import { numberFlag, stringFlag, type ParsedArgs } from './args.ts'
import type { CliIo } from './io.ts'
import { createEventPrinter, nodeTimeoutsFromFlags, SECRET_ENV_VAR, type CliPlatform } from './node.ts'

/** Where the UI build lands (renderer/vite.config.ts). */
export const UI_DIST_DIR = fileURLToPath(new URL('../../renderer/dist', import.meta.url))

/** How to build the UI when it is missing. */
export const UI_BUILD_COMMAND = 'npm run build:ui'

/** Flags of `longhaul node` that mean nothing with --ui (the UI chooses them). */
const TRAINING_ONLY_FLAGS = [
  'model',
  'algo',
  'epochs',
  'batch',
  'lr',
  'optimizer',
  'seed',
  'partition',
  'max-train-samples',
  'max-peers',
  'wait-peers',
  'wait-peers-timeout-ms',
  'peer-id',
  'events-jsonl',
  'json',
  'ice',
  'turn-user',
  'turn-pass',
  'signal-host',
  'signal-port',
  'inject-fault',
  'H',
  'staleness',
  'compress',
  'peers',
  'overlap',
  'tau',
  'alpha',
  'beta',
  'warmup',
]

function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string): void => {
      process.off('SIGINT', on)
      process.off('SIGTERM', on)
      resolve(signal)
    }
    process.on('SIGINT', on)
    process.on('SIGTERM', on)
  })
}

/** stderr lines for what happens in the engine (the UI shows the rest). */
function printEngineEvents(engine: Engine, io: CliIo, roundTimeoutMs: number): () => void {
  let phase: TrainingPhase = engine.state().training.phase
  let printer: ((event: Parameters<ReturnType<typeof createEventPrinter>>[0]) => void) | undefined
  return engine.subscribe((event: ApiEvent) => {
    switch (event.kind) {
      case 'log':
        io.err(event.message)
        return
      case 'error':
        io.err(`error: ${event.error.message} (${event.error.code})`)
        return
      case 'state': {
        const training = event.state.training
        if (training.phase !== phase) {
          phase = training.phase
          io.err(`training: ${phase}`)
          if (phase === 'starting' && training.config !== undefined)
            printer = createEventPrinter(io, training.config.epochs, roundTimeoutMs)
        }
        return
      }
      case 'node':
        printer?.(event.event)
        return
      case 'hello':
        return
    }
  })
}

export async function runNodeUi(
  values: ParsedArgs['values'],
  io: CliIo,
  platform: CliPlatform,
): Promise<number> {
  const uiPort = numberFlag(values, 'ui-port', 0, { integer: true, min: 0, max: 65535 })
  const ignored = TRAINING_ONLY_FLAGS.filter((flag) => values[flag] !== undefined)
  if (ignored.length > 0) {
    io.err(`--ui: ${ignored.map((f) => `--${f}`).join(', ')} ignored: training settings are chosen in the UI`)
  }
  const dataDir = path.resolve(stringFlag(values, 'home') ?? defaultDataDir())
  const backend = stringFlag(values, 'backend')
  const webrtc = stringFlag(values, 'webrtc')
  const timeouts = nodeTimeoutsFromFlags(values)
  const engine = await createNodeEngine({
    ...(webrtc !== undefined && { webrtc: parseWebRtcStackName(webrtc) }),
    dataDir,
    ...(platform.startSignalingServer !== undefined && {
      startSignalingServer: platform.startSignalingServer,
    }),
    ...(backend !== undefined && { preferredBackend: backend }),
    nodeTimeouts: timeouts,
    warn: (line) => io.err(line),
  })
  const unsubscribe = printEngineEvents(engine, io, timeouts.roundTimeoutMs)
  let server: ApiServer | undefined
  try {
    const data = stringFlag(values, 'data')
    if (data !== undefined) {
      const source = engine.state().builtinDatasets.includes(data) ? data : path.resolve(data)
      await engine.command('datasets.add', { source })
    }
    const signalUrl = stringFlag(values, 'signal')
    if (signalUrl !== undefined) {
      const room = stringFlag(values, 'room')
      const secret = stringFlag(values, 'secret') ?? process.env[SECRET_ENV_VAR]
      if (room === undefined || secret === undefined) {
        throw new CoreError(
          'ERR_INVALID_ARGUMENT',
          `--signal needs --room and --secret (or ${SECRET_ENV_VAR}) to join a room`,
        )
      }
      await engine.command('room.join', { signalUrl, room, secret })
    }
    server = await startApiServer({ engine, port: uiPort, staticDir: UI_DIST_DIR })
    io.out(`UI: ${server.uiUrl}`)
    if (!existsSync(path.join(UI_DIST_DIR, 'index.html'))) {
      io.err(
        `the UI is not built (${path.join(UI_DIST_DIR, 'index.html')} is missing): build it with "${UI_BUILD_COMMAND}" and reload; the API under ${server.url}/api/ works without it`,
      )
    }
    io.err(`engine data folder: ${dataDir}; press Ctrl-C to stop`)
    const signal = await waitForStopSignal()
    io.err(
      `\n${signal}: stopping (training checkpoints and leaves the room; press Ctrl-C again to quit at once)...`,
    )
    process.once('SIGINT', () => process.exit(130))
    return 0
  } finally {
    await server?.close()
    await engine.close()
    unsubscribe()
  }
}
