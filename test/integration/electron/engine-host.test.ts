/**
 * The desktop engine host for real: electron/engine-host.ts (the utility process's entry, here in a
 * Node child with an IPC channel instead of Electron's parentPort) starts the real Node engine and
 * API server on a fresh data folder; the supervisor, the shell's engine client and the quit
 * sequence then drive it exactly as main does: read state, open a local room, quit gracefully.
 */
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import type { EngineExit } from '../../../electron/crash-policy.ts'
import { HttpEngineClient } from '../../../electron/engine-client.ts'
import { EngineSupervisor } from '../../../electron/engine-supervisor.ts'
import type { EngineChild } from '../../../electron/engine-supervisor.ts'
import { runQuitSequence } from '../../../electron/quit-sequence.ts'

const ENTRY = fileURLToPath(new URL('../../../electron/engine-host.ts', import.meta.url))
const children: ChildProcess[] = []
const folders: string[] = []
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function engineChild(): EngineChild {
  const child = fork(ENTRY, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
  children.push(child)
  return {
    postMessage: (message) => {
      if (child.connected) child.send(message as object)
    },
    on: (event: 'message' | 'exit', listener: ((message: unknown) => void) | ((code: number) => void)) => {
      if (event === 'message') child.on('message', listener as (message: unknown) => void)
      else child.on('exit', (code) => listener(code ?? 1))
    },
    kill: () => child.kill('SIGKILL'),
    stderr: child.stderr,
  }
}

describe('electron/engine-host.ts', () => {
  it(
    'serves the real engine on loopback and quits gracefully from a local room',
    { timeout: 90_000 },
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'longhaul-desktop-engine-'))
      folders.push(dataDir)
      const exits: EngineExit[] = []
      const supervisor = new EngineSupervisor({
        fork: engineChild,
        config: {
          dataDir,
          staticDir: join(dataDir, 'no-ui'),
          appVersion: '9.9.9',
          allowedOrigins: [],
          hasTrainerWindows: false,
        },
        onExit: (exit) => exits.push(exit),
        startTimeoutMs: 60_000,
      })
      const endpoint = await supervisor.start()
      expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(endpoint.uiUrl).toBe(`${endpoint.url}/#token=${endpoint.token}`)

      // Without the token the API refuses; with it, the state names this app's version.
      expect((await fetch(`${endpoint.url}/api/state`)).status).toBe(401)
      const state = (await (
        await fetch(`${endpoint.url}/api/state`, { headers: { Authorization: `Bearer ${endpoint.token}` } })
      ).json()) as { version: string }
      expect(state.version).toBe('9.9.9')

      const client = new HttpEngineClient({ baseUrl: endpoint.url, token: endpoint.token })
      await client.run('room.create', {})
      expect(await client.summary()).toEqual({ phase: 'idle', isInRoom: true })

      const reports = await runQuitSequence({
        engine: client,
        shutdown: async () => void (await supervisor.shutdown()),
      })
      expect(reports.map((r) => `${r.step}:${r.outcome}`)).toEqual([
        'read-state:done',
        'stop-training:skipped',
        'leave-room:done',
        'shutdown:done',
      ])
      expect(exits).toEqual([{ code: 0, wasRequested: true }])
    },
  )
})
