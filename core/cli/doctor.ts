/**
 * `longhaul doctor`: which tensor backends this machine can use, why the others cannot, where each
 * runs (this process or a Chromium page), its GPU adapter or WebGL renderer and whether that is
 * hardware or a software rasteriser, which route Longhaul picks for dense and for convolutional
 * models, how many CPU threads it gets, and a short matmul + conv2d throughput probe on the chosen
 * backend. The browser routes are probed in headless Chromium unless --no-browser is given.
 */
import { availableParallelism, arch, platform } from 'node:os'
import { version_core } from '@tensorflow/tfjs-core'
import { isCoreError } from '../errors.ts'
import {
  closeBrowserHosts,
  initBackend,
  listRoutes,
  resolvePreferredBackend,
} from '../platform/backends.node.ts'
import { hardwareWords } from '../platform/gpu-adapter.ts'
import { measureThroughput } from '../platform/throughput-probe.ts'
import type { ThroughputResult, ThroughputSample } from '../platform/throughput-probe.ts'
import { wasmFeatures } from '../platform/wasm-route.node.ts'
import type { WasmFeatures } from '../platform/wasm-route.node.ts'
import { probeRoutes, selectBackend } from '../tensor/backend-select.ts'
import type { BackendChoice, RouteReport } from '../tensor/backend-select.ts'
import { requiredTrainingKernels } from '../tensor/training-kernels.ts'

/** Default length of the throughput probe, both ops together. */
export const DEFAULT_PROBE_SECONDS = 3
const MAX_PROBE_SECONDS = 60

/** Layers of the reference models the table checks each route against. */
const MLP_LAYERS = ['Dense', 'Dropout']
const CNN_LAYERS = ['Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dropout']

const USAGE = [
  'Usage: longhaul doctor [--json] [--probe-seconds N] [--backend NAME] [--no-browser]',
  '  --json              print one JSON object instead of the table',
  '  --no-browser        do not start Chromium to probe the webgpu-browser and webgl routes',
  `  --probe-seconds N   length of the throughput probe in seconds (default ${DEFAULT_PROBE_SECONDS}, 0 skips it)`,
  '  --backend NAME      check and probe this backend instead of the automatic choice',
  '                      (LONGHAUL_BACKEND does the same when no flag is given)',
]

interface DoctorArgs {
  readonly json: boolean
  readonly probeSeconds: number
  readonly backend?: string
  readonly help: boolean
  readonly probeBrowser: boolean
}

function parseArgs(args: readonly string[]): DoctorArgs | string {
  let json = false
  let help = false
  let probeBrowser = true
  let probeSeconds = DEFAULT_PROBE_SECONDS
  let backend: string | undefined
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? ''
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split('=', 2) : [arg, undefined]
    const value = (): string | undefined => inline ?? args[++i]
    if (flag === '--json') json = true
    else if (flag === '--no-browser') probeBrowser = false
    else if (flag === '--help' || flag === '-h') help = true
    else if (flag === '--probe-seconds') {
      const text = value()
      const seconds = text === undefined || text.trim() === '' ? Number.NaN : Number(text)
      if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_PROBE_SECONDS) {
        return `--probe-seconds needs a number from 0 to ${MAX_PROBE_SECONDS}, got ${text ?? 'nothing'}`
      }
      probeSeconds = seconds
    } else if (flag === '--backend') {
      const name = value()
      if (name === undefined || name.trim() === '') return '--backend needs a backend name'
      backend = name
    } else return `unknown argument '${arg}'`
  }
  return { json, probeSeconds, help, probeBrowser, ...(backend !== undefined ? { backend } : {}) }
}

function describeError(error: unknown): string {
  if (isCoreError(error)) return error.message
  throw error
}

/** Pads columns to the widest cell; the last column is left ragged. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  )
}

function trains(report: RouteReport | undefined): string {
  if (report === undefined || !report.available) return '-'
  return report.missingKernels.length === 0 ? 'yes' : 'no'
}

/** "hardware", "software (SwiftShader)", or "-" when nothing is known about the device. */
function hardwareCell(route: RouteReport): string {
  return route.available || route.adapter !== undefined ? hardwareWords(route) : '-'
}

function statusCell(route: RouteReport): string {
  if (route.chosen) return 'CHOSEN'
  if (!route.probed) return 'not probed'
  return route.available ? 'available' : 'unavailable'
}

function whereCell(route: RouteReport): string {
  return route.placement === 'browser' ? 'Chromium page' : 'this process'
}

function whyCell(route: RouteReport, cnn: RouteReport | undefined): string {
  const parts = [route.reason]
  if (route.detail !== undefined) parts.push(route.detail)
  if (route.available && cnn !== undefined && cnn.missingKernels.length > 0) {
    parts.push(`cannot train conv nets: lacks ${cnn.missingKernels.join(', ')}`)
  }
  return parts.join('; ')
}

function formatSample(s: ThroughputSample): string[] {
  return [s.op, s.shape, `${s.gflops.toFixed(2)} GFLOP/s`, `(${s.runs} runs in ${s.seconds.toFixed(2)} s)`]
}

interface DoctorFacts {
  readonly routes: readonly RouteReport[]
  readonly cnnRoutes: readonly RouteReport[]
  readonly choice?: BackendChoice
  readonly choiceError?: string
  readonly cnnChoice?: BackendChoice
  readonly cnnChoiceError?: string
  readonly cpuThreads: number
  readonly wasm?: WasmFeatures
  readonly throughput?: ThroughputResult
}

function textLines(facts: DoctorFacts, probeSeconds: number): string[] {
  const lines = [
    'Longhaul doctor: tensor backends',
    `Node ${process.version} on ${platform()} ${arch()}, tfjs-core ${version_core}`,
    '',
  ]
  const header = ['route', 'status', 'kind', 'where', 'hardware', 'trains MLP', 'trains CNN', 'why']
  const rows = facts.routes.map((route, i) => {
    const cnn = facts.cnnRoutes[i]
    return [
      route.name,
      statusCell(route),
      route.kind,
      whereCell(route),
      hardwareCell(route),
      trains(route),
      trains(cnn),
      whyCell(route, cnn),
    ]
  })
  lines.push(...table([header, ...rows]).map((l) => `  ${l}`), '')
  const devices = facts.routes.filter((r) => r.adapter !== undefined)
  if (devices.length > 0) {
    lines.push('GPU devices (adapter or renderer as reported; software rasterisers are not GPUs):')
    lines.push(
      ...table(devices.map((r) => [r.name, hardwareWords(r), r.adapter ?? ''])).map((l) => `  ${l}`),
      '',
    )
  }
  lines.push(`Dense models (MLP): ${facts.choice?.reason ?? facts.choiceError ?? 'not checked'}`)
  lines.push(`Conv models (CNN):  ${facts.cnnChoice?.reason ?? facts.cnnChoiceError ?? 'not checked'}`)
  const wasmThreads =
    facts.wasm?.threadsInUse !== undefined
      ? `wasm runs ${facts.wasm.threadsInUse} of them`
      : 'wasm is not started, so its thread count is not known'
  lines.push(`CPU threads: ${facts.cpuThreads} available to this process; ${wasmThreads}`)
  if (facts.wasm !== undefined) {
    const note = facts.wasm.threadsNote !== undefined ? ` (${facts.wasm.threadsNote})` : ''
    lines.push(
      `wasm support: SIMD ${facts.wasm.simd ? 'yes' : 'no'}, threads ${facts.wasm.threads ? 'yes' : 'no'}${note}`,
    )
  } else {
    lines.push('wasm support: unknown (the wasm backend package did not load)')
  }
  if (facts.throughput !== undefined) {
    const t = facts.throughput
    lines.push(`Throughput on ${t.backend} (${probeSeconds} s probe, higher is better):`)
    lines.push(...table([formatSample(t.matmul), formatSample(t.conv2d)]).map((l) => `  ${l}`))
  } else if (facts.choice?.placement === 'browser') {
    lines.push(
      `Throughput: not measured here, ${facts.choice.name} runs in a browser context (npm run bench -- train measures it)`,
    )
  } else if (facts.choice === undefined) {
    lines.push('Throughput: not measured, no backend could be started')
  } else {
    lines.push('Throughput: skipped (--probe-seconds 0)')
  }
  lines.push('')
  const names = facts.routes.map((r) => r.name).join(', ')
  lines.push(`To pick a backend yourself: --backend NAME or LONGHAUL_BACKEND=NAME (one of ${names}).`)
  const native = facts.routes.find((r) => r.kind === 'native')
  if (native !== undefined && native.reason.startsWith('not installed')) {
    lines.push(
      'For native speed: npm install @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (Linux + CUDA);',
      'both download libtensorflow while installing, so that download must succeed.',
    )
  }
  return lines
}

/**
 * Runs `longhaul doctor`. Prints through `io.out` only (one call per line; `--json` prints one JSON
 * object in one call). Switches the process's tfjs backend to the chosen one.
 *
 * @returns exit code: 0 when a backend was chosen, 1 when none can be used (or the requested one
 *   cannot), 2 for bad arguments (an unknown backend name included).
 */
export async function runDoctor(args: string[], io: { out: (line: string) => void }): Promise<number> {
  const parsed = parseArgs(args)
  if (typeof parsed === 'string') {
    io.out(`longhaul doctor: ${parsed}`)
    for (const line of USAGE) io.out(line)
    return 2
  }
  if (parsed.help) {
    for (const line of USAGE) io.out(line)
    return 0
  }

  try {
    return await diagnose(parsed, io)
  } finally {
    // The browser probes started Chromium; the command must not leave it (or its server) running.
    await closeBrowserHosts()
  }
}

async function diagnose(parsed: DoctorArgs, io: { out: (line: string) => void }): Promise<number> {
  const routes = listRoutes()
  const mlpKernels = requiredTrainingKernels(MLP_LAYERS)
  const cnnKernels = requiredTrainingKernels(CNN_LAYERS)
  const probeOnDemand = parsed.probeBrowser
  const [mlpRoutes, cnnRoutes] = await Promise.all([
    probeRoutes(routes, { requiredKernels: mlpKernels, probeOnDemand }),
    probeRoutes(routes, { requiredKernels: cnnKernels, probeOnDemand }),
  ])
  const { preferred, preferredSource } = resolvePreferredBackend(parsed.backend, process.env)
  const isBrowserPreferred = routes.some((r) => r.name === preferred && r.placement === 'browser')
  // What `longhaul train` would pick: in-process routes only, unless a browser route is named.
  const choiceRoutes = isBrowserPreferred ? routes : routes.filter((r) => r.placement !== 'browser')

  let choice: BackendChoice | undefined
  let choiceError: string | undefined
  let choiceErrorCode: string | undefined
  try {
    choice = isBrowserPreferred
      ? await selectBackend(choiceRoutes, {
          requiredKernels: mlpKernels,
          ...(preferred !== undefined ? { preferred } : {}),
          ...(preferredSource !== undefined ? { preferredSource } : {}),
        })
      : await initBackend({ preferred: parsed.backend, requiredKernels: mlpKernels, routes })
  } catch (error) {
    choiceError = describeError(error)
    choiceErrorCode = isCoreError(error) ? error.code : undefined
  }
  let cnnChoice: BackendChoice | undefined
  let cnnChoiceError: string | undefined
  try {
    // Dry: says which route a conv net would get, without switching away from the one just started.
    cnnChoice = await selectBackend(choiceRoutes, {
      requiredKernels: cnnKernels,
      ...(preferred !== undefined ? { preferred } : {}),
      ...(preferredSource !== undefined ? { preferredSource } : {}),
    })
  } catch (error) {
    cnnChoiceError = describeError(error)
  }

  const throughput =
    choice !== undefined && choice.placement === 'local' && parsed.probeSeconds > 0
      ? measureThroughput({ seconds: parsed.probeSeconds })
      : undefined
  const wasm = await wasmFeatures()
  // After a start the choice's report knows more (threads in use, GPU or not, start failures); rows
  // the choice did not probe (browser routes) come from the full probe.
  const started = new Map((choice?.report ?? []).filter((r) => r.probed).map((r) => [r.name, r]))
  const facts: DoctorFacts = {
    routes: mlpRoutes.map((r) => started.get(r.name) ?? r),
    cnnRoutes,
    ...(choice !== undefined ? { choice } : {}),
    ...(choiceError !== undefined ? { choiceError } : {}),
    ...(cnnChoice !== undefined ? { cnnChoice } : {}),
    ...(cnnChoiceError !== undefined ? { cnnChoiceError } : {}),
    cpuThreads: availableParallelism(),
    ...(wasm !== undefined ? { wasm } : {}),
    ...(throughput !== undefined ? { throughput } : {}),
  }

  if (parsed.json) {
    io.out(
      JSON.stringify(
        {
          node: process.version,
          platform: `${platform()} ${arch()}`,
          tfjsCore: version_core,
          routes: facts.routes.map((route, i) => ({
            ...route,
            where: whereCell(route),
            hardware: hardwareCell(route),
            trainsMlp: route.available && route.missingKernels.length === 0,
            trainsCnn: route.available && (facts.cnnRoutes[i]?.missingKernels.length ?? 1) === 0,
            cnnMissingKernels: facts.cnnRoutes[i]?.missingKernels ?? [],
          })),
          chosen:
            choice !== undefined
              ? {
                  name: choice.name,
                  reason: choice.reason,
                  isHardware: choice.isHardware,
                  placement: choice.placement,
                }
              : null,
          chosenError: choiceError ?? null,
          chosenForCnn: cnnChoice !== undefined ? { name: cnnChoice.name, reason: cnnChoice.reason } : null,
          chosenForCnnError: cnnChoiceError ?? null,
          cpuThreads: facts.cpuThreads,
          wasm: wasm ?? null,
          throughput: throughput ?? null,
        },
        null,
        2,
      ),
    )
  } else {
    for (const line of textLines(facts, parsed.probeSeconds)) io.out(line)
  }
  if (choice !== undefined) return 0
  return choiceErrorCode === 'ERR_INVALID_ARGUMENT' ? 2 : 1
}
