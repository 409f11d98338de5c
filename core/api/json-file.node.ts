/**
 * Small JSON files in the engine's data folder (dataset registry, settings, checkpoint info),
 * written atomically: a temp file in the same folder, fsynced, renamed over the old one, so a
 * crash leaves the old or the new file, never half of one. A file that does not parse is
 * moved aside (never deleted) and reported, so nothing a user had is lost.
 */
import { randomBytes } from 'node:crypto'
import {
  closeSync,
  promises as fs,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs'
import * as path from 'node:path'
import { isErrno } from '../training/checkpoint-files.node.ts'

function tempPathFor(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
}

function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`
}

/** The parsed value, or undefined when the text is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true })
  const temp = tempPathFor(file)
  const handle = await fs.open(temp, 'wx')
  try {
    await handle.writeFile(jsonText(value))
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
  const value = parseJson(text)
  if (value !== undefined && isValid(value)) return value
  const aside = `${file}.corrupt-${Date.now()}`
  await fs.rename(file, aside)
  onCorrupt(`${file} was unreadable or malformed; moved it to ${aside} and started afresh`)
  return undefined
}

/**
 * writeJsonAtomic for callers that must be done before they return (the desktop shell reads and
 * writes its settings at start-up and on quit). `mode`: the new file's permissions.
 */
export function writeJsonAtomicSync(file: string, value: unknown, mode = 0o666): void {
  mkdirSync(path.dirname(file), { recursive: true })
  const temp = tempPathFor(file)
  const fd = openSync(temp, 'wx', mode)
  try {
    writeSync(fd, jsonText(value))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    renameSync(temp, file)
  } catch (error) {
    rmSync(temp, { force: true })
    throw error
  }
}

/**
 * readJsonFile for synchronous callers: `{}` when the file is missing, `{ value }` when it parses
 * and passes `isValid`, else the file is renamed to `<file>.corrupt-<now()>` and
 * `{ movedAsideTo }` says where (the caller tells the person in its own words).
 */
export function readJsonFileSync<T>(
  file: string,
  isValid: (value: unknown) => value is T,
  now: () => number = Date.now,
): { readonly value?: T; readonly movedAsideTo?: string } {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return {}
    throw error
  }
  const value = parseJson(text)
  if (value !== undefined && isValid(value)) return { value }
  const movedAsideTo = `${file}.corrupt-${now()}`
  renameSync(file, movedAsideTo)
  return { movedAsideTo }
}
