#!/usr/bin/env node
// `npm run bench -- <suite> [options]`: runs one benchmark suite from bench/ and prints its table.
import { register } from 'tsx/esm/api'

register()
const { runBench } = await import('../bench/main.ts')
process.exitCode = await runBench(process.argv.slice(2))
