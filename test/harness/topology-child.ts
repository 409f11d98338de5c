/**
 * A process that builds a topology and then ends in a chosen way, for testing the cleanup that
 * runs when a test process dies instead of calling teardown(). Run with
 * `node --import tsx test/harness/topology-child.ts <wait|exit> <options JSON>`.
 * Prints one line `{"type":"ready","namespaces":[…],"pids":[…],"tempDir":"…"}`, then:
 * - wait: idles until a signal arrives (the harness's signal handler must clean up);
 * - exit: calls process.exit(0) without teardown (the harness's exit handler must clean up).
 */
import { createTopology } from './netns.ts'
import { isRecord } from './managed-process.ts'

const [how, json] = process.argv.slice(2)
const parsed: unknown = JSON.parse(json ?? '{}')
if ((how !== 'wait' && how !== 'exit') || !isRecord(parsed) || typeof parsed['hosts'] !== 'number') {
  process.stderr.write('usage: topology-child.ts <wait|exit> \'{"hosts":2,…}\'\n')
  process.exit(2)
}
const delayMs = typeof parsed['delayMs'] === 'number' ? parsed['delayMs'] : undefined
const topology = await createTopology({ hosts: parsed['hosts'], delayMs })
// A long-running process inside a host namespace, as a test's node would be.
topology.exec(0, 'sleep', ['600'], { stdio: 'ignore' })
const resources = await topology.resources()
process.stdout.write(`${JSON.stringify({ type: 'ready', ...resources })}\n`)
if (how === 'exit') process.exit(0)
setInterval(() => undefined, 60_000)
