/**
 * WebRTC through a headless Chromium page, for Node engines whose own WebRTC binding cannot be
 * used (`longhaul node --webrtc chromium`; a platform without an @roamhq/wrtc binary). The page
 * serves the peer-host protocol over the same token-guarded loopback WebSocket a trainer page
 * uses (chromium-host.node.ts); the engine's transports are HostedPeerTransports on it.
 */
import { CoreError } from '../errors.ts'
import { PeerHostClient } from '../transport/hosted-peer-transport.ts'
import { launchChromiumPage } from './chromium-host.node.ts'
import { WEBRTC_DISABLED_CHROMIUM_FEATURES } from './chromium-webrtc-features.ts'
import type { ChromiumHostOptions } from './chromium-host.node.ts'

/** Flags of the WebRTC page's Chromium (see chromium-webrtc-features.ts). */
export const WEBRTC_PAGE_ARGS: readonly string[] = [
  `--disable-features=${WEBRTC_DISABLED_CHROMIUM_FEATURES.join(',')}`,
]

export interface ChromiumPeerHost {
  readonly client: PeerHostClient
  /** "Chromium 156.0.8078.79 (/usr/bin/chromium) page". */
  readonly description: string
  readonly startMs: number
  /** Closes the client (failing any transport still open), the browser and the server. */
  close(): Promise<void>
}

/**
 * Launches the WebRTC page and waits for its hello.
 * @throws CoreError as launchChromiumPage, or from PeerHostClient.connect (ERR_TIMEOUT, ERR_BAD_MESSAGE).
 */
export async function launchChromiumPeerHost(options: ChromiumHostOptions = {}): Promise<ChromiumPeerHost> {
  const page = await launchChromiumPage({
    ...options,
    service: 'webrtc',
    extraArgs: [...WEBRTC_PAGE_ARGS, ...(options.extraArgs ?? [])],
  })
  const description = `${page.description} page`
  let client: PeerHostClient
  try {
    client = await PeerHostClient.connect({ channel: page.channel, description })
  } catch (error) {
    await page.close()
    throw error instanceof CoreError
      ? error
      : new CoreError('ERR_WEBRTC_UNAVAILABLE', `the Chromium WebRTC page failed: ${String(error)}`)
  }
  return {
    client,
    description,
    startMs: page.startMs,
    close: async () => {
      client.close()
      await page.close()
    },
  }
}
