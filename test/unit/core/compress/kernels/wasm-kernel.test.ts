import { describe, expect, it } from 'vitest'
import { Float16Compressor } from '../../../../../core/compress/float16.ts'
import { Int8BlockwiseCompressor } from '../../../../../core/compress/int8-blockwise.ts'
import { assembleKernels } from '../../../../../core/compress/kernels/build-kernels.node.ts'
import { KERNEL_WASM_BASE64 } from '../../../../../core/compress/kernels/kernel-bytes.generated.ts'
import {
  createKernelWorkspace,
  isKernelAvailable,
  kernelBytes,
  type KernelChoice,
  type KernelName,
  type WasmRuntime,
} from '../../../../../core/compress/kernels/wasm-kernel.ts'
import { QsgdCompressor } from '../../../../../core/compress/qsgd.ts'
import { ScaledSignCompressor } from '../../../../../core/compress/scaled-sign.ts'
import { isCoreError } from '../../../../../core/errors.ts'
import { flatLayout } from '../helpers.ts'

const NAMES = Object.keys(KERNEL_WASM_BASE64) as KernelName[]

/** This runtime's WebAssembly with SIMD taken away: validate refuses every module. */
const NO_SIMD: WasmRuntime = {
  validate: () => false,
  Module: WebAssembly.Module,
  Instance: WebAssembly.Instance,
  Memory: WebAssembly.Memory,
}

function errorCode(run: () => unknown): string | undefined {
  try {
    run()
  } catch (error) {
    return isCoreError(error) ? error.code : 'other'
  }
  return undefined
}

describe('WebAssembly kernels', () => {
  it('commits exactly the bytes the .wat sources assemble to', async () => {
    const assembled = await assembleKernels()
    expect([...assembled.keys()].sort()).toEqual([...NAMES].sort())
    for (const name of NAMES) {
      expect(kernelBytes(name), `${name}: run npx tsx core/compress/kernels/build-kernels.node.ts`).toEqual(
        assembled.get(name),
      )
    }
  })

  it('runs on this runtime (Node 20 has WebAssembly SIMD) and every compressor says so', () => {
    for (const name of NAMES) expect(isKernelAvailable(name)).toBe(true)
    const layout = flatLayout(10)
    const compressors = [
      new Float16Compressor({ layout }),
      new Int8BlockwiseCompressor({ layout }),
      new ScaledSignCompressor({ layout }),
      new QsgdCompressor({ layout, levels: 7 }),
    ]
    expect(compressors.map((c) => c.kernelPath)).toEqual(['wasm-simd', 'wasm-simd', 'wasm-simd', 'wasm-simd'])
    const scalar = new QsgdCompressor({ layout, levels: 7, kernels: 'scalar' })
    expect(scalar.kernelPath).toBe('scalar')
  })

  it('falls back to the scalar path where WebAssembly SIMD is missing, unless asked for it', () => {
    expect(isKernelAvailable('float16', NO_SIMD)).toBe(false)
    expect(isKernelAvailable('float16', null)).toBe(false)
    expect(createKernelWorkspace('float16', 'auto', 100, 208, NO_SIMD)).toBeUndefined()
    expect(createKernelWorkspace('float16', 'auto', 100, 208, null)).toBeUndefined()
    expect(errorCode(() => createKernelWorkspace('float16', 'wasm-simd', 100, 208, NO_SIMD))).toBe(
      'ERR_BACKEND_UNAVAILABLE',
    )
    expect(createKernelWorkspace('float16', 'scalar', 100, 208)).toBeUndefined()
    expect(createKernelWorkspace('float16', 'auto', 100, 208)).toBeDefined()
  })

  it('falls back when the buffers cannot fit in 4 GiB of linear memory, without reserving any', () => {
    const d = 2 ** 30
    expect(createKernelWorkspace('float16', 'auto', d, 2 * d + 8)).toBeUndefined()
    expect(errorCode(() => createKernelWorkspace('float16', 'wasm-simd', d, 2 * d + 8))).toBe(
      'ERR_BACKEND_UNAVAILABLE',
    )
  })

  it('refuses an unknown kernel choice with ERR_INVALID_ARGUMENT', () => {
    expect(errorCode(() => createKernelWorkspace('qsgd', 'fast' as KernelChoice, 10, 24))).toBe(
      'ERR_INVALID_ARGUMENT',
    )
  })

  it('keeps the workspace regions apart: values, sent payload, received payload', () => {
    const workspace = createKernelWorkspace('float16', 'wasm-simd', 5, 18)!
    expect(workspace.values.byteOffset).toBe(0)
    expect(workspace.values.length).toBe(5)
    expect(workspace.sentOffset).toBeGreaterThanOrEqual(20)
    expect(workspace.sentOffset % 16).toBe(0)
    expect(workspace.receivedOffset).toBeGreaterThanOrEqual(workspace.sentOffset + 18)
    expect(workspace.receivedOffset % 16).toBe(0)
    expect(workspace.loadPayload(workspace.sent)).toBe(workspace.sentOffset)
    const received = Uint8Array.from({ length: 18 }, (_, i) => i)
    expect(workspace.loadPayload(received)).toBe(workspace.receivedOffset)
    expect(Array.from(workspace.received)).toEqual(Array.from(received))
  })
})
