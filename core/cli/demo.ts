/**
 * `longhaul demo`: the README's main command. Runs the engine with embedded defaults, needing
 * nothing but this checkout: the generated `shapes` dataset, the `mlp`, three epochs.
 * TODO(#6): run a local room of three nodes with an embedded signaling server instead.
 */
import { booleanFlag, parseCommandArgs } from './args.ts'
import type { CliIo } from './io.ts'
import { runTrainCommand } from './train.ts'

export const DEMO_HELP = `Usage: longhaul demo [--json]

Trains the default model (mlp) on the generated "shapes" dataset for 3 epochs on this
machine, with checkpoints in .longhaul/runs/demo. Needs no data and no network.
`

export async function runDemoCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('demo', args, {
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (booleanFlag(values, 'help')) {
    io.out(DEMO_HELP)
    return 0
  }
  io.err('longhaul demo: training the mlp on the generated "shapes" data (single node).')
  return runTrainCommand(
    [
      '--data',
      'shapes',
      '--model',
      'mlp',
      '--epochs',
      '3',
      '--checkpoint-dir',
      '.longhaul/runs/demo',
      ...(booleanFlag(values, 'json') ? ['--json'] : []),
    ],
    io,
  )
}
