import { describe, expect, it } from 'vitest'
import {
  CHROMIUM_ARGS,
  CHROMIUM_CANDIDATES,
  CHROMIUM_ENV_VAR,
  findChromium,
} from '../../../../core/platform/chromium-host.node.ts'

describe('findChromium', () => {
  it('uses LONGHAUL_CHROMIUM when it names an existing file', () => {
    expect(findChromium({ env: { [CHROMIUM_ENV_VAR]: process.execPath } })).toEqual({
      path: process.execPath,
    })
  })

  it('says so when LONGHAUL_CHROMIUM names nothing, instead of looking elsewhere', () => {
    expect(findChromium({ env: { [CHROMIUM_ENV_VAR]: '/nowhere/chromium' } })).toEqual({
      reason: 'LONGHAUL_CHROMIUM=/nowhere/chromium does not exist',
    })
  })

  it('falls back to the given Playwright browser after the usual places', () => {
    const found = findChromium({ env: {}, playwrightPath: process.execPath })
    const usual = (CHROMIUM_CANDIDATES[process.platform] ?? []).find(
      (p) => 'path' in findChromium({ env: { [CHROMIUM_ENV_VAR]: p } }),
    )
    expect(found).toEqual({ path: usual ?? process.execPath })
  })

  it('lists where it looked when nothing is found', () => {
    const found = findChromium({
      env: {},
      candidates: ['/nowhere/chromium'],
      playwrightPath: '/nowhere/playwright-chromium',
    })
    expect(found).toEqual({
      reason: `no Chromium found (looked for /nowhere/chromium, /nowhere/playwright-chromium); set ${CHROMIUM_ENV_VAR}`,
    })
  })

  it('takes the first candidate that exists', () => {
    expect(findChromium({ env: {}, candidates: ['/nowhere/a', process.execPath] })).toEqual({
      path: process.execPath,
    })
  })
})

describe('CHROMIUM_ARGS', () => {
  it('keeps the GPU on (no --disable-gpu) and turns WebGPU on', () => {
    expect(CHROMIUM_ARGS).not.toContain('--disable-gpu')
    expect(CHROMIUM_ARGS).toContain('--enable-unsafe-webgpu')
  })
})
