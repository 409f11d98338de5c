import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { ModuleLoader } from '../../../../core/platform/module-loader.node.ts'
import { createWasmRoute } from '../../../../core/platform/wasm-route.node.ts'

function loaderWithDir(dir: string | undefined): ModuleLoader {
  return {
    isInstalled: () => dir !== undefined,
    packageDir: () => dir,
    load: () => Promise.reject(new Error('not used')),
  }
}

const emptyDir = mkdtempSync(join(tmpdir(), 'longhaul-wasm-route-'))

afterAll(() => rmSync(emptyDir, { recursive: true, force: true }))

describe('createWasmRoute', () => {
  it('is a software wasm route named wasm', () => {
    const route = createWasmRoute()
    expect([route.name, route.kind, route.isHardware]).toEqual(['wasm', 'wasm', false])
  })

  it('is available with the installed package and says which build runs', async () => {
    const probe = await createWasmRoute().probe()
    expect(probe.available).toBe(true)
    expect(probe.reason).toMatch(/^loaded @tensorflow\/tfjs-backend-wasm 4\.22\.\d+$/)
    // Node 20 validates SIMD modules; tfjs-backend-wasm 4.22 turns threads off under Node.
    expect(probe.detail).toBe(
      'SIMD build, single-threaded (tfjs-backend-wasm 4.22 turns WebAssembly threads off in Node)',
    )
  })

  it('says not installed when the package cannot be found', async () => {
    const probe = await createWasmRoute({ loader: loaderWithDir(undefined) }).probe()
    expect(probe).toEqual({ available: false, reason: 'not installed: @tensorflow/tfjs-backend-wasm' })
  })

  it('names the missing .wasm binaries when the package folder lacks them', async () => {
    const probe = await createWasmRoute({ loader: loaderWithDir(emptyDir) }).probe()
    expect(probe.available).toBe(false)
    expect(probe.reason).toContain('tfjs-backend-wasm-simd.wasm')
    expect(probe.reason).toContain(join(emptyDir, 'dist'))
  })

  it('refuses to register when unavailable', async () => {
    await expect(createWasmRoute({ loader: loaderWithDir(undefined) }).register()).rejects.toThrow(
      /not installed/,
    )
  })
})
