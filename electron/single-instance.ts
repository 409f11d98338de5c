/**
 * One Longhaul per user: a second launch hands over to the first (which comes to the front) and
 * quits. Two instances would share the userData folder, and with it the engine's datasets list
 * and checkpoints, and each would start its own engine on them.
 */

/** The part of Electron's `app` this uses. */
export interface SingleInstanceApp {
  requestSingleInstanceLock(): boolean
  on(event: 'second-instance', listener: () => void): unknown
  quit(): void
}

/** The part of a BrowserWindow this uses. */
export interface FocusableWindow {
  isDestroyed(): boolean
  isMinimized(): boolean
  restore(): void
  show(): void
  focus(): void
}

/**
 * Takes the lock. Returns false (and asks the app to quit) when another instance holds it; the
 * caller must then stop setting up. Otherwise a later launch focuses `currentWindow()`.
 */
export function setupSingleInstance(
  app: SingleInstanceApp,
  currentWindow: () => FocusableWindow | undefined,
): boolean {
  if (!app.requestSingleInstanceLock()) {
    app.quit()
    return false
  }
  app.on('second-instance', () => {
    const window = currentWindow()
    if (window === undefined || window.isDestroyed()) return
    if (window.isMinimized()) window.restore()
    window.show()
    window.focus()
  })
  return true
}
