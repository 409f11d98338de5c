/**
 * The desktop app's main process: the composition root that wires Electron to the small,
 * separately tested modules beside it. It owns no logic of its own beyond ordering:
 *
 * 1. single-instance lock; `app://` registered as a privileged scheme (before ready);
 * 2. on ready: settings, the app:// handler for the trainer page, IPC handlers, the CSP on every
 *    UI response, all permission requests denied;
 * 3. the engine in a utility process (engine-supervisor.ts); when it reports its loopback URL and
 *    token, the window loads the UI from it (README.md, "Architecture");
 * 4. quit: the graceful sequence (quit-sequence.ts); an engine crash: a dialog with restart
 *    (crash-policy.ts); updates: offered, never during training (updater.ts).
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  MessageChannelMain,
  protocol,
  session,
  shell,
  utilityProcess,
} from 'electron'
import electronUpdater from 'electron-updater'
import {
  APP_SCHEME,
  APP_SCHEME_PRIVILEGES,
  createAppProtocolHandler,
  TRAINER_PAGE_URL,
} from './app-protocol.ts'
import { WEBRTC_DISABLED_CHROMIUM_FEATURES } from '../core/platform/chromium-webrtc-features.ts'
import { appLayout } from './app-layout.ts'
import { decideAfterEngineExit } from './crash-policy.ts'
import type { EngineExit } from './crash-policy.ts'
import { uiContentSecurityPolicy, withContentSecurityPolicy } from './csp.ts'
import { HttpEngineClient, isTrainingPhase } from './engine-client.ts'
import { EngineSupervisor } from './engine-supervisor.ts'
import type { EngineEndpoint } from './engine-supervisor.ts'
import { createIpcHandlers, registerIpcHandlers } from './ipc-handlers.ts'
import { TRAINER_PORT_CHANNEL } from './ipc-contract.ts'
import { quitPrompt, runQuitSequence } from './quit-sequence.ts'
import { SettingsStore } from './settings-store.ts'
import { setupSingleInstance } from './single-instance.ts'
import { TrainerWindows } from './trainer-windows.ts'
import { UpdateCoordinator, updateCheckDecision } from './updater.ts'
import {
  decideWindowOpen,
  isNavigationAllowed,
  mainWindowOptions,
  originOf,
  trainerWindowOptions,
} from './window-options.ts'

/** Environment variable naming another user-data folder (tests, portable runs); set before anything reads it. */
const USER_DATA_ENV_VAR = 'LONGHAUL_USER_DATA'
const userDataOverride = process.env[USER_DATA_ENV_VAR]
if (userDataOverride !== undefined && userDataOverride !== '') app.setPath('userData', userDataOverride)

const layout = appLayout(app.getAppPath())
const logsDir = app.getPath('logs')
const mainLog = join(logsDir, 'main.log')

function log(line: string): void {
  const stamped = `${new Date().toISOString()} ${line}\n`
  process.stderr.write(stamped)
  try {
    mkdirSync(logsDir, { recursive: true })
    appendFileSync(mainLog, stamped)
  } catch {
    // Logging must never take the app down.
  }
}

protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES])
// The WebRTC window's host candidates carry real addresses, as a Node peer's do (see the module).
app.commandLine.appendSwitch('disable-features', WEBRTC_DISABLED_CHROMIUM_FEATURES.join(','))

let mainWindow: BrowserWindow | undefined
let endpoint: EngineEndpoint | undefined
let crashTimes: readonly number[] = []
let quitState: 'running' | 'quitting' | 'done' = 'running'

const hasLock = setupSingleInstance(app, () => mainWindow)

const dataDir = join(app.getPath('userData'), 'engine')
const trainerWindows = new TrainerWindows({
  createWindow: (service) => {
    const window = new BrowserWindow(trainerWindowOptions({ preloadPath: layout.trainerPreload }))
    return {
      load: () => window.loadURL(`${TRAINER_PAGE_URL}#service=${service}`),
      postPort: (port) =>
        window.webContents.postMessage(TRAINER_PORT_CHANNEL, null, [port as Electron.MessagePortMain]),
      onGone: (listener) => {
        window.webContents.on('render-process-gone', (_event, details) =>
          listener(`its renderer ${details.reason}`),
        )
        window.on('closed', () => listener('it was closed'))
      },
      close: () => {
        if (!window.isDestroyed()) window.destroy()
      },
    }
  },
  createChannel: () => new MessageChannelMain(),
  postToEngine: (message, transfer) => supervisor.post(message, transfer),
  description: `Electron ${process.versions.electron} hidden window (Chromium ${process.versions.chrome})`,
  log,
})

const supervisor = new EngineSupervisor({
  fork: () =>
    utilityProcess.fork(layout.engineHost, [], {
      serviceName: 'Longhaul engine',
      stdio: 'pipe',
    }),
  config: {
    dataDir,
    staticDir: layout.rendererDist,
    appVersion: app.getVersion(),
    // The UI is served by the engine itself, so it is same-origin; no other origin may call the API.
    allowedOrigins: [],
    hasTrainerWindows: true,
  },
  onExit: (exit) => void onEngineExit(exit),
  onTrainerRequest: (message) => void trainerWindows.handle(message),
  log,
})

function engineClient(): HttpEngineClient | undefined {
  return endpoint === undefined
    ? undefined
    : new HttpEngineClient({ baseUrl: endpoint.url, token: endpoint.token })
}

async function startEngineAndShow(settings: SettingsStore): Promise<void> {
  for (;;) {
    try {
      endpoint = await supervisor.start()
      log(`engine: ready at ${endpoint.url}`)
      showUi(settings, endpoint)
      return
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      await supervisor.shutdown()
      const { response } = await dialog.showMessageBox({
        type: 'error',
        title: 'Longhaul could not start its engine',
        message: 'The training engine could not start.',
        detail: `${reason}\n\nThe log is ${mainLog}.`,
        buttons: ['Try again', 'Quit'],
        defaultId: 0,
        cancelId: 1,
      })
      if (response !== 0) {
        quitState = 'done'
        app.quit()
        return
      }
    }
  }
}

function showUi(settings: SettingsStore, engine: EngineEndpoint): void {
  if (mainWindow !== undefined && !mainWindow.isDestroyed()) {
    void mainWindow.loadURL(engine.uiUrl)
    return
  }
  const saved = settings.get()
  const window = new BrowserWindow(
    mainWindowOptions({
      preloadPath: layout.preload,
      iconPath: layout.icon,
      ...(saved.windowBounds !== undefined ? { bounds: saved.windowBounds } : {}),
    }),
  )
  mainWindow = window
  if (saved.isMaximized) window.maximize()
  window.once('ready-to-show', () => window.show())
  window.webContents.setWindowOpenHandler(({ url }) => {
    if (decideWindowOpen(url).openExternally) void shell.openExternal(url)
    return { action: 'deny' }
  })
  window.webContents.on('will-navigate', (event, url) => {
    const origin = endpoint === undefined ? undefined : originOf(endpoint.url)
    if (origin !== undefined && isNavigationAllowed(url, origin)) return
    event.preventDefault()
    if (decideWindowOpen(url).openExternally) void shell.openExternal(url)
  })
  window.on('close', () => {
    settings.update({ windowBounds: window.getNormalBounds(), isMaximized: window.isMaximized() })
  })
  window.on('closed', () => {
    mainWindow = undefined
  })
  void window.loadURL(engine.uiUrl)
}

async function onEngineExit(exit: EngineExit): Promise<void> {
  endpoint = undefined
  trainerWindows.closeAll()
  if (quitState !== 'running') return
  const decision = decideAfterEngineExit(exit, crashTimes, Date.now(), { dataDir, logFile: mainLog })
  if (decision.kind === 'expected') return
  crashTimes = decision.crashTimes
  log(`engine: crashed with code ${exit.code}`)
  const { dialog: spec } = decision
  const options = {
    type: 'error' as const,
    title: spec.title,
    message: spec.message,
    detail: spec.detail,
    buttons: [...spec.buttons],
    defaultId: 0,
    noLink: true,
  }
  const { response } =
    mainWindow !== undefined && !mainWindow.isDestroyed()
      ? await dialog.showMessageBox(mainWindow, options)
      : await dialog.showMessageBox(options)
  const action = spec.actions[response] ?? 'quit'
  if (action === 'open-logs') await shell.openPath(logsDir)
  if (action === 'restart') {
    await startEngineAndShow(settingsStore())
    return
  }
  quitState = 'done'
  app.quit()
}

let settingsInstance: SettingsStore | undefined
function settingsStore(): SettingsStore {
  if (settingsInstance === undefined) {
    const opened = SettingsStore.open(app.getPath('userData'))
    if (opened.recovered !== undefined) log(`settings: ${opened.recovered}`)
    settingsInstance = opened.store
  }
  return settingsInstance
}

function setupSecurity(): void {
  // No page of ours needs camera, notifications or anything else: refuse every request.
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
  session.defaultSession.setPermissionCheckHandler(() => false)
  // Our CSP on the engine's UI responses, replacing whatever the server sent.
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    const engineOrigin = endpoint === undefined ? undefined : originOf(endpoint.url)
    if (engineOrigin === undefined || originOf(details.url) !== engineOrigin) {
      callback({})
      return
    }
    callback({
      responseHeaders: withContentSecurityPolicy(
        details.responseHeaders,
        uiContentSecurityPolicy(engineOrigin),
      ),
    })
  })
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-attach-webview', (event) => event.preventDefault())
  })
}

function setupUpdates(settings: SettingsStore): UpdateCoordinator | undefined {
  const decision = updateCheckDecision({
    isPackaged: app.isPackaged,
    env: process.env,
    isEnabledInSettings: settings.get().shouldCheckForUpdates,
  })
  log(`update: ${decision.reason}`)
  if (!decision.shouldCheck) return undefined
  const coordinator = new UpdateCoordinator({
    updater: electronUpdater.autoUpdater,
    isTraining: async () => {
      const client = engineClient()
      return client === undefined ? false : isTrainingPhase((await client.summary()).phase)
    },
    offer: async (version) => {
      const options = {
        type: 'info' as const,
        title: 'Update ready',
        message: `Longhaul ${version} is ready to install.`,
        detail: 'Restart now to install it, or later: it installs by itself the next time you quit.',
        buttons: ['Restart now', 'Later'],
        defaultId: 1,
        cancelId: 1,
      }
      const { response } =
        mainWindow !== undefined
          ? await dialog.showMessageBox(mainWindow, options)
          : await dialog.showMessageBox(options)
      return response === 0 ? 'restart' : 'later'
    },
    installNow: async () => {
      await gracefulShutdown()
      electronUpdater.autoUpdater.quitAndInstall(false, true)
    },
    log,
  })
  void coordinator.check()
  return coordinator
}

let shutdownPromise: Promise<void> | undefined
function gracefulShutdown(): Promise<void> {
  shutdownPromise ??= (async () => {
    quitState = 'quitting'
    const reports = await runQuitSequence({
      engine: engineClient(),
      shutdown: async () => {
        await supervisor.shutdown()
      },
    })
    for (const report of reports) {
      log(`quit: ${report.step} ${report.outcome}${report.detail !== undefined ? ` (${report.detail})` : ''}`)
    }
    trainerWindows.closeAll()
    quitState = 'done'
  })()
  return shutdownPromise
}

if (hasLock) {
  app.on('before-quit', (event) => {
    if (quitState === 'done') return
    event.preventDefault()
    if (quitState === 'quitting') return
    void (async () => {
      const client = engineClient()
      const prompt = quitPrompt(
        client === undefined ? undefined : await client.summary().catch(() => undefined),
      )
      if (prompt !== undefined) {
        const options = {
          type: 'question' as const,
          title: prompt.title,
          message: prompt.message,
          detail: prompt.detail,
          buttons: [...prompt.buttons],
          defaultId: 1,
          cancelId: 1,
        }
        const { response } =
          mainWindow !== undefined && !mainWindow.isDestroyed()
            ? await dialog.showMessageBox(mainWindow, options)
            : await dialog.showMessageBox(options)
        if (response !== 0) return
      }
      await gracefulShutdown()
      app.quit()
    })()
  })

  app.on('window-all-closed', () => {
    // Closing the window ends the session on every platform: the engine trains for this window.
    app.quit()
  })

  void app.whenReady().then(async () => {
    const settings = settingsStore()
    protocol.handle(APP_SCHEME, createAppProtocolHandler(layout.trainerRoot))
    setupSecurity()
    registerIpcHandlers(
      ipcMain,
      createIpcHandlers({
        mainWebContentsId: () => mainWindow?.webContents.id,
        uiOrigin: () => (endpoint === undefined ? undefined : originOf(endpoint.url)),
        showOpenDialog: (options) =>
          mainWindow !== undefined
            ? dialog.showOpenDialog(mainWindow, { ...options, properties: [...options.properties] })
            : dialog.showOpenDialog({ ...options, properties: [...options.properties] }),
        openExternal: (url) => shell.openExternal(url),
        appVersion: () => app.getVersion(),
        lastFolder: () => settings.get().lastFolder,
        rememberFolder: (path) => {
          settings.update({ lastFolder: path })
        },
      }),
    )
    log(`start: Longhaul ${app.getVersion()}, Electron ${process.versions.electron}, data in ${dataDir}`)
    await startEngineAndShow(settings)
    setupUpdates(settings)
  })
}
