/**
 * Entry of the hidden window's page (bundled to dist/app/trainer/). It waits for the MessagePort
 * that the trainer preload posts into this world, then serves, on that port, what its URL fragment
 * names (`#service=`): the trainer protocol, or the peer-host protocol whose RTCPeerConnections
 * carry the desktop engine's peer connections (the engine's @roamhq/wrtc cannot receive in
 * Electron: see electron/README.md). The same services a Chromium page serves over its WebSocket
 * (core/browser/serve-page.ts). One port per page.
 */
import { createPortChannel, pageService } from '../core/browser/channel.ts'
import { servePage } from '../core/browser/serve-page.ts'
import { TRAINER_PORT_MESSAGE } from './ipc-contract.ts'

let isServing = false

window.addEventListener('message', (event: MessageEvent) => {
  // Only our own preload posts into this window; ignore anything else.
  if (event.source !== window || event.data !== TRAINER_PORT_MESSAGE) return
  const [port] = event.ports
  if (port === undefined) return
  if (isServing) {
    port.close()
    return
  }
  isServing = true
  const channel = createPortChannel(port)
  const service = pageService(location.hash)
  if (service === undefined) {
    console.error(`longhaul window: ${location.hash} names no service this page serves`)
    channel.close()
    return
  }
  servePage(channel, service).catch((error: unknown) => {
    // The engine sees the port close and reports the window as failed.
    console.error(`longhaul window: the service failed to start: ${String(error)}`)
    channel.close()
  })
})
