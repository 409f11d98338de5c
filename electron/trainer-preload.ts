/**
 * Preload of a hidden trainer window (sandboxed, context-isolated). Main sends the window its end
 * of the engine's MessageChannelMain on TRAINER_PORT_CHANNEL; a preload cannot hand a port to the
 * page through contextBridge, so it posts it into the page's own world with window.postMessage,
 * where trainer-page.ts picks it up. Nothing else is exposed.
 */
import { ipcRenderer } from 'electron'
import { TRAINER_PORT_CHANNEL, TRAINER_PORT_MESSAGE } from './ipc-contract.ts'

ipcRenderer.on(TRAINER_PORT_CHANNEL, (event) => {
  const [port] = event.ports
  if (port === undefined) return
  window.postMessage(TRAINER_PORT_MESSAGE, window.location.origin, [port])
})
