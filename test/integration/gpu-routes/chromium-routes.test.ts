/**
 * The browser routes for real: headless Chromium (Debian's /usr/bin/chromium here, driven by
 * playwright-core) hosts the Trainer in a page; WebGL runs on SwiftShader, WebGPU gets SwiftShader's
 * fallback adapter through --enable-unsafe-webgpu. Skipped with the reason where no Chromium exists.
 *
 * One Chromium per GPU API (as in production): the webgl tests share one, the webgpu probe gets its
 * own, and the doctor test at the end reuses both probes and closes them.
 */
import * as tf from '@tensorflow/tfjs-core'
import { afterAll, describe, expect, it } from 'vitest'
import { runDoctor } from '../../../core/cli/doctor.ts'
import { closeBrowserHosts, listRoutes } from '../../../core/platform/backends.node.ts'
import { findChromium } from '../../../core/platform/chromium-host.node.ts'
import { softwareRendererIn } from '../../../core/platform/gpu-adapter.ts'
import { probeRoutes } from '../../../core/tensor/backend-select.ts'
import type { RouteReport } from '../../../core/tensor/backend-select.ts'
import { requiredTrainingKernels } from '../../../core/tensor/training-kernels.ts'
import { zooModel } from '../../../core/tensor/models.ts'
import {
  CNN_CASE,
  compareWithCpu,
  LOSS_TOLERANCE,
  GRADIENT_TOLERANCE,
  MIN_MOVEMENT,
  MLP_CASE,
  PARAM_TOLERANCE,
} from './compare.ts'
import type { Comparison } from './compare.ts'

const found = findChromium({ env: process.env })
const skipReason = 'reason' in found ? found.reason : undefined
const CNN_KERNELS = requiredTrainingKernels(zooModel('cnn').layerClasses)

let previousBackend: string | undefined = tf.engine().backendName ?? undefined

afterAll(async () => {
  await closeBrowserHosts()
  if (previousBackend !== undefined) await tf.setBackend(previousBackend)
})

async function probe(name: string): Promise<RouteReport> {
  const route = listRoutes().find((r) => r.name === name)
  if (route === undefined) throw new Error(`no route ${name}`)
  const [report] = await probeRoutes([route], { requiredKernels: CNN_KERNELS, probeOnDemand: true })
  if (report === undefined) throw new Error('no report')
  return report
}

function expectAgreement(result: Comparison): void {
  // Printed so the report and docs can quote the observed differences.
  console.log(
    `${result.route} ${result.steps} steps: max |loss diff| ${result.maxLossDiff.toExponential(2)}, ` +
      `max |param diff| ${result.maxParamDiff.toExponential(2)}, movement ${result.movement.toExponential(2)}, ` +
      `max |gradient diff| ${result.maxGradientDiff.toExponential(2)} (of max |g| ${result.maxGradient.toExponential(2)}), ` +
      `|eval loss diff| ${result.evalLossDiff.toExponential(2)} (${result.description})`,
  )
  expect(result.routeLosses.every((l) => Number.isFinite(l) && l > 0)).toBe(true)
  expect(result.maxLossDiff).toBeLessThanOrEqual(LOSS_TOLERANCE)
  expect(result.maxParamDiff).toBeLessThanOrEqual(PARAM_TOLERANCE)
  expect(result.movement).toBeGreaterThanOrEqual(MIN_MOVEMENT)
  expect(result.maxGradient).toBeGreaterThanOrEqual(MIN_MOVEMENT)
  expect(result.maxGradientDiff).toBeLessThanOrEqual(GRADIENT_TOLERANCE)
  expect(result.evalLossDiff).toBeLessThanOrEqual(LOSS_TOLERANCE)
  // At most one of the 32 test predictions may flip on a near tie of its top two logits.
  expect(result.evalAccuracyDiff).toBeLessThanOrEqual(1 / 32)
}

/** A device string that names a software rasteriser must never be labelled hardware. */
function expectHonestLabel(report: RouteReport): void {
  if (report.adapter === undefined) return
  const named = softwareRendererIn(report.adapter)
  if (named !== undefined) {
    expect(report.isHardware).toBe(false)
    expect(report.softwareRenderer).toBe(named)
  }
}

describe.skipIf(skipReason !== undefined)(
  `WebGL in Chromium${skipReason !== undefined ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('probes WebGL in the page: renderer string, software label, and the conv kernels wasm lacks', async () => {
      previousBackend = tf.engine().backendName ?? previousBackend
      const report = await probe('webgl')
      expect(report).toMatchObject({ name: 'webgl', placement: 'browser', probed: true, available: true })
      expect(report.adapter).toMatch(/\S/)
      expectHonestLabel(report)
      // The CNN needs the conv backprop kernels on this route, and it has every one of them.
      expect(report.missingKernels).toEqual([])
      expect(CNN_KERNELS).toContain('Conv2DBackpropFilter')
      const wasm = await probe('wasm')
      expect(wasm.missingKernels).toContain('Conv2DBackpropFilter')
    }, 90_000)

    it('trains the mlp on WebGL like the cpu backend, step for step', async () => {
      expectAgreement(await compareWithCpu('webgl', MLP_CASE))
    }, 120_000)

    it('trains the cnn on WebGL like the cpu backend, step for step', async () => {
      expectAgreement(await compareWithCpu('webgl', CNN_CASE))
    }, 120_000)
  },
)

describe.skipIf(skipReason !== undefined)(
  `WebGPU in Chromium${skipReason !== undefined ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('reports the adapter and labels it honestly, in its own page', async () => {
      const report = await probe('webgpu-browser')
      expect(report).toMatchObject({
        name: 'webgpu-browser',
        kind: 'webgpu',
        placement: 'browser',
        probed: true,
      })
      expect(report.reason).toMatch(/\S/)
      expectHonestLabel(report)
    }, 90_000)

    it('trains the mlp and the cnn on WebGPU like the cpu backend where it has an adapter', async (context) => {
      const report = await probe('webgpu-browser')
      if (report.adapter === undefined) {
        // No navigator.gpu or no adapter: nothing to compare on this machine.
        context.skip(`webgpu-browser found no adapter: ${report.reason}`)
        return
      }
      // With an adapter it must train: reading asynchronously is what makes WebGPU usable.
      expect(report).toMatchObject({ available: true, missingKernels: [] })
      expect(report.detail).toContain('asynchronous readback')
      expectAgreement(await compareWithCpu('webgpu-browser', MLP_CASE))
      expectAgreement(await compareWithCpu('webgpu-browser', CNN_CASE))
    }, 180_000)
  },
)

describe.skipIf(skipReason !== undefined)(
  `longhaul doctor with the browser routes${skipReason !== undefined ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('shows where each route runs, its device string, and never calls a software rasteriser hardware', async () => {
      const lines: string[] = []
      const code = await runDoctor(['--probe-seconds', '0'], { out: (line) => lines.push(line) })
      expect(code).toBe(0)
      const row = (name: string): string => lines.find((l) => l.trimStart().startsWith(`${name} `)) ?? ''
      expect(row('webgl')).toMatch(/^ *webgl +available +webgl +Chromium page +/)
      expect(row('webgpu-browser')).toMatch(/Chromium page/)
      const devices = lines.slice(lines.findIndex((l) => l.startsWith('GPU devices')) + 1)
      const deviceRows = devices.slice(
        0,
        devices.findIndex((l) => l === ''),
      )
      expect(deviceRows.length).toBeGreaterThan(0)
      for (const line of deviceRows) {
        const named = softwareRendererIn(line)
        if (named !== undefined) expect(line).toContain(`software (${named})`)
      }
      // The in-process choice never becomes a browser route on its own.
      expect(lines.join('\n')).toMatch(
        /^Dense models \(MLP\): (wasm|tensorflow|tensorflow-gpu|webgpu|cpu): chosen/m,
      )
    }, 120_000)
  },
)
