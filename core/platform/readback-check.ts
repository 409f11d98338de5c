/**
 * Checks that the current tfjs backend reads a GPU-resident result back correctly, synchronously
 * (dataSync, what the Trainer's plain methods use) or asynchronously (data(), its `...Async` forms).
 * A backend whose readback fails or returns wrong values cannot train, whatever kernels it has.
 *
 * Why a check and not an assumption: tfjs-backend-webgpu 4.22 implements dataSync() by copying
 * through an OffscreenCanvas 'webgpu' context. Node has no OffscreenCanvas (Dawn route), and in
 * headless Chromium 156 on SwiftShader the copy returns zeros and loses the device, while data()
 * (a mapped staging buffer) is correct. So WebGPU routes run only the asynchronous check (the
 * synchronous one would destroy the device it tests) and train with the async methods; WebGL's
 * readPixels path passes the synchronous one. Runtime-agnostic.
 */
import { matMul, ones, tidy } from '@tensorflow/tfjs-core'
import type { Tensor } from '@tensorflow/tfjs-core'
import { firstLine } from '../tensor/backend-select.ts'

/**
 * Side of the square matmul: large enough that webgpu runs it on the GPU, not on its CPU-forward
 * path for tiny inputs (which would read back fine and prove nothing).
 */
export const READBACK_CHECK_SIZE = 64

export type ReadbackCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string }

function product(): Tensor {
  const n = READBACK_CHECK_SIZE
  return tidy(() => matMul(ones([n, n]), ones([n, n])))
}

function judge(values: ArrayLike<number>, how: string): ReadbackCheck {
  const n = READBACK_CHECK_SIZE
  const wrong = Array.prototype.findIndex.call(values, (v: number) => v !== n)
  if (values.length !== n * n || wrong >= 0) {
    return {
      ok: false,
      reason: `${how} readback returned ${values[wrong] ?? 'nothing'} where ${n} was expected`,
    }
  }
  return { ok: true }
}

/** Runs ones(n,n) x ones(n,n) on the current backend and reads it with dataSync(); every value must be n. */
export function checkSyncReadback(): ReadbackCheck {
  let values: ArrayLike<number>
  try {
    values = tidy(() => product().dataSync())
  } catch (error) {
    return { ok: false, reason: `synchronous readback failed: ${firstLine(error)}` }
  }
  return judge(values, 'synchronous')
}

/** The same check reading with data(): what routes whose synchronous readback is broken must pass. */
export async function checkAsyncReadback(): Promise<ReadbackCheck> {
  let values: ArrayLike<number>
  let result: Tensor | undefined
  try {
    result = product()
    values = await result.data()
  } catch (error) {
    return { ok: false, reason: `asynchronous readback failed: ${firstLine(error)}` }
  } finally {
    result?.dispose()
  }
  return judge(values, 'asynchronous')
}
