import { describe, expect, it } from 'vitest'
import type { MainToEngine } from '../../../electron/engine-messages.ts'
import { MAX_TRAINER_WINDOWS, TrainerWindows } from '../../../electron/trainer-windows.ts'
import type { TrainerWindowHandle } from '../../../electron/trainer-windows.ts'

function harness(options: { load?: () => Promise<void>; isEngineUp?: boolean } = {}) {
  const sent: Array<{ message: MainToEngine; transfer: unknown[] | undefined }> = []
  const windows: Array<{
    service: string
    ports: unknown[]
    closed: boolean
    gone: (reason: string) => void
  }> = []
  let channels = 0
  const manager = new TrainerWindows({
    createWindow: (service): TrainerWindowHandle => {
      const record = {
        service,
        ports: [] as unknown[],
        closed: false,
        gone: (_reason: string) => undefined as void,
      }
      windows.push(record)
      return {
        load: options.load ?? (() => Promise.resolve()),
        postPort: (port) => record.ports.push(port),
        onGone: (listener) => {
          record.gone = listener
        },
        close: () => {
          record.closed = true
        },
      }
    },
    createChannel: () => {
      channels += 1
      return { port1: `engine-end-${channels}`, port2: `window-end-${channels}` }
    },
    postToEngine: (message, transfer) => {
      sent.push({ message, transfer })
      return options.isEngineUp ?? true
    },
    description: 'Electron test window',
    loadTimeoutMs: 200,
  })
  return { manager, sent, windows }
}

describe('TrainerWindows', () => {
  it('opens a window, gives it one end and the engine the other', async () => {
    const { manager, sent, windows } = harness()
    await manager.handle({ type: 'trainer-window.open', id: 1, backends: ['webgl'] })
    expect(windows[0]?.ports).toEqual(['window-end-1'])
    expect(sent).toEqual([
      {
        message: { type: 'trainer-window.opened', id: 1, description: 'Electron test window' },
        transfer: ['engine-end-1'],
      },
    ])
    expect(manager.count).toBe(1)
  })

  it('reports a page that does not load, and closes its window', async () => {
    const { manager, sent, windows } = harness({ load: () => new Promise(() => undefined) })
    await manager.handle({ type: 'trainer-window.open', id: 4, backends: ['webgpu'] })
    expect(sent[0]?.message).toEqual({
      type: 'trainer-window.failed',
      id: 4,
      message: 'the trainer page did not load within 200 ms',
    })
    expect(windows[0]?.closed).toBe(true)
    expect(manager.count).toBe(0)
  })

  it(`refuses more than ${MAX_TRAINER_WINDOWS} windows and duplicate ids`, async () => {
    const harnessed = harness()
    const { manager, sent } = harnessed
    const { windows } = harnessed
    await manager.handle({ type: 'trainer-window.open', id: 1, backends: ['webgpu'] })
    await manager.handle({ type: 'trainer-window.open', id: 1, backends: [] })
    await manager.handle({ type: 'trainer-window.open', id: 2, backends: ['webgl'], service: 'trainer' })
    await manager.handle({ type: 'trainer-window.open', id: 3, backends: [], service: 'webrtc' })
    await manager.handle({ type: 'trainer-window.open', id: 4, backends: [] })
    expect(sent.map((s) => s.message.type)).toEqual([
      'trainer-window.opened',
      'trainer-window.failed',
      'trainer-window.opened',
      'trainer-window.opened',
      'trainer-window.failed',
    ])
    // A window per GPU API plus the WebRTC window; each page is told what to serve.
    expect(windows.map((w) => w.service)).toEqual(['trainer', 'trainer', 'webrtc'])
  })

  it('tells the engine when a window dies, once', async () => {
    const { manager, sent, windows } = harness()
    await manager.handle({ type: 'trainer-window.open', id: 1, backends: [] })
    windows[0]?.gone('its renderer crashed')
    windows[0]?.gone('it was closed')
    expect(sent.at(-1)?.message).toEqual({
      type: 'trainer-window.gone',
      id: 1,
      reason: 'its renderer crashed',
    })
    expect(sent).toHaveLength(2)
    expect(manager.count).toBe(0)
  })

  it('closes on request and on closeAll, and drops a window the engine cannot receive', async () => {
    const { manager, windows } = harness()
    await manager.handle({ type: 'trainer-window.open', id: 1, backends: [] })
    await manager.handle({ type: 'trainer-window.close', id: 1 })
    expect(windows[0]?.closed).toBe(true)
    await manager.handle({ type: 'trainer-window.open', id: 2, backends: [] })
    manager.closeAll()
    expect(windows[1]?.closed).toBe(true)
    const down = harness({ isEngineUp: false })
    await down.manager.handle({ type: 'trainer-window.open', id: 1, backends: [] })
    expect(down.windows[0]?.closed).toBe(true)
  })
})
