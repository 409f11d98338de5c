import { describe, expect, it } from 'vitest'
import {
  decideWindowOpen,
  isExternalUrl,
  isNavigationAllowed,
  MAIN_WINDOW_MIN_HEIGHT,
  MAIN_WINDOW_MIN_WIDTH,
  mainWindowOptions,
  originOf,
  trainerWindowOptions,
} from '../../../electron/window-options.ts'

describe('mainWindowOptions', () => {
  it('turns on every isolation setting and names the preload', () => {
    const options = mainWindowOptions({ preloadPath: '/app/dist/app/preload.cjs' })
    expect(options.webPreferences).toMatchObject({
      preload: '/app/dist/app/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    })
    expect(options.show).toBe(false)
  })

  it('restores saved bounds but never below the minimum size', () => {
    const options = mainWindowOptions({
      preloadPath: 'p',
      bounds: { x: 10, y: 20, width: 300, height: 2000 },
    })
    expect(options).toMatchObject({ x: 10, y: 20, width: MAIN_WINDOW_MIN_WIDTH, height: 2000 })
    expect(options.minHeight).toBe(MAIN_WINDOW_MIN_HEIGHT)
  })
})

describe('trainerWindowOptions', () => {
  it('is hidden, isolated, and not throttled in the background', () => {
    const options = trainerWindowOptions({ preloadPath: '/p/trainer-preload.cjs' })
    expect(options.show).toBe(false)
    expect(options.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      backgroundThrottling: false,
      preload: '/p/trainer-preload.cjs',
    })
  })
})

describe('navigation rules', () => {
  it('allows navigation within the engine origin only', () => {
    expect(isNavigationAllowed('http://127.0.0.1:4100/index.html#x', 'http://127.0.0.1:4100')).toBe(true)
    expect(isNavigationAllowed('http://127.0.0.1:4101/', 'http://127.0.0.1:4100')).toBe(false)
    expect(isNavigationAllowed('https://example.com/', 'http://127.0.0.1:4100')).toBe(false)
    expect(isNavigationAllowed('not a url', 'http://127.0.0.1:4100')).toBe(false)
  })

  it('sends http(s) and mailto links to the browser and drops the rest', () => {
    expect(decideWindowOpen('https://github.com/x')).toEqual({ action: 'deny', openExternally: true })
    expect(decideWindowOpen('mailto:a@b.c')).toEqual({ action: 'deny', openExternally: true })
    for (const url of ['file:///etc/passwd', 'javascript:alert(1)', 'smb://host/share', 'app://trainer/']) {
      expect(isExternalUrl(url)).toBe(false)
      expect(decideWindowOpen(url).openExternally).toBe(false)
    }
  })

  it('gives no origin for opaque URLs', () => {
    expect(originOf('data:text/html,hi')).toBeUndefined()
    expect(originOf('http://127.0.0.1:9/a')).toBe('http://127.0.0.1:9')
  })
})
