/**
 * Finding and loading optional packages by name. Kept behind an interface so the routes can be tested
 * with packages that are absent or broken here (tfjs-node's libtensorflow download fails on this
 * machine, so npm drops it), and so "not installed" stays distinct from "installed but failed to load".
 */
import { createRequire } from 'node:module'
import { dirname } from 'node:path'

export interface ModuleLoader {
  /** True when the package can be found from Longhaul's own folder (its package.json resolves). */
  isInstalled(packageName: string): boolean
  /** Folder that holds the package's package.json; undefined when not installed. */
  packageDir(packageName: string): string | undefined
  /** Dynamic `import()`; rejects with the loader's own error (missing binding, bad native library, ...). */
  load(packageName: string): Promise<unknown>
}

const requireHere = createRequire(import.meta.url)

interface Located {
  readonly isInstalled: boolean
  readonly dir?: string
}

function locate(packageName: string): Located {
  try {
    return { isInstalled: true, dir: dirname(requireHere.resolve(`${packageName}/package.json`)) }
  } catch (error) {
    // A package whose `exports` map hides package.json is installed all the same; its folder is unknown.
    const code = error instanceof Error && 'code' in error ? error.code : undefined
    return { isInstalled: code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' }
  }
}

/** The real loader: Node resolution from this file, then `import()`. */
export const nodeModuleLoader: ModuleLoader = {
  isInstalled: (packageName) => locate(packageName).isInstalled,
  packageDir: (packageName) => locate(packageName).dir,
  load: async (packageName) => {
    const loaded: unknown = await import(packageName)
    return loaded
  },
}
