import * as tf from '@tensorflow/tfjs-core'
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkSyncReadback, READBACK_CHECK_SIZE } from '../../../../core/platform/readback-check.ts'

/** A cpu backend whose synchronous readback returns zeros, as tfjs-webgpu's does in headless Chromium. */
class ZeroReadBackend extends MathBackendCPU {
  override readSync(dataId: object): tf.backend_util.BackendValues {
    const values = super.readSync(dataId)
    return values instanceof Float32Array ? new Float32Array(values.length) : values
  }
}

/** A cpu backend whose synchronous readback throws, as tfjs-webgpu's does in Node. */
class ThrowingReadBackend extends MathBackendCPU {
  override readSync(): tf.backend_util.BackendValues {
    throw new Error('OffscreenCanvas is not defined\n    at readSync')
  }
}

let previousBackend: string | undefined

beforeAll(() => {
  previousBackend = tf.engine().backendName ?? undefined
  // Kernels are looked up by backend name, so the test backends reuse cpu's by registering each
  // cpu kernel under their names.
  for (const name of ['zero-read', 'throwing-read']) {
    for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: name })
  }
  tf.registerBackend('zero-read', () => new ZeroReadBackend())
  tf.registerBackend('throwing-read', () => new ThrowingReadBackend())
})

afterAll(async () => {
  if (previousBackend !== undefined) await tf.setBackend(previousBackend)
  tf.removeBackend('zero-read')
  tf.removeBackend('throwing-read')
})

describe('checkSyncReadback', () => {
  it('passes on the cpu backend and leaves no tensors behind', async () => {
    await tf.setBackend('cpu')
    const before = tf.memory().numTensors
    expect(checkSyncReadback()).toEqual({ ok: true })
    expect(tf.memory().numTensors).toBe(before)
  })

  it('fails with the wrong value it read when readback returns zeros', async () => {
    await tf.setBackend('zero-read')
    expect(checkSyncReadback()).toEqual({
      ok: false,
      reason: `synchronous readback returned 0 where ${READBACK_CHECK_SIZE} was expected`,
    })
  })

  it('fails with the first line of the error when readback throws', async () => {
    await tf.setBackend('throwing-read')
    expect(checkSyncReadback()).toEqual({
      ok: false,
      reason: 'synchronous readback failed: OffscreenCanvas is not defined',
    })
  })
})
