/**
 * Options for the two kinds of window and the navigation rules that keep them on their own
 * pages. Electron's security checklist, written out even where a value is Electron's default, so a
 * default changing upstream cannot loosen them (STYLE.md §6): the renderer is untrusted.
 *
 * - The main window shows the UI served by the engine's loopback server.
 * - A trainer window is hidden and runs the tfjs trainer page (WebGPU/WebGL) for the engine.
 */
import type { BrowserWindowConstructorOptions, WebPreferences } from 'electron'

export const MAIN_WINDOW_MIN_WIDTH = 900
export const MAIN_WINDOW_MIN_HEIGHT = 600

export interface WindowBounds {
  readonly x?: number
  readonly y?: number
  readonly width: number
  readonly height: number
}

export const DEFAULT_MAIN_WINDOW_BOUNDS: WindowBounds = { width: 1280, height: 840 }

/** The webPreferences every Longhaul window shares. */
export function secureWebPreferences(preloadPath: string): WebPreferences {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
    safeDialogs: true,
  }
}

/** The visible window with the UI. `bounds` come from the settings store (already validated). */
export function mainWindowOptions(options: {
  readonly preloadPath: string
  readonly bounds?: WindowBounds
  readonly iconPath?: string
  readonly title?: string
}): BrowserWindowConstructorOptions {
  const bounds = options.bounds ?? DEFAULT_MAIN_WINDOW_BOUNDS
  return {
    ...bounds,
    width: Math.max(bounds.width, MAIN_WINDOW_MIN_WIDTH),
    height: Math.max(bounds.height, MAIN_WINDOW_MIN_HEIGHT),
    minWidth: MAIN_WINDOW_MIN_WIDTH,
    minHeight: MAIN_WINDOW_MIN_HEIGHT,
    title: options.title ?? 'Longhaul',
    // Shown on 'ready-to-show', so the person never sees an empty white frame.
    show: false,
    backgroundColor: '#1b1d22',
    ...(options.iconPath !== undefined ? { icon: options.iconPath } : {}),
    webPreferences: secureWebPreferences(options.preloadPath),
  }
}

/**
 * A hidden window that hosts the trainer page. backgroundThrottling is off: a hidden page's
 * timers and rAF are otherwise throttled, and training would crawl while the window is unseen.
 */
export function trainerWindowOptions(options: {
  readonly preloadPath: string
}): BrowserWindowConstructorOptions {
  return {
    show: false,
    width: 320,
    height: 240,
    title: 'Longhaul trainer',
    skipTaskbar: true,
    focusable: false,
    webPreferences: { ...secureWebPreferences(options.preloadPath), backgroundThrottling: false },
  }
}

/** The origin of a URL, or undefined when it does not parse or has an opaque origin. */
export function originOf(url: string): string | undefined {
  try {
    const origin = new URL(url).origin
    return origin === 'null' ? undefined : origin
  } catch {
    return undefined
  }
}

/** Whether a window showing `allowedOrigin` may navigate to `url`: only within that origin. */
export function isNavigationAllowed(url: string, allowedOrigin: string): boolean {
  return originOf(url) === allowedOrigin
}

const EXTERNAL_PROTOCOLS: ReadonlySet<string> = new Set(['https:', 'http:', 'mailto:'])

/** Links that may be handed to the person's browser: http(s) and mailto, nothing that runs code. */
export function isExternalUrl(url: string): boolean {
  try {
    return EXTERNAL_PROTOCOLS.has(new URL(url).protocol)
  } catch {
    return false
  }
}

/**
 * What to do with `window.open` / target=_blank: never a new Electron window. An external link
 * goes to the person's browser through `openExternal`; anything else is dropped.
 */
export function decideWindowOpen(url: string): { readonly action: 'deny'; readonly openExternally: boolean } {
  return { action: 'deny', openExternally: isExternalUrl(url) }
}
