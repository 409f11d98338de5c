import * as tf from '@tensorflow/tfjs-core'
import { describe, expect, it } from 'vitest'
import {
  createBrowserRoutes,
  createBrowserWebglRoute,
  createBrowserWebgpuRoute,
  registeredKernels,
} from '../../../../core/platform/browser-routes.ts'

// These tests run in Node, which has neither navigator.gpu nor OffscreenCanvas: the routes must say
// so instead of failing. Their behaviour inside Chromium is tested in test/integration/gpu-routes/.
describe('browser routes outside a browser', () => {
  it('lists webgpu, webgl, cpu with webgpu on-demand (its readback check can reset the GPU process)', () => {
    const routes = createBrowserRoutes()
    expect(routes.map((r) => [r.name, r.kind, r.onDemand !== undefined])).toEqual([
      ['webgpu', 'webgpu', true],
      ['webgl', 'webgl', false],
      ['cpu', 'js', false],
    ])
  })

  it('reports webgpu unavailable without navigator.gpu, and why', async () => {
    expect(Reflect.get(globalThis, 'navigator')?.gpu).toBeUndefined()
    const probe = await createBrowserWebgpuRoute().probe()
    expect(probe).toMatchObject({ available: false, isHardware: false })
    expect(probe.reason).toContain('no navigator.gpu')
  })

  it('reports webgl unavailable without OffscreenCanvas, and refuses to register', async () => {
    const route = createBrowserWebglRoute()
    expect(await route.probe()).toMatchObject({
      available: false,
      reason: 'this context has no OffscreenCanvas to open WebGL on',
    })
    await expect(route.register()).rejects.toThrow(/webgl route is unavailable/)
  })

  it('lists the kernels tfjs registered for a backend, sorted', async () => {
    await import('@tensorflow/tfjs-backend-cpu')
    const kernels = registeredKernels('cpu')
    expect(kernels).toContain('Conv2DBackpropFilter')
    expect(kernels).toEqual([...kernels].sort())
    expect(kernels).toHaveLength(tf.getKernelsForBackend('cpu').length)
    expect(registeredKernels('no-such-backend')).toEqual([])
  })
})
