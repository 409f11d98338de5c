/**
 * Entry of the page that the engine opens in Chromium (core/platform/chromium-host.node.ts bundles
 * this file). It connects back to the engine over the WebSocket address in the URL fragment
 * (`#channel=<ws url with token>`) and serves what `#service=` names (serve-page.ts; default
 * `trainer`).
 *
 * Electron's hidden window does the same over a MessagePort instead of a socket
 * (electron/trainer-page.ts).
 */
import { channelAddress, createSocketChannel, pageService } from './channel.ts'
import { loadPageService } from './serve-page.ts'

async function start(): Promise<void> {
  const address = channelAddress(location.hash)
  if (address === undefined) {
    // Nothing to serve; the engine notices the missing connection and reports its own timeout.
    console.error('longhaul page: no #channel=ws://... in the URL')
    return
  }
  const service = pageService(location.hash)
  if (service === undefined) {
    console.error(`longhaul page: ${location.hash} names no service this page serves`)
    return
  }
  // The service first: the engine sends its first request as soon as the socket opens.
  const serve = await loadPageService(service)
  const socket = new WebSocket(address)
  socket.binaryType = 'arraybuffer'
  socket.addEventListener('open', () => serve(createSocketChannel(socket)))
}

start().catch((error: unknown) => {
  console.error(`longhaul page: the service failed to load: ${String(error)}`)
})
