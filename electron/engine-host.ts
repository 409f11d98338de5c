/**
 * Entry of the engine's process. In the app, main starts it with Electron's
 * `utilityProcess.fork` (a Chromium-managed child with Node and message ports), so training,
 * peers and the API server never block the window; the parent link is `process.parentPort`.
 * Started by Node's `child_process.fork` (tests, or a headless run), the link is the IPC channel.
 */
import { runEngineHost } from './engine-host-runtime.ts'
import type { ParentPortLike } from './engine-host-runtime.ts'
import type { EngineToMain } from './engine-messages.ts'
import { startDesktopEngine } from './engine-start.ts'

function electronParentPort(): ParentPortLike | undefined {
  // Present only in an Electron utility process.
  const port = 'parentPort' in process ? process.parentPort : undefined
  if (port === undefined || port === null) return undefined
  return {
    onMessage: (listener) => {
      port.on('message', (event) => listener(event.data, event.ports))
    },
    post: (message: EngineToMain) => port.postMessage(message),
  }
}

function nodeIpcPort(): ParentPortLike | undefined {
  const send = process.send?.bind(process)
  if (send === undefined) return undefined
  return {
    onMessage: (listener) => {
      process.on('message', (message) => listener(message, []))
    },
    post: (message: EngineToMain) => {
      send(message)
    },
  }
}

const parent = electronParentPort() ?? nodeIpcPort()
if (parent === undefined) {
  process.stderr.write(
    'The Longhaul engine host must be started by the desktop app (it has no parent to talk to).\n',
  )
  process.exit(2)
} else {
  runEngineHost({
    parent,
    startEngine: startDesktopEngine,
    exit: (code) => process.exit(code),
    log: (line) => process.stderr.write(`${line}\n`),
  })
}
