/**
 * Preload of the main window (sandboxed, context-isolated): exposes `window.desktop`, the few
 * native extras the UI may ask main for (ipc-contract.ts). Never ipcRenderer itself, never an
 * event object: each method invokes one named channel and returns its IpcResult.
 *
 * A sandboxed preload can only `require('electron')`, so this file is bundled into one CommonJS
 * file (build/scripts/bundle-electron.mjs); it may import types and constants only.
 */
import { contextBridge, ipcRenderer } from 'electron'
import { DESKTOP_API_KEY } from './ipc-contract.ts'
import type { IpcChannel, IpcChannels, IpcResult } from './ipc-contract.ts'

function isIpcResultShape(value: unknown): value is { ok: boolean } {
  return typeof value === 'object' && value !== null && 'ok' in value && typeof value.ok === 'boolean'
}

async function invoke<C extends IpcChannel>(
  channel: C,
  ...args: IpcChannels[C]['args']
): Promise<IpcResult<IpcChannels[C]['value']>> {
  const result: unknown = await ipcRenderer.invoke(channel, ...args)
  if (!isIpcResultShape(result)) {
    return {
      ok: false,
      code: 'ERR_NATIVE',
      message: `The app answered ${channel} with something unexpected.`,
    }
  }
  // Main's handlers (ipc-handlers.ts) build these results; the channel fixes the value type.
  return result as IpcResult<IpcChannels[C]['value']>
}

const api = {
  /** The native folder picker; `value` is undefined when the person cancels. */
  pickFolder: (options: { title?: string } = {}) => invoke('dialog:pick-folder', options),
  /** Opens an http(s) or mailto link in the person's browser. */
  openExternal: (url: string) => invoke('shell:open-external', url),
  /** The app's version. */
  appVersion: () => invoke('app:version'),
  /** True: the UI runs inside the desktop app (the browser build has no window.desktop). */
  isDesktop: true,
} as const

contextBridge.exposeInMainWorld(DESKTOP_API_KEY, api)

/** The type of `window.desktop`, for the renderer (derived, never written by hand). */
export type DesktopApi = typeof api
