import * as tf from '@tensorflow/tfjs-core'
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  checkAsyncReadback,
  checkSyncReadback,
  READBACK_CHECK_SIZE,
} from '../../../../core/platform/readback-check.ts'

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

/**
 * Like tfjs-webgpu in headless Chromium: dataSync returns zeros, data() the right values. (The cpu
 * backend's async read() calls readSync, so this one answers read() from the real values.)
 */
class ZeroSyncOnlyBackend extends MathBackendCPU {
  override readSync(dataId: object): tf.backend_util.BackendValues {
    const values = super.readSync(dataId)
    return values instanceof Float32Array ? new Float32Array(values.length) : values
  }

  override read(dataId: object): Promise<tf.backend_util.BackendValues> {
    return Promise.resolve(super.readSync(dataId))
  }
}

let previousBackend: string | undefined

beforeAll(() => {
  previousBackend = tf.engine().backendName ?? undefined
  // Kernels are looked up by backend name, so the test backends reuse cpu's by registering each
  // cpu kernel under their names.
  for (const name of ['zero-read', 'throwing-read', 'zero-sync-only']) {
    for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: name })
  }
  tf.registerBackend('zero-read', () => new ZeroReadBackend())
  tf.registerBackend('throwing-read', () => new ThrowingReadBackend())
  tf.registerBackend('zero-sync-only', () => new ZeroSyncOnlyBackend())
})

afterAll(async () => {
  if (previousBackend !== undefined) await tf.setBackend(previousBackend)
  tf.removeBackend('zero-read')
  tf.removeBackend('throwing-read')
  tf.removeBackend('zero-sync-only')
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

describe('checkAsyncReadback', () => {
  it('passes on the cpu backend and leaves no tensors behind', async () => {
    await tf.setBackend('cpu')
    const before = tf.memory().numTensors
    expect(await checkAsyncReadback()).toEqual({ ok: true })
    expect(tf.memory().numTensors).toBe(before)
  })

  it('passes where only the synchronous readback is broken, which the sync check catches', async () => {
    await tf.setBackend('zero-sync-only')
    expect(checkSyncReadback()).toMatchObject({ ok: false })
    expect(await checkAsyncReadback()).toEqual({ ok: true })
  })

  it('fails with the wrong value it read when data() returns zeros', async () => {
    await tf.setBackend('zero-read')
    expect(await checkAsyncReadback()).toEqual({
      ok: false,
      reason: `asynchronous readback returned 0 where ${READBACK_CHECK_SIZE} was expected`,
    })
  })

  it('fails with the first line of the error when data() throws', async () => {
    await tf.setBackend('throwing-read')
    expect(await checkAsyncReadback()).toEqual({
      ok: false,
      reason: 'asynchronous readback failed: OffscreenCanvas is not defined',
    })
  })
})
