/**
 * Where an Electron app to test is, for the Playwright `_electron` tests: the packaged app that
 * `npm run dist` (or `npm run dist -- --dir`) left in dist/installers, else a development run
 * (the installed Electron binary on the bundled dist/app). When neither exists the tests skip
 * themselves with the reason, unless LONGHAUL_E2E_REQUIRE_APP=1 (the release workflow), where a
 * missing app is a failure.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** electron-builder's output folder; LONGHAUL_E2E_INSTALLERS_DIR points elsewhere (a build made outside the tree). */
export const INSTALLERS_DIR = process.env['LONGHAUL_E2E_INSTALLERS_DIR'] ?? join(ROOT, 'dist', 'installers')

export interface PackagedApp {
  readonly kind: 'packaged'
  readonly executablePath: string
  /** resources/app.asar */
  readonly asarPath: string
}

export interface DevelopmentApp {
  readonly kind: 'development'
  readonly executablePath: string
  readonly args: readonly string[]
}

/** The unpacked app electron-builder wrote for this OS (linux-unpacked, mac*, win-unpacked). */
export function findPackagedApp(
  platform: NodeJS.Platform = process.platform,
): PackagedApp | { reason: string } {
  if (!existsSync(INSTALLERS_DIR)) return { reason: `no build in ${INSTALLERS_DIR} (run \`npm run dist\`)` }
  const names = readdirSync(INSTALLERS_DIR)
  if (platform === 'linux' && names.includes('linux-unpacked')) {
    const dir = join(INSTALLERS_DIR, 'linux-unpacked')
    return {
      kind: 'packaged',
      executablePath: join(dir, 'longhaul'),
      asarPath: join(dir, 'resources', 'app.asar'),
    }
  }
  if (platform === 'win32' && names.includes('win-unpacked')) {
    const dir = join(INSTALLERS_DIR, 'win-unpacked')
    return {
      kind: 'packaged',
      executablePath: join(dir, 'Longhaul.exe'),
      asarPath: join(dir, 'resources', 'app.asar'),
    }
  }
  const mac = names.find((name) => name === 'mac' || name.startsWith('mac-'))
  if (platform === 'darwin' && mac !== undefined) {
    const contents = join(INSTALLERS_DIR, mac, 'Longhaul.app', 'Contents')
    return {
      kind: 'packaged',
      executablePath: join(contents, 'MacOS', 'Longhaul'),
      asarPath: join(contents, 'Resources', 'app.asar'),
    }
  }
  return { reason: `no unpacked app for ${platform} in ${INSTALLERS_DIR}` }
}

/** The installed Electron binary (the optional `electron` dependency) on the bundled app. */
export function findDevelopmentApp(): DevelopmentApp | { reason: string } {
  const pathFile = join(ROOT, 'node_modules', 'electron', 'path.txt')
  if (!existsSync(pathFile)) {
    return {
      reason:
        "Electron's binary is not installed (node_modules/electron/path.txt is missing: its download failed or was skipped)",
    }
  }
  const executablePath = join(ROOT, 'node_modules', 'electron', 'dist', readFileSync(pathFile, 'utf8').trim())
  if (!existsSync(executablePath)) return { reason: `Electron's binary ${executablePath} is missing` }
  if (!existsSync(join(ROOT, 'dist', 'app', 'main.mjs'))) {
    return { reason: 'the desktop shell is not bundled (run `node build/scripts/bundle-electron.mjs`)' }
  }
  return { kind: 'development', executablePath, args: [ROOT] }
}

export function isAppRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['LONGHAUL_E2E_REQUIRE_APP'] === '1'
}
