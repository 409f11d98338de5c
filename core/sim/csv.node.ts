/** Writes the simulator's CSV output in Node (the one Node-only part of core/sim). */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Writes `text` to `path`, creating parent folders. */
export async function writeTextFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, text, 'utf8')
}
