import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isCoreError } from '../../../../core/errors.ts'
import { listRoutes } from '../../../../core/platform/backends.node.ts'
import { firstLine, probeRoutes, selectBackend, startRoute } from '../../../../core/tensor/backend-select.ts'
import type { BackendRoute, RouteInspection, RouteProbe } from '../../../../core/tensor/backend-select.ts'
import { requiredTrainingKernels } from '../../../../core/tensor/training-kernels.ts'

/** A route with a fixed probe that records what selection did to it. */
class FakeRoute implements BackendRoute {
  readonly kind = 'js' as const
  probeCalls = 0
  registerCalls = 0

  constructor(
    readonly name: string,
    private readonly result: RouteProbe | Error,
    readonly isHardware = false,
  ) {}

  probe(): Promise<RouteProbe> {
    this.probeCalls += 1
    return this.result instanceof Error ? Promise.reject(this.result) : Promise.resolve(this.result)
  }

  register(): Promise<void> {
    this.registerCalls += 1
    return Promise.resolve()
  }
}

const up = (reason = 'loaded'): RouteProbe => ({ available: true, reason })
const down = (reason: string): RouteProbe => ({ available: false, reason })

/** Kernel registry stand-in: backend name -> kernel names it has. */
function registry(table: Record<string, string[]>): (kernel: string, backend: string) => boolean {
  return (kernel, backend) => table[backend]?.includes(kernel) ?? false
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

describe('selectBackend', () => {
  it('chooses the first route when it is available and complete', async () => {
    const routes = [new FakeRoute('a', up()), new FakeRoute('b', up())]
    const choice = await selectBackend(routes, {
      requiredKernels: ['K'],
      hasKernel: registry({ a: ['K'], b: ['K'] }),
    })
    expect(choice.name).toBe('a')
    expect(choice.reason).toBe('a: chosen as the first route in priority order')
    expect(choice.report.map((r) => r.chosen)).toEqual([true, false])
  })

  it('skips an unavailable route and quotes its reason when choosing the next', async () => {
    const routes = [new FakeRoute('tensorflow', down('not installed: x')), new FakeRoute('wasm', up())]
    const choice = await selectBackend(routes)
    expect(choice.name).toBe('wasm')
    expect(choice.reason).toBe('wasm: chosen because tensorflow is unavailable (not installed: x)')
  })

  it('skips a route that lacks a required kernel and names the kernel', async () => {
    const routes = [new FakeRoute('wasm', up()), new FakeRoute('cpu', up())]
    const hasKernel = registry({ wasm: ['Conv2D'], cpu: ['Conv2D', 'Conv2DBackpropFilter'] })
    const choice = await selectBackend(routes, {
      requiredKernels: ['Conv2D', 'Conv2DBackpropFilter'],
      hasKernel,
    })
    expect(choice.name).toBe('cpu')
    expect(choice.reason).toBe(
      'cpu: chosen because wasm lacks Conv2DBackpropFilter needed to train this model',
    )
    expect(choice.report[0]?.missingKernels).toEqual(['Conv2DBackpropFilter'])
    expect(choice.report[1]?.missingKernels).toEqual([])
  })

  it('joins several skipped routes with "and" in priority order', async () => {
    const routes = [new FakeRoute('t', down('r1')), new FakeRoute('w', up()), new FakeRoute('c', up())]
    const choice = await selectBackend(routes, { requiredKernels: ['K'], hasKernel: registry({ c: ['K'] }) })
    expect(choice.reason).toBe(
      'c: chosen because t is unavailable (r1) and w lacks K needed to train this model',
    )
  })

  it('names at most three missing kernels and counts the rest', async () => {
    const routes = [new FakeRoute('w', up()), new FakeRoute('c', up())]
    const required = ['K1', 'K2', 'K3', 'K4', 'K5']
    const choice = await selectBackend(routes, {
      requiredKernels: required,
      hasKernel: registry({ c: required }),
    })
    expect(choice.reason).toContain('w lacks K1, K2, K3 and 2 more needed')
    expect(choice.report[0]?.missingKernels).toEqual(required)
  })

  it('treats a probe that throws as unavailable with the error first line', async () => {
    const routes = [new FakeRoute('a', new Error('boom\n    at stack')), new FakeRoute('b', up())]
    const choice = await selectBackend(routes)
    expect(choice.reason).toBe('b: chosen because a is unavailable (probe failed: boom)')
    expect(choice.report[0]?.available).toBe(false)
  })

  it('does not register or start anything in a dry selection', async () => {
    const routes = [new FakeRoute('a', up())]
    await selectBackend(routes)
    expect(routes[0]?.registerCalls).toBe(0)
  })

  it('moves to the next route when starting one fails and reports the failure', async () => {
    const routes = [new FakeRoute('a', up()), new FakeRoute('b', up())]
    const started: string[] = []
    const choice = await selectBackend(routes, {
      start: (route) => {
        started.push(route.name)
        return route.name === 'a' ? Promise.reject(new Error('no GPU adapter')) : Promise.resolve(undefined)
      },
    })
    expect(started).toEqual(['a', 'b'])
    expect(choice.name).toBe('b')
    expect(choice.reason).toBe('b: chosen because a failed to start (no GPU adapter)')
    expect(choice.report[0]).toMatchObject({ available: false, reason: 'failed to start: no GPU adapter' })
  })

  it('takes hardware and detail from what the started route reports', async () => {
    const routes = [new FakeRoute('gpu', { ...up(), isHardware: true })]
    const inspection: RouteInspection = { isHardware: false, detail: 'no CUDA device' }
    const choice = await selectBackend(routes, { start: () => Promise.resolve(inspection) })
    expect(choice.isHardware).toBe(false)
    expect(choice.report[0]).toMatchObject({ isHardware: false, detail: 'no CUDA device', available: true })
  })

  it('uses the probe hardware flag over the route default when not started', async () => {
    const choice = await selectBackend([new FakeRoute('gpu', { ...up(), isHardware: true }, false)])
    expect(choice.isHardware).toBe(true)
  })

  it('throws ERR_BACKEND_UNAVAILABLE with every route reason when none can train', async () => {
    const routes = [new FakeRoute('a', down('not installed')), new FakeRoute('b', up())]
    const error = await rejection(selectBackend(routes, { requiredKernels: ['K'], hasKernel: registry({}) }))
    expect(isCoreError(error, 'ERR_BACKEND_UNAVAILABLE')).toBe(true)
    expect(String(error)).toContain('a is unavailable (not installed); b lacks K needed to train this model')
  })

  it('uses a preferred route that is not first and says it was requested', async () => {
    const routes = [new FakeRoute('a', up()), new FakeRoute('b', up())]
    const choice = await selectBackend(routes, { preferred: 'b', preferredSource: 'LONGHAUL_BACKEND=b' })
    expect(choice.name).toBe('b')
    expect(choice.reason).toBe('b: chosen because it was requested (LONGHAUL_BACKEND=b)')
  })

  it('fails instead of falling back when the preferred route is unavailable', async () => {
    const routes = [new FakeRoute('a', down('not installed: pkg')), new FakeRoute('b', up())]
    const error = await rejection(selectBackend(routes, { preferred: 'a', preferredSource: '--backend a' }))
    expect(isCoreError(error, 'ERR_BACKEND_UNAVAILABLE')).toBe(true)
    expect(String(error)).toContain(
      "Tensor backend 'a' was requested (--backend a) but it is unavailable (not installed: pkg)",
    )
  })

  it('fails when the preferred route lacks a kernel the model needs', async () => {
    const routes = [new FakeRoute('wasm', up()), new FakeRoute('cpu', up())]
    const error = await rejection(
      selectBackend(routes, {
        preferred: 'wasm',
        requiredKernels: ['Conv2DBackpropFilter'],
        hasKernel: registry({ cpu: ['Conv2DBackpropFilter'] }),
      }),
    )
    expect(isCoreError(error, 'ERR_BACKEND_UNAVAILABLE')).toBe(true)
    expect(String(error)).toContain('but it lacks Conv2DBackpropFilter needed to train this model')
  })

  it('fails when the preferred route does not start', async () => {
    const routes = [new FakeRoute('a', up()), new FakeRoute('b', up())]
    const error = await rejection(
      selectBackend(routes, { preferred: 'a', start: () => Promise.reject(new Error('init failed')) }),
    )
    expect(isCoreError(error, 'ERR_BACKEND_UNAVAILABLE')).toBe(true)
    expect(String(error)).toContain('failed to start (init failed)')
  })

  it('throws ERR_INVALID_ARGUMENT listing the routes when the preferred name is unknown', async () => {
    const error = await rejection(selectBackend([new FakeRoute('a', up())], { preferred: 'tpu' }))
    expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
    expect(String(error)).toContain("Unknown tensor backend 'tpu'; choose one of: a.")
  })
})

describe('probeRoutes', () => {
  it('reports every route without choosing one', async () => {
    const routes = [new FakeRoute('a', down('gone')), new FakeRoute('b', up())]
    const report = await probeRoutes(routes, { requiredKernels: ['K'], hasKernel: registry({ b: [] }) })
    expect(report.map((r) => [r.name, r.available, r.chosen, r.missingKernels])).toEqual([
      ['a', false, false, []],
      ['b', true, false, ['K']],
    ])
  })
})

/** A route with every optional refinement settable: placement, on-demand, backend name, kind. */
function gpuRoute(
  fields: Partial<BackendRoute> & { name: string },
  probe: RouteProbe,
): BackendRoute & {
  probeCalls: number
} {
  const route = {
    kind: 'webgl' as const,
    isHardware: true,
    probeCalls: 0,
    ...fields,
    probe: () => {
      route.probeCalls += 1
      return Promise.resolve(probe)
    },
    register: () => Promise.resolve(),
  }
  return route
}

describe('selectBackend with GPU and browser routes', () => {
  it('does not probe an on-demand route in automatic selection and says why it was passed over', async () => {
    const browser = gpuRoute({ name: 'webgl', onDemand: 'starts a Chromium page' }, up())
    const cpu = new FakeRoute('cpu', up())
    const choice = await selectBackend([browser, cpu])
    expect(browser.probeCalls).toBe(0)
    expect(choice.name).toBe('cpu')
    expect(choice.reason).toBe(
      'cpu: chosen because webgl is used only when asked for by name (not probed: it starts a Chromium page)',
    )
    expect(choice.report[0]).toMatchObject({ probed: false, available: false })
  })

  it('probes an on-demand route when it is preferred, and all of them with probeOnDemand', async () => {
    const a = gpuRoute({ name: 'a', onDemand: 'starts a page' }, up())
    const b = gpuRoute({ name: 'b', onDemand: 'starts a page' }, up())
    const choice = await selectBackend([a, b], { preferred: 'b' })
    expect(choice.name).toBe('b')
    expect([a.probeCalls, b.probeCalls]).toEqual([0, 1])
    const report = await probeRoutes([a, b], { probeOnDemand: true })
    expect(report.map((r) => r.probed)).toEqual([true, true])
    expect(a.probeCalls).toBe(1)
  })

  it('checks kernels against the list a browser probe sends, not this context', async () => {
    const remote = gpuRoute(
      { name: 'webgl', placement: 'browser' },
      { ...up(), kernels: ['Conv2D', 'Conv2DBackpropFilter'] },
    )
    const choice = await selectBackend([remote, new FakeRoute('cpu', up())], {
      requiredKernels: ['Conv2D', 'Conv2DBackpropFilter', 'MaxPoolGrad'],
      // The local registry claims everything: it must not be consulted for the remote route.
      hasKernel: () => true,
    })
    expect(choice.report[0]?.missingKernels).toEqual(['MaxPoolGrad'])
    expect(choice.reason).toBe('cpu: chosen because webgl lacks MaxPoolGrad needed to train this model')
  })

  it('looks kernels up under the tfjs backend name when it differs from the route name', async () => {
    const gpu = gpuRoute({ name: 'tensorflow-gpu', kind: 'native', backendName: 'tensorflow' }, up())
    const choice = await selectBackend([gpu], {
      requiredKernels: ['K'],
      hasKernel: registry({ tensorflow: ['K'] }),
    })
    expect(choice).toMatchObject({ name: 'tensorflow-gpu', backendName: 'tensorflow', placement: 'local' })
  })

  it('passes over a GPU route on a software rasteriser unless it is asked for by name', async () => {
    const software: RouteProbe = { ...up(), isHardware: false, softwareRenderer: 'SwiftShader' }
    const routes = [gpuRoute({ name: 'webgl' }, software), new FakeRoute('wasm', up())]
    const automatic = await selectBackend(routes)
    expect(automatic.name).toBe('wasm')
    expect(automatic.reason).toBe(
      'wasm: chosen because webgl runs on SwiftShader, not a GPU, so it is used only when asked for by name',
    )
    const asked = await selectBackend(routes, { preferred: 'webgl' })
    expect(asked).toMatchObject({ name: 'webgl', isHardware: false })
  })

  it('chooses a GPU route whose probe reports hardware', async () => {
    const hardware: RouteProbe = { ...up(), isHardware: true, adapter: 'nvidia ampere' }
    const choice = await selectBackend([gpuRoute({ name: 'webgpu', kind: 'webgpu' }, hardware)])
    expect(choice).toMatchObject({ name: 'webgpu', isHardware: true })
    expect(choice.report[0]?.adapter).toBe('nvidia ampere')
  })
})

describe('startRoute', () => {
  let previousBackend: string | undefined

  beforeAll(() => {
    previousBackend = tf.engine().backendName ?? undefined
  })

  afterAll(async () => {
    if (previousBackend !== undefined) await tf.setBackend(previousBackend)
  })

  it("registers a browser route without switching this context's backend", async () => {
    await tf.setBackend('cpu')
    let registered = 0
    const route = gpuRoute({ name: 'webgl', placement: 'browser', backendName: 'webgl' }, up())
    route.register = () => {
      registered += 1
      return Promise.resolve()
    }
    await startRoute(route)
    expect(registered).toBe(1)
    expect(tf.getBackend()).toBe('cpu')
  })

  it('fails the start with the reason verify() gives, after switching to the backend', async () => {
    const route = gpuRoute({ name: 'cpu', kind: 'js', verify: () => 'readback returned zeros' }, up())
    await expect(startRoute(route)).rejects.toThrow('readback returned zeros')
  })

  it('starts a local route under its tfjs backend name', async () => {
    const route = gpuRoute({ name: 'plain-js', kind: 'js', backendName: 'cpu' }, up())
    await startRoute(route)
    expect(tf.getBackend()).toBe('cpu')
  })
})

describe('firstLine', () => {
  it('keeps the first non-empty line of an error message', () => {
    expect(firstLine(new Error('\n  libcudart.so.11: cannot open\nmore'))).toBe(
      'libcudart.so.11: cannot open',
    )
  })

  it('says "unknown error" when there is no text', () => {
    expect(firstLine(new Error(''))).toBe('unknown error')
    expect(firstLine(undefined)).toBe('undefined')
  })
})

// The real kernel registries of tfjs-backend-wasm 4.22 and tfjs-backend-cpu 4.22.
describe('selectBackend with the real wasm and cpu routes', () => {
  let previousBackend: string | undefined
  const realRoutes = (): BackendRoute[] => listRoutes().filter((r) => r.name === 'wasm' || r.name === 'cpu')

  beforeAll(() => {
    previousBackend = tf.engine().backendName ?? undefined
  })

  afterAll(async () => {
    if (previousBackend !== undefined) await tf.setBackend(previousBackend)
  })

  it('skips wasm for a Conv2D model because it lacks Conv2DBackpropFilter', async () => {
    const kernels = requiredTrainingKernels(['Conv2D', 'MaxPooling2D', 'Flatten', 'Dense'])
    const choice = await selectBackend(realRoutes(), { requiredKernels: kernels })
    expect(choice.name).toBe('cpu')
    expect(choice.reason).toBe(
      'cpu: chosen because wasm lacks Conv2DBackpropFilter needed to train this model',
    )
    expect(choice.report.find((r) => r.name === 'wasm')?.missingKernels).toEqual(['Conv2DBackpropFilter'])
  })

  it('picks wasm for a Dense-only model', async () => {
    const choice = await selectBackend(realRoutes(), {
      requiredKernels: requiredTrainingKernels(['Dense', 'Dropout']),
    })
    expect(choice.name).toBe('wasm')
    expect(choice.reason).toBe('wasm: chosen as the first route in priority order')
  })

  it('finds DepthwiseConv2D gradients missing on wasm as well', async () => {
    const report = await probeRoutes(realRoutes(), {
      requiredKernels: requiredTrainingKernels(['DepthwiseConv2D']),
    })
    expect(report.find((r) => r.name === 'wasm')?.missingKernels).toEqual([
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
    ])
    expect(report.find((r) => r.name === 'cpu')?.missingKernels).toEqual([])
  })
})
