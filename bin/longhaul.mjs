#!/usr/bin/env node
// The `longhaul` command. The engine is TypeScript run through tsx's loader, so a clone
// works without a build step. This file is the composition root: `signal` runs the
// standalone signaling server (core/ never imports signaling-server/), everything else
// goes to core/cli/main.ts, with the server passed in for `node`'s embedded mode.
import { register } from 'tsx/esm/api'

register()
const argv = process.argv.slice(2)
if (argv[0] === 'signal') {
  const { runSignalCli } = await import('../signaling-server/main.ts')
  process.exitCode = await runSignalCli(argv.slice(1))
} else {
  const { main } = await import('../core/cli/main.ts')
  const { processIo } = await import('../core/cli/io.ts')
  // The embedded signaling server of `longhaul node` / `longhaul demo` (core/ may not import it).
  const startSignalingServer = async (options) =>
    (await import('../signaling-server/server.ts')).startSignalingServer(options)
  const code = await main(argv, processIo(), { startSignalingServer })
  // Exit once the command is done instead of waiting for native handles (the WebRTC binding,
  // wasm threads) to wind down on their own: their teardown at process end is where a crash
  // would turn a finished run into a signal death. Flush stdout first: it carries the summary.
  process.stdout.write('', () => process.exit(code))
}
