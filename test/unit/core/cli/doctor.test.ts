import * as tf from '@tensorflow/tfjs-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { runDoctor } from '../../../../core/cli/doctor.ts'
import { nodeModuleLoader } from '../../../../core/platform/module-loader.node.ts'
import { TENSORFLOW_PACKAGES } from '../../../../core/platform/tensorflow-route.node.ts'

const isNativeInstalled = TENSORFLOW_PACKAGES.some((p) => nodeModuleLoader.isInstalled(p))

/**
 * Runs the doctor without starting Chromium (--no-browser): unit tests stay fast and offline. The
 * browser probe is tested in test/integration/gpu-routes/.
 */
async function doctor(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = []
  const code = await runDoctor([...args, '--no-browser'], { out: (line) => lines.push(line) })
  return { code, lines }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

let previousBackend: string | undefined

beforeAll(() => {
  previousBackend = tf.engine().backendName ?? undefined
})

afterAll(async () => {
  if (previousBackend !== undefined) await tf.setBackend(previousBackend)
})

beforeEach(() => {
  // The doctor honours LONGHAUL_BACKEND; tests must not inherit one from the shell.
  vi.stubEnv('LONGHAUL_BACKEND', '')
})

afterEach(() => {
  vi.unstubAllEnvs()
})

describe('runDoctor', () => {
  it('prints every route with a reason, the chosen backend and a throughput probe', async () => {
    const { code, lines } = await doctor(['--probe-seconds', '0.3'])
    const text = lines.join('\n')
    expect(code).toBe(0)
    const row = (name: string): string => lines.find((l) => l.trimStart().startsWith(`${name} `)) ?? ''
    expect(row('tensorflow-gpu')).toMatch(/native +this process/)
    expect(row('tensorflow')).toMatch(/native +this process/)
    expect(row('webgpu')).toMatch(/webgpu +this process/)
    // Without Chromium the browser routes say so instead of guessing.
    expect(row('webgl')).toMatch(
      /^ *webgl +not probed +webgl +Chromium page +- +- +- +not probed: it starts a Chromium page/,
    )
    expect(row('webgpu-browser')).toMatch(/not probed/)
    expect(row('wasm')).toMatch(/loaded @tensorflow\/tfjs-backend-wasm 4\.22/)
    expect(row('wasm')).toMatch(/cannot train conv nets: lacks Conv2DBackpropFilter/)
    expect(row('cpu')).toMatch(/loaded @tensorflow\/tfjs-backend-cpu/)
    // Exactly one route is marked as chosen.
    expect(lines.filter((l) => / CHOSEN /.test(l))).toHaveLength(1)
    expect(text).toMatch(/^Dense models \(MLP\): \w+: chosen /m)
    expect(text).toMatch(/^Conv models \(CNN\): {2}\w+: chosen /m)
    expect(text).toMatch(/^CPU threads: \d+ available to this process; wasm /m)
    expect(text).toMatch(/^wasm support: SIMD (yes|no), threads (yes|no)/m)
    expect(lines.filter((l) => /\d+\.\d\d GFLOP\/s +\(\d+ runs in \d+\.\d\d s\)/.test(l))).toHaveLength(2)
  })

  it.skipIf(isNativeInstalled)(
    'names wasm for dense models and cpu for conv models on this machine',
    async () => {
      const { lines } = await doctor(['--probe-seconds', '0'])
      const text = lines.join('\n')
      expect(text).toContain(
        'Dense models (MLP): wasm: chosen because tensorflow-gpu is unavailable (not installed: ',
      )
      expect(text).toMatch(
        /Conv models \(CNN\): {2}cpu: chosen because .* and wasm lacks Conv2DBackpropFilter needed/,
      )
      expect(text).toContain('wasm runs 1 of them')
      expect(text).toContain('For native speed: npm install @tensorflow/tfjs-node')
      expect(text).toContain('Throughput: skipped (--probe-seconds 0)')
    },
  )

  it('prints one JSON object with --json', async () => {
    const { code, lines } = await doctor(['--json', '--probe-seconds=0.2'])
    expect(code).toBe(0)
    expect(lines).toHaveLength(1)
    const parsed: unknown = JSON.parse(lines[0] ?? '')
    if (
      !isRecord(parsed) ||
      !Array.isArray(parsed.routes) ||
      !isRecord(parsed.chosen) ||
      !isRecord(parsed.throughput)
    ) {
      throw new Error(`unexpected JSON shape: ${lines[0]}`)
    }
    const routes: unknown[] = parsed.routes
    expect(routes.map((r) => (isRecord(r) ? r.name : undefined))).toEqual([
      'tensorflow-gpu',
      'webgpu',
      'webgpu-browser',
      'webgl',
      'tensorflow',
      'wasm',
      'cpu',
    ])
    const webgl = routes.find((r) => isRecord(r) && r.name === 'webgl')
    expect(webgl).toMatchObject({
      where: 'Chromium page',
      placement: 'browser',
      probed: false,
      hardware: '-',
    })
    expect(routes.filter((r) => isRecord(r) && r.chosen === true)).toHaveLength(1)
    expect(typeof parsed.chosen.reason).toBe('string')
    expect(parsed.throughput.backend).toBe(parsed.chosen.name)
    expect(typeof parsed.cpuThreads).toBe('number')
  })

  it('probes the backend given with --backend', async () => {
    const { code, lines } = await doctor(['--backend', 'cpu', '--probe-seconds', '0'])
    expect(code).toBe(0)
    expect(lines).toContain('Dense models (MLP): cpu: chosen because it was requested (--backend cpu)')
    expect(tf.getBackend()).toBe('cpu')
  })

  it('honours LONGHAUL_BACKEND', async () => {
    vi.stubEnv('LONGHAUL_BACKEND', 'cpu')
    const { lines } = await doctor(['--probe-seconds', '0'])
    expect(lines).toContain('Dense models (MLP): cpu: chosen because it was requested (LONGHAUL_BACKEND=cpu)')
  })

  it('exits 0 but says conv nets cannot train when the requested backend lacks their kernels', async () => {
    const { code, lines } = await doctor(['--backend', 'wasm', '--probe-seconds', '0'])
    // Dense models can use wasm, so the doctor succeeds, but the CNN line carries the refusal.
    expect(code).toBe(0)
    expect(lines.join('\n')).toContain(
      "Conv models (CNN):  Tensor backend 'wasm' was requested (--backend wasm) but it lacks Conv2DBackpropFilter",
    )
  })

  it.skipIf(isNativeInstalled)('exits 1 when the requested backend is unavailable', async () => {
    const { code, lines } = await doctor(['--backend', 'tensorflow', '--probe-seconds', '5'])
    expect(code).toBe(1)
    expect(lines.join('\n')).toContain(
      "Tensor backend 'tensorflow' was requested (--backend tensorflow) but it is unavailable",
    )
    expect(lines).toContain('Throughput: not measured, no backend could be started')
  })

  it('exits 2 for an unknown backend name', async () => {
    const { code, lines } = await doctor(['--backend', 'tpu', '--probe-seconds', '0'])
    expect(code).toBe(2)
    expect(lines.join('\n')).toContain("Unknown tensor backend 'tpu' (from --backend tpu)")
  })

  it.each([
    [['--probe-seconds', 'abc'], '--probe-seconds needs a number from 0 to 60, got abc'],
    [['--probe-seconds', '-1'], '--probe-seconds needs a number from 0 to 60, got -1'],
    [['--probe-seconds'], '--probe-seconds needs a number from 0 to 60, got nothing'],
    [['--backend'], '--backend needs a backend name'],
    [['--fast'], "unknown argument '--fast'"],
  ])('exits 2 with usage for bad arguments %j', async (args, message) => {
    const lines: string[] = []
    const code = await runDoctor(args, { out: (line) => lines.push(line) })
    expect(code).toBe(2)
    expect(lines[0]).toBe(`longhaul doctor: ${message}`)
    expect(lines[1]).toMatch(/^Usage: longhaul doctor/)
  })

  it('prints usage and exits 0 with --help', async () => {
    const { code, lines } = await doctor(['--help'])
    expect(code).toBe(0)
    expect(lines[0]).toMatch(/^Usage: longhaul doctor/)
  })
})
