/**
 * The tensor routes of the desktop engine, in priority order: CUDA first, then WebGPU and WebGL in
 * a hidden Electron window (Chromium is already there, so no Playwright and no second browser),
 * then the CPU routes. The same order as core/platform/backends.node.ts, with two differences:
 * - the browser routes are hosted by window-host-provider.ts instead of a headless Chromium;
 * - Dawn-in-Node (`webgpu` in this process) is left out: Chromium's own WebGPU in the window is
 *   the better route here, and dawn.node creates external ArrayBuffers, which Electron's V8 memory
 *   cage refuses (README.md, "Native modules").
 */
import { createBrowserHostedRoute } from '../core/platform/browser-hosted-route.node.ts'
import type { BrowserHostProvider } from '../core/platform/browser-hosted-route.node.ts'
import { createCpuRoute } from '../core/platform/cpu-route.ts'
import { createTensorflowGpuRoute } from '../core/platform/tensorflow-gpu-route.node.ts'
import { createTensorflowRoute } from '../core/platform/tensorflow-route.node.ts'
import { createWasmRoute } from '../core/platform/wasm-route.node.ts'
import type { BackendRoute } from '../core/tensor/backend-select.ts'
import type { MainLink } from './window-host-provider.ts'
import { createWindowHostProvider } from './window-host-provider.ts'

export interface DesktopRoutes {
  readonly routes: readonly BackendRoute[]
  /** The window providers, to close their windows when the engine stops. */
  readonly providers: readonly BrowserHostProvider[]
}

/**
 * The route table for an engine in the desktop app. Without `link` (the engine runs outside
 * Electron, e.g. in tests) the browser routes are absent and the table is CUDA, native CPU, wasm, cpu.
 */
export function desktopRoutes(link: MainLink | undefined): DesktopRoutes {
  const tensorflow = createTensorflowRoute()
  const providers: BrowserHostProvider[] = []
  const browser: BackendRoute[] = []
  if (link !== undefined) {
    // A window per GPU API, like the Chromium hosts: a WebGPU probe can reset the GPU process.
    const webgpu = createWindowHostProvider({ link, backends: ['webgpu'] })
    const webgl = createWindowHostProvider({ link, backends: ['webgl'] })
    providers.push(webgpu, webgl)
    browser.push(
      createBrowserHostedRoute({
        name: 'webgpu-browser',
        backendName: 'webgpu',
        kind: 'webgpu',
        provider: webgpu,
      }),
      createBrowserHostedRoute({ name: 'webgl', backendName: 'webgl', kind: 'webgl', provider: webgl }),
    )
  }
  return {
    routes: [
      createTensorflowGpuRoute(tensorflow),
      ...browser,
      tensorflow,
      createWasmRoute(),
      createCpuRoute(),
    ],
    providers,
  }
}
