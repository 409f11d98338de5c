import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isCoreError } from '../../../../core/errors.ts'
import {
  initBackend,
  listRoutes,
  openRouteTrainer,
  resolvePreferredBackend,
} from '../../../../core/platform/backends.node.ts'
import { nodeModuleLoader } from '../../../../core/platform/module-loader.node.ts'
import { TENSORFLOW_PACKAGES } from '../../../../core/platform/tensorflow-route.node.ts'
import { wasmFeatures } from '../../../../core/platform/wasm-route.node.ts'
import type { BackendRoute } from '../../../../core/tensor/backend-select.ts'
import {
  requiredTrainingKernels,
  trainingKernelsForLayers,
} from '../../../../core/tensor/training-kernels.ts'

const NO_ENV = {}
const isNativeInstalled = TENSORFLOW_PACKAGES.some((p) => nodeModuleLoader.isInstalled(p))

/** wasm and cpu only: the same answers whether or not a user installed tfjs-node or has a GPU. */
function portableRoutes(): BackendRoute[] {
  return listRoutes().filter((r) => r.name === 'wasm' || r.name === 'cpu')
}

const CNN_LAYERS = ['Conv2D', 'MaxPooling2D', 'Flatten', 'Dropout', 'Dense']

function tinyCnn(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dropout({ rate: 0.25 }),
      tfl.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  })
}

function tinyMlp(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [16], units: 8, activation: 'relu' }),
      tfl.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  })
}

/** One compiled training step, profiled: returns the loss and the kernels it ran. */
async function trainOneStep(model: tfl.Sequential): Promise<{ loss: number; kernels: string[] }> {
  model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] })
  const inputShape = model.inputs[0]?.shape.slice(1).map((d) => d ?? 1) ?? []
  const x = tf.randomNormal([4, ...inputShape])
  const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3), 'float32')
  let loss = Number.NaN
  const info = await tf.profile(async () => {
    const result = await model.trainOnBatch(x, y)
    loss = Array.isArray(result) ? (result[0] ?? Number.NaN) : result
    return []
  })
  const kernels = info.kernelNames.filter((k) => !k.endsWith('__op'))
  tf.dispose([x, y])
  return { loss, kernels }
}

let previousBackend: string | undefined

beforeAll(() => {
  previousBackend = tf.engine().backendName ?? undefined
})

afterAll(async () => {
  if (previousBackend !== undefined) await tf.setBackend(previousBackend)
})

describe('listRoutes', () => {
  it('lists CUDA, WebGPU, WebGL, native CPU, wasm and cpu in priority order with kinds and placement', () => {
    expect(
      listRoutes().map((r) => [
        r.name,
        r.kind,
        r.backendName ?? r.name,
        r.placement ?? 'local',
        r.isHardware,
      ]),
    ).toEqual([
      ['tensorflow-gpu', 'native', 'tensorflow', 'local', true],
      ['webgpu', 'webgpu', 'webgpu', 'local', true],
      ['webgpu-browser', 'webgpu', 'webgpu', 'browser', true],
      ['webgl', 'webgl', 'webgl', 'browser', true],
      ['tensorflow', 'native', 'tensorflow', 'local', false],
      ['wasm', 'wasm', 'wasm', 'local', false],
      ['cpu', 'js', 'cpu', 'local', false],
    ])
  })

  it('marks only the browser routes as on-demand, so the default path never starts Chromium', () => {
    expect(
      listRoutes()
        .filter((r) => r.onDemand !== undefined)
        .map((r) => r.name),
    ).toEqual(['webgpu-browser', 'webgl'])
  })

  it('returns the same route objects in a fresh array each call', () => {
    const first = listRoutes()
    first.pop()
    const second = listRoutes()
    expect(second).toHaveLength(7)
    expect(second[0]).toBe(first[0])
  })
})

describe('resolvePreferredBackend', () => {
  it('prefers the flag over the environment', () => {
    expect(resolvePreferredBackend('wasm', { LONGHAUL_BACKEND: 'cpu' })).toEqual({
      preferred: 'wasm',
      preferredSource: '--backend wasm',
    })
  })

  it('reads LONGHAUL_BACKEND when the flag is absent or blank', () => {
    const expected = { preferred: 'cpu', preferredSource: 'LONGHAUL_BACKEND=cpu' }
    expect(resolvePreferredBackend(undefined, { LONGHAUL_BACKEND: ' cpu ' })).toEqual(expected)
    expect(resolvePreferredBackend('  ', { LONGHAUL_BACKEND: 'cpu' })).toEqual(expected)
  })

  it('prefers nothing when both are absent or blank', () => {
    expect(resolvePreferredBackend(undefined, {})).toEqual({})
    expect(resolvePreferredBackend('', { LONGHAUL_BACKEND: '' })).toEqual({})
  })
})

describe('initBackend', () => {
  it('starts cpu for a conv model, logs why, and one training step runs only listed kernels', async () => {
    // Building a model needs a backend, so the kernel list comes from the layer classes first.
    const required = requiredTrainingKernels(CNN_LAYERS)
    const lines: string[] = []
    const choice = await initBackend({
      requiredKernels: required,
      routes: portableRoutes(),
      env: NO_ENV,
      log: (l) => lines.push(l),
    })
    expect(choice.name).toBe('cpu')
    expect(tf.getBackend()).toBe('cpu')
    expect(lines).toEqual([
      'backend cpu: chosen because wasm lacks Conv2DBackpropFilter needed to train this model [plain JavaScript on one thread]',
    ])
    const model = tinyCnn()
    expect(model.layers.map((l) => l.getClassName())).toEqual(CNN_LAYERS)
    const { loss, kernels } = await trainOneStep(model)
    model.dispose()
    expect(Number.isFinite(loss)).toBe(true)
    expect(kernels).toContain('Conv2DBackpropFilter')
    expect(kernels.filter((k) => !required.includes(k))).toEqual([])
  })

  it('starts wasm for a dense model and trains one step on it with only listed kernels', async () => {
    const required = requiredTrainingKernels(['Dense', 'Dense'])
    const choice = await initBackend({ requiredKernels: required, routes: portableRoutes(), env: NO_ENV })
    expect(choice.name).toBe('wasm')
    expect(tf.getBackend()).toBe('wasm')
    // After the start the report knows the thread count in use, not just the build.
    expect(choice.report.find((r) => r.chosen)?.detail).toBe(
      'SIMD build, 1 thread (tfjs-backend-wasm 4.22 turns WebAssembly threads off in Node)',
    )
    expect(await wasmFeatures()).toMatchObject({ simd: true, threads: false, threadsInUse: 1 })
    const model = tinyMlp()
    // The model's own layers ask for no more than the class-name list did.
    expect(trainingKernelsForLayers(model.layers).filter((k) => !required.includes(k))).toEqual([])
    const { loss, kernels } = await trainOneStep(model)
    model.dispose()
    expect(Number.isFinite(loss)).toBe(true)
    expect(kernels.length).toBeGreaterThan(10)
    expect(kernels.filter((k) => !required.includes(k))).toEqual([])
  })

  it('shows why the check exists: a conv net on wasm fails in its first backward pass', async () => {
    await initBackend({ preferred: 'wasm', routes: portableRoutes(), env: NO_ENV })
    const model = tinyCnn()
    await expect(trainOneStep(model)).rejects.toThrow(/Conv2DBackpropFilter.*not registered.*wasm/)
    model.dispose()
  })

  it('names where a preference came from when the caller says (the UI setting, not a flag)', async () => {
    const choice = await initBackend({
      preferred: 'cpu',
      preferredSource: 'the backend setting: cpu',
      routes: portableRoutes(),
      env: NO_ENV,
    })
    expect(choice.reason).toBe('cpu: chosen because it was requested (the backend setting: cpu)')
    const flagged = await initBackend({ preferred: 'cpu', routes: portableRoutes(), env: NO_ENV })
    expect(flagged.reason).toBe('cpu: chosen because it was requested (--backend cpu)')
  })

  it('uses LONGHAUL_BACKEND and says so', async () => {
    const choice = await initBackend({ routes: portableRoutes(), env: { LONGHAUL_BACKEND: 'cpu' } })
    expect(choice.reason).toBe('cpu: chosen because it was requested (LONGHAUL_BACKEND=cpu)')
    expect(tf.getBackend()).toBe('cpu')
  })

  it('fails with ERR_BACKEND_UNAVAILABLE when the requested backend lacks a training kernel', async () => {
    const required = requiredTrainingKernels(['Conv2D', 'Dense'])
    await expect(
      initBackend({ preferred: 'wasm', requiredKernels: required, routes: portableRoutes(), env: NO_ENV }),
    ).rejects.toSatisfy(
      (e) => isCoreError(e, 'ERR_BACKEND_UNAVAILABLE') && /Conv2DBackpropFilter/.test(e.message),
    )
  })

  it.skipIf(isNativeInstalled)(
    'fails with ERR_BACKEND_UNAVAILABLE when tensorflow is requested but not installed',
    async () => {
      const error: unknown = await initBackend({ preferred: 'tensorflow', env: NO_ENV }).catch(
        (e: unknown) => e,
      )
      expect(isCoreError(error, 'ERR_BACKEND_UNAVAILABLE')).toBe(true)
      expect(String(error)).toContain(
        "Tensor backend 'tensorflow' was requested (--backend tensorflow) but it is unavailable (not installed: ",
      )
    },
  )

  it('fails with ERR_INVALID_ARGUMENT for an unknown backend name, listing every route', async () => {
    const error: unknown = await initBackend({ env: { LONGHAUL_BACKEND: 'tpu' } }).catch((e: unknown) => e)
    expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
    expect(String(error)).toContain(
      "Unknown tensor backend 'tpu' (from LONGHAUL_BACKEND=tpu); choose one of: tensorflow-gpu, webgpu, webgpu-browser, webgl, tensorflow, wasm, cpu.",
    )
  })

  it('refuses a browser route for an in-process caller instead of training on another backend', async () => {
    const before = tf.getBackend()
    const error: unknown = await initBackend({ preferred: 'webgl', env: NO_ENV }).catch((e: unknown) => e)
    expect(isCoreError(error, 'ERR_BACKEND_UNAVAILABLE')).toBe(true)
    expect(String(error)).toContain(
      "Tensor backend 'webgl' was requested (--backend webgl) but it trains in a browser context",
    )
    // Nothing was started or switched.
    expect(tf.getBackend()).toBe(before)
  })

  it.skipIf(isNativeInstalled)(
    'explains the missing native route when choosing from the full table',
    async () => {
      const choice = await initBackend({ requiredKernels: requiredTrainingKernels(['Dense']), env: NO_ENV })
      expect(choice.name).toBe('wasm')
      expect(choice.reason).toMatch(
        /^wasm: chosen because tensorflow-gpu is unavailable \(not installed: tfjs-node-gpu, tfjs-node; .*, webgpu .* and tensorflow is unavailable \(not installed: /,
      )
      // Browser routes are not part of an in-process choice, so they are not even mentioned.
      expect(choice.reason).not.toMatch(/webgl|webgpu-browser/)
      expect(choice.report.map((r) => r.name)).not.toContain('webgl')
    },
  )
})

describe('openRouteTrainer', () => {
  const spec = {
    model: 'cnn',
    inputShape: [8, 8, 1],
    classCount: 3,
    optimizer: { kind: 'sgd' as const, learningRate: 0.1 },
  }

  it('opens a local trainer on the named route and trains through the async interface', async () => {
    const { trainer, choice } = await openRouteTrainer('cpu', spec, { routes: portableRoutes() })
    expect(choice).toMatchObject({ name: 'cpu', placement: 'local' })
    expect(trainer.description).toBe('local cpu')
    const x = new Float32Array(4 * 64).fill(0.5)
    const losses = await trainer.trainSteps(x, Int32Array.from([0, 1, 2, 0]), 2)
    expect(losses).toHaveLength(2)
    expect(losses.every((l) => Number.isFinite(l))).toBe(true)
    await trainer.close()
  })

  it('refuses a route that lacks a kernel the model needs, naming it', async () => {
    const error: unknown = await openRouteTrainer('wasm', spec, { routes: portableRoutes() }).catch(
      (e: unknown) => e,
    )
    expect(isCoreError(error, 'ERR_BACKEND_UNAVAILABLE')).toBe(true)
    expect(String(error)).toContain('lacks Conv2DBackpropFilter')
  })

  it('refuses an unknown route name', async () => {
    const error: unknown = await openRouteTrainer('tpu', spec).catch((e: unknown) => e)
    expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
  })
})
