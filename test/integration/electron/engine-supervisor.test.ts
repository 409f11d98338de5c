/**
 * The supervisor with a real engine process (Node's child_process standing in for Electron's
 * utilityProcess: same messages, same exit codes) and a real HTTP server inside it.
 */
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { constants } from 'node:os'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import type { EngineExit } from '../../../electron/crash-policy.ts'
import { EngineStartError, EngineSupervisor } from '../../../electron/engine-supervisor.ts'
import type { EngineChild } from '../../../electron/engine-supervisor.ts'

const CHILD = fileURLToPath(new URL('./fixtures/engine-child.ts', import.meta.url))
const CONFIG = {
  dataDir: '/tmp/engine',
  staticDir: '/tmp/ui',
  appVersion: '0.1.0',
  allowedOrigins: [],
  hasTrainerWindows: false,
}

const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

/** A Node child as the supervisor's EngineChild (what Electron's UtilityProcess offers). */
function nodeEngineChild(mode: string): EngineChild & { process: ChildProcess } {
  const child = fork(CHILD, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, LONGHAUL_TEST_ENGINE: mode },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  children.push(child)
  return {
    process: child,
    postMessage: (message) => {
      if (child.connected) child.send(message as object)
    },
    on: (event: 'message' | 'exit', listener: ((message: unknown) => void) | ((code: number) => void)) => {
      if (event === 'message') child.on('message', listener as (message: unknown) => void)
      // Electron reports a signal death as a code; so does this adapter (128 + signal number).
      else
        child.on('exit', (code, signal) =>
          listener(code ?? 128 + (signal !== null ? constants.signals[signal] : 0)),
        )
    },
    kill: () => child.kill('SIGKILL'),
    stderr: child.stderr,
  }
}

function supervisor(mode: string, options: { startTimeoutMs?: number; shutdownTimeoutMs?: number } = {}) {
  const exits: EngineExit[] = []
  let latest: (EngineChild & { process: ChildProcess }) | undefined
  const value = new EngineSupervisor({
    fork: () => (latest = nodeEngineChild(mode)),
    config: CONFIG,
    onExit: (exit) => exits.push(exit),
    ...options,
  })
  return { supervisor: value, exits, child: () => latest }
}

describe('EngineSupervisor', () => {
  it('starts the engine, reaches its API, and shuts it down on request', async () => {
    const { supervisor: s, exits } = supervisor('ok')
    const endpoint = await s.start()
    expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(endpoint.uiUrl).toBe(`${endpoint.url}/#token=test-token`)
    const state: unknown = await (await fetch(`${endpoint.url}/api/state`)).json()
    expect(state).toEqual({ training: { phase: 'idle' } })
    expect(await s.shutdown()).toBe(0)
    expect(exits).toEqual([{ code: 0, wasRequested: true }])
    expect(s.isRunning).toBe(false)
    expect(await s.shutdown()).toBeUndefined()
  })

  it('reports an engine that cannot start with its own sentence', async () => {
    const { supervisor: s } = supervisor('fail')
    await expect(s.start()).rejects.toThrow(new EngineStartError('cannot open the data folder /tmp/engine'))
    expect(await s.shutdown()).toBe(0)
  })

  it('kills an engine that is not ready in time', async () => {
    const { supervisor: s, exits } = supervisor('hang', { startTimeoutMs: 3000 })
    await expect(s.start()).rejects.toThrow('The engine did not start within 3 s.')
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(exits[0]?.wasRequested).toBe(false)
    expect(s.isRunning).toBe(false)
  })

  it('reports a crash it did not ask for, and starts a fresh engine afterwards', async () => {
    const { supervisor: s, exits, child } = supervisor('ok')
    const first = await s.start()
    child()?.process.kill('SIGKILL')
    await new Promise<void>((resolve) => child()?.process.once('exit', () => resolve()))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(exits).toEqual([{ code: 128 + constants.signals.SIGKILL, wasRequested: false }])
    const second = await s.start()
    expect(second.url).not.toBe(first.url)
    await s.shutdown()
  })

  it('kills an engine that does not exit after being asked', async () => {
    const { supervisor: s, exits } = supervisor('stubborn', { shutdownTimeoutMs: 1000 })
    await s.start()
    expect(await s.shutdown()).toBe(128 + constants.signals.SIGKILL)
    expect(exits[0]?.wasRequested).toBe(true)
  })
})
