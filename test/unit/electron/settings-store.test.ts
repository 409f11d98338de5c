import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  DEFAULT_SETTINGS,
  parseSettings,
  SETTINGS_FILE_NAME,
  SettingsStore,
} from '../../../electron/settings-store.ts'

const folders: string[] = []
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'longhaul-settings-'))
  folders.push(dir)
  return dir
}

afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('SettingsStore', () => {
  it('starts from the defaults when there is no file', () => {
    const { store, settings, recovered } = SettingsStore.open(folder())
    expect(settings).toEqual(DEFAULT_SETTINGS)
    expect(recovered).toBeUndefined()
    expect(store.get()).toEqual(DEFAULT_SETTINGS)
  })

  it('writes atomically and reads back what it wrote', () => {
    const dir = folder()
    const { store } = SettingsStore.open(dir)
    store.update({ windowBounds: { x: 5, y: 6, width: 1000, height: 700 }, lastFolder: '/data/cats' })
    store.update({ isMaximized: true })
    expect(readdirSync(dir)).toEqual([SETTINGS_FILE_NAME])
    const reopened = SettingsStore.open(dir).settings
    expect(reopened).toEqual({
      ...DEFAULT_SETTINGS,
      windowBounds: { x: 5, y: 6, width: 1000, height: 700 },
      lastFolder: '/data/cats',
      isMaximized: true,
    })
  })

  it('moves a corrupt file aside, keeps it, and says so', () => {
    const dir = folder()
    writeFileSync(join(dir, SETTINGS_FILE_NAME), '{"windowBounds": {"width": 10')
    const { settings, recovered, store } = SettingsStore.open(dir, () => 1234)
    expect(settings).toEqual(DEFAULT_SETTINGS)
    expect(recovered).toContain('settings.json.corrupt-1234')
    expect(readFileSync(join(dir, `${SETTINGS_FILE_NAME}.corrupt-1234`), 'utf8')).toBe(
      '{"windowBounds": {"width": 10',
    )
    store.update({ shouldCheckForUpdates: false })
    expect(SettingsStore.open(dir).settings.shouldCheckForUpdates).toBe(false)
  })

  it('treats JSON that is not an object as corrupt', () => {
    const dir = folder()
    writeFileSync(join(dir, SETTINGS_FILE_NAME), '[1, 2]')
    expect(SettingsStore.open(dir, () => 1).recovered).toMatch(/unreadable/)
  })

  it('drops invalid fields one by one and keeps the valid ones', () => {
    expect(
      parseSettings({
        windowBounds: { width: -5, height: 700 },
        isMaximized: 'yes',
        shouldCheckForUpdates: false,
        lastFolder: '',
        extra: 'ignored',
      }),
    ).toEqual({ ...DEFAULT_SETTINGS, shouldCheckForUpdates: false })
    expect(parseSettings({ windowBounds: { width: 800, height: 600, x: 1.5, y: 3 } }).windowBounds).toEqual({
      width: 800,
      height: 600,
    })
  })

  it('refuses to store an invalid change', () => {
    const { store } = SettingsStore.open(folder())
    expect(store.update({ windowBounds: { width: 0, height: 10 } }).windowBounds).toBeUndefined()
  })
})
