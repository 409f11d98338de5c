/**
 * The composition root for tensor backends in Node: the route table in priority order and
 * `initBackend`, which the trainer and the CLI call once at start-up.
 *
 * Priority: tensorflow-gpu (CUDA) -> webgpu (Dawn in this process) -> webgpu-browser -> webgl
 * (both in a Chromium page) -> tensorflow (native CPU) -> wasm -> cpu.
 *
 * The two browser routes are on-demand: starting Chromium costs seconds, so plain `initBackend()`
 * never probes them (the default path starts no browser); they run when asked for by name
 * through `openRouteTrainer`, and `longhaul doctor` probes them. Electron's hidden renderer will
 * supply its own provider for the same routes (docs/gpu-routes.md).
 */
import { localAsyncTrainer } from '../browser/async-trainer.ts'
import type { AsyncTrainer } from '../browser/async-trainer.ts'
import type { TrainerSpec } from '../browser/trainer-protocol.ts'
import { CoreError } from '../errors.ts'
import { selectBackend, startRoute } from '../tensor/backend-select.ts'
import type { BackendChoice, BackendRoute } from '../tensor/backend-select.ts'
import { zooModel } from '../tensor/models.ts'
import { requiredTrainingKernels } from '../tensor/training-kernels.ts'
import { Trainer } from '../training/trainer.ts'
import {
  createBrowserHostedRoute,
  createChromiumHostProvider,
  isBrowserHostedRoute,
} from './browser-hosted-route.node.ts'
import { createCpuRoute } from './cpu-route.ts'
import { createTensorflowGpuRoute } from './tensorflow-gpu-route.node.ts'
import { createTensorflowRoute } from './tensorflow-route.node.ts'
import { createWasmRoute } from './wasm-route.node.ts'
import { createDawnWebgpuRoute } from './webgpu-dawn-route.node.ts'

/** Environment variable that names a backend when no `--backend` flag is given. */
export const BACKEND_ENV_VAR = 'LONGHAUL_BACKEND'

// One instance per process: probes are memoised on the route and tfjs's registry is global anyway.
const TENSORFLOW = createTensorflowRoute()
// A Chromium per GPU API: a WebGPU readback failure resets the GPU process and would lose WebGL too.
const CHROMIUM_WEBGPU = createChromiumHostProvider({ backends: ['webgpu'] })
const CHROMIUM_WEBGL = createChromiumHostProvider({ backends: ['webgl'] })
const ROUTES: readonly BackendRoute[] = [
  createTensorflowGpuRoute(TENSORFLOW),
  createDawnWebgpuRoute(),
  createBrowserHostedRoute({
    name: 'webgpu-browser',
    backendName: 'webgpu',
    kind: 'webgpu',
    provider: CHROMIUM_WEBGPU,
  }),
  createBrowserHostedRoute({ name: 'webgl', backendName: 'webgl', kind: 'webgl', provider: CHROMIUM_WEBGL }),
  TENSORFLOW,
  createWasmRoute(),
  createCpuRoute(),
]

/** The routes of this runtime in priority order (the same objects every call, so probes run once). */
export function listRoutes(): BackendRoute[] {
  return [...ROUTES]
}

export interface InitBackendOptions {
  /** Route name from `--backend`; when absent or blank, LONGHAUL_BACKEND is read (blank there too: choose). */
  readonly preferred?: string
  /** Where `preferred` came from, for the sentences; default "--backend <name>". */
  readonly preferredSource?: string
  /** Kernels the model needs to train (requiredTrainingKernels); default none. */
  readonly requiredKernels?: readonly string[]
  /** Receives the one-line reason, e.g. "backend wasm: chosen because tensorflow is unavailable (...)". */
  readonly log?: (line: string) => void
  /** Route table; default listRoutes(). A seam for tests. */
  readonly routes?: readonly BackendRoute[]
  /** Environment to read LONGHAUL_BACKEND from; default process.env. A seam for tests. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /**
   * Whether the caller can train in a browser context (it uses openRouteTrainer, not an in-process
   * Trainer). Default false: a browser route is then left out, and asking for one by name fails
   * with a sentence instead of training silently on this process's backend.
   */
  readonly allowBrowserPlacement?: boolean
  /**
   * Whether the caller reads results asynchronously (openRouteTrainer, `longhaul train`). Default
   * false: 'async-only' routes (WebGPU through Dawn) are then left out, and asking for one by name
   * fails with a sentence, because a synchronous read there returns zeros.
   */
  readonly allowAsyncOnly?: boolean
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim()
  return trimmed === undefined || trimmed === '' ? undefined : trimmed
}

/**
 * The backend the user asked for: the `--backend` flag, else LONGHAUL_BACKEND, else none (blank values
 * count as absent), with where it came from for error messages.
 */
export function resolvePreferredBackend(
  flag: string | undefined,
  environment: Readonly<Record<string, string | undefined>>,
): { preferred?: string; preferredSource?: string } {
  const fromFlag = nonEmpty(flag)
  if (fromFlag !== undefined) return { preferred: fromFlag, preferredSource: `--backend ${fromFlag}` }
  const fromEnv = nonEmpty(environment[BACKEND_ENV_VAR])
  if (fromEnv !== undefined) return { preferred: fromEnv, preferredSource: `${BACKEND_ENV_VAR}=${fromEnv}` }
  return {}
}

/**
 * Chooses, registers and starts the tensor backend (`tf.setBackend` + `tf.ready()`), then logs why.
 * Without a preference the first route in priority order that is available, has every required
 * kernel and starts is used. A preferred route is used or the call fails: no silent fallback.
 *
 * @throws CoreError ERR_INVALID_ARGUMENT when the preferred name is not a route.
 * @throws CoreError ERR_BACKEND_UNAVAILABLE when the preferred route cannot be used, or no route can
 *   train the model; the message gives the reason for each route.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendChoice> {
  const resolved = resolvePreferredBackend(options.preferred, options.env ?? process.env)
  const { preferred } = resolved
  const preferredSource =
    options.preferredSource !== undefined && preferred === options.preferred?.trim()
      ? options.preferredSource
      : resolved.preferredSource
  const all = options.routes ?? ROUTES
  if (preferred !== undefined && !all.some((r) => r.name === preferred)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `Unknown tensor backend '${preferred}'${preferredSource !== undefined ? ` (from ${preferredSource})` : ''}; ` +
        `choose one of: ${all.map((r) => r.name).join(', ')}.`,
    )
  }
  const asked = all.find((r) => r.name === preferred)
  const source = preferredSource !== undefined ? ` (${preferredSource})` : ''
  if (asked?.placement === 'browser' && options.allowBrowserPlacement !== true) {
    throw new CoreError(
      'ERR_BACKEND_UNAVAILABLE',
      `Tensor backend '${asked.name}' was requested${source} ` +
        'but it trains in a browser context (a Chromium page here), and this command steps its model ' +
        'synchronously in this process; `longhaul train --backend ' +
        `${asked.name}\`, \`longhaul node --backend ${asked.name}\` and \`npm run bench -- train\` can use it, ` +
        'or pick another backend.',
    )
  }
  if (asked?.readback === 'async-only' && options.allowAsyncOnly !== true) {
    throw new CoreError(
      'ERR_BACKEND_UNAVAILABLE',
      `Tensor backend '${asked.name}' was requested${source} ` +
        'but it can only read results asynchronously, and this command reads them synchronously; ' +
        `\`longhaul train --backend ${asked.name}\` and \`longhaul node --backend ${asked.name}\` can use it, or pick another backend.`,
    )
  }
  const routes = all
    .filter((r) => options.allowBrowserPlacement === true || r.placement !== 'browser')
    .map((r) => (options.allowAsyncOnly === true ? r : forSyncReaders(r)))
  const choice = await selectBackend(routes, {
    ...(options.requiredKernels !== undefined ? { requiredKernels: options.requiredKernels } : {}),
    ...(preferred !== undefined ? { preferred } : {}),
    ...(preferredSource !== undefined ? { preferredSource } : {}),
    start: startRoute,
  })
  const chosen = choice.report.find((r) => r.chosen)
  options.log?.(`backend ${choice.reason}${chosen?.detail !== undefined ? ` [${chosen.detail}]` : ''}`)
  return choice
}

/**
 * The route as a synchronous reader sees it: an 'async-only' route stays in the table (so the
 * sentence still says what its probe found) but is never available, and says why.
 */
function forSyncReaders(route: BackendRoute): BackendRoute {
  if (route.readback !== 'async-only') return route
  return {
    ...route,
    probe: async () => {
      const probe = await route.probe()
      if (!probe.available) return probe
      return {
        ...probe,
        available: false,
        reason: `${probe.reason}, but it reads results only asynchronously and this command reads them synchronously`,
      }
    },
  }
}

/** What openRouteTrainer builds: a zoo model for this data shape and optimizer. */
export type RouteTrainerSpec = Omit<TrainerSpec, 'backend'>

export interface OpenRouteTrainerOptions {
  /** Route table; default listRoutes(). */
  readonly routes?: readonly BackendRoute[]
  readonly log?: (line: string) => void
  /** Where the route name came from, for the sentences; default "--backend <name>". */
  readonly preferredSource?: string
}

/**
 * A trainer on the named route, wherever it runs: in this process for local routes (the tfjs
 * backend is switched to it), in the browser context for browser routes (the page is started if
 * needed). Both run the same Trainer; the result is the AsyncTrainer view of it.
 *
 * @throws CoreError ERR_INVALID_ARGUMENT for an unknown route; ERR_BACKEND_UNAVAILABLE when the
 *   route cannot be used or lacks a kernel the model needs to train (the message says which).
 */
export async function openRouteTrainer(
  routeName: string,
  spec: RouteTrainerSpec,
  options: OpenRouteTrainerOptions = {},
): Promise<{ trainer: AsyncTrainer; choice: BackendChoice }> {
  const routes = options.routes ?? ROUTES
  const choice = await initBackend({
    preferred: routeName,
    requiredKernels: requiredTrainingKernels(zooModel(spec.model).layerClasses),
    routes,
    env: {},
    allowBrowserPlacement: true,
    allowAsyncOnly: true,
    ...(options.log !== undefined ? { log: options.log } : {}),
    ...(options.preferredSource !== undefined ? { preferredSource: options.preferredSource } : {}),
  })
  const route = routes.find((r) => r.name === routeName)
  if (route !== undefined && isBrowserHostedRoute(route)) {
    const host = await route.provider.acquire()
    const trainer = await host.client.open({ ...spec, backend: choice.backendName })
    return { trainer, choice }
  }
  const model = zooModel(spec.model).build(spec)
  const trainer = new Trainer({ model, classCount: spec.classCount, optimizer: spec.optimizer })
  return { trainer: localAsyncTrainer(trainer, `local ${choice.backendName}`, choice.readback), choice }
}

/** Closes the Chromium pages the browser routes started, if any (call before the process should exit). */
export async function closeBrowserHosts(): Promise<void> {
  await Promise.all([CHROMIUM_WEBGPU.closeHost(), CHROMIUM_WEBGL.closeHost()])
}
