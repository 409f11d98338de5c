/**
 * Composes the desktop engine inside its utility process: the Node engine on the data folder
 * under userData, with the desktop route table (desktop-routes.ts) and its peer connections in a
 * hidden window (Chromium's WebRTC, not @roamhq/wrtc: see README.md), and the engine API server on
 * 127.0.0.1 with a random per-launch token that also serves the built UI. The window loads the UI
 * from that server, so the renderer talks to the engine over exactly the HTTP/WebSocket API the
 * browser build uses.
 */
import { createNodeEngine, startApiServer } from '../core/api/index.node.ts'
import type { SignalingServerStarter } from '../core/api/node-engine.node.ts'
import { desktopRoutes } from './desktop-routes.ts'
import type { EngineStartConfig } from './engine-messages.ts'
import type { RunningEngine } from './engine-host-runtime.ts'
import { createWindowWebRtc } from './window-host-provider.ts'
import type { MainLink } from './window-host-provider.ts'

/** Loopback only: the engine API must never be reachable from another machine. */
export const ENGINE_HOST = '127.0.0.1'

/**
 * Local rooms run the signaling server inside the engine's process, as `longhaul node` does; it
 * is loaded only when a local room is created (core may not import it; this composition root may).
 */
const startSignalingServer: SignalingServerStarter = async (options) =>
  (await import('../signaling-server/server.ts')).startSignalingServer(options)

export async function startDesktopEngine(
  config: EngineStartConfig,
  link: MainLink | undefined,
): Promise<RunningEngine> {
  const { routes, providers } = desktopRoutes(link)
  // In Electron the peer connections live in a hidden window (window-host-provider.ts); outside
  // it (tests of this composition in plain Node) @roamhq/wrtc works and is the default.
  const webrtc = link === undefined ? undefined : createWindowWebRtc({ link })
  const engine = await createNodeEngine({
    dataDir: config.dataDir,
    version: config.appVersion,
    routes,
    startSignalingServer,
    ...(webrtc !== undefined && { webrtc: () => webrtc.open() }),
  })
  let server: Awaited<ReturnType<typeof startApiServer>>
  try {
    server = await startApiServer({
      engine,
      host: ENGINE_HOST,
      port: 0,
      staticDir: config.staticDir,
      allowedOrigins: config.allowedOrigins,
    })
  } catch (error) {
    await engine.close()
    throw error
  }
  return {
    url: server.url,
    token: server.token,
    uiUrl: server.uiUrl,
    close: async () => {
      // Server first (no new commands), then the engine (room, peers, training), then the windows.
      await Promise.allSettled([server.close()])
      await Promise.allSettled([engine.close()])
      await Promise.allSettled([...providers.map((provider) => provider.closeHost()), webrtc?.close()])
    },
  }
}
