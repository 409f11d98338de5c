import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { ModuleLoader } from '../../../../core/platform/module-loader.node.ts'
import { nodeModuleLoader } from '../../../../core/platform/module-loader.node.ts'
import {
  createDawnWebgpuRoute,
  dawnBinaryDir,
  dawnWarnings,
  queryDawnAdapter,
  WEBGPU_PACKAGE,
} from '../../../../core/platform/webgpu-dawn-route.node.ts'
import type { DawnAdapterQuery } from '../../../../core/platform/webgpu-dawn-route.node.ts'

// A fake package folder holding a dawn.node for this platform, so probes get past the file checks.
const fakePackage = mkdtempSync(join(tmpdir(), 'longhaul-fake-webgpu-'))
mkdirSync(join(fakePackage, 'dist', dawnBinaryDir()), { recursive: true })
writeFileSync(join(fakePackage, 'dist', dawnBinaryDir(), 'dawn.node'), '')

afterAll(() => rmSync(fakePackage, { recursive: true, force: true }))

function loaderAt(dir: string | undefined): ModuleLoader {
  return {
    isInstalled: () => dir !== undefined,
    packageDir: () => dir,
    load: () => Promise.reject(new Error('not loaded in unit tests')),
  }
}

function routeWith(query: DawnAdapterQuery | Error, options: { installs?: string[] } = {}) {
  return createDawnWebgpuRoute({
    loader: loaderAt(fakePackage),
    queryAdapter: () => (query instanceof Error ? Promise.reject(query) : Promise.resolve(query)),
    install: () => {
      options.installs?.push('installed')
      return Promise.resolve()
    },
  })
}

describe('createDawnWebgpuRoute', () => {
  it('is the webgpu route, local, claiming a GPU until its probe says otherwise', () => {
    const route = routeWith({ adapter: null, warnings: [] })
    // async-only: tfjs-webgpu's dataSync needs OffscreenCanvas, which Node lacks; data() works.
    expect(route).toMatchObject({ name: 'webgpu', kind: 'webgpu', isHardware: true, readback: 'async-only' })
    expect(route.placement).toBeUndefined()
    expect(route.onDemand).toBeUndefined()
  })

  it('says "not installed" when the webgpu package is absent', async () => {
    const route = createDawnWebgpuRoute({ loader: loaderAt(undefined) })
    expect(await route.probe()).toMatchObject({
      available: false,
      reason: "not installed: webgpu (Dawn's Node binding, an optional dependency)",
    })
  })

  it('says which platform lacks a Dawn binary', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'longhaul-empty-webgpu-'))
    const route = createDawnWebgpuRoute({ loader: loaderAt(empty) })
    expect((await route.probe()).reason).toBe(`webgpu ships no Dawn binary for ${dawnBinaryDir()}`)
    rmSync(empty, { recursive: true })
  })

  it("quotes Dawn's own warning when it finds no adapter", async () => {
    const route = routeWith({
      adapter: null,
      warnings: ["Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file"],
    })
    expect(await route.probe()).toMatchObject({
      available: false,
      isHardware: false,
      reason:
        "Dawn found no WebGPU adapter (Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file)",
    })
  })

  it('reports a failed query as the reason, not a crash', async () => {
    const route = routeWith(new Error('no answer within 10000 ms'))
    expect((await route.probe()).reason).toBe('asking Dawn for an adapter failed: no answer within 10000 ms')
  })

  it('labels a SwiftShader adapter software', async () => {
    const route = routeWith({
      adapter: { vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true },
      warnings: [],
    })
    const probe = await route.probe()
    expect(probe).toMatchObject({ isHardware: false, softwareRenderer: 'SwiftShader' })
    expect(probe.reason).toContain('(software (SwiftShader))')
  })

  it("refuses Dawn's null backend, which computes nothing", async () => {
    const route = routeWith({ adapter: { device: 'null-backend' }, warnings: [] })
    expect(await route.probe()).toMatchObject({
      available: false,
      reason: 'Dawn offered only its null backend, which computes nothing',
    })
  })

  it('loads the backend and becomes available on an adapter, reading asynchronously', async () => {
    const installs: string[] = []
    const route = routeWith(
      { adapter: { vendor: 'amd', architecture: 'rdna-3' }, warnings: [] },
      { installs },
    )
    expect(await route.probe()).toMatchObject({
      available: true,
      isHardware: true,
      adapter: 'amd rdna-3',
      reason: 'Dawn found amd rdna-3 (hardware); loaded @tensorflow/tfjs-backend-webgpu on it',
    })
    expect(installs).toEqual(['installed'])
    // The probe is memoised: a second call installs nothing more.
    await route.probe()
    expect(installs).toHaveLength(1)
  })

  it('refuses to register when unavailable', async () => {
    const route = routeWith({ adapter: null, warnings: [] })
    await expect(route.register()).rejects.toThrow(
      /webgpu route is unavailable: Dawn found no WebGPU adapter/,
    )
  })
})

describe('dawnWarnings', () => {
  it('keeps Warning lines and drops their source locations', () => {
    const stderr =
      "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory\n" +
      '    at operator() (/dawn/src/dawn/native/vulkan/BackendVk.cpp:368)\n\nsomething else\n'
    expect(dawnWarnings(stderr)).toEqual([
      "Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory",
    ])
  })
})

describe('queryDawnAdapter', () => {
  const packageDir = nodeModuleLoader.packageDir(WEBGPU_PACKAGE)

  it.skipIf(packageDir === undefined)(
    'asks the real dawn.node in a child process and returns an adapter or none, with warnings',
    async () => {
      const result = await queryDawnAdapter(packageDir ?? '', 15_000)
      expect(result.adapter === null || typeof result.adapter === 'object').toBe(true)
      expect(Array.isArray(result.warnings)).toBe(true)
    },
  )

  it('rejects with the reason when the child cannot load the package', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'longhaul-no-index-'))
    await expect(queryDawnAdapter(empty, 15_000)).rejects.toThrow(/Cannot find module|ERR_MODULE_NOT_FOUND/)
    rmSync(empty, { recursive: true })
  })
})
