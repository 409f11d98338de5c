/**
 * `longhaul <command>`: dispatches to one module per subcommand. Every command returns an
 * exit code; expected failures (CoreError) print one clear line, never a stack trace.
 */
import { isCoreError } from '../errors.ts'
import { processIo, type CliIo } from './io.ts'

interface Command {
  readonly summary: string
  run(args: string[], io: CliIo): Promise<number>
}

const COMMANDS: Readonly<Record<string, Command>> = {
  train: {
    summary: 'train one model on this machine (single node)',
    run: async (args, io) => (await import('./train.ts')).runTrainCommand(args, io),
  },
  doctor: {
    summary: 'list tensor backends, why each is or is not usable, and probe throughput',
    run: async (args, io) => (await import('./doctor.ts')).runDoctor(args, io),
  },
  demo: {
    summary: 'the embedded default: train on the generated "shapes" data with no setup',
    run: async (args, io) => (await import('./demo.ts')).runDemoCommand(args, io),
  },
}

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2
  return [
    'Usage: longhaul <command> [options]',
    '',
    'Train one neural network together across machines over slow, far, flaky links.',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    `  ${'signal'.padEnd(width)}run the WebRTC signaling server (rooms, admission, relay)`,
    '',
    'Run "longhaul <command> --help" for a command\'s options.',
  ].join('\n')
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage())
    return name === undefined ? 1 : 0
  }
  if (name === '--version' || name === '-v') {
    io.out(LONGHAUL_VERSION)
    return 0
  }
  const command = COMMANDS[name]
  if (!command) {
    io.err(`longhaul: unknown command "${name}".`)
    io.err(usage())
    return 2
  }
  try {
    return await command.run(rest, io)
  } catch (error) {
    if (isCoreError(error)) {
      io.err(`longhaul ${name}: ${error.message}`)
      return 1
    }
    throw error
  }
}

export const LONGHAUL_VERSION = '0.1.0'
