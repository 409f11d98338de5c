/**
 * The `wasm` route: @tensorflow/tfjs-backend-wasm (XNNPACK compiled to WebAssembly) in Node.
 *
 * What 4.22 really does in Node (checked by reading its dist/backend_wasm.js and by running it):
 * - it picks the SIMD binary when `WebAssembly.validate` accepts a SIMD module (Node 20 does);
 * - its WASM_HAS_MULTITHREAD_SUPPORT flag returns false whenever IS_NODE (tfjs issue #3830), so the
 *   single-threaded build runs and `getThreadsCount()` is 1. Forcing the flag on fails: the threaded
 *   build starts its workers from a blob: URL, which Node's Worker rejects (ERR_WORKER_PATH).
 * We report exactly that instead of promising threads. In a browser with cross-origin isolation the
 * same package does run threads; a browser route would call setThreadsCount there.
 */
import { availableParallelism } from 'node:os'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { env } from '@tensorflow/tfjs-core'
import { firstLine } from '../tensor/backend-select.ts'
import type { BackendRoute, RouteInspection, RouteProbe } from '../tensor/backend-select.ts'
import { nodeModuleLoader } from './module-loader.node.ts'
import type * as WasmNamespace from '@tensorflow/tfjs-backend-wasm'
import type { ModuleLoader } from './module-loader.node.ts'

export const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm'

/** The binaries tfjs-backend-wasm chooses between (plain, SIMD, SIMD + threads). */
const WASM_BINARIES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
] as const

type WasmModule = typeof WasmNamespace

/** What the WebAssembly backend can use here and, once started, what it does use. */
export interface WasmFeatures {
  readonly simd: boolean
  readonly threads: boolean
  /** Threads XNNPACK actually runs; undefined until the wasm backend has started. */
  readonly threadsInUse?: number
  /** Why threads are off, when they are. */
  readonly threadsNote?: string
}

const NODE_THREADS_NOTE = 'tfjs-backend-wasm 4.22 turns WebAssembly threads off in Node'

async function readFeatures(wasm: WasmModule): Promise<WasmFeatures> {
  // Both flags are registered by importing the wasm package, so they exist by now.
  const simd = (await env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true
  const threads = (await env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true
  let threadsInUse: number | undefined
  try {
    threadsInUse = wasm.getThreadsCount()
  } catch {
    // getThreadsCount throws "WASM backend not initialized" until tf.setBackend('wasm') has run.
    threadsInUse = undefined
  }
  return {
    simd,
    threads,
    ...(threadsInUse !== undefined ? { threadsInUse } : {}),
    ...(!threads && env().getBool('IS_NODE') ? { threadsNote: NODE_THREADS_NOTE } : {}),
  }
}

function buildName(features: WasmFeatures): string {
  if (features.simd && features.threads) return 'SIMD + threads build'
  return features.simd ? 'SIMD build' : 'plain build (no SIMD)'
}

function describe(features: WasmFeatures): string {
  const { threadsInUse } = features
  const threads =
    threadsInUse !== undefined
      ? `${threadsInUse} thread${threadsInUse === 1 ? '' : 's'}`
      : features.threads
        ? 'multi-threaded'
        : 'single-threaded'
  const note = features.threadsNote !== undefined ? ` (${features.threadsNote})` : ''
  return `${buildName(features)}, ${threads}${note}`
}

// The package is one per process, so what it loaded is module state, shared by route instances.
let loadedWasm: WasmModule | undefined

/** SIMD/threads support and threads in use; undefined when the wasm package has not been loaded. */
export async function wasmFeatures(): Promise<WasmFeatures | undefined> {
  return loadedWasm === undefined ? undefined : readFeatures(loadedWasm)
}

/** Builds the route; `loader` is a seam for tests (only `packageDir` is used: the import is typed). */
export function createWasmRoute(options: { loader?: ModuleLoader } = {}): BackendRoute {
  const loader = options.loader ?? nodeModuleLoader
  let probed: Promise<RouteProbe> | undefined
  let distDir: string | undefined
  let isRegistered = false
  let probedFeatures: WasmFeatures = { simd: false, threads: false }

  async function probeOnce(): Promise<RouteProbe> {
    if (typeof WebAssembly !== 'object') {
      return { available: false, reason: 'this JavaScript runtime has no WebAssembly' }
    }
    const packageDir = loader.packageDir(WASM_PACKAGE)
    if (packageDir === undefined) return { available: false, reason: `not installed: ${WASM_PACKAGE}` }
    const dir = join(packageDir, 'dist')
    const missing = WASM_BINARIES.filter((file) => !existsSync(join(dir, file)))
    if (missing.length > 0) {
      return { available: false, reason: `installed but ${missing.join(', ')} missing from ${dir}` }
    }
    let wasm: WasmModule
    try {
      wasm = await import('@tensorflow/tfjs-backend-wasm')
    } catch (error) {
      return { available: false, reason: `installed but failed to load: ${firstLine(error)}` }
    }
    loadedWasm = wasm
    distDir = dir
    probedFeatures = await readFeatures(wasm)
    return {
      available: true,
      reason: `loaded ${WASM_PACKAGE} ${wasm.version_wasm}`,
      detail: describe(probedFeatures),
    }
  }

  return {
    name: 'wasm',
    kind: 'wasm',
    isHardware: false,
    probe: () => (probed ??= probeOnce()),
    register: async () => {
      const probe = await (probed ??= probeOnce())
      if (!probe.available || loadedWasm === undefined || distDir === undefined) {
        throw new Error(`wasm route is unavailable: ${probe.reason}`)
      }
      // setWasmPaths must run once, before the backend initialises.
      if (isRegistered) return
      loadedWasm.setWasmPaths(`${distDir}/`)
      if (probedFeatures.threads) loadedWasm.setThreadsCount(availableParallelism())
      isRegistered = true
    },
    inspect: (): RouteInspection => {
      // Called right after tf.setBackend('wasm') succeeded, so getThreadsCount() is defined now.
      const threadsInUse = loadedWasm?.getThreadsCount()
      const features = { ...probedFeatures, ...(threadsInUse !== undefined ? { threadsInUse } : {}) }
      return { detail: describe(features), isHardware: false }
    },
  }
}
