/* global fetch, AbortSignal */
/**
 * Can this machine get Electron's binary for a build? Either it is installed (the `electron`
 * optional dependency's postinstall put it in node_modules/electron/dist, and electron-builder is
 * then given that folder, so nothing is downloaded), or the release archive can be downloaded
 * from GitHub (or $ELECTRON_MIRROR). When neither, the answer is one sentence saying so and what
 * to do, for `npm run dist` to print instead of electron-builder's stack trace.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export const DEFAULT_ELECTRON_MIRROR = 'https://github.com/electron/electron/releases/download/'
export const DEFAULT_PROBE_TIMEOUT_MS = 10_000

/** The executable inside an unpacked Electron distribution, per platform. */
export const ELECTRON_EXECUTABLES = {
  linux: 'electron',
  darwin: 'Electron.app/Contents/MacOS/Electron',
  win32: 'electron.exe',
}

/**
 * The Electron version the app is built with: the `electron` optional dependency, or the version
 * behind the `electron-api-types` alias (`npm:electron@X`). Exact versions only.
 *
 * @param {Record<string, unknown>} pkg package.json
 * @returns {string | undefined}
 */
export function electronVersionOf(pkg) {
  const sections = [pkg.optionalDependencies, pkg.devDependencies, pkg.dependencies]
  for (const section of sections) {
    if (typeof section !== 'object' || section === null) continue
    const direct = section['electron']
    if (typeof direct === 'string' && /^\d+\.\d+\.\d+$/.test(direct)) return direct
    const alias = section['electron-api-types']
    const match = typeof alias === 'string' ? /^npm:electron@(\d+\.\d+\.\d+)$/.exec(alias) : null
    if (match !== null) return match[1]
  }
  return undefined
}

/** @returns {string} e.g. electron-v45.3.4-linux-x64.zip */
export function electronArchiveName(version, platform, arch) {
  return `electron-v${version}-${platform}-${arch}.zip`
}

/** The URL electron-builder (through @electron/get) downloads the archive from. */
export function electronArchiveUrl(version, platform, arch, env = process.env) {
  const mirror =
    env.ELECTRON_MIRROR !== undefined && env.ELECTRON_MIRROR !== ''
      ? env.ELECTRON_MIRROR
      : DEFAULT_ELECTRON_MIRROR
  const base = mirror.endsWith('/') ? mirror : `${mirror}/`
  return `${base}v${version}/${electronArchiveName(version, platform, arch)}`
}

/**
 * The installed Electron distribution folder under `rootDir`, when its executable is there and
 * its version matches.
 *
 * @returns {string | undefined}
 */
export function findElectronDist(rootDir, version, platform) {
  const dist = join(rootDir, 'node_modules', 'electron', 'dist')
  const executable = ELECTRON_EXECUTABLES[platform]
  if (executable === undefined || !existsSync(join(dist, executable))) return undefined
  try {
    const installed = readFileSync(join(dist, 'version'), 'utf8').trim().replace(/^v/, '')
    return installed === version ? dist : undefined
  } catch {
    return undefined
  }
}

function reasonOf(error) {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ''
    return `${error.message}${cause}`
  }
  return String(error)
}

/**
 * @param {{ rootDir: string, version: string, platform: string, arch: string,
 *   env?: Record<string, string | undefined>, timeoutMs?: number, fetch?: typeof fetch }} options
 * @returns {Promise<{ ok: true, electronDist?: string, source: string } | { ok: false, sentence: string }>}
 */
export async function checkElectronBinary(options) {
  const { rootDir, version, platform, arch } = options
  const env = options.env ?? process.env
  const dist = findElectronDist(rootDir, version, platform)
  if (dist !== undefined) return { ok: true, electronDist: dist, source: `installed in ${dist}` }
  const url = electronArchiveUrl(version, platform, arch, env)
  const fetchFn = options.fetch ?? fetch
  let status
  try {
    const response = await fetchFn(url, {
      method: 'HEAD',
      redirect: 'follow',
      signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS),
    })
    status = response.status
    if (response.ok) return { ok: true, source: `downloadable from ${url}` }
  } catch (error) {
    return {
      ok: false,
      sentence:
        `Cannot build the installers: Electron ${version}'s binary for ${platform}-${arch} is not installed ` +
        `(node_modules/electron/dist) and ${url} cannot be reached (${reasonOf(error)}); ` +
        'run `npm ci` where the network allows it, or set ELECTRON_MIRROR to a reachable mirror.',
    }
  }
  return {
    ok: false,
    sentence:
      `Cannot build the installers: Electron ${version}'s binary for ${platform}-${arch} is not installed ` +
      `(node_modules/electron/dist) and ${url} answered HTTP ${status}; ` +
      'run `npm ci` where the network allows it, or set ELECTRON_MIRROR to a mirror that has this version.',
  }
}
