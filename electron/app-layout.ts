/**
 * Where the desktop app's files are, relative to the app folder (`app.getAppPath()`: the repository
 * root in development, `resources/app.asar` when packaged). The same layout both ways, so one
 * code path finds them: build/scripts/bundle-electron.mjs writes dist/app/, Vite writes
 * renderer/dist/, and build/electron-builder.yml packs exactly these (installers go to
 * dist/installers/; all of dist/ is ignored by git, eslint and prettier).
 */
import { join } from 'node:path'

export const ELECTRON_OUT_DIR = 'dist/app'

export interface AppLayout {
  /** Main process bundle (package.json "main"). */
  readonly main: string
  /** Preload of the main window (CommonJS, sandboxed). */
  readonly preload: string
  /** Preload of the hidden trainer windows. */
  readonly trainerPreload: string
  /** Entry of the engine's utility process. */
  readonly engineHost: string
  /** The trainer page served at app://trainer/. */
  readonly trainerRoot: string
  /** The built Svelte UI that the engine's server serves. */
  readonly rendererDist: string
  /** Window icon (Linux; macOS and Windows take theirs from the package). */
  readonly icon: string
}

export function appLayout(appPath: string): AppLayout {
  const out = join(appPath, ...ELECTRON_OUT_DIR.split('/'))
  return {
    main: join(out, 'main.mjs'),
    preload: join(out, 'preload.cjs'),
    trainerPreload: join(out, 'trainer-preload.cjs'),
    engineHost: join(out, 'engine-host.mjs'),
    trainerRoot: join(out, 'trainer'),
    rendererDist: join(appPath, 'renderer', 'dist'),
    icon: join(out, 'icon.png'),
  }
}
