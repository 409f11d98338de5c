/**
 * Entry of the hidden trainer window's page (bundled to dist/app/trainer/). It waits for the
 * MessagePort that the trainer preload posts into this world, then serves the trainer protocol
 * on it with this page's routes (WebGPU, WebGL, cpu): the same TrainerService a Chromium page
 * serves over its WebSocket (core/browser/page-entry.ts). One port per page.
 */
import { createPortChannel } from '../core/browser/channel.ts'
import { TrainerService } from '../core/browser/trainer-service.ts'
import { createBrowserRoutes } from '../core/platform/browser-routes.ts'
import { TRAINER_PORT_MESSAGE } from './ipc-contract.ts'

let service: TrainerService | undefined

window.addEventListener('message', (event: MessageEvent) => {
  // Only our own preload posts into this window; ignore anything else.
  if (event.source !== window || event.data !== TRAINER_PORT_MESSAGE) return
  const [port] = event.ports
  if (port === undefined) return
  if (service !== undefined) {
    port.close()
    return
  }
  service = new TrainerService({ channel: createPortChannel(port), routes: createBrowserRoutes() })
})
