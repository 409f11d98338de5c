/**
 * The `tensorflow-gpu` route: TensorFlow's C library on a CUDA GPU through @tensorflow/tfjs-node-gpu.
 * It shares the `tensorflow` route's loading (both register the one tfjs backend 'tensorflow', and
 * loading two builds would register it twice), and only claims the CUDA build:
 * - available when the tensorflow route loaded tfjs-node-gpu;
 * - its start fails, so selection moves on to webgpu/webgl, when that build then finds no CUDA
 *   device (TensorFlow silently runs on the CPU then; the `tensorflow` route further down the list
 *   is the honest name for that).
 * The split is what puts CUDA first and native CPU after the browser GPU routes in the priority list.
 */
import type { BackendRoute, RouteInspection, RouteProbe } from '../tensor/backend-select.ts'

/** Wraps the process's `tensorflow` route (createTensorflowRoute()). */
export function createTensorflowGpuRoute(tensorflow: BackendRoute): BackendRoute {
  let probed: Promise<RouteProbe> | undefined

  async function probeOnce(): Promise<RouteProbe> {
    const probe = await tensorflow.probe()
    if (!probe.available) return { ...probe, isHardware: false }
    if (probe.isHardware !== true) {
      return {
        available: false,
        reason: 'the CPU build @tensorflow/tfjs-node is loaded; CUDA needs @tensorflow/tfjs-node-gpu',
        isHardware: false,
      }
    }
    return { ...probe, isHardware: true }
  }

  return {
    name: 'tensorflow-gpu',
    kind: 'native',
    backendName: 'tensorflow',
    isHardware: true,
    probe: () => (probed ??= probeOnce()),
    register: async () => {
      const probe = await (probed ??= probeOnce())
      if (!probe.available) throw new Error(`tensorflow-gpu route is unavailable: ${probe.reason}`)
      await tensorflow.register()
    },
    inspect: (): RouteInspection => tensorflow.inspect?.() ?? {},
    verify: () => {
      const seen = tensorflow.inspect?.()
      return seen?.isHardware === true
        ? undefined
        : `tfjs-node-gpu runs on the CPU here (${seen?.detail ?? 'no CUDA device seen'})`
    },
  }
}
