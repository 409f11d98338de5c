import { describe, expect, it } from 'vitest'
import type { TrainerClient } from '../../../../core/browser/remote-trainer.ts'
import type { BrowserRouteFacts } from '../../../../core/browser/trainer-protocol.ts'
import { CoreError, isCoreError } from '../../../../core/errors.ts'
import {
  createBrowserHostedRoute,
  createChromiumHostProvider,
  isBrowserHostedRoute,
} from '../../../../core/platform/browser-hosted-route.node.ts'
import type { BrowserHostProvider } from '../../../../core/platform/browser-hosted-route.node.ts'
import type { ChromiumTrainerHost } from '../../../../core/platform/chromium-host.node.ts'
import { createCpuRoute } from '../../../../core/platform/cpu-route.ts'
import { selectBackend } from '../../../../core/tensor/backend-select.ts'

const SWIFTSHADER_WEBGL: BrowserRouteFacts = {
  backendName: 'webgl',
  kind: 'webgl',
  available: true,
  reason: 'loaded @tensorflow/tfjs-backend-webgl 4.22.0',
  detail: 'WebGL 2, float32 render targets',
  adapter: 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)',
  isHardware: false,
  softwareRenderer: 'SwiftShader',
  kernels: ['Conv2D', 'Conv2DBackpropFilter'],
}

function provider(found: Awaited<ReturnType<BrowserHostProvider['probe']>>): BrowserHostProvider & {
  acquires: number
} {
  const fake = {
    onDemand: 'starts a Chromium page',
    acquires: 0,
    acquire: () => {
      fake.acquires += 1
      return Promise.resolve({
        client: {} as TrainerClient,
        description: 'Fake',
        close: () => Promise.resolve(),
      })
    },
    probe: () => Promise.resolve(found),
    closeHost: () => Promise.resolve(),
  }
  return fake
}

describe('createBrowserHostedRoute', () => {
  it('is a browser-placed, on-demand route for the given tfjs backend', () => {
    const route = createBrowserHostedRoute({
      name: 'webgl',
      backendName: 'webgl',
      kind: 'webgl',
      provider: provider({ reason: 'unused' }),
    })
    expect(route).toMatchObject({
      name: 'webgl',
      backendName: 'webgl',
      placement: 'browser',
      onDemand: 'starts a Chromium page',
    })
    expect(isBrowserHostedRoute(route)).toBe(true)
    expect(isBrowserHostedRoute(createCpuRoute())).toBe(false)
  })

  it("reports the page's own facts: adapter, software label, kernels, and where it ran", async () => {
    const route = createBrowserHostedRoute({
      name: 'webgl',
      backendName: 'webgl',
      kind: 'webgl',
      provider: provider({ host: 'Chromium 156 (/usr/bin/chromium)', routes: [SWIFTSHADER_WEBGL] }),
    })
    expect(await route.probe()).toEqual({
      available: true,
      reason: 'loaded @tensorflow/tfjs-backend-webgl 4.22.0 (in Chromium 156 (/usr/bin/chromium))',
      detail: 'WebGL 2, float32 render targets',
      adapter: SWIFTSHADER_WEBGL.adapter,
      isHardware: false,
      softwareRenderer: 'SwiftShader',
      kernels: ['Conv2D', 'Conv2DBackpropFilter'],
    })
  })

  it('says why when no browser could start, or the page lacks the backend', async () => {
    const failed = createBrowserHostedRoute({
      name: 'webgl',
      backendName: 'webgl',
      kind: 'webgl',
      provider: provider({
        reason: 'no Chromium found (looked for /usr/bin/chromium); set LONGHAUL_CHROMIUM',
      }),
    })
    const failedProbe = await failed.probe()
    expect(failedProbe.available).toBe(false)
    expect(failedProbe.reason).toContain('no Chromium')
    const missing = createBrowserHostedRoute({
      name: 'webgpu-browser',
      backendName: 'webgpu',
      kind: 'webgpu',
      provider: provider({ host: 'Chromium 156', routes: [SWIFTSHADER_WEBGL] }),
    })
    expect((await missing.probe()).reason).toBe('Chromium 156 has no webgpu route')
  })

  it('lets selection check the kernels the page registered and use it only when asked', async () => {
    const route = createBrowserHostedRoute({
      name: 'webgl',
      backendName: 'webgl',
      kind: 'webgl',
      provider: provider({ host: 'Chromium', routes: [SWIFTSHADER_WEBGL] }),
    })
    const cnn = ['Conv2D', 'Conv2DBackpropFilter', 'MaxPoolGrad']
    const error: unknown = await selectBackend([route], { preferred: 'webgl', requiredKernels: cnn }).catch(
      (e: unknown) => e,
    )
    expect(isCoreError(error, 'ERR_BACKEND_UNAVAILABLE')).toBe(true)
    expect(String(error)).toContain('lacks MaxPoolGrad needed to train this model')
    const choice = await selectBackend([route], { preferred: 'webgl', requiredKernels: ['Conv2D'] })
    expect(choice).toMatchObject({ name: 'webgl', placement: 'browser', isHardware: false })
  })

  it('starts the page on register, and refuses when the route is unavailable', async () => {
    const up = provider({ host: 'Chromium', routes: [SWIFTSHADER_WEBGL] })
    const route = createBrowserHostedRoute({
      name: 'webgl',
      backendName: 'webgl',
      kind: 'webgl',
      provider: up,
    })
    await route.register()
    expect(up.acquires).toBe(1)
    const down = provider({
      host: 'Chromium',
      routes: [{ ...SWIFTSHADER_WEBGL, available: false, reason: 'no WebGL2' }],
    })
    const refused = createBrowserHostedRoute({
      name: 'webgl',
      backendName: 'webgl',
      kind: 'webgl',
      provider: down,
    })
    await expect(refused.register()).rejects.toThrow('webgl: no WebGL2')
    expect(down.acquires).toBe(0)
  })
})

describe('createChromiumHostProvider', () => {
  function fakeHost(closed: string[]): ChromiumTrainerHost {
    const client = {
      probe: (backends?: readonly string[]) =>
        Promise.resolve(backends?.includes('webgl') === true ? [SWIFTSHADER_WEBGL] : []),
    }
    return {
      client: client as unknown as TrainerClient,
      description: 'Fake Chromium',
      startMs: 1,
      close: () => {
        closed.push('closed')
        return Promise.resolve()
      },
    }
  }

  it('starts one host for many acquires, probes only its backends, and restarts after closeHost', async () => {
    const launches: string[] = []
    const closed: string[] = []
    const chromium = createChromiumHostProvider({
      backends: ['webgl'],
      launch: () => {
        launches.push('launch')
        return Promise.resolve(fakeHost(closed))
      },
    })
    await Promise.all([chromium.acquire(), chromium.acquire()])
    expect(launches).toHaveLength(1)
    expect(await chromium.probe()).toEqual({ host: 'Fake Chromium', routes: [SWIFTSHADER_WEBGL] })
    await chromium.closeHost()
    expect(closed).toEqual(['closed'])
    await chromium.acquire()
    expect(launches).toHaveLength(2)
    await chromium.closeHost()
  })

  it('turns a failed launch into the probe reason and tries again on the next acquire', async () => {
    let attempts = 0
    const chromium = createChromiumHostProvider({
      launch: () => {
        attempts += 1
        return Promise.reject(new CoreError('ERR_BACKEND_UNAVAILABLE', 'no Chromium found'))
      },
    })
    expect(await chromium.probe()).toEqual({ reason: 'no Chromium found' })
    await expect(chromium.acquire()).rejects.toThrow('no Chromium found')
    expect(attempts).toBe(2)
  })
})
