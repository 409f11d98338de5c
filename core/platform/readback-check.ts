/**
 * Checks that the current tfjs backend can read a GPU-resident result back synchronously and
 * correctly. The Trainer reads its loss, gradients and parameters with dataSync(), so a backend
 * whose synchronous readback fails or returns wrong values cannot train, whatever kernels it has.
 *
 * Why a check and not an assumption: tfjs-backend-webgpu 4.22 implements dataSync() by copying
 * through an OffscreenCanvas 'webgpu' context. Node has no OffscreenCanvas (Dawn route), and in
 * headless Chromium 156 on SwiftShader the copy returns zeros and loses the device. WebGL's
 * readPixels path works. Runtime-agnostic.
 */
import { matMul, ones, tidy } from '@tensorflow/tfjs-core'
import { firstLine } from '../tensor/backend-select.ts'

/**
 * Side of the square matmul: large enough that webgpu runs it on the GPU, not on its CPU-forward
 * path for tiny inputs (which would read back fine and prove nothing).
 */
export const READBACK_CHECK_SIZE = 64

export type ReadbackCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string }

/** Runs ones(n,n) x ones(n,n) on the current backend and reads it with dataSync(); every value must be n. */
export function checkSyncReadback(): ReadbackCheck {
  const n = READBACK_CHECK_SIZE
  let values: Float32Array | Int32Array | Uint8Array
  try {
    values = tidy(() => matMul(ones([n, n]), ones([n, n])).dataSync())
  } catch (error) {
    return { ok: false, reason: `synchronous readback failed: ${firstLine(error)}` }
  }
  const wrong = values.findIndex((v) => v !== n)
  if (values.length !== n * n || wrong >= 0) {
    return {
      ok: false,
      reason: `synchronous readback returned ${values[wrong] ?? 'nothing'} where ${n} was expected`,
    }
  }
  return { ok: true }
}
