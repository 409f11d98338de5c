// Standalone entry of the signaling server (the Dockerfile runs this file):
// `node --experimental-strip-types signaling-server/bin.ts --port 8787`, or through tsx.
import { runSignalCli } from './main.ts'

process.exitCode = await runSignalCli(process.argv.slice(2))
