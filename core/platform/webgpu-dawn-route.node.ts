/**
 * The `webgpu` route in Node: tfjs-backend-webgpu on Dawn, Google's WebGPU implementation, through
 * the `webgpu` npm package (an optionalDependency that ships dawn.node for linux x64/arm64, macOS
 * universal and Windows x64/arm64; Dawn drives Vulkan, Metal or D3D12 itself).
 *
 * The adapter query runs in a short-lived child process: Dawn prints its driver warnings
 * ("Couldn't load Vulkan: libvulkan.so.1 ...") straight to the process's stderr, and a broken driver
 * can crash the process that loads it. The child's stderr becomes the reason we print instead.
 *
 * What 4.22 really does in Node (checked by reading dist/tf-backend-webgpu.node.js): dataSync()
 * copies through an OffscreenCanvas 'webgpu' context, which Node does not have, while data() maps a
 * staging buffer, which Dawn supports. So the route is 'async-only': it is offered only to callers
 * that train with the Trainer's `...Async` methods (`longhaul train`, openRouteTrainer), its start
 * runs the asynchronous readback check, and synchronous callers (the swarm node, the simulator)
 * never see it. Not measured on a real adapter here (no Vulkan loader on this machine).
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { firstLine } from '../tensor/backend-select.ts'
import type { BackendRoute, RouteProbe } from '../tensor/backend-select.ts'
import { hardwareWords, labelAdapter, NULL_ADAPTER_NAME, readAdapterFacts } from './gpu-adapter.ts'
import type { AdapterFacts, DeviceLabel } from './gpu-adapter.ts'
import { nodeModuleLoader } from './module-loader.node.ts'
import type { ModuleLoader } from './module-loader.node.ts'
import { checkAsyncReadback } from './readback-check.ts'

export const WEBGPU_PACKAGE = 'webgpu'

/** Longest wait for the adapter query child (Dawn enumerates every backend it knows). */
export const DAWN_QUERY_TIMEOUT_MS = 10_000

/** What the child process found: the adapter's info (null for none) and Dawn's warnings. */
export interface DawnAdapterQuery {
  readonly adapter: AdapterFacts | null
  readonly warnings: readonly string[]
}

// Plain JavaScript run by `node --input-type=module -e`: imports dawn.node, asks for the
// high-performance adapter, prints one JSON line and exits (Dawn can keep the loop alive).
const QUERY_SCRIPT = `
const { create } = await import(process.env.LONGHAUL_DAWN_INDEX)
const gpu = create([])
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' })
let facts = null
if (adapter) {
  const info = adapter.info ?? adapter
  facts = {}
  for (const key of ['vendor', 'architecture', 'device', 'description']) {
    if (typeof info[key] === 'string') facts[key] = info[key]
  }
  const fallback = info.isFallbackAdapter ?? adapter.isFallbackAdapter
  if (typeof fallback === 'boolean') facts.isFallbackAdapter = fallback
}
process.stdout.write(JSON.stringify({ adapter: facts }) + '\\n')
process.exit(0)
`

/** Dawn's "Warning: ..." lines from stderr, prefix removed (source locations dropped). */
export function dawnWarnings(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('Warning:'))
    .map((line) => line.slice('Warning:'.length).trim())
}

function parseQueryOutput(stdout: string, stderr: string): DawnAdapterQuery {
  const lines = stdout.trim().split('\n')
  const parsed: unknown = JSON.parse(lines[lines.length - 1] ?? '')
  if (typeof parsed !== 'object' || parsed === null || !('adapter' in parsed)) {
    throw new Error('the Dawn query printed no result')
  }
  const adapter = parsed.adapter === null ? null : readAdapterFacts(parsed.adapter)
  return { adapter, warnings: dawnWarnings(stderr) }
}

/** The line of a child's stderr that names the error (Node prints a source excerpt first). */
function errorLine(stderr: string): string | undefined {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .find((line) => /^(\w*Error\b|Error \[)/.test(line))
}

/** Runs the adapter query in a child process; rejects on a crash or timeout. */
export function queryDawnAdapter(
  packageDir: string,
  timeoutMs = DAWN_QUERY_TIMEOUT_MS,
): Promise<DawnAdapterQuery> {
  const index = pathToFileURL(join(packageDir, 'index.js')).href
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', QUERY_SCRIPT],
      { env: { ...process.env, LONGHAUL_DAWN_INDEX: index }, timeout: timeoutMs, windowsHide: true },
      (error, stdout, stderr) => {
        if (error !== null) {
          const warnings = dawnWarnings(stderr)
          const why = error.killed
            ? `no answer within ${timeoutMs} ms`
            : (errorLine(stderr) ?? firstLine(stderr || error))
          reject(new Error(warnings.length > 0 ? `${why} (${warnings[0] ?? ''})` : why))
          return
        }
        try {
          resolve(parseQueryOutput(stdout, stderr))
        } catch (parseError) {
          reject(parseError instanceof Error ? parseError : new Error(String(parseError)))
        }
      },
    )
  })
}

/** Folder name of the dawn.node build for this platform inside the webgpu package. */
export function dawnBinaryDir(platform: string = process.platform, arch: string = process.arch): string {
  return `${platform}-${platform === 'darwin' ? 'universal' : arch}`
}

function isDawnModule(value: unknown): value is { create(options: string[]): unknown; globals: object } {
  return (
    typeof value === 'object' &&
    value !== null &&
    'create' in value &&
    typeof value.create === 'function' &&
    'globals' in value &&
    typeof value.globals === 'object' &&
    value.globals !== null
  )
}

/**
 * Makes WebGPU visible to tfjs in this process: Dawn's GPU* constants on globalThis and
 * navigator.gpu (tfjs-backend-webgpu registers itself only when it sees navigator.gpu at import).
 */
async function installDawn(loader: ModuleLoader): Promise<void> {
  const dawn = await loader.load(WEBGPU_PACKAGE)
  if (!isDawnModule(dawn)) throw new Error('the webgpu package exports no create()/globals')
  Object.assign(globalThis, dawn.globals)
  const gpu = dawn.create([])
  const existing: unknown = Reflect.get(globalThis, 'navigator')
  if (typeof existing === 'object' && existing !== null) {
    // Node 21+ has a navigator object; add gpu to it.
    Object.defineProperty(existing, 'gpu', { value: gpu, configurable: true })
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true })
  }
  await import('@tensorflow/tfjs-backend-webgpu')
}

export interface DawnRouteOptions {
  readonly loader?: ModuleLoader
  /** The adapter query; default: a child process (queryDawnAdapter). */
  readonly queryAdapter?: (packageDir: string) => Promise<DawnAdapterQuery>
  /** Installs Dawn and the tfjs backend in this process; default: the real thing. */
  readonly install?: () => Promise<void>
}

function withLabel(probe: Omit<RouteProbe, 'adapter' | 'isHardware'>, label: DeviceLabel): RouteProbe {
  return {
    ...probe,
    adapter: label.adapter,
    isHardware: label.isHardware,
    ...(label.softwareRenderer !== undefined ? { softwareRenderer: label.softwareRenderer } : {}),
  }
}

/** Builds the route (one per process; the probe is memoised). */
export function createDawnWebgpuRoute(options: DawnRouteOptions = {}): BackendRoute {
  const loader = options.loader ?? nodeModuleLoader
  const queryAdapter = options.queryAdapter ?? ((dir: string) => queryDawnAdapter(dir))
  const install = options.install ?? (() => installDawn(loader))
  let probed: Promise<RouteProbe> | undefined

  async function probeOnce(): Promise<RouteProbe> {
    const packageDir = loader.packageDir(WEBGPU_PACKAGE)
    if (packageDir === undefined) {
      return {
        available: false,
        reason: `not installed: ${WEBGPU_PACKAGE} (Dawn's Node binding, an optional dependency)`,
        isHardware: false,
      }
    }
    const binary = join(packageDir, 'dist', dawnBinaryDir(), 'dawn.node')
    if (!existsSync(binary)) {
      return {
        available: false,
        reason: `${WEBGPU_PACKAGE} ships no Dawn binary for ${dawnBinaryDir()}`,
        isHardware: false,
      }
    }
    let query: DawnAdapterQuery
    try {
      query = await queryAdapter(packageDir)
    } catch (error) {
      return {
        available: false,
        reason: `asking Dawn for an adapter failed: ${firstLine(error)}`,
        isHardware: false,
      }
    }
    if (query.adapter === null) {
      const why = query.warnings.length > 0 ? ` (${query.warnings.join('; ')})` : ''
      return { available: false, reason: `Dawn found no WebGPU adapter${why}`, isHardware: false }
    }
    const label = labelAdapter(query.adapter)
    if (label.adapter.includes(NULL_ADAPTER_NAME)) {
      return withLabel(
        { available: false, reason: 'Dawn offered only its null backend, which computes nothing' },
        label,
      )
    }
    const found = `Dawn found ${label.adapter} (${hardwareWords(label)})`
    try {
      await install()
    } catch (error) {
      return withLabel(
        { available: false, reason: `${found}, but loading it failed: ${firstLine(error)}` },
        label,
      )
    }
    return withLabel(
      {
        available: true,
        reason: `${found}; loaded @tensorflow/tfjs-backend-webgpu on it`,
        detail: 'asynchronous readback only (no OffscreenCanvas in Node)',
      },
      label,
    )
  }

  return {
    name: 'webgpu',
    kind: 'webgpu',
    isHardware: true,
    readback: 'async-only',
    probe: () => (probed ??= probeOnce()),
    register: async () => {
      const probe = await (probed ??= probeOnce())
      if (!probe.available) throw new Error(`webgpu route is unavailable: ${probe.reason}`)
    },
    verify: async () => {
      const check = await checkAsyncReadback()
      return check.ok ? undefined : check.reason
    },
  }
}
