/**
 * `longhaul doctor`: which tensor backends this machine can use, why the others cannot, which one
 * Longhaul picks for dense and for convolutional models, how many CPU threads it gets, and a short
 * matmul + conv2d throughput probe on the chosen backend.
 */
import { availableParallelism, arch, platform } from 'node:os'
import { version_core } from '@tensorflow/tfjs-core'
import { isCoreError } from '../errors.ts'
import { initBackend, listRoutes, resolvePreferredBackend } from '../platform/backends.node.ts'
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
  'Usage: longhaul doctor [--json] [--probe-seconds N] [--backend NAME]',
  '  --json              print one JSON object instead of the table',
  `  --probe-seconds N   length of the throughput probe in seconds (default ${DEFAULT_PROBE_SECONDS}, 0 skips it)`,
  '  --backend NAME      check and probe this backend instead of the automatic choice',
  '                      (LONGHAUL_BACKEND does the same when no flag is given)',
]

interface DoctorArgs {
  readonly json: boolean
  readonly probeSeconds: number
  readonly backend?: string
  readonly help: boolean
}

function parseArgs(args: readonly string[]): DoctorArgs | string {
  let json = false
  let help = false
  let probeSeconds = DEFAULT_PROBE_SECONDS
  let backend: string | undefined
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? ''
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split('=', 2) : [arg, undefined]
    const value = (): string | undefined => inline ?? args[++i]
    if (flag === '--json') json = true
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
  return { json, probeSeconds, help, ...(backend !== undefined ? { backend } : {}) }
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
  const header = ['route', 'status', 'kind', 'hardware', 'trains MLP', 'trains CNN', 'why']
  const rows = facts.routes.map((route, i) => {
    const cnn = facts.cnnRoutes[i]
    const status = route.chosen ? 'CHOSEN' : route.available ? 'available' : 'unavailable'
    const hardware = route.available ? (route.isHardware ? 'hardware' : 'software') : '-'
    return [route.name, status, route.kind, hardware, trains(route), trains(cnn), whyCell(route, cnn)]
  })
  lines.push(...table([header, ...rows]).map((l) => `  ${l}`), '')
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

  const routes = listRoutes()
  const mlpKernels = requiredTrainingKernels(MLP_LAYERS)
  const cnnKernels = requiredTrainingKernels(CNN_LAYERS)
  const [mlpRoutes, cnnRoutes] = await Promise.all([
    probeRoutes(routes, { requiredKernels: mlpKernels }),
    probeRoutes(routes, { requiredKernels: cnnKernels }),
  ])
  const { preferred, preferredSource } = resolvePreferredBackend(parsed.backend, process.env)

  let choice: BackendChoice | undefined
  let choiceError: string | undefined
  let choiceErrorCode: string | undefined
  try {
    choice = await initBackend({ preferred: parsed.backend, requiredKernels: mlpKernels, routes })
  } catch (error) {
    choiceError = describeError(error)
    choiceErrorCode = isCoreError(error) ? error.code : undefined
  }
  let cnnChoice: BackendChoice | undefined
  let cnnChoiceError: string | undefined
  try {
    // Dry: says which route a conv net would get, without switching away from the one just started.
    cnnChoice = await selectBackend(routes, {
      requiredKernels: cnnKernels,
      ...(preferred !== undefined ? { preferred } : {}),
      ...(preferredSource !== undefined ? { preferredSource } : {}),
    })
  } catch (error) {
    cnnChoiceError = describeError(error)
  }

  const throughput =
    choice !== undefined && parsed.probeSeconds > 0
      ? measureThroughput({ seconds: parsed.probeSeconds })
      : undefined
  const wasm = await wasmFeatures()
  const facts: DoctorFacts = {
    // After a start the choice's report knows more (threads in use, GPU or not, start failures).
    routes: choice?.report ?? mlpRoutes,
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
            trainsMlp: route.available && route.missingKernels.length === 0,
            trainsCnn: route.available && (facts.cnnRoutes[i]?.missingKernels.length ?? 1) === 0,
            cnnMissingKernels: facts.cnnRoutes[i]?.missingKernels ?? [],
          })),
          chosen:
            choice !== undefined
              ? { name: choice.name, reason: choice.reason, isHardware: choice.isHardware }
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
