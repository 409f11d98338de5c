/**
 * Entry of the trainer page that the engine opens in Chromium (core/platform/chromium-host.node.ts
 * bundles this file). It connects back to the engine over the WebSocket address in the URL fragment
 * (`#channel=<ws url with token>`) and serves the trainer protocol with this page's routes.
 *
 * Electron's hidden renderer does the same with a MessagePort instead of a socket:
 * `new TrainerService({ channel: createPortChannel(port), routes: createBrowserRoutes() })`.
 */
import { createBrowserRoutes } from '../platform/browser-routes.ts'
import { channelAddress, createSocketChannel } from './channel.ts'
import { TrainerService } from './trainer-service.ts'

function start(): void {
  const address = channelAddress(location.hash)
  if (address === undefined) {
    // Nothing to serve; the engine notices the missing connection and reports its own timeout.
    console.error('longhaul trainer page: no #channel=ws://... in the URL')
    return
  }
  const socket = new WebSocket(address)
  socket.binaryType = 'arraybuffer'
  socket.addEventListener('open', () => {
    new TrainerService({ channel: createSocketChannel(socket), routes: createBrowserRoutes() })
  })
}

start()
