/**
 * Starts the peer-host service in a browser context (a Chromium page or Electron's hidden window)
 * on a channel to the engine, with the page's own RTCPeerConnection through simple-peer's browser
 * build: the same simple-peer version the Node transports run, so both ends negotiate alike.
 */
import SimplePeer from 'simple-peer/simplepeer.min.js'
import type { TrainerChannel } from './channel.ts'
import { PeerHostService } from './peer-host-service.ts'

export function servePeerHost(channel: TrainerChannel): PeerHostService {
  return new PeerHostService({
    channel,
    userAgent: navigator.userAgent,
    createPeer: (options) => new SimplePeer(options),
  })
}
