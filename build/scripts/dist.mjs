/**
 * `npm run dist`: builds the installers for the current OS.
 *   1. checks that Electron's binary can be had (electron-binary.mjs); if not, one sentence, exit 1;
 *   2. builds the Svelte UI (renderer/vite.config.ts → renderer/dist);
 *   3. bundles the desktop shell (bundle-electron.mjs → dist/app) and renders the icons;
 *   4. runs electron-builder with build/electron-builder.yml → dist/installers.
 * Flags: --dir (unpacked app only, no installers: what the packaging test inspects),
 * --publish (upload to the GitHub release; needs GH_TOKEN; the release workflow uses it).
 * Any failure ends in one sentence on stderr and exit code 1, never a stack trace.
 */
import { readFileSync } from 'node:fs'
import { arch as hostArch, platform as hostPlatform } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bundleElectron } from './bundle-electron.mjs'
import { checkElectronBinary, electronVersionOf } from './electron-binary.mjs'

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))

/** electron-builder's targets for this OS (see electron-builder.yml). */
export function targetsFor(platform) {
  switch (platform) {
    case 'linux':
      return { flag: 'linux', targets: ['AppImage', 'deb'] }
    case 'darwin':
      return { flag: 'mac', targets: ['dmg', 'zip'] }
    case 'win32':
      return { flag: 'win', targets: ['nsis'] }
    default:
      return undefined
  }
}

/**
 * The release feed. In GitHub Actions the repository is known from GITHUB_REPOSITORY; elsewhere
 * electron-builder reads package.json "repository" or the git remote.
 */
export function publishConfig(env) {
  const match = /^([\w.-]+)\/([\w.-]+)$/.exec(env.GITHUB_REPOSITORY ?? '')
  return match === null
    ? {}
    : { publish: [{ provider: 'github', owner: match[1], repo: match[2], releaseType: 'release' }] }
}

function firstLine(error) {
  const text = error instanceof Error ? error.message : String(error)
  return text.split('\n').find((line) => line.trim() !== '') ?? text
}

function fail(sentence) {
  console.error(sentence)
  process.exit(1)
}

async function main() {
  const args = new Set(process.argv.slice(2))
  const isDirOnly = args.has('--dir')
  const shouldPublish = args.has('--publish')
  const platform = hostPlatform()
  const arch = hostArch()
  const target = targetsFor(platform)
  if (target === undefined)
    fail(`Cannot build installers on ${platform}: only Linux, macOS and Windows are supported.`)

  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  const version = electronVersionOf(pkg)
  if (version === undefined) fail('Cannot build installers: package.json names no exact Electron version.')

  const binary = await checkElectronBinary({ rootDir: ROOT, version, platform, arch })
  if (!binary.ok) fail(binary.sentence)
  console.log(`Electron ${version} (${platform}-${arch}): ${binary.source}`)

  try {
    const { build: viteBuild } = await import('vite')
    await viteBuild({ configFile: join(ROOT, 'renderer', 'vite.config.ts'), logLevel: 'warn' })
  } catch (error) {
    fail(`Cannot build installers: building the UI (renderer/) failed: ${firstLine(error)}`)
  }
  try {
    await bundleElectron(ROOT)
  } catch (error) {
    fail(`Cannot build installers: bundling the desktop shell failed: ${firstLine(error)}`)
  }

  try {
    const { build, Platform } = await import('electron-builder')
    const platformObject = { linux: Platform.LINUX, mac: Platform.MAC, win: Platform.WINDOWS }[target.flag]
    const artifacts = await build({
      projectDir: ROOT,
      targets: platformObject.createTarget(isDirOnly ? ['dir'] : target.targets),
      publish: shouldPublish ? 'always' : 'never',
      config: {
        extends: join(ROOT, 'build', 'electron-builder.yml'),
        electronVersion: version,
        ...publishConfig(process.env),
        ...(binary.electronDist !== undefined ? { electronDist: binary.electronDist } : {}),
      },
    })
    for (const artifact of artifacts) console.log(`built ${artifact}`)
    if (isDirOnly) console.log(`unpacked app in ${join(ROOT, 'dist', 'installers')}`)
  } catch (error) {
    fail(`Cannot build installers: electron-builder failed: ${firstLine(error)}`)
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => fail(`Cannot build installers: ${firstLine(error)}`))
}
