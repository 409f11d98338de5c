/**
 * Bundles the desktop shell with esbuild into dist/app/ (the layout electron/app-layout.ts reads):
 * - main.mjs, engine-host.mjs: Node ESM for Electron's main and utility processes. npm packages
 *   stay external (they ship in the package's node_modules, native ones unpacked), so only
 *   Longhaul's own TypeScript (electron/, core/) is compiled in;
 * - preload.cjs, trainer-preload.cjs: a sandboxed preload may only `require('electron')`, so each
 *   is one self-contained CommonJS file;
 * - trainer/: the hidden windows' page, browser ESM plus index.html; its services (the trainer
 *   with tfjs, the WebRTC peer host with simple-peer) are separate chunks.
 * Also renders the icons. Run directly (`node build/scripts/bundle-electron.mjs`) or from dist.mjs.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { renderIcons } from './icons.mjs'

const TRAINER_PAGE_HTML =
  '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Longhaul trainer</title>\n' +
  '<script type="module" src="./trainer.js"></script>\n</head>\n<body></body>\n</html>\n'

/**
 * @param {string} rootDir the repository root
 * @param {{ outDir?: string }} [options] where to write (default dist/app; tests use a temporary folder)
 * @returns {Promise<{ outDir: string, files: string[] }>}
 */
export async function bundleElectron(rootDir, options = {}) {
  const outDir = options.outDir ?? join(rootDir, 'dist', 'app')
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  const common = {
    absWorkingDir: rootDir,
    bundle: true,
    sourcemap: false,
    logLevel: 'warning',
    legalComments: 'none',
  }
  const node = {
    ...common,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    packages: 'external',
    external: ['electron'],
  }
  await Promise.all([
    build({ ...node, entryPoints: ['electron/main.ts'], outfile: join(outDir, 'main.mjs') }),
    build({ ...node, entryPoints: ['electron/engine-host.ts'], outfile: join(outDir, 'engine-host.mjs') }),
    ...['preload', 'trainer-preload'].map((name) =>
      build({
        ...common,
        platform: 'node',
        target: 'chrome130',
        format: 'cjs',
        external: ['electron'],
        entryPoints: [`electron/${name}.ts`],
        outfile: join(outDir, `${name}.cjs`),
      }),
    ),
    build({
      ...common,
      platform: 'browser',
      target: 'chrome130',
      format: 'esm',
      splitting: true,
      entryPoints: { trainer: 'electron/trainer-page.ts' },
      outdir: join(outDir, 'trainer'),
      chunkNames: 'chunk-[hash]',
    }),
  ])
  writeFileSync(join(outDir, 'trainer', 'index.html'), TRAINER_PAGE_HTML)
  await renderIcons(rootDir)
  return {
    outDir,
    files: ['main.mjs', 'engine-host.mjs', 'preload.cjs', 'trainer-preload.cjs', 'trainer/index.html'],
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))
  bundleElectron(root).then(
    ({ outDir }) => console.log(`bundled the desktop shell into ${outDir}`),
    (error) => {
      console.error(
        `Bundling the desktop shell failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      )
      process.exitCode = 1
    },
  )
}
