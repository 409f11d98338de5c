/**
 * The desktop shell's own settings, in `<userData>/settings.json`: window bounds, the folder the
 * picker opened last, whether to look for updates. (Datasets, checkpoints and the backend
 * preference are the engine's, in its data folder under userData; see README.md.)
 *
 * Invariants:
 * - A write is atomic: the JSON goes to a temporary file in the same folder, is flushed, then
 *   renamed over the old file, so a crash mid-write leaves the old settings or the new ones,
 *   never half a file.
 * - A file that is not valid JSON, or not an object, is moved aside to
 *   `settings.json.corrupt-<time>` (kept for the person to inspect), and the defaults are used; the
 *   reason is returned so the shell can say so. Fields that fail validation fall back to their
 *   default one by one; unknown fields are dropped.
 */
import { join } from 'node:path'
import { readJsonFileSync, writeJsonAtomicSync } from '../core/api/json-file.node.ts'
import { isRecord } from '../core/guards.ts'
import type { WindowBounds } from './window-options.ts'

export const SETTINGS_FILE_NAME = 'settings.json'
export const SETTINGS_VERSION = 1

export interface DesktopSettings {
  readonly version: number
  readonly windowBounds?: WindowBounds
  readonly isMaximized: boolean
  /** The folder the dataset picker opened last. */
  readonly lastFolder?: string
  /** Look for updates on start (packaged builds only). */
  readonly shouldCheckForUpdates: boolean
}

export const DEFAULT_SETTINGS: DesktopSettings = {
  version: SETTINGS_VERSION,
  isMaximized: false,
  shouldCheckForUpdates: true,
}

/** Larger than any real screen, small enough to refuse garbage. */
const MAX_WINDOW_EDGE = 100_000
const MAX_PATH_LENGTH = 4096

function isEdge(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= MAX_WINDOW_EDGE
}

function isPosition(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= MAX_WINDOW_EDGE
}

function parseBounds(value: unknown): WindowBounds | undefined {
  if (!isRecord(value) || !isEdge(value['width']) || !isEdge(value['height'])) return undefined
  const { x, y } = value
  const hasPosition = isPosition(x) && isPosition(y)
  return {
    width: value['width'],
    height: value['height'],
    ...(hasPosition ? { x, y } : {}),
  }
}

/** The settings in `value`, each invalid or missing field replaced by its default. */
export function parseSettings(value: unknown): DesktopSettings {
  if (!isRecord(value)) return DEFAULT_SETTINGS
  const windowBounds = parseBounds(value['windowBounds'])
  const lastFolder = value['lastFolder']
  return {
    version: SETTINGS_VERSION,
    isMaximized:
      typeof value['isMaximized'] === 'boolean' ? value['isMaximized'] : DEFAULT_SETTINGS.isMaximized,
    shouldCheckForUpdates:
      typeof value['shouldCheckForUpdates'] === 'boolean'
        ? value['shouldCheckForUpdates']
        : DEFAULT_SETTINGS.shouldCheckForUpdates,
    ...(windowBounds !== undefined ? { windowBounds } : {}),
    ...(typeof lastFolder === 'string' && lastFolder !== '' && lastFolder.length <= MAX_PATH_LENGTH
      ? { lastFolder }
      : {}),
  }
}

export interface LoadedSettings {
  readonly settings: DesktopSettings
  /** Set when the file was unreadable and moved aside: one sentence for the log or a notice. */
  readonly recovered?: string
}

export class SettingsStore {
  readonly path: string
  private current: DesktopSettings

  private constructor(path: string, settings: DesktopSettings) {
    this.path = path
    this.current = settings
  }

  /**
   * Reads the settings in `folder` (the userData folder). A missing file gives the defaults; a
   * corrupt one is moved aside and gives the defaults with `recovered` saying so.
   *
   * @param now for the name of the moved-aside file; default Date.now.
   */
  static open(folder: string, now: () => number = Date.now): { store: SettingsStore } & LoadedSettings {
    const path = join(folder, SETTINGS_FILE_NAME)
    const { value, movedAsideTo } = readJsonFileSync(path, isRecord, now)
    if (movedAsideTo !== undefined) {
      return {
        store: new SettingsStore(path, DEFAULT_SETTINGS),
        settings: DEFAULT_SETTINGS,
        recovered: `The settings file was unreadable, so the defaults are used; the old file is kept as ${movedAsideTo}.`,
      }
    }
    if (value === undefined)
      return { store: new SettingsStore(path, DEFAULT_SETTINGS), settings: DEFAULT_SETTINGS }
    const settings = parseSettings(value)
    return { store: new SettingsStore(path, settings), settings }
  }

  get(): DesktopSettings {
    return this.current
  }

  /** Applies `change` (validated like a file read) and writes the result atomically. */
  update(change: Partial<Omit<DesktopSettings, 'version'>>): DesktopSettings {
    const next = parseSettings({ ...this.current, ...change })
    writeJsonAtomicSync(this.path, next, 0o600)
    this.current = next
    return next
  }
}
