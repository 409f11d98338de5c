import { describe, expect, it } from 'vitest'
import type { ModuleLoader } from '../../../../core/platform/module-loader.node.ts'
import { nodeModuleLoader } from '../../../../core/platform/module-loader.node.ts'
import {
  createTensorflowRoute,
  TENSORFLOW_PACKAGES,
} from '../../../../core/platform/tensorflow-route.node.ts'

const GPU = '@tensorflow/tfjs-node-gpu'
const CPU = '@tensorflow/tfjs-node'

/** A loader over a fixed table: package -> 'missing' | 'loads' | an Error its import throws. */
class TableLoader implements ModuleLoader {
  readonly loads: string[] = []
  constructor(private readonly table: Record<string, 'missing' | 'loads' | Error>) {}

  isInstalled(name: string): boolean {
    return (this.table[name] ?? 'missing') !== 'missing'
  }

  packageDir(name: string): string | undefined {
    return this.isInstalled(name) ? `/fake/node_modules/${name}` : undefined
  }

  load(name: string): Promise<unknown> {
    this.loads.push(name)
    const entry = this.table[name] ?? 'missing'
    if (entry instanceof Error) return Promise.reject(entry)
    if (entry === 'missing') return Promise.reject(new Error(`Cannot find package '${name}'`))
    return Promise.resolve({})
  }
}

describe('createTensorflowRoute', () => {
  it('tries the CUDA package before the CPU one', () => {
    expect(TENSORFLOW_PACKAGES).toEqual([GPU, CPU])
  })

  it('is unavailable and explains npm dropped the packages when neither is installed', async () => {
    const loader = new TableLoader({})
    const probe = await createTensorflowRoute({ loader }).probe()
    expect(probe.available).toBe(false)
    expect(probe.reason).toBe(
      'not installed: tfjs-node-gpu, tfjs-node; npm drops these optional packages when their libtensorflow download fails',
    )
    expect(loader.loads).toEqual([])
  })

  it('distinguishes an installed package whose binding fails to load from a missing one', async () => {
    const loader = new TableLoader({
      [GPU]: new Error(
        'The Node.js native addon module (tfjs_binding.node) can not be found at path: /x\nstack',
      ),
    })
    const probe = await createTensorflowRoute({ loader }).probe()
    expect(probe.available).toBe(false)
    expect(probe.reason).toBe(
      'tfjs-node-gpu installed but failed to load: The Node.js native addon module (tfjs_binding.node) can not ' +
        'be found at path: /x; tfjs-node not installed',
    )
  })

  it('falls back to tfjs-node as software when tfjs-node-gpu is missing', async () => {
    const loader = new TableLoader({ [CPU]: 'loads' })
    const route = createTensorflowRoute({ loader, readBackend: () => ({ isUsingGpuDevice: true }) })
    const probe = await route.probe()
    expect(probe).toMatchObject({ available: true, isHardware: false })
    expect(probe.reason).toBe('loaded @tensorflow/tfjs-node (tfjs-node-gpu not installed)')
    // The CPU package never claims a GPU, whatever the backend object says.
    expect(route.inspect?.()).toEqual({ detail: 'TensorFlow C library on the CPU', isHardware: false })
  })

  it('stops at tfjs-node-gpu when it loads, so the backend is registered once', async () => {
    const loader = new TableLoader({ [GPU]: 'loads', [CPU]: 'loads' })
    const route = createTensorflowRoute({ loader, readBackend: () => ({ isUsingGpuDevice: true }) })
    const probe = await route.probe()
    expect(probe).toMatchObject({ available: true, isHardware: true, reason: `loaded ${GPU}` })
    expect(loader.loads).toEqual([GPU])
    expect(route.inspect?.()).toEqual({ detail: 'TensorFlow C library on a CUDA GPU', isHardware: true })
  })

  it('reports software when tfjs-node-gpu found no CUDA device', async () => {
    const loader = new TableLoader({ [GPU]: 'loads' })
    const route = createTensorflowRoute({ loader, readBackend: () => ({ isUsingGpuDevice: false }) })
    await route.probe()
    const inspection = route.inspect?.()
    expect(inspection?.isHardware).toBe(false)
    expect(inspection?.detail).toMatch(/no usable CUDA/)
  })

  it('never claims hardware when the backend does not say whether it uses a GPU', async () => {
    const loader = new TableLoader({ [GPU]: 'loads' })
    for (const running of [{}, null, { isUsingGpuDevice: 'yes' }]) {
      const route = createTensorflowRoute({ loader, readBackend: () => running })
      await route.probe()
      expect(route.inspect?.().isHardware).toBe(false)
    }
  })

  it('probes once however often it is asked', async () => {
    const loader = new TableLoader({ [GPU]: new Error('bad'), [CPU]: 'loads' })
    const route = createTensorflowRoute({ loader })
    await Promise.all([route.probe(), route.probe()])
    await route.register()
    expect(loader.loads).toEqual([GPU, CPU])
  })

  it('refuses to register when unavailable', async () => {
    await expect(createTensorflowRoute({ loader: new TableLoader({}) }).register()).rejects.toThrow(
      /not installed/,
    )
  })

  it('matches what is installed on this machine with the real loader', async () => {
    const probe = await createTensorflowRoute().probe()
    const anyInstalled = TENSORFLOW_PACKAGES.some((p) => nodeModuleLoader.isInstalled(p))
    if (!anyInstalled) {
      expect(probe.available).toBe(false)
      expect(probe.reason).toMatch(/^not installed: /)
    } else expect(probe.reason).not.toMatch(/^not installed: /)
  })
})
