/**
 * The Dawn route in Node (the `webgpu` npm package). Where Dawn finds an adapter and the route can
 * train, it must match the cpu backend like the browser routes do; where it cannot, doctor must say
 * why in the same words as the route, and the comparison reports itself skipped with that reason.
 * (This machine: no libvulkan, so Dawn finds no adapter.)
 */
import * as tf from '@tensorflow/tfjs-core'
import { afterAll, describe, expect, it } from 'vitest'
import { runDoctor } from '../../../core/cli/doctor.ts'
import { listRoutes } from '../../../core/platform/backends.node.ts'
import { softwareRendererIn } from '../../../core/platform/gpu-adapter.ts'
import type { RouteProbe } from '../../../core/tensor/backend-select.ts'
import {
  CNN_CASE,
  compareWithCpu,
  LOSS_TOLERANCE,
  MIN_MOVEMENT,
  MLP_CASE,
  PARAM_TOLERANCE,
} from './compare.ts'

const previousBackend = tf.engine().backendName ?? undefined

afterAll(async () => {
  if (previousBackend !== undefined) await tf.setBackend(previousBackend)
})

async function dawnProbe(): Promise<RouteProbe> {
  const route = listRoutes().find((r) => r.name === 'webgpu')
  if (route === undefined) throw new Error('no webgpu route')
  return route.probe()
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

describe('webgpu route (Dawn in Node)', () => {
  it('says in doctor exactly what its probe found, with an honest device label', async () => {
    const probe = await dawnProbe()
    const lines: string[] = []
    expect(
      await runDoctor(['--json', '--probe-seconds', '0', '--no-browser'], { out: (l) => lines.push(l) }),
    ).toBe(0)
    const parsed: unknown = JSON.parse(lines[0] ?? '')
    if (!isRecord(parsed) || !Array.isArray(parsed.routes)) throw new Error('unexpected doctor JSON')
    const routes: unknown[] = parsed.routes
    const row = routes.find((r) => isRecord(r) && r.name === 'webgpu')
    expect(row).toMatchObject({ available: probe.available, reason: probe.reason, where: 'this process' })
    if (probe.adapter !== undefined) {
      const named = softwareRendererIn(probe.adapter)
      if (named !== undefined)
        expect(row).toMatchObject({ isHardware: false, hardware: `software (${named})` })
    } else {
      // No adapter, no claim: the hardware column stays empty.
      expect(row).toMatchObject({ hardware: '-' })
    }
  })

  it('trains the mlp and the cnn like the cpu backend where Dawn can train', async (context) => {
    const probe = await dawnProbe()
    if (!probe.available) {
      context.skip(`webgpu (Dawn) is unavailable: ${probe.reason}`)
      return
    }
    for (const testCase of [MLP_CASE, CNN_CASE]) {
      const result = await compareWithCpu('webgpu', testCase)
      console.log(
        `webgpu (Dawn) ${testCase.model}: max |loss diff| ${result.maxLossDiff.toExponential(2)}, max |param diff| ${result.maxParamDiff.toExponential(2)}`,
      )
      expect(result.maxLossDiff).toBeLessThanOrEqual(LOSS_TOLERANCE)
      expect(result.maxParamDiff).toBeLessThanOrEqual(PARAM_TOLERANCE)
      expect(result.movement).toBeGreaterThanOrEqual(MIN_MOVEMENT)
    }
  }, 180_000)
})
