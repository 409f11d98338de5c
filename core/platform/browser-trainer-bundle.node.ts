/**
 * Bundles the trainer page (core/browser/page-entry.ts and everything it imports: tfjs, the
 * backends, the Trainer, the model zoo) into plain ES modules a browser can load, with Vite (a
 * devDependency; Electron builds will bundle at packaging time instead). One build per process,
 * into a fresh temporary folder named after the process id; it is removed when the process exits,
 * and folders left by processes that were killed are removed by the next build. About 1.5 s.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CoreError } from '../errors.ts'
import { firstLine } from '../tensor/backend-select.ts'

/** The page's entry module, relative to the repository root. */
export const PAGE_ENTRY = 'core/browser/page-entry.ts'
/** File name of the bundled entry in the output folder. */
export const PAGE_SCRIPT = 'trainer.js'

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

const FOLDER_PREFIX = 'longhaul-trainer-page-'

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return error instanceof Error && 'code' in error && error.code === 'EPERM'
  }
}

/** Removes bundle folders whose process is gone (killed before its exit handler could run). */
function removeStaleBundles(): void {
  for (const name of readdirSync(tmpdir())) {
    const match = new RegExp(`^${FOLDER_PREFIX}(\\d+)-`).exec(name)
    const pid = Number(match?.[1])
    if (match === null || pid === process.pid || isAlive(pid)) continue
    rmSync(join(tmpdir(), name), { recursive: true, force: true })
  }
}

export interface BrowserTrainerBundle {
  /** Folder that holds PAGE_SCRIPT and its chunks. */
  readonly dir: string
  /** File names in `dir` (the only files the page server hands out). */
  readonly files: readonly string[]
  readonly buildMs: number
}

interface ViteBuild {
  build(config: Record<string, unknown>): Promise<unknown>
}

function isViteBuild(value: unknown): value is ViteBuild {
  return typeof value === 'object' && value !== null && 'build' in value && typeof value.build === 'function'
}

async function buildOnce(): Promise<BrowserTrainerBundle> {
  let vite: unknown
  try {
    vite = await import('vite')
  } catch (error) {
    throw new CoreError(
      'ERR_BACKEND_UNAVAILABLE',
      `the trainer page cannot be bundled: vite is not installed (${firstLine(error)})`,
    )
  }
  if (!isViteBuild(vite)) throw new CoreError('ERR_BACKEND_UNAVAILABLE', 'the installed vite has no build()')
  removeStaleBundles()
  const dir = mkdtempSync(join(tmpdir(), `${FOLDER_PREFIX}${process.pid}-`))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  const started = performance.now()
  try {
    await vite.build({
      configFile: false,
      root: REPO_ROOT,
      logLevel: 'silent',
      publicDir: false,
      build: {
        outDir: dir,
        emptyOutDir: true,
        target: 'es2022',
        minify: false,
        sourcemap: false,
        reportCompressedSize: false,
        rollupOptions: {
          input: join(REPO_ROOT, PAGE_ENTRY),
          output: { format: 'es', entryFileNames: PAGE_SCRIPT, chunkFileNames: 'chunk-[hash].js' },
        },
      },
    })
  } catch (error) {
    throw new CoreError('ERR_BACKEND_UNAVAILABLE', `bundling the trainer page failed: ${firstLine(error)}`)
  }
  const files = readdirSync(dir)
  if (!files.includes(PAGE_SCRIPT)) {
    throw new CoreError('ERR_BACKEND_UNAVAILABLE', `bundling the trainer page produced no ${PAGE_SCRIPT}`)
  }
  return { dir, files, buildMs: performance.now() - started }
}

let built: Promise<BrowserTrainerBundle> | undefined

/**
 * The trainer page bundle, built on first use and reused for the rest of the process.
 *
 * @throws CoreError ERR_BACKEND_UNAVAILABLE when vite is missing or the build fails (the message says which).
 */
export function browserTrainerBundle(): Promise<BrowserTrainerBundle> {
  if (built === undefined) {
    const attempt = buildOnce()
    built = attempt
    // A failed build is not cached: the next caller tries again.
    void attempt.catch(() => {
      if (built === attempt) built = undefined
    })
  }
  return built
}
