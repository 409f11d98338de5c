/**
 * Entry of the hidden window's page (bundled to dist/app/trainer/). It waits for the MessagePort
 * that the trainer preload posts into this world, then serves, on that port, what its URL fragment
 * names (`#service=`): the trainer protocol, or the peer-host protocol whose RTCPeerConnections
 * carry the desktop engine's peer connections (the engine's @roamhq/wrtc cannot receive in
 * Electron: see electron/README.md). The same services a Chromium page serves over its WebSocket
 * (core/browser/serve-page.ts). One port per page.
 */
import { createPortChannel, pageService } from '../core/browser/channel.ts'
import { loadPageService } from '../core/browser/serve-page.ts'
import { TRAINER_PORT_MESSAGE } from './ipc-contract.ts'

const service = pageService(location.hash)
// Loaded at once, before the port arrives: the port queues the engine's messages until the
// service's channel starts it, so none is lost.
const loading =
  service === undefined
    ? Promise.reject(new Error(`${location.hash} names no service this page serves`))
    : loadPageService(service)
loading.catch((error: unknown) => console.error(`longhaul window: ${String(error)}`))
let hasPort = false

window.addEventListener('message', (event: MessageEvent) => {
  // Only our own preload posts into this window; ignore anything else.
  if (event.source !== window || event.data !== TRAINER_PORT_MESSAGE) return
  const [port] = event.ports
  if (port === undefined) return
  if (hasPort) {
    port.close()
    return
  }
  hasPort = true
  loading.then(
    (serve) => serve(createPortChannel(port)),
    // The engine sees the port close and reports the window as failed.
    () => port.close(),
  )
})
