/** Crash restart, quit sequence, single instance and update policy: the shell's decisions, without Electron. */
import { describe, expect, it } from 'vitest'
import { decideAfterEngineExit, OutputTail } from '../../../electron/crash-policy.ts'
import type { EngineControl, EngineSummary } from '../../../electron/engine-client.ts'
import { quitPrompt, runQuitSequence } from '../../../electron/quit-sequence.ts'
import { setupSingleInstance } from '../../../electron/single-instance.ts'
import { UpdateCoordinator, updateCheckDecision } from '../../../electron/updater.ts'
import type { AutoUpdaterLike } from '../../../electron/updater.ts'

const WHERE = { dataDir: '/u/engine', logFile: '/u/logs/main.log' }

describe('decideAfterEngineExit', () => {
  it('does nothing when main asked the engine to stop', () => {
    expect(decideAfterEngineExit({ code: 0, wasRequested: true }, [], 0, WHERE)).toEqual({ kind: 'expected' })
  })

  it('offers a restart with the exit code, the data folder and the last output', () => {
    const decision = decideAfterEngineExit(
      { code: 134, wasRequested: false, stderrTail: 'Aborted\n' },
      [],
      1000,
      WHERE,
    )
    expect(decision.kind).toBe('ask')
    if (decision.kind !== 'ask') return
    expect(decision.dialog.message).toContain('exit code 134')
    expect(decision.dialog.detail).toContain('/u/engine')
    expect(decision.dialog.detail).toContain('Aborted')
    expect(decision.dialog.actions).toEqual(['restart', 'quit'])
    expect(decision.crashTimes).toEqual([1000])
  })

  it('stops suggesting restart first after three crashes in five minutes', () => {
    const decision = decideAfterEngineExit({ code: 1, wasRequested: false }, [10_000, 20_000], 30_000, WHERE)
    if (decision.kind !== 'ask') throw new Error('expected a dialog')
    expect(decision.dialog.actions[0]).toBe('quit')
    expect(decision.dialog.message).toContain('3 times')
  })

  it('forgets crashes older than the window', () => {
    const decision = decideAfterEngineExit({ code: 1, wasRequested: false }, [0, 1], 10 * 60_000, WHERE)
    if (decision.kind !== 'ask') throw new Error('expected a dialog')
    expect(decision.crashTimes).toEqual([10 * 60_000])
    expect(decision.dialog.actions[0]).toBe('restart')
  })
})

describe('OutputTail', () => {
  it('keeps the last lines across chunk boundaries', () => {
    const tail = new OutputTail(2)
    tail.push('one\ntw')
    tail.push('o\nthree\nfo')
    expect(tail.text()).toBe('three\nfo')
  })
})

function engine(summary: EngineSummary | Error, failing: Partial<Record<string, Error | 'hang'>> = {}) {
  const ran: string[] = []
  const control: EngineControl = {
    summary: () => (summary instanceof Error ? Promise.reject(summary) : Promise.resolve(summary)),
    run: (name) => {
      ran.push(name)
      const failure = failing[name]
      if (failure === 'hang') return new Promise(() => undefined)
      return failure !== undefined ? Promise.reject(failure) : Promise.resolve()
    },
  }
  return { control, ran }
}

describe('quitPrompt', () => {
  it('asks only while a model is being trained', () => {
    expect(quitPrompt({ phase: 'running', isInRoom: true })?.buttons[0]).toBe('Stop training and quit')
    expect(quitPrompt({ phase: 'paused', isInRoom: true })).toBeDefined()
    expect(quitPrompt({ phase: 'idle', isInRoom: true })).toBeUndefined()
    expect(quitPrompt({ phase: 'finished', isInRoom: false })).toBeUndefined()
    expect(quitPrompt(undefined)).toBeUndefined()
  })
})

describe('runQuitSequence', () => {
  it('stops training, leaves the room, then shuts the engine down, in that order', async () => {
    const { control, ran } = engine({ phase: 'running', isInRoom: true })
    let isShutDown = false
    const reports = await runQuitSequence({
      engine: control,
      shutdown: () => {
        expect(ran).toEqual(['training.stop', 'room.leave'])
        isShutDown = true
        return Promise.resolve()
      },
    })
    expect(isShutDown).toBe(true)
    expect(reports.map((r) => `${r.step}:${r.outcome}`)).toEqual([
      'read-state:done',
      'stop-training:done',
      'leave-room:done',
      'shutdown:done',
    ])
  })

  it('skips what is not running', async () => {
    const { control, ran } = engine({ phase: 'idle', isInRoom: false })
    const reports = await runQuitSequence({ engine: control, shutdown: () => Promise.resolve() })
    expect(ran).toEqual([])
    expect(reports.filter((r) => r.outcome === 'skipped').map((r) => r.step)).toEqual([
      'stop-training',
      'leave-room',
    ])
  })

  it('still shuts down when a step fails or hangs', async () => {
    const { control } = engine(
      { phase: 'running', isInRoom: true },
      { 'training.stop': 'hang', 'room.leave': new Error('gone') },
    )
    let isShutDown = false
    const reports = await runQuitSequence({
      engine: control,
      shutdown: () => {
        isShutDown = true
        return Promise.resolve()
      },
      stopTrainingTimeoutMs: 50,
    })
    expect(isShutDown).toBe(true)
    expect(reports.find((r) => r.step === 'stop-training')).toMatchObject({
      outcome: 'failed',
      detail: expect.stringContaining('50 ms') as unknown,
    })
    expect(reports.find((r) => r.step === 'leave-room')).toMatchObject({ outcome: 'failed', detail: 'gone' })
  })

  it('leaves the room when the state cannot be read, and only shuts down without an engine', async () => {
    const { control, ran } = engine(new Error('refused'))
    await runQuitSequence({ engine: control, shutdown: () => Promise.resolve() })
    expect(ran).toEqual(['room.leave'])
    const reports = await runQuitSequence({ engine: undefined, shutdown: () => Promise.resolve() })
    expect(reports.map((r) => r.outcome)).toEqual(['skipped', 'skipped', 'skipped', 'done'])
  })
})

describe('setupSingleInstance', () => {
  function fakeApp(hasLock: boolean) {
    const state = { quits: 0, listener: undefined as (() => void) | undefined }
    return {
      state,
      app: {
        requestSingleInstanceLock: () => hasLock,
        on: (_event: 'second-instance', listener: () => void) => {
          state.listener = listener
        },
        quit: () => {
          state.quits += 1
        },
      },
    }
  }

  it('quits when another instance holds the lock', () => {
    const { app, state } = fakeApp(false)
    expect(setupSingleInstance(app, () => undefined)).toBe(false)
    expect(state.quits).toBe(1)
    expect(state.listener).toBeUndefined()
  })

  it('brings the window back when a second launch hands over', () => {
    const { app, state } = fakeApp(true)
    const calls: string[] = []
    const window = {
      isDestroyed: () => false,
      isMinimized: () => true,
      restore: () => calls.push('restore'),
      show: () => calls.push('show'),
      focus: () => calls.push('focus'),
    }
    expect(setupSingleInstance(app, () => window)).toBe(true)
    state.listener?.()
    expect(calls).toEqual(['restore', 'show', 'focus'])
    expect(state.quits).toBe(0)
  })
})

describe('updateCheckDecision', () => {
  it('is off in development, by environment and by setting', () => {
    expect(updateCheckDecision({ isPackaged: false, env: {}, isEnabledInSettings: true }).shouldCheck).toBe(
      false,
    )
    expect(
      updateCheckDecision({
        isPackaged: true,
        env: { LONGHAUL_DISABLE_UPDATES: '1' },
        isEnabledInSettings: true,
      }).shouldCheck,
    ).toBe(false)
    expect(updateCheckDecision({ isPackaged: true, env: {}, isEnabledInSettings: false }).shouldCheck).toBe(
      false,
    )
    expect(updateCheckDecision({ isPackaged: true, env: {}, isEnabledInSettings: true }).shouldCheck).toBe(
      true,
    )
  })
})

describe('UpdateCoordinator', () => {
  function setup(options: { training: boolean[]; choice?: 'restart' | 'later' }) {
    const listeners = new Map<string, (value: never) => void>()
    const updater: AutoUpdaterLike = {
      autoDownload: false,
      autoInstallOnAppQuit: false,
      checkForUpdates: () => Promise.resolve(undefined),
      quitAndInstall: () => undefined,
      on: (event: string, listener: (value: never) => void) => listeners.set(event, listener),
    }
    const timers: Array<() => void> = []
    const events: string[] = []
    const training = [...options.training]
    const coordinator = new UpdateCoordinator({
      updater,
      isTraining: () =>
        Promise.resolve(training.length > 1 ? (training.shift() ?? false) : (training[0] ?? false)),
      offer: (version) => {
        events.push(`offer ${version}`)
        return Promise.resolve(options.choice ?? 'restart')
      },
      installNow: () => {
        events.push('install')
        return Promise.resolve()
      },
      log: () => undefined,
      setTimer: (fn) => {
        timers.push(fn)
        return { cancel: () => undefined }
      },
    })
    const download = (version: string): void =>
      (listeners.get('update-downloaded') as (info: { version: string }) => void)({ version })
    return { coordinator, updater, timers, events, download }
  }

  const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

  it('downloads in the background and installs at quit by default', () => {
    const { updater } = setup({ training: [false] })
    expect(updater.autoDownload).toBe(true)
    expect(updater.autoInstallOnAppQuit).toBe(true)
  })

  it('offers at once when idle and installs on yes', async () => {
    const { download, events, coordinator } = setup({ training: [false] })
    download('0.2.0')
    await settle()
    expect(events).toEqual(['offer 0.2.0', 'install'])
    expect(coordinator.current()).toEqual({ kind: 'installing', version: '0.2.0' })
  })

  it('never offers during training, and offers once training is idle', async () => {
    const { download, events, timers, coordinator } = setup({ training: [true, true, false] })
    download('0.2.0')
    await settle()
    expect(events).toEqual([])
    expect(coordinator.current().kind).toBe('waiting-for-idle')
    timers.shift()?.()
    await settle()
    expect(events).toEqual([])
    timers.shift()?.()
    await settle()
    expect(events).toEqual(['offer 0.2.0', 'install'])
  })

  it('keeps the update for the next quit when the person says later', async () => {
    const { download, events, coordinator } = setup({ training: [false], choice: 'later' })
    download('0.3.0')
    await settle()
    expect(events).toEqual(['offer 0.3.0'])
    expect(coordinator.current()).toEqual({ kind: 'deferred', version: '0.3.0' })
  })

  it('does not install when training started while the offer was open', async () => {
    const { download, events, coordinator } = setup({ training: [false, true, true] })
    download('0.4.0')
    await settle()
    expect(events).toEqual(['offer 0.4.0'])
    expect(coordinator.current().kind).toBe('waiting-for-idle')
  })
})
