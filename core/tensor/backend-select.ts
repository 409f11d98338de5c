/**
 * Tensor backend selection by route, runtime-agnostic (the same code chooses in Node and in a
 * browser context; only the route list differs, built in core/platform/).
 *
 * A route is one way to run tfjs kernels (native TensorFlow, WebGPU, WebGL, WebAssembly, plain
 * JavaScript). Routes are tried in priority order; a route is chosen when it is available AND every
 * kernel the model needs for training is registered on it, so a model never fails mid-epoch on a
 * missing gradient kernel. Adding a route is adding an entry to the list: nothing here names one.
 *
 * Two refinements for GPU routes:
 * - placement: a 'browser' route runs its kernels in another JavaScript context (a Chromium page,
 *   Electron's hidden renderer) that hosts the trainer; starting it never switches this context's
 *   tfjs backend, and its probe lists the kernels registered over there.
 * - honesty: a GPU-kind route (webgpu, webgl) whose adapter is a software rasteriser (SwiftShader,
 *   llvmpipe, WARP) is never chosen automatically, only when asked for by name: it is a CPU in
 *   disguise, and the CPU routes below it do that job with less overhead.
 */
import { getKernel, ready, setBackend } from '@tensorflow/tfjs-core'
import { CoreError } from '../errors.ts'

/** How a route executes kernels. Extend (e.g. 'webnn') when a new route needs it. */
export type RouteKind = 'native' | 'wasm' | 'js' | 'webgpu' | 'webgl'

/** Where a route's kernels run: in this JavaScript context, or in a browser context hosting the trainer. */
export type RoutePlacement = 'local' | 'browser'

/**
 * How the Trainer may read results on a route: 'sync' backends read with dataSync() (and data());
 * 'async-only' backends return wrong values or lose their device on dataSync() (tfjs-backend-webgpu
 * 4.22), so only the Trainer's `...Async` methods may run on them.
 */
export type Readback = 'sync' | 'async-only'

/** What a route found out about itself. Never thrown: a probe that fails says why in `reason`. */
export interface RouteProbe {
  readonly available: boolean
  /** One clause for people: why it is (un)available, e.g. "not installed: ..." or "loaded @tensorflow/...". */
  readonly reason: string
  /** Extra facts for the doctor table (build flavour, threads, device). */
  readonly detail?: string
  /** Overrides the route's default when the probe knows better (a CUDA build found a GPU, or none). */
  readonly isHardware?: boolean
  /** The GPU adapter or WebGL renderer string as the driver reports it, for people. */
  readonly adapter?: string
  /** Name of the software rasteriser behind a GPU-kind route (SwiftShader, llvmpipe, ...), if one is. */
  readonly softwareRenderer?: string
  /**
   * Kernels registered where the route runs, for routes placed in another context (a browser page):
   * the kernel check uses this list instead of this context's registry.
   */
  readonly kernels?: readonly string[]
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
  /** The tfjs backend the route registers when it differs from `name` (tensorflow-gpu -> 'tensorflow'). */
  readonly backendName?: string
  /** Default 'local'. A 'browser' route's register() readies the remote context; nothing is set here. */
  readonly placement?: RoutePlacement
  /** Default 'sync'. An 'async-only' route is used only by callers that read asynchronously. */
  readonly readback?: Readback
  /**
   * Set when probing starts something costly (a browser): says what, e.g. "starts a Chromium page".
   * Such a route is probed only when asked for by name or when `probeOnDemand` is set.
   */
  readonly onDemand?: string
  probe(): Promise<RouteProbe>
  /** Makes the backend ready for `tf.setBackend(name)` (paths, thread counts). Throws on failure. */
  register(): Promise<void>
  /** After `tf.setBackend(name)` succeeded: what actually runs (threads in use, GPU or not). */
  inspect?(): RouteInspection
  /**
   * After `tf.setBackend(name)` succeeded: why the running backend still cannot train (e.g. its
   * readback returns wrong values), or undefined when it can. A reason fails the start.
   */
  verify?(): string | undefined | Promise<string | undefined>
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
  readonly backendName: string
  readonly placement: RoutePlacement
  readonly isHardware: boolean
  readonly available: boolean
  /** False for an on-demand route that was not probed (then `available` is false too). */
  readonly probed: boolean
  readonly reason: string
  readonly detail?: string
  readonly adapter?: string
  readonly softwareRenderer?: string
  /** Required kernels this route lacks (empty when unavailable: unknown then). */
  readonly missingKernels: readonly string[]
  readonly chosen: boolean
}

/** The outcome of {@link selectBackend}. */
export interface BackendChoice {
  /** Route name (what --backend takes). */
  readonly name: string
  /** tfjs backend the route runs (now in use here, or in the browser context for 'browser' routes). */
  readonly backendName: string
  readonly placement: RoutePlacement
  /** How results must be read on it (see Readback). */
  readonly readback: Readback
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
  /** Probe on-demand routes (browser pages) too, e.g. for a doctor table. Default false. */
  readonly probeOnDemand?: boolean
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

/** The tfjs backend a route runs. */
export function backendNameOf(route: BackendRoute): string {
  return route.backendName ?? route.name
}

/** Route kinds that promise a GPU; on a software rasteriser they are skipped unless asked for. */
function isGpuKind(kind: RouteKind): boolean {
  return kind === 'webgpu' || kind === 'webgl'
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
  isProbed: boolean
  missingKernels: string[]
  /** Set when the route was available and complete but would not start. */
  startError?: string
}

function isSoftwareGpu(row: Row): boolean {
  return isGpuKind(row.route.kind) && !(row.probe.isHardware ?? row.route.isHardware)
}

/** Why a route was passed over, without its name: "is unavailable (not installed: ...)". */
function whyNot(row: Row): string {
  if (!row.isProbed) return `is used only when asked for by name (${row.probe.reason})`
  if (!row.probe.available) return `is unavailable (${row.probe.reason})`
  if (row.startError !== undefined) return `failed to start (${row.startError})`
  if (row.missingKernels.length > 0)
    return `lacks ${nameKernels(row.missingKernels)} needed to train this model`
  const renderer = row.probe.softwareRenderer ?? 'a software rasteriser'
  return `runs on ${renderer}, not a GPU, so it is used only when asked for by name`
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
    const { probe } = row
    return {
      name: row.route.name,
      kind: row.route.kind,
      backendName: backendNameOf(row.route),
      placement: row.route.placement ?? 'local',
      isHardware: probe.isHardware ?? row.route.isHardware,
      available,
      probed: row.isProbed,
      reason: row.startError !== undefined ? `failed to start: ${row.startError}` : probe.reason,
      ...(probe.detail !== undefined ? { detail: probe.detail } : {}),
      ...(probe.adapter !== undefined ? { adapter: probe.adapter } : {}),
      ...(probe.softwareRenderer !== undefined ? { softwareRenderer: probe.softwareRenderer } : {}),
      missingKernels: row.missingKernels,
      chosen: row === chosen,
    }
  })
}

interface BuildRowsOptions {
  readonly required: readonly string[]
  readonly hasKernel: (kernelName: string, backendName: string) => boolean
  /** Route names whose on-demand probe runs anyway (the preferred one); all of them when true. */
  readonly probeOnDemand: boolean | string
}

function shouldProbe(route: BackendRoute, probeOnDemand: boolean | string): boolean {
  return route.onDemand === undefined || probeOnDemand === true || probeOnDemand === route.name
}

async function buildRows(routes: readonly BackendRoute[], options: BuildRowsOptions): Promise<Row[]> {
  const probes = await Promise.all(
    routes.map((route) =>
      shouldProbe(route, options.probeOnDemand)
        ? safeProbe(route)
        : Promise.resolve<RouteProbe>({
            available: false,
            reason: `not probed: it ${route.onDemand ?? 'is costly to start'}`,
          }),
    ),
  )
  return routes.map((route, i) => {
    const probe = probes[i] ?? { available: false, reason: 'not probed' }
    const isProbed = shouldProbe(route, options.probeOnDemand)
    const backendName = backendNameOf(route)
    const remote = probe.kernels === undefined ? undefined : new Set(probe.kernels)
    const has = (k: string): boolean =>
      remote !== undefined ? remote.has(k) : options.hasKernel(k, backendName)
    const missingKernels = probe.available ? options.required.filter((k) => !has(k)) : []
    return { route, probe, isProbed, missingKernels }
  })
}

/**
 * Probes every route and checks the required kernels without choosing or starting anything (no report
 * line is `chosen`). For tables such as `longhaul doctor`'s.
 */
export async function probeRoutes(
  routes: readonly BackendRoute[],
  options: Pick<SelectBackendOptions, 'requiredKernels' | 'hasKernel' | 'probeOnDemand'> = {},
): Promise<RouteReport[]> {
  const rows = await buildRows(routes, {
    required: [...new Set(options.requiredKernels ?? [])],
    hasKernel: options.hasKernel ?? defaultHasKernel,
    probeOnDemand: options.probeOnDemand ?? false,
  })
  return toReport(rows, undefined)
}

/**
 * Chooses the first route (in the given priority order) that is available, has every required kernel
 * registered, and starts (when `start` is given). All routes are probed (on-demand ones only when
 * preferred or `probeOnDemand` is set), so the report is complete. Without a preference, a GPU-kind
 * route on a software rasteriser is passed over.
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
  const rows = await buildRows(routes, {
    required,
    hasKernel,
    probeOnDemand: options.probeOnDemand === true ? true : (preferred ?? false),
  })

  let chosen: Row | undefined
  for (const row of rows) {
    if (preferred !== undefined && row.route.name !== preferred) continue
    if (!row.probe.available || row.missingKernels.length > 0) continue
    if (preferred === undefined && isSoftwareGpu(row)) continue
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
      ...describeChosen(chosen),
      reason: `${chosen.route.name}: chosen because it was requested${source}`,
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
  return { ...describeChosen(chosen), reason, report: toReport(rows, chosen) }
}

function describeChosen(
  row: Row,
): Pick<BackendChoice, 'name' | 'backendName' | 'placement' | 'readback' | 'isHardware'> {
  return {
    name: row.route.name,
    backendName: backendNameOf(row.route),
    placement: row.route.placement ?? 'local',
    readback: row.route.readback ?? 'sync',
    isHardware: row.probe.isHardware ?? row.route.isHardware,
  }
}

/**
 * The default `start` for {@link selectBackend}: `route.register()`, `tf.setBackend`, `tf.ready()`,
 * then `route.inspect()`. Throws when tfjs refuses the backend (tfjs itself logs the cause as a warning).
 * A 'browser' route only registers (its backend starts in the browser context, not here).
 */
export async function startRoute(route: BackendRoute): Promise<RouteInspection | undefined> {
  await route.register()
  if (route.placement === 'browser') return route.inspect?.()
  const backendName = backendNameOf(route)
  const isSet = await setBackend(backendName)
  if (!isSet)
    throw new Error(`tfjs could not initialise the '${backendName}' backend (see its warning above)`)
  await ready()
  const unusable = await route.verify?.()
  if (unusable !== undefined) throw new Error(unusable)
  return route.inspect?.()
}
