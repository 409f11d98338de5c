/**
 * The IPC contract between the main window's preload and the main process: every channel name,
 * its arguments and its result, in one place (STYLE.md §6). IPC carries only the native extras a
 * web page cannot do itself; everything about training goes through the engine API over
 * HTTP/WebSocket, the same path the browser build uses.
 *
 * Every handler answers an `IpcResult`: Electron reduces an error thrown in `ipcMain.handle` to
 * its message, so codes are carried in the value instead.
 */

/** Channels the renderer may `invoke`, with their argument tuples and result values. */
export interface IpcChannels {
  /** Opens the native folder picker; undefined when the person cancels. */
  'dialog:pick-folder': { args: [options: { readonly title?: string }]; value: string | undefined }
  /** Opens an http(s) or mailto link in the person's browser. */
  'shell:open-external': { args: [url: string]; value: true }
  /** The app's version (package.json), e.g. "0.1.0". */
  'app:version': { args: []; value: string }
}

export type IpcChannel = keyof IpcChannels

export const IPC_CHANNELS: readonly IpcChannel[] = [
  'dialog:pick-folder',
  'shell:open-external',
  'app:version',
]

/** Why an IPC call was refused. */
export type IpcErrorCode =
  /** The call came from a frame that is not the app's own page. */
  | 'ERR_FORBIDDEN_SENDER'
  /** The arguments failed validation. */
  | 'ERR_INVALID_ARGUMENT'
  /** The native operation failed; the message says how. */
  | 'ERR_NATIVE'

export type IpcResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: IpcErrorCode; readonly message: string }

/** Name under which the preload exposes its API on `window` (`window.desktop`). */
export const DESKTOP_API_KEY = 'desktop'

/** Channel on which main hands the hidden trainer window its MessagePort. */
export const TRAINER_PORT_CHANNEL = 'trainer:port'

/** The `window.postMessage` tag the trainer preload uses to pass that port into the page's world. */
export const TRAINER_PORT_MESSAGE = 'longhaul:trainer-port'
