/**
 * The route table of a browser context (a Chromium page, Electron's hidden renderer): webgpu, webgl,
 * cpu, in priority order.
 *
 * Each GPU probe ends with a readback check (readback-check.ts) in the form the Trainer will use
 * there. WebGL reads synchronously. WebGPU is 'async-only': in headless Chromium 156 on SwiftShader,
 * tfjs-backend-webgpu's synchronous readback returns zeros and takes the GPU process down (every
 * WebGL context of the page is lost with it), while data() is correct; so its check and its training
 * read asynchronously and nothing on this route ever calls dataSync(). The webgpu route stays
 * on-demand (probed only when asked for by name) and the engine still gives it a page of its own, so
 * a driver fault there cannot take WebGL down. Runtime-agnostic apart from the browser globals it
 * feature-tests (navigator.gpu, OffscreenCanvas), so it imports no Node built-ins; it is bundled
 * into the page.
 *
 * Each probe says what the device really is: the WebGPU adapter info or the unmasked WebGL renderer,
 * labelled hardware or software by the shared rules in gpu-adapter.ts. Backends are imported inside
 * the probe (a dynamic import), so listing routes registers nothing.
 */
import { engine, env, getKernelsForBackend, setBackend, version_core } from '@tensorflow/tfjs-core'
import { firstLine } from '../tensor/backend-select.ts'
import type { BackendRoute, RouteProbe } from '../tensor/backend-select.ts'
import { createCpuRoute } from './cpu-route.ts'
import { labelAdapter, labelRenderer, readAdapterFacts } from './gpu-adapter.ts'
import type { DeviceLabel } from './gpu-adapter.ts'
import { checkAsyncReadback, checkSyncReadback } from './readback-check.ts'
import type { ReadbackCheck } from './readback-check.ts'

/** What the route needs from `navigator.gpu`. */
interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<unknown>
}

function isGpuLike(value: unknown): value is GpuLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    'requestAdapter' in value &&
    typeof value.requestAdapter === 'function'
  )
}

function navigatorGpu(): GpuLike | undefined {
  const nav: unknown = Reflect.get(globalThis, 'navigator')
  if (typeof nav !== 'object' || nav === null) return undefined
  const gpu: unknown = Reflect.get(nav, 'gpu')
  return isGpuLike(gpu) ? gpu : undefined
}

function labelled(probe: Omit<RouteProbe, 'adapter' | 'isHardware'>, label: DeviceLabel): RouteProbe {
  return {
    ...probe,
    adapter: label.adapter,
    isHardware: label.isHardware,
    ...(label.softwareRenderer !== undefined ? { softwareRenderer: label.softwareRenderer } : {}),
  }
}

/** Kernel names tfjs has registered for a backend in this context. */
export function registeredKernels(backendName: string): string[] {
  return getKernelsForBackend(backendName)
    .map((k) => k.kernelName)
    .sort()
}

// Probes run concurrently (selection probes every route at once), but each readback check switches
// the context's backend; this chain runs them one after another.
let readbackChecks: Promise<unknown> = Promise.resolve()

/**
 * Starts `backendName` and runs the readback check on it, then switches back to the backend that
 * was running (if any), so a probe leaves the context as it found it. Returns why it cannot train.
 */
function readbackProblem(
  backendName: string,
  check: () => ReadbackCheck | Promise<ReadbackCheck>,
): Promise<string | undefined> {
  const run = async (): Promise<string | undefined> => {
    const previous: unknown = engine().backendName
    try {
      if (!(await setBackend(backendName))) return `tfjs could not initialise the ${backendName} backend`
      const result = await check()
      return result.ok ? undefined : result.reason
    } catch (error) {
      return `starting ${backendName} failed: ${firstLine(error)}`
    } finally {
      if (typeof previous === 'string' && previous !== backendName) await setBackend(previous)
    }
  }
  const result = readbackChecks.then(run, run)
  readbackChecks = result
  return result
}

function verifySyncReadback(): string | undefined {
  const check = checkSyncReadback()
  return check.ok ? undefined : check.reason
}

async function verifyAsyncReadback(): Promise<string | undefined> {
  const check = await checkAsyncReadback()
  return check.ok ? undefined : check.reason
}

/** WebGPU in this browser context (navigator.gpu). */
export function createBrowserWebgpuRoute(): BackendRoute {
  let probed: Promise<RouteProbe> | undefined

  async function probeOnce(): Promise<RouteProbe> {
    const gpu = navigatorGpu()
    if (gpu === undefined) {
      return {
        available: false,
        reason:
          'this context has no navigator.gpu (WebGPU is off here; Chromium on Linux enables it with --enable-unsafe-webgpu)',
        isHardware: false,
      }
    }
    let adapter: unknown
    try {
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' })
    } catch (error) {
      return { available: false, reason: `requestAdapter failed: ${firstLine(error)}`, isHardware: false }
    }
    if (adapter === null || adapter === undefined) {
      return { available: false, reason: 'WebGPU is on but found no adapter', isHardware: false }
    }
    const label = labelAdapter(readAdapterFacts(adapter))
    try {
      // The webgpu package exports no version of its own; it is released in step with tfjs-core.
      await import('@tensorflow/tfjs-backend-webgpu')
    } catch (error) {
      return labelled(
        { available: false, reason: `@tensorflow/tfjs-backend-webgpu failed to load: ${firstLine(error)}` },
        label,
      )
    }
    const loaded = `loaded @tensorflow/tfjs-backend-webgpu (tfjs-core ${version_core})`
    const detail = 'WebGPU compute shaders, asynchronous readback'
    const problem = await readbackProblem('webgpu', checkAsyncReadback)
    if (problem !== undefined)
      return labelled({ available: false, reason: `${loaded}, but ${problem}`, detail }, label)
    return labelled({ available: true, reason: loaded, detail }, label)
  }

  return {
    name: 'webgpu',
    kind: 'webgpu',
    isHardware: true,
    readback: 'async-only',
    onDemand: 'starts WebGPU, whose driver faults can reset the GPU process',
    probe: () => (probed ??= probeOnce()),
    register: async () => {
      const probe = await (probed ??= probeOnce())
      if (!probe.available) throw new Error(`webgpu route is unavailable: ${probe.reason}`)
    },
    verify: verifyAsyncReadback,
  }
}

interface RendererStrings {
  readonly unmasked?: string
  readonly masked: string
}

function readRenderer(): RendererStrings | string {
  if (typeof OffscreenCanvas === 'undefined') return 'this context has no OffscreenCanvas to open WebGL on'
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2')
  if (gl === null) return 'no WebGL2 context could be created (WebGL is off, blocklisted, or has no driver)'
  try {
    const info = gl.getExtension('WEBGL_debug_renderer_info')
    const unmasked: unknown = info === null ? undefined : gl.getParameter(info.UNMASKED_RENDERER_WEBGL)
    const masked: unknown = gl.getParameter(gl.RENDERER)
    return {
      ...(typeof unmasked === 'string' ? { unmasked } : {}),
      masked: typeof masked === 'string' ? masked : '',
    }
  } finally {
    // Give the context back at once: browsers cap live WebGL contexts per page.
    gl.getExtension('WEBGL_lose_context')?.loseContext()
  }
}

/** WebGL2 in this browser context. Requires float32 render targets: half floats are too coarse to train. */
export function createBrowserWebglRoute(): BackendRoute {
  let probed: Promise<RouteProbe> | undefined

  async function probeOnce(): Promise<RouteProbe> {
    let renderer: RendererStrings | string
    try {
      renderer = readRenderer()
    } catch (error) {
      return { available: false, reason: `opening WebGL2 failed: ${firstLine(error)}`, isHardware: false }
    }
    if (typeof renderer === 'string') return { available: false, reason: renderer, isHardware: false }
    const label = labelRenderer(renderer.unmasked, renderer.masked)
    let version: string
    try {
      const webgl = await import('@tensorflow/tfjs-backend-webgl')
      version = webgl.version_webgl
    } catch (error) {
      return labelled(
        { available: false, reason: `@tensorflow/tfjs-backend-webgl failed to load: ${firstLine(error)}` },
        label,
      )
    }
    const webglVersion: unknown = await env().getAsync('WEBGL_VERSION')
    const isFloat32: unknown = await env().getAsync('WEBGL_RENDER_FLOAT32_CAPABLE')
    if (isFloat32 !== true) {
      return labelled(
        {
          available: false,
          reason: 'WebGL here renders only 16-bit floats, too coarse to train with',
          detail: `WebGL ${String(webglVersion)}`,
        },
        label,
      )
    }
    const loaded = `loaded @tensorflow/tfjs-backend-webgl ${version}`
    const detail = `WebGL ${String(webglVersion)}, float32 render targets`
    const problem = await readbackProblem('webgl', checkSyncReadback)
    if (problem !== undefined) {
      return labelled({ available: false, reason: `${loaded}, but ${problem}`, detail }, label)
    }
    return labelled({ available: true, reason: loaded, detail }, label)
  }

  return {
    name: 'webgl',
    kind: 'webgl',
    isHardware: true,
    probe: () => (probed ??= probeOnce()),
    register: async () => {
      const probe = await (probed ??= probeOnce())
      if (!probe.available) throw new Error(`webgl route is unavailable: ${probe.reason}`)
    },
    verify: verifySyncReadback,
  }
}

/** The browser context's routes in priority order: webgpu, webgl, cpu (one instance per call). */
export function createBrowserRoutes(): BackendRoute[] {
  return [createBrowserWebgpuRoute(), createBrowserWebglRoute(), createCpuRoute()]
}
