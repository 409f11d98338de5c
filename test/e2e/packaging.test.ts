/**
 * Inspects the built app.asar when a build exists (`npm run dist`, or `npm run dist -- --dir`):
 * the bundles and the UI are in, sources, tests and dev tools are out, and native modules are
 * unpacked beside it. Skipped, with the reason, when there is no build.
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { listPackage } from '@electron/asar'
import { describe, expect, it } from 'vitest'
import { findPackagedApp, isAppRequired } from './electron-app-location.ts'

const found = findPackagedApp()

describe('packaged app.asar', () => {
  it('holds only production files, with native modules unpacked', (context) => {
    if (!('kind' in found)) {
      if (isAppRequired()) throw new Error(`LONGHAUL_E2E_REQUIRE_APP=1 but ${found.reason}`)
      context.skip(`no packaged app to inspect: ${found.reason}`)
      return
    }
    const files = listPackage(found.asarPath, { isPack: false }).map((file) => file.replaceAll('\\', '/'))
    for (const needed of [
      '/package.json',
      '/dist/app/main.mjs',
      '/dist/app/engine-host.mjs',
      '/dist/app/preload.cjs',
      '/dist/app/trainer-preload.cjs',
      '/dist/app/trainer/index.html',
      '/renderer/dist/index.html',
    ]) {
      expect(files, needed).toContain(needed)
    }
    const forbidden = [
      /^\/(core|electron|test|docs|bench|signaling-server|build)\//,
      /^\/renderer\/src\//,
      /\.ts$/,
      /^\/node_modules\/(vitest|vite|typescript|eslint|prettier|electron-builder|playwright-core|@playwright|svelte|tsx|esbuild|webgpu)\//,
      /^\/node_modules\/electron\//,
    ]
    for (const pattern of forbidden) {
      expect(
        files.filter((file) => pattern.test(file) && !file.endsWith('.d.ts')).slice(0, 5),
        String(pattern),
      ).toEqual([])
    }
    const unpacked = join(dirname(found.asarPath), 'app.asar.unpacked', 'node_modules')
    expect(existsSync(join(unpacked, '@roamhq')), 'wrtc unpacked').toBe(true)
  })
})
