/**
 * Tensor backend selection by route, runtime-agnostic (the same code chooses in Node and in a
 * browser context; only the route list differs, built in core/platform/).
 *
 * A route is one way to run tfjs kernels (native TensorFlow, WebAssembly, plain JavaScript, later
 * WebGPU/WebGL). Routes are tried in priority order; a route is chosen when it is available AND every
 * kernel the model needs for training is registered on it, so a model never fails mid-epoch on a
 * missing gradient kernel. Adding a route is adding an entry to the list: nothing here names one.
 */
import { getKernel, ready, setBackend } from '@tensorflow/tfjs-core'
import { CoreError } from '../errors.ts'

/** How a route executes kernels. Extend (e.g. 'webnn') when a new route needs it. */
export type RouteKind = 'native' | 'wasm' | 'js' | 'webgpu' | 'webgl'

/** What a route found out about itself. Never thrown: a probe that fails says why in `reason`. */
export interface RouteProbe {
  readonly available: boolean
  /** One clause for people: why it is (un)available, e.g. "not installed: ..." or "loaded @tensorflow/...". */
  readonly reason: string
  /** Extra facts for the doctor table (build flavour, threads, device). */
  readonly detail?: string
  /** Overrides the route's default when the probe knows better (a CUDA build found a GPU, or none). */
  readonly isHardware?: boolean
}

/**
 * One way to run tfjs. `name` is both the route's name (what `--backend` takes) and the tfjs backend
 * name it registers. `probe()` must be cheap to call twice (memoise it) and must not throw.
 */
export interface BackendRoute {
  readonly name: string
  readonly kind: RouteKind
  /** True when kernels run on an accelerator (GPU); false for CPU code, native or not. */
  readonly isHardware: boolean
  probe(): Promise<RouteProbe>
  /** Makes the backend ready for `tf.setBackend(name)` (paths, thread counts). Throws on failure. */
  register(): Promise<void>
  /** After `tf.setBackend(name)` succeeded: what actually runs (threads in use, GPU or not). */
  inspect?(): RouteInspection
}

/** What a started route reports about itself; refines its probe in the report. */
export interface RouteInspection {
  readonly detail?: string
  readonly isHardware?: boolean
}

/** One line of the selection report, in route priority order. */
export interface RouteReport {
  readonly name: string
  readonly kind: RouteKind
  readonly isHardware: boolean
  readonly available: boolean
  readonly reason: string
  readonly detail?: string
  /** Required kernels this route lacks (empty when unavailable: unknown then). */
  readonly missingKernels: readonly string[]
  readonly chosen: boolean
}

/** The outcome of {@link selectBackend}. */
export interface BackendChoice {
  /** tfjs backend name now in use (or that would be, for a dry selection). */
  readonly name: string
  /** One sentence: "wasm: chosen because tensorflow is unavailable (not installed: ...)". */
  readonly reason: string
  readonly isHardware: boolean
  readonly report: readonly RouteReport[]
}

export interface SelectBackendOptions {
  /** Kernel names the model needs for training (see requiredTrainingKernels). Default: none. */
  readonly requiredKernels?: readonly string[]
  /** A route name that must be used; if it cannot be, selection fails instead of falling back. */
  readonly preferred?: string
  /** Where `preferred` came from, for the sentences (e.g. "--backend wasm", "LONGHAUL_BACKEND=wasm"). */
  readonly preferredSource?: string
  /** Kernel registry lookup; default: tfjs-core's `getKernel`. */
  readonly hasKernel?: (kernelName: string, backendName: string) => boolean
  /**
   * Starts the chosen route. Omit for a dry selection (nothing is switched). A start that throws marks
   * the route unavailable and selection moves on (unless it was preferred).
   */
  readonly start?: (route: BackendRoute) => Promise<RouteInspection | undefined>
}

/** How many missing kernel names a sentence lists before "and N more". */
const MAX_KERNELS_NAMED = 3

function defaultHasKernel(kernelName: string, backendName: string): boolean {
  return getKernel(kernelName, backendName) !== undefined
}

/** First line of an error's message: enough for a sentence, the rest is a stack or a wall of text. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  const line = text.split('\n').find((l) => l.trim() !== '') ?? ''
  return line.trim() === '' ? 'unknown error' : line.trim()
}

function nameKernels(kernels: readonly string[]): string {
  const named = kernels.slice(0, MAX_KERNELS_NAMED).join(', ')
  const more = kernels.length - MAX_KERNELS_NAMED
  return more > 0 ? `${named} and ${more} more` : named
}

async function safeProbe(route: BackendRoute): Promise<RouteProbe> {
  try {
    return await route.probe()
  } catch (error) {
    // Probes should not throw; if one does, the route is simply unavailable and says why.
    return { available: false, reason: `probe failed: ${firstLine(error)}` }
  }
}

interface Row {
  route: BackendRoute
  probe: RouteProbe
  missingKernels: string[]
  /** Set when the route was available and complete but would not start. */
  startError?: string
}

/** Why a route was passed over, without its name: "is unavailable (not installed: ...)". */
function whyNot(row: Row): string {
  if (!row.probe.available) return `is unavailable (${row.probe.reason})`
  if (row.startError !== undefined) return `failed to start (${row.startError})`
  return `lacks ${nameKernels(row.missingKernels)} needed to train this model`
}

function skipClause(row: Row): string {
  return `${row.route.name} ${whyNot(row)}`
}

function joinClauses(clauses: readonly string[]): string {
  if (clauses.length <= 1) return clauses.join('')
  return `${clauses.slice(0, -1).join(', ')} and ${clauses[clauses.length - 1] ?? ''}`
}

function toReport(rows: readonly Row[], chosen: Row | undefined): RouteReport[] {
  return rows.map((row) => {
    const available = row.probe.available && row.startError === undefined
    return {
      name: row.route.name,
      kind: row.route.kind,
      isHardware: row.probe.isHardware ?? row.route.isHardware,
      available,
      reason: row.startError !== undefined ? `failed to start: ${row.startError}` : row.probe.reason,
      ...(row.probe.detail !== undefined ? { detail: row.probe.detail } : {}),
      missingKernels: row.missingKernels,
      chosen: row === chosen,
    }
  })
}

async function buildRows(
  routes: readonly BackendRoute[],
  required: readonly string[],
  hasKernel: (kernelName: string, backendName: string) => boolean,
): Promise<Row[]> {
  const probes = await Promise.all(routes.map(safeProbe))
  return routes.map((route, i) => {
    const probe = probes[i] ?? { available: false, reason: 'not probed' }
    const missingKernels = probe.available ? required.filter((k) => !hasKernel(k, route.name)) : []
    return { route, probe, missingKernels }
  })
}

/**
 * Probes every route and checks the required kernels without choosing or starting anything (no report
 * line is `chosen`). For tables such as `longhaul doctor`'s.
 */
export async function probeRoutes(
  routes: readonly BackendRoute[],
  options: Pick<SelectBackendOptions, 'requiredKernels' | 'hasKernel'> = {},
): Promise<RouteReport[]> {
  const rows = await buildRows(
    routes,
    [...new Set(options.requiredKernels ?? [])],
    options.hasKernel ?? defaultHasKernel,
  )
  return toReport(rows, undefined)
}

/**
 * Chooses the first route (in the given priority order) that is available, has every required kernel
 * registered, and starts (when `start` is given). All routes are probed, so the report is complete.
 *
 * @throws CoreError ERR_INVALID_ARGUMENT when `preferred` names no route.
 * @throws CoreError ERR_BACKEND_UNAVAILABLE when `preferred` cannot be used, or when no route can
 *   train the model; the message says why for every route.
 */
export async function selectBackend(
  routes: readonly BackendRoute[],
  options: SelectBackendOptions = {},
): Promise<BackendChoice> {
  const required = [...new Set(options.requiredKernels ?? [])]
  const hasKernel = options.hasKernel ?? defaultHasKernel
  const { preferred } = options
  if (preferred !== undefined && !routes.some((r) => r.name === preferred)) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `Unknown tensor backend '${preferred}'${options.preferredSource !== undefined ? ` (from ${options.preferredSource})` : ''}; ` +
        `choose one of: ${routes.map((r) => r.name).join(', ')}.`,
    )
  }
  const rows = await buildRows(routes, required, hasKernel)

  let chosen: Row | undefined
  for (const row of rows) {
    if (preferred !== undefined && row.route.name !== preferred) continue
    if (!row.probe.available || row.missingKernels.length > 0) continue
    if (options.start !== undefined) {
      try {
        const seen = await options.start(row.route)
        if (seen !== undefined) row.probe = { ...row.probe, ...seen }
      } catch (error) {
        row.startError = firstLine(error)
        continue
      }
    }
    chosen = row
    break
  }

  if (preferred !== undefined) {
    const source = options.preferredSource !== undefined ? ` (${options.preferredSource})` : ''
    if (chosen === undefined) {
      const row = rows.find((r) => r.route.name === preferred)
      const why = row === undefined ? 'is not a known route' : whyNot(row)
      throw new CoreError(
        'ERR_BACKEND_UNAVAILABLE',
        `Tensor backend '${preferred}' was requested${source} but it ${why}; pick another backend, or none to let Longhaul choose.`,
      )
    }
    return {
      name: chosen.route.name,
      reason: `${chosen.route.name}: chosen because it was requested${source}`,
      isHardware: chosen.probe.isHardware ?? chosen.route.isHardware,
      report: toReport(rows, chosen),
    }
  }

  if (chosen === undefined) {
    throw new CoreError(
      'ERR_BACKEND_UNAVAILABLE',
      `No tensor backend can train this model: ${rows.map(skipClause).join('; ')}.`,
    )
  }
  const skipped = rows.slice(0, rows.indexOf(chosen)).map(skipClause)
  const reason =
    skipped.length === 0
      ? `${chosen.route.name}: chosen as the first route in priority order`
      : `${chosen.route.name}: chosen because ${joinClauses(skipped)}`
  return {
    name: chosen.route.name,
    reason,
    isHardware: chosen.probe.isHardware ?? chosen.route.isHardware,
    report: toReport(rows, chosen),
  }
}

/**
 * The default `start` for {@link selectBackend}: `route.register()`, `tf.setBackend`, `tf.ready()`,
 * then `route.inspect()`. Throws when tfjs refuses the backend (tfjs itself logs the cause as a warning).
 */
export async function startRoute(route: BackendRoute): Promise<RouteInspection | undefined> {
  await route.register()
  const isSet = await setBackend(route.name)
  if (!isSet) throw new Error(`tfjs could not initialise the '${route.name}' backend (see its warning above)`)
  await ready()
  return route.inspect?.()
}
