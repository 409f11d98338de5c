import { describe, expect, it } from 'vitest'
import {
  hardwareWords,
  labelAdapter,
  labelRenderer,
  readAdapterFacts,
  softwareRendererIn,
} from '../../../../core/platform/gpu-adapter.ts'

describe('labelAdapter', () => {
  it('labels real GPUs hardware from their WebGPU info', () => {
    expect(labelAdapter({ vendor: 'nvidia', architecture: 'ampere' })).toEqual({
      adapter: 'nvidia ampere',
      isHardware: true,
    })
    expect(labelAdapter({ vendor: 'apple', architecture: 'metal-3' }).isHardware).toBe(true)
    expect(
      labelAdapter({ vendor: 'intel', architecture: 'gen-12lp', description: 'Intel(R) Iris(R) Xe' }),
    ).toEqual({
      adapter: 'intel gen-12lp Intel(R) Iris(R) Xe',
      isHardware: true,
    })
  })

  it("labels Chromium's SwiftShader fallback adapter software and names it", () => {
    const label = labelAdapter({ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true })
    expect(label).toEqual({
      adapter: 'google swiftshader (fallback adapter)',
      isHardware: false,
      softwareRenderer: 'SwiftShader',
    })
    expect(hardwareWords(label)).toBe('software (SwiftShader)')
  })

  it.each([
    ['llvmpipe (LLVM 15.0.6, 256 bits)', 'llvmpipe'],
    ['lavapipe', 'lavapipe'],
    ['Microsoft Basic Render Driver', 'Microsoft Basic Render Driver'],
    ['Apple Software Renderer', 'Apple Software Renderer'],
  ])('never calls %s a GPU', (description, name) => {
    const label = labelAdapter({ vendor: 'mesa', description })
    expect(label.isHardware).toBe(false)
    expect(label.softwareRenderer).toBe(name)
  })

  it('counts a fallback adapter that names no rasteriser as software', () => {
    expect(labelAdapter({ vendor: 'acme', isFallbackAdapter: true })).toMatchObject({
      isHardware: false,
      softwareRenderer: 'a fallback adapter',
    })
  })

  it("counts Dawn's null backend and an adapter with no name as software", () => {
    expect(labelAdapter({ device: 'null-backend' }).isHardware).toBe(false)
    expect(labelAdapter({})).toMatchObject({ adapter: 'unnamed adapter', isHardware: false })
  })

  it('does not mistake words that merely contain "warp" for WARP', () => {
    expect(softwareRendererIn('Warpath GPU 9000')).toBeUndefined()
    expect(softwareRendererIn('D3D WARP device')).toBe('WARP')
  })
})

describe('labelRenderer', () => {
  it('labels the ANGLE SwiftShader renderer software', () => {
    const renderer =
      'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)'
    expect(labelRenderer(renderer, 'WebKit WebGL')).toEqual({
      adapter: renderer,
      isHardware: false,
      softwareRenderer: 'SwiftShader',
    })
  })

  it('labels a GPU renderer hardware', () => {
    const renderer = 'ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0, D3D11)'
    expect(labelRenderer(renderer, 'WebKit WebGL')).toEqual({ adapter: renderer, isHardware: true })
  })

  it('counts a renderer the browser hides as software rather than guessing GPU', () => {
    expect(labelRenderer(undefined, 'WebKit WebGL')).toEqual({
      adapter: 'WebKit WebGL',
      isHardware: false,
      softwareRenderer: 'a renderer the browser does not name',
    })
  })
})

describe('readAdapterFacts', () => {
  it('reads getters on an adapter info object, as GPUAdapterInfo exposes them', () => {
    class Info {
      get vendor(): string {
        return 'amd'
      }
      get architecture(): string {
        return 'rdna-3'
      }
      get isFallbackAdapter(): boolean {
        return false
      }
    }
    expect(readAdapterFacts({ info: new Info() })).toEqual({
      vendor: 'amd',
      architecture: 'rdna-3',
      isFallbackAdapter: false,
    })
  })

  it('reads plain JSON and ignores fields of the wrong type', () => {
    expect(readAdapterFacts({ vendor: 'google', device: 7, isFallbackAdapter: 'yes' })).toEqual({
      vendor: 'google',
    })
    expect(readAdapterFacts(null)).toEqual({})
  })
})

describe('hardwareWords', () => {
  it('says hardware, or software with the rasteriser when known', () => {
    expect(hardwareWords({ isHardware: true })).toBe('hardware')
    expect(hardwareWords({ isHardware: false })).toBe('software')
    expect(hardwareWords({ isHardware: false, softwareRenderer: 'llvmpipe' })).toBe('software (llvmpipe)')
  })
})
