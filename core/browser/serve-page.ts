/**
 * What a Longhaul page serves on its channel to the engine, in both hosts (a Chromium page:
 * page-entry.ts; Electron's hidden window: electron/trainer-page.ts):
 * - `trainer`: the trainer protocol with this page's routes (WebGPU, WebGL, cpu);
 * - `webrtc`: the peer-host protocol, this page's own RTCPeerConnection for the engine's transports.
 * Each service is loaded as its own chunk, so a WebRTC page never loads tfjs.
 *
 * Loading is separate from starting: a page loads its service first and only then opens (or
 * starts) its channel, because the engine may send its first request the moment the channel is
 * up, and a message that arrives before the service listens would be lost.
 */
import type { PageService, TrainerChannel } from './channel.ts'

/** Starts the loaded service on a channel; synchronous, so no early message is missed. */
export type StartPageService = (channel: TrainerChannel) => void

export async function loadPageService(service: PageService): Promise<StartPageService> {
  if (service === 'webrtc') {
    const { servePeerHost } = await import('./peer-host-page.ts')
    return (channel) => {
      servePeerHost(channel)
    }
  }
  const [{ TrainerService }, { createBrowserRoutes }] = await Promise.all([
    import('./trainer-service.ts'),
    import('../platform/browser-routes.ts'),
  ])
  return (channel) => {
    new TrainerService({ channel, routes: createBrowserRoutes() })
  }
}
