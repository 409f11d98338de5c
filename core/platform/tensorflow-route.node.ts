/**
 * The `tensorflow` route: TensorFlow's C library through @tensorflow/tfjs-node-gpu (CUDA) or, failing
 * that, @tensorflow/tfjs-node (CPU). Both are optionalDependencies whose install script downloads
 * libtensorflow; when that download fails npm drops the package, so "not installed" is the common case
 * and the reason says so. A package that is installed but whose native binding does not load is a
 * different failure and says "installed but failed to load: <first line of the error>".
 *
 * Loading either package registers the tfjs backend 'tensorflow' as a side effect, so we stop at the
 * first one that loads (loading the second would register the backend twice).
 */
import { backend } from '@tensorflow/tfjs-core'
import { firstLine } from '../tensor/backend-select.ts'
import type { BackendRoute, RouteInspection, RouteProbe } from '../tensor/backend-select.ts'
import { nodeModuleLoader } from './module-loader.node.ts'
import type { ModuleLoader } from './module-loader.node.ts'

/** Packages tried in order: the CUDA build first. */
export const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const

const GPU_PACKAGE = TENSORFLOW_PACKAGES[0]

function shortName(packageName: string): string {
  return packageName.replace('@tensorflow/', '')
}

/** Reads tfjs-node's `isUsingGpuDevice` flag off the running backend, if it has one. */
function readUsesGpu(running: unknown): boolean | undefined {
  if (typeof running !== 'object' || running === null || !('isUsingGpuDevice' in running)) return undefined
  return typeof running.isUsingGpuDevice === 'boolean' ? running.isUsingGpuDevice : undefined
}

/**
 * Builds the route. `loader` and `readBackend` are seams for tests; the defaults are the real Node
 * resolution and tfjs's running backend.
 */
export function createTensorflowRoute(
  options: { loader?: ModuleLoader; readBackend?: () => unknown } = {},
): BackendRoute {
  const loader = options.loader ?? nodeModuleLoader
  const readBackend = options.readBackend ?? backend
  let probed: Promise<RouteProbe> | undefined
  let loadedPackage: string | undefined

  async function probeOnce(): Promise<RouteProbe> {
    const notes: string[] = []
    for (const packageName of TENSORFLOW_PACKAGES) {
      if (!loader.isInstalled(packageName)) {
        notes.push(`${shortName(packageName)} not installed`)
        continue
      }
      try {
        await loader.load(packageName)
      } catch (error) {
        notes.push(`${shortName(packageName)} installed but failed to load: ${firstLine(error)}`)
        continue
      }
      loadedPackage = packageName
      const isGpuBuild = packageName === GPU_PACKAGE
      return {
        available: true,
        reason: `loaded ${packageName}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`,
        detail: isGpuBuild
          ? 'CUDA build; whether a GPU is in use is known once it starts'
          : 'TensorFlow C library on the CPU',
        // Provisional: the CUDA build may still find no device; inspect() says for sure.
        isHardware: isGpuBuild,
      }
    }
    if (notes.every((note) => note.endsWith('not installed'))) {
      return {
        available: false,
        reason:
          `not installed: ${TENSORFLOW_PACKAGES.map(shortName).join(', ')}; npm drops these optional packages ` +
          'when their libtensorflow download fails',
        isHardware: false,
      }
    }
    return { available: false, reason: notes.join('; '), isHardware: false }
  }

  return {
    name: 'tensorflow',
    kind: 'native',
    isHardware: false,
    probe: () => (probed ??= probeOnce()),
    register: async () => {
      const probe = await (probed ??= probeOnce())
      if (!probe.available) throw new Error(`tensorflow route is unavailable: ${probe.reason}`)
    },
    inspect: (): RouteInspection => {
      if (loadedPackage !== GPU_PACKAGE)
        return { detail: 'TensorFlow C library on the CPU', isHardware: false }
      const usesGpu = readUsesGpu(readBackend())
      if (usesGpu === true) return { detail: 'TensorFlow C library on a CUDA GPU', isHardware: true }
      // Never claim an accelerator we cannot see: unknown counts as "no".
      return usesGpu === false
        ? {
            detail: 'tfjs-node-gpu found no usable CUDA device; TensorFlow runs on the CPU',
            isHardware: false,
          }
        : {
            detail: 'tfjs-node-gpu did not say whether it uses a CUDA device; counted as CPU',
            isHardware: false,
          }
    },
  }
}
