/**
 * The main-process side of the IPC contract (ipc-contract.ts). Each handler:
 * 1. refuses senders other than the app's own UI page (a frame of the main window whose origin
 *    is the engine's loopback origin), so a navigated-away or embedded page gets nothing;
 * 2. validates its arguments (they come from an untrusted renderer);
 * 3. answers an IpcResult instead of throwing.
 *
 * The Electron pieces (dialog, shell, app) arrive as small interfaces, so this module runs and is
 * tested in plain Node.
 */
import type { IpcChannel, IpcChannels, IpcErrorCode, IpcResult } from './ipc-contract.ts'
import { isExternalUrl, originOf } from './window-options.ts'

/** What a handler learns about the caller (from Electron's IpcMainInvokeEvent). */
export interface IpcSender {
  /** webContents id of the sending window. */
  readonly webContentsId: number
  /** URL of the sending frame; undefined when Electron no longer knows it. */
  readonly frameUrl: string | undefined
}

export interface IpcHandlerDeps {
  /** The main window's webContents id, or undefined before it exists. */
  readonly mainWebContentsId: () => number | undefined
  /** The origin the UI is served from ("http://127.0.0.1:PORT"), or undefined before the engine is up. */
  readonly uiOrigin: () => string | undefined
  readonly showOpenDialog: (options: {
    readonly title: string
    readonly properties: readonly ('openDirectory' | 'createDirectory')[]
    readonly defaultPath?: string
  }) => Promise<{ readonly canceled: boolean; readonly filePaths: readonly string[] }>
  readonly openExternal: (url: string) => Promise<void>
  readonly appVersion: () => string
  /** The folder the picker opened last time (settings), and a way to remember the new one. */
  readonly lastFolder: () => string | undefined
  readonly rememberFolder: (path: string) => void
}

export type IpcHandler<C extends IpcChannel> = (
  sender: IpcSender,
  args: readonly unknown[],
) => Promise<IpcResult<IpcChannels[C]['value']>>

export type IpcHandlers = { readonly [C in IpcChannel]: IpcHandler<C> }

const MAX_TITLE_LENGTH = 200
const MAX_URL_LENGTH = 4096

function refuse(code: IpcErrorCode, message: string): { ok: false; code: IpcErrorCode; message: string } {
  return { ok: false, code, message }
}

/** Whether the sender is the app's own UI page in the main window. */
export function isTrustedSender(
  sender: IpcSender,
  deps: Pick<IpcHandlerDeps, 'mainWebContentsId' | 'uiOrigin'>,
): boolean {
  const mainId = deps.mainWebContentsId()
  const origin = deps.uiOrigin()
  if (mainId === undefined || origin === undefined || sender.webContentsId !== mainId) return false
  return sender.frameUrl !== undefined && originOf(sender.frameUrl) === origin
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Builds the handlers; register them with `registerIpcHandlers`. */
export function createIpcHandlers(deps: IpcHandlerDeps): IpcHandlers {
  const guarded =
    <C extends IpcChannel>(handler: IpcHandler<C>): IpcHandler<C> =>
    async (sender, args) => {
      if (!isTrustedSender(sender, deps)) {
        return refuse('ERR_FORBIDDEN_SENDER', 'This request did not come from the Longhaul window.')
      }
      try {
        return await handler(sender, args)
      } catch (error) {
        return refuse('ERR_NATIVE', messageOf(error))
      }
    }

  return {
    'dialog:pick-folder': guarded<'dialog:pick-folder'>(async (_sender, args) => {
      const [options] = args
      if (args.length > 1 || (options !== undefined && (typeof options !== 'object' || options === null))) {
        return refuse('ERR_INVALID_ARGUMENT', 'pickFolder takes one optional { title } object.')
      }
      const title = options !== undefined && 'title' in options ? options.title : undefined
      if (title !== undefined && (typeof title !== 'string' || title.length > MAX_TITLE_LENGTH)) {
        return refuse(
          'ERR_INVALID_ARGUMENT',
          `The picker title must be text of at most ${MAX_TITLE_LENGTH} characters.`,
        )
      }
      const lastFolder = deps.lastFolder()
      const picked = await deps.showOpenDialog({
        title: title ?? 'Choose a dataset folder',
        properties: ['openDirectory', 'createDirectory'],
        ...(lastFolder !== undefined ? { defaultPath: lastFolder } : {}),
      })
      const path = picked.canceled ? undefined : picked.filePaths[0]
      if (path !== undefined) deps.rememberFolder(path)
      return { ok: true, value: path }
    }),

    'shell:open-external': guarded<'shell:open-external'>(async (_sender, args) => {
      const [url] = args
      if (
        args.length !== 1 ||
        typeof url !== 'string' ||
        url.length > MAX_URL_LENGTH ||
        !isExternalUrl(url)
      ) {
        return refuse('ERR_INVALID_ARGUMENT', 'Only http(s) and mailto links can be opened outside the app.')
      }
      await deps.openExternal(url)
      return { ok: true, value: true }
    }),

    'app:version': guarded<'app:version'>((_sender, args) => {
      if (args.length !== 0)
        return Promise.resolve(refuse('ERR_INVALID_ARGUMENT', 'appVersion takes no arguments.'))
      return Promise.resolve({ ok: true, value: deps.appVersion() })
    }),
  }
}

/** The part of ipcMain used to register handlers. */
export interface IpcMainLike {
  handle(
    channel: string,
    listener: (
      event: {
        readonly sender: { readonly id: number }
        readonly senderFrame: { readonly url: string } | null
      },
      ...args: unknown[]
    ) => Promise<unknown>,
  ): void
  removeHandler(channel: string): void
}

/** Registers every handler on ipcMain; returns a function that removes them again. */
export function registerIpcHandlers(ipcMain: IpcMainLike, handlers: IpcHandlers): () => void {
  const channels = Object.keys(handlers) as IpcChannel[]
  for (const channel of channels) {
    const handler = handlers[channel] as IpcHandler<IpcChannel>
    ipcMain.handle(channel, (event, ...args) =>
      handler({ webContentsId: event.sender.id, frameUrl: event.senderFrame?.url }, args),
    )
  }
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel)
  }
}
