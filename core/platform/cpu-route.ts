/**
 * The `cpu` route: @tensorflow/tfjs-backend-cpu, every kernel in plain JavaScript. Always there (it is a
 * regular dependency), always last: correct everywhere, slow (tens of examples per second for a small
 * CNN), and it has every kernel training needs, so it is the route that never lacks one.
 */
import { firstLine } from '../tensor/backend-select.ts'
import type { BackendRoute, RouteProbe } from '../tensor/backend-select.ts'

/** Builds the route; the import is dynamic so that merely listing routes registers nothing. */
export function createCpuRoute(): BackendRoute {
  let probed: Promise<RouteProbe> | undefined

  async function probeOnce(): Promise<RouteProbe> {
    try {
      const cpu = await import('@tensorflow/tfjs-backend-cpu')
      return {
        available: true,
        reason: `loaded @tensorflow/tfjs-backend-cpu ${cpu.version_cpu}`,
        detail: 'plain JavaScript on one thread',
      }
    } catch (error) {
      return { available: false, reason: `failed to load @tensorflow/tfjs-backend-cpu: ${firstLine(error)}` }
    }
  }

  return {
    name: 'cpu',
    kind: 'js',
    isHardware: false,
    probe: () => (probed ??= probeOnce()),
    register: async () => {
      const probe = await (probed ??= probeOnce())
      if (!probe.available) throw new Error(`cpu route is unavailable: ${probe.reason}`)
    },
  }
}
