import { describe, expect, it } from 'vitest'
import type { BackendRoute, RouteInspection, RouteProbe } from '../../../../core/tensor/backend-select.ts'
import { createTensorflowGpuRoute } from '../../../../core/platform/tensorflow-gpu-route.node.ts'

function tensorflowRoute(
  probe: RouteProbe,
  inspection: RouteInspection = {},
): BackendRoute & { registers: number } {
  const route = {
    name: 'tensorflow',
    kind: 'native' as const,
    isHardware: false,
    registers: 0,
    probe: () => Promise.resolve(probe),
    register: () => {
      route.registers += 1
      return Promise.resolve()
    },
    inspect: () => inspection,
  }
  return route
}

describe('createTensorflowGpuRoute', () => {
  it('runs the tensorflow backend under its own route name', () => {
    const gpu = createTensorflowGpuRoute(tensorflowRoute({ available: false, reason: 'x' }))
    expect(gpu).toMatchObject({ name: 'tensorflow-gpu', backendName: 'tensorflow', kind: 'native' })
  })

  it('passes on the reason when no TensorFlow build is installed', async () => {
    const gpu = createTensorflowGpuRoute(
      tensorflowRoute({ available: false, reason: 'not installed: tfjs-node-gpu' }),
    )
    expect(await gpu.probe()).toMatchObject({ available: false, reason: 'not installed: tfjs-node-gpu' })
  })

  it('is unavailable when only the CPU build loaded', async () => {
    const gpu = createTensorflowGpuRoute(
      tensorflowRoute({ available: true, reason: 'loaded @tensorflow/tfjs-node', isHardware: false }),
    )
    expect(await gpu.probe()).toMatchObject({
      available: false,
      reason: 'the CPU build @tensorflow/tfjs-node is loaded; CUDA needs @tensorflow/tfjs-node-gpu',
    })
  })

  it('is available when the CUDA build loaded, and registers through the shared route', async () => {
    const shared = tensorflowRoute({
      available: true,
      reason: 'loaded @tensorflow/tfjs-node-gpu',
      isHardware: true,
    })
    const gpu = createTensorflowGpuRoute(shared)
    expect(await gpu.probe()).toMatchObject({ available: true, isHardware: true })
    await gpu.register()
    expect(shared.registers).toBe(1)
  })

  it('fails verification when the CUDA build found no device, so selection moves on', () => {
    const noDevice = tensorflowRoute(
      { available: true, reason: 'loaded', isHardware: true },
      { isHardware: false, detail: 'tfjs-node-gpu found no usable CUDA device; TensorFlow runs on the CPU' },
    )
    expect(createTensorflowGpuRoute(noDevice).verify?.()).toBe(
      'tfjs-node-gpu runs on the CPU here (tfjs-node-gpu found no usable CUDA device; TensorFlow runs on the CPU)',
    )
    const withDevice = tensorflowRoute({ available: true, reason: 'loaded' }, { isHardware: true })
    expect(createTensorflowGpuRoute(withDevice).verify?.()).toBeUndefined()
  })
})
