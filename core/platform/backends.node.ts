/**
 * The composition root for tensor backends in Node: the route table in priority order and
 * `initBackend`, which the trainer and the CLI call once at start-up.
 *
 * Priority: tensorflow (tfjs-node-gpu, else tfjs-node) -> wasm -> cpu. A later route (webgpu through
 * Dawn, webgl in Electron) is one more `create...Route()` entry in ROUTES, placed by priority.
 */
import { createCpuRoute } from './cpu-route.ts'
import { createTensorflowRoute } from './tensorflow-route.node.ts'
import { createWasmRoute } from './wasm-route.node.ts'
import { selectBackend, startRoute } from '../tensor/backend-select.ts'
import type { BackendChoice, BackendRoute } from '../tensor/backend-select.ts'

/** Environment variable that names a backend when no `--backend` flag is given. */
export const BACKEND_ENV_VAR = 'LONGHAUL_BACKEND'

// One instance per process: probes are memoised on the route and tfjs's registry is global anyway.
const ROUTES: readonly BackendRoute[] = [createTensorflowRoute(), createWasmRoute(), createCpuRoute()]

/** The routes of this runtime in priority order (the same objects every call, so probes run once). */
export function listRoutes(): BackendRoute[] {
  return [...ROUTES]
}

export interface InitBackendOptions {
  /** Route name from `--backend`; when absent or blank, LONGHAUL_BACKEND is read (blank there too: choose). */
  readonly preferred?: string
  /** Kernels the model needs to train (requiredTrainingKernels); default none. */
  readonly requiredKernels?: readonly string[]
  /** Receives the one-line reason, e.g. "backend wasm: chosen because tensorflow is unavailable (...)". */
  readonly log?: (line: string) => void
  /** Route table; default listRoutes(). A seam for tests. */
  readonly routes?: readonly BackendRoute[]
  /** Environment to read LONGHAUL_BACKEND from; default process.env. A seam for tests. */
  readonly env?: Readonly<Record<string, string | undefined>>
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
  const { preferred, preferredSource } = resolvePreferredBackend(
    options.preferred,
    options.env ?? process.env,
  )
  const choice = await selectBackend(options.routes ?? ROUTES, {
    ...(options.requiredKernels !== undefined ? { requiredKernels: options.requiredKernels } : {}),
    ...(preferred !== undefined ? { preferred } : {}),
    ...(preferredSource !== undefined ? { preferredSource } : {}),
    start: startRoute,
  })
  const chosen = choice.report.find((r) => r.chosen)
  options.log?.(`backend ${choice.reason}${chosen?.detail !== undefined ? ` [${chosen.detail}]` : ''}`)
  return choice
}
