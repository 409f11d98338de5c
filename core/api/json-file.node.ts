/**
 * Small JSON files in the engine's data folder (dataset registry, settings, checkpoint info),
 * written atomically: a temp file in the same folder, fsynced, renamed over the old one, so a
 * crash leaves the old or the new file, never half of one. A file that does not parse is
 * moved aside (never deleted) and reported, so nothing a user had is lost.
 */
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { isErrno } from '../training/checkpoint-files.node.ts'

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true })
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const handle = await fs.open(temp, 'wx')
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await fs.rename(temp, file)
  } catch (error) {
    await fs.rm(temp, { force: true })
    throw error
  }
}

/**
 * Reads and checks a JSON file. Missing: `undefined`. Unparsable or failing `isValid`: the file
 * is renamed to `<file>.corrupt-<time>`, `onCorrupt` is told where, and `undefined` is returned.
 */
export async function readJsonFile<T>(
  file: string,
  isValid: (value: unknown) => value is T,
  onCorrupt: (message: string) => void,
): Promise<T | undefined> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined
    throw error
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    value = undefined
  }
  if (value !== undefined && isValid(value)) return value
  const aside = `${file}.corrupt-${Date.now()}`
  await fs.rename(file, aside)
  onCorrupt(`${file} was unreadable or malformed; moved it to ${aside} and started afresh`)
  return undefined
}
