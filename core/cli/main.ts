/**
 * `longhaul <command>`: dispatches to one module per subcommand. Every command returns an
 * exit code; expected failures (CoreError) print one clear line, never a stack trace.
 */
import { isCoreError } from '../errors.ts'
import { processIo, type CliIo } from './io.ts'
import type { CliPlatform } from './node.ts'

interface Command {
  readonly summary: string
  run(args: string[], io: CliIo, platform: CliPlatform): Promise<number>
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
  sim: {
    summary: 'simulate many workers on a virtual clock: algorithms, networks, stragglers',
    run: async (args, io) => (await import('./sim.ts')).runSimCommand(args, io),
  },
  node: {
    summary: 'join a training room and train with its peers over WebRTC',
    run: async (args, io, platform) => (await import('./node.ts')).runNodeCommand(args, io, platform),
  },
  demo: {
    summary: 'a local room of 3 nodes training on the generated "shapes" data, no setup',
    run: async (args, io, platform) => (await import('./demo.ts')).runDemoCommand(args, io, platform),
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

/**
 * Runs one command. `platform` carries what core/ may not import itself (the embedded
 * signaling server); bin/longhaul.mjs, the composition root, passes it.
 */
export async function main(
  argv: string[],
  io: CliIo = processIo(),
  platform: CliPlatform = {},
): Promise<number> {
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
    return await command.run(rest, io, platform)
  } catch (error) {
    if (isCoreError(error)) {
      io.err(`longhaul ${name}: ${error.message}`)
      return 1
    }
    throw error
  }
}

export const LONGHAUL_VERSION = '0.1.0'
