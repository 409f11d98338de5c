/**
 * What a Longhaul page serves on its channel to the engine, in both hosts (a Chromium page:
 * page-entry.ts; Electron's hidden window: electron/trainer-page.ts):
 * - `trainer`: the trainer protocol with this page's routes (WebGPU, WebGL, cpu);
 * - `webrtc`: the peer-host protocol, this page's own RTCPeerConnection for the engine's transports.
 * Each service is loaded as its own chunk, so a WebRTC page never loads tfjs.
 */
import type { PageService, TrainerChannel } from './channel.ts'

export async function servePage(channel: TrainerChannel, service: PageService): Promise<void> {
  if (service === 'webrtc') {
    const { servePeerHost } = await import('./peer-host-page.ts')
    servePeerHost(channel)
    return
  }
  const [{ TrainerService }, { createBrowserRoutes }] = await Promise.all([
    import('./trainer-service.ts'),
    import('../platform/browser-routes.ts'),
  ])
  new TrainerService({ channel, routes: createBrowserRoutes() })
}
