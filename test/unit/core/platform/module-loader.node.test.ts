import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { nodeModuleLoader } from '../../../../core/platform/module-loader.node.ts'

describe('nodeModuleLoader', () => {
  it('finds an installed package and its folder', () => {
    expect(nodeModuleLoader.isInstalled('@tensorflow/tfjs-core')).toBe(true)
    const dir = nodeModuleLoader.packageDir('@tensorflow/tfjs-backend-wasm')
    expect(dir).toBeDefined()
    expect(existsSync(join(dir ?? '', 'package.json'))).toBe(true)
  })

  it('says not installed when the package is absent', () => {
    expect(nodeModuleLoader.isInstalled('@longhaul/no-such-package')).toBe(false)
    expect(nodeModuleLoader.packageDir('@longhaul/no-such-package')).toBeUndefined()
  })

  it('rejects load() with the resolver error when the package is absent', async () => {
    await expect(nodeModuleLoader.load('@longhaul/no-such-package')).rejects.toThrow(/no-such-package/)
  })

  it('loads an installed package as a module namespace', async () => {
    const loaded = await nodeModuleLoader.load('@tensorflow/tfjs-core')
    expect(typeof loaded === 'object' && loaded !== null && 'version_core' in loaded).toBe(true)
  })
})
