/** The "can we get Electron's binary" check of `npm run dist`, against real HTTP servers on 127.0.0.1. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  checkElectronBinary,
  electronArchiveUrl,
  electronVersionOf,
  findElectronDist,
} from '../../../build/scripts/electron-binary.mjs'

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

function emptyRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'longhaul-electron-check-'))
  cleanups.push(() => rmSync(root, { recursive: true, force: true }))
  return root
}

async function mirror(status: number): Promise<{ url: string; paths: string[] }> {
  const paths: string[] = []
  const server: Server = createServer((request, response) => {
    paths.push(`${request.method} ${request.url}`)
    response.writeHead(status).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => server.close())
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { url: `http://127.0.0.1:${address.port}/mirror/`, paths }
}

describe('electronVersionOf', () => {
  it('reads the optional dependency or the types alias, exact versions only', () => {
    expect(electronVersionOf({ optionalDependencies: { electron: '45.3.4' } })).toBe('45.3.4')
    expect(electronVersionOf({ devDependencies: { 'electron-api-types': 'npm:electron@45.3.4' } })).toBe(
      '45.3.4',
    )
    expect(electronVersionOf({ devDependencies: { electron: '^45.0.0' } })).toBeUndefined()
  })
})

describe('checkElectronBinary', () => {
  it('uses an installed Electron of the right version without the network', async () => {
    const root = emptyRoot()
    const dist = join(root, 'node_modules', 'electron', 'dist')
    mkdirSync(dist, { recursive: true })
    writeFileSync(join(dist, 'electron'), '')
    writeFileSync(join(dist, 'version'), 'v45.3.4')
    expect(findElectronDist(root, '45.3.4', 'linux')).toBe(dist)
    expect(findElectronDist(root, '45.3.5', 'linux')).toBeUndefined()
    const result = await checkElectronBinary({
      rootDir: root,
      version: '45.3.4',
      platform: 'linux',
      arch: 'x64',
      env: {},
    })
    expect(result).toEqual({ ok: true, electronDist: dist, source: `installed in ${dist}` })
  })

  it('accepts a mirror that has the archive', async () => {
    const { url, paths } = await mirror(200)
    const result = await checkElectronBinary({
      rootDir: emptyRoot(),
      version: '45.3.4',
      platform: 'linux',
      arch: 'x64',
      env: { ELECTRON_MIRROR: url },
    })
    expect(result.ok).toBe(true)
    expect(paths).toEqual(['HEAD /mirror/v45.3.4/electron-v45.3.4-linux-x64.zip'])
  })

  it('answers one sentence when the mirror lacks the archive', async () => {
    const { url } = await mirror(404)
    const result = await checkElectronBinary({
      rootDir: emptyRoot(),
      version: '45.3.4',
      platform: 'darwin',
      arch: 'arm64',
      env: { ELECTRON_MIRROR: url },
    })
    if (result.ok) throw new Error('expected a refusal')
    expect(result.sentence).toMatch(
      /^Cannot build the installers: Electron 45\.3\.4's binary for darwin-arm64 is not installed/,
    )
    expect(result.sentence).toContain('answered HTTP 404')
    expect(result.sentence.split('\n')).toHaveLength(1)
  })

  it('answers one sentence when nothing can be reached', async () => {
    const result = await checkElectronBinary({
      rootDir: emptyRoot(),
      version: '45.3.4',
      platform: 'win32',
      arch: 'x64',
      env: { ELECTRON_MIRROR: 'http://127.0.0.1:1/' },
      timeoutMs: 2000,
    })
    if (result.ok) throw new Error('expected a refusal')
    expect(result.sentence).toContain('cannot be reached')
    expect(result.sentence).toContain('ELECTRON_MIRROR')
    expect(electronArchiveUrl('45.3.4', 'win32', 'x64', {})).toBe(
      'https://github.com/electron/electron/releases/download/v45.3.4/electron-v45.3.4-win32-x64.zip',
    )
  })
})
