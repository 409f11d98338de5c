import * as tf from '@tensorflow/tfjs-core'
import { describe, expect, it } from 'vitest'
import { createCpuRoute } from '../../../../core/platform/cpu-route.ts'

describe('createCpuRoute', () => {
  it('is an available software js route once its package is loaded', async () => {
    const route = createCpuRoute()
    expect([route.name, route.kind, route.isHardware]).toEqual(['cpu', 'js', false])
    const probe = await route.probe()
    expect(probe.available).toBe(true)
    expect(probe.reason).toMatch(/^loaded @tensorflow\/tfjs-backend-cpu 4\./)
    // The probe's import registered the kernels selection checks.
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')).toBeDefined()
  })

  it('registers without error and probes once', async () => {
    const route = createCpuRoute()
    const first = route.probe()
    await route.register()
    expect(route.probe()).toBe(first)
  })
})
