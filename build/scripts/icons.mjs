/**
 * Renders build/icon.svg to the PNGs the app and the installers need, with sharp (a dependency
 * of the engine already): 512 px for the window icon (dist/app/icon.png) and 1024 px for
 * electron-builder (dist/build-resources/icon.png), which derives .icns and .ico from it.
 */
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import sharp from 'sharp'

/** @returns {Promise<{ windowIcon: string, installerIcon: string }>} */
export async function renderIcons(rootDir) {
  const source = join(rootDir, 'build', 'icon.svg')
  const windowIcon = join(rootDir, 'dist', 'app', 'icon.png')
  const installerIcon = join(rootDir, 'dist', 'build-resources', 'icon.png')
  for (const [file, size] of [
    [windowIcon, 512],
    [installerIcon, 1024],
  ]) {
    mkdirSync(dirname(file), { recursive: true })
    await sharp(source, { density: 144 }).resize(size, size).png().toFile(file)
  }
  return { windowIcon, installerIcon }
}
