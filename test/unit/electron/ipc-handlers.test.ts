import { describe, expect, it } from 'vitest'
import { IPC_CHANNELS } from '../../../electron/ipc-contract.ts'
import { createIpcHandlers, isTrustedSender, registerIpcHandlers } from '../../../electron/ipc-handlers.ts'
import type { IpcHandlerDeps, IpcMainLike, IpcSender } from '../../../electron/ipc-handlers.ts'

const ORIGIN = 'http://127.0.0.1:4100'
const TRUSTED: IpcSender = { webContentsId: 7, frameUrl: `${ORIGIN}/index.html` }

function deps(overrides: Partial<IpcHandlerDeps> = {}) {
  const calls = { dialogs: [] as unknown[], opened: [] as string[], remembered: [] as string[] }
  const value: IpcHandlerDeps = {
    mainWebContentsId: () => 7,
    uiOrigin: () => ORIGIN,
    showOpenDialog: (options) => {
      calls.dialogs.push(options)
      return Promise.resolve({ canceled: false, filePaths: ['/data/cats'] })
    },
    openExternal: (url) => {
      calls.opened.push(url)
      return Promise.resolve()
    },
    appVersion: () => '0.1.0',
    lastFolder: () => '/data',
    rememberFolder: (path) => {
      calls.remembered.push(path)
    },
    ...overrides,
  }
  return { value, calls }
}

describe('isTrustedSender', () => {
  it('accepts only the main window showing the engine origin', () => {
    const { value } = deps()
    expect(isTrustedSender(TRUSTED, value)).toBe(true)
    expect(isTrustedSender({ ...TRUSTED, webContentsId: 8 }, value)).toBe(false)
    expect(isTrustedSender({ ...TRUSTED, frameUrl: 'https://evil.example/' }, value)).toBe(false)
    expect(isTrustedSender({ ...TRUSTED, frameUrl: undefined }, value)).toBe(false)
    expect(isTrustedSender(TRUSTED, { ...value, uiOrigin: () => undefined })).toBe(false)
  })
})

describe('createIpcHandlers', () => {
  it('opens the folder picker at the last folder and remembers the choice', async () => {
    const { value, calls } = deps()
    const result = await createIpcHandlers(value)['dialog:pick-folder'](TRUSTED, [{ title: 'Pick data' }])
    expect(result).toEqual({ ok: true, value: '/data/cats' })
    expect(calls.dialogs).toEqual([
      { title: 'Pick data', properties: ['openDirectory', 'createDirectory'], defaultPath: '/data' },
    ])
    expect(calls.remembered).toEqual(['/data/cats'])
  })

  it('answers undefined when the picker is cancelled and remembers nothing', async () => {
    const { value, calls } = deps({
      showOpenDialog: () => Promise.resolve({ canceled: true, filePaths: [] }),
    })
    expect(await createIpcHandlers(value)['dialog:pick-folder'](TRUSTED, [])).toEqual({
      ok: true,
      value: undefined,
    })
    expect(calls.remembered).toEqual([])
  })

  it('refuses a picker title that is not short text', async () => {
    const { value } = deps()
    const handler = createIpcHandlers(value)['dialog:pick-folder']
    for (const args of [[{ title: 3 }], [{ title: 'x'.repeat(201) }], ['title'], [{}, {}]]) {
      expect(await handler(TRUSTED, args)).toMatchObject({ ok: false, code: 'ERR_INVALID_ARGUMENT' })
    }
  })

  it('opens only http(s) and mailto links', async () => {
    const { value, calls } = deps()
    const handler = createIpcHandlers(value)['shell:open-external']
    expect(await handler(TRUSTED, ['https://longhaul.example/docs'])).toEqual({ ok: true, value: true })
    for (const args of [['file:///etc/passwd'], ['javascript:alert(1)'], [42], [], ['https://a', 'b']]) {
      expect(await handler(TRUSTED, args)).toMatchObject({ ok: false, code: 'ERR_INVALID_ARGUMENT' })
    }
    expect(calls.opened).toEqual(['https://longhaul.example/docs'])
  })

  it('refuses every channel to a foreign sender before doing anything', async () => {
    const { value, calls } = deps()
    const handlers = createIpcHandlers(value)
    const stranger: IpcSender = { webContentsId: 7, frameUrl: 'https://evil.example/' }
    for (const channel of IPC_CHANNELS) {
      expect(await handlers[channel](stranger, [])).toMatchObject({ ok: false, code: 'ERR_FORBIDDEN_SENDER' })
    }
    expect(calls.dialogs).toEqual([])
  })

  it('turns a native failure into a result instead of a throw', async () => {
    const { value } = deps({ openExternal: () => Promise.reject(new Error('no browser configured')) })
    expect(await createIpcHandlers(value)['shell:open-external'](TRUSTED, ['https://a.example'])).toEqual({
      ok: false,
      code: 'ERR_NATIVE',
      message: 'no browser configured',
    })
  })

  it('answers the app version', async () => {
    const { value } = deps()
    expect(await createIpcHandlers(value)['app:version'](TRUSTED, [])).toEqual({ ok: true, value: '0.1.0' })
  })
})

describe('registerIpcHandlers', () => {
  it('registers every channel, passes the sender through, and removes them again', async () => {
    const registered = new Map<string, Parameters<IpcMainLike['handle']>[1]>()
    const ipcMain: IpcMainLike = {
      handle: (channel, listener) => registered.set(channel, listener),
      removeHandler: (channel) => registered.delete(channel),
    }
    const remove = registerIpcHandlers(ipcMain, createIpcHandlers(deps().value))
    expect([...registered.keys()].sort()).toEqual([...IPC_CHANNELS].sort())
    const listener = registered.get('app:version')
    expect(await listener?.({ sender: { id: 7 }, senderFrame: { url: `${ORIGIN}/` } })).toEqual({
      ok: true,
      value: '0.1.0',
    })
    expect(await listener?.({ sender: { id: 7 }, senderFrame: null })).toMatchObject({
      code: 'ERR_FORBIDDEN_SENDER',
    })
    remove()
    expect(registered.size).toBe(0)
  })
})
