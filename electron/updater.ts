/**
 * Auto-update through electron-updater from the release feed (GitHub Releases, configured by
 * `publish` in build/electron-builder.yml; electron-builder writes app-update.yml into the
 * package). Rules:
 * - off in development builds (not packaged), when LONGHAUL_DISABLE_UPDATES=1, and when the
 *   person turned it off in settings;
 * - an update downloads in the background, then is OFFERED (a dialog: restart now or later);
 *   it is never installed while training runs: the offer waits until training is idle, and
 *   "later" installs it when the person next quits (after the graceful quit sequence).
 */

export const DISABLE_UPDATES_ENV_VAR = 'LONGHAUL_DISABLE_UPDATES'
/** How often a waiting update looks again whether training has finished. */
export const DEFAULT_UPDATE_RECHECK_MS = 60_000

/** Whether to look for updates at all; the reason is logged either way. */
export function updateCheckDecision(options: {
  readonly isPackaged: boolean
  readonly env: Readonly<Record<string, string | undefined>>
  readonly isEnabledInSettings: boolean
}): { readonly shouldCheck: boolean; readonly reason: string } {
  if (!options.isPackaged) return { shouldCheck: false, reason: 'updates are off in development builds' }
  if (options.env[DISABLE_UPDATES_ENV_VAR] === '1') {
    return { shouldCheck: false, reason: `updates are off (${DISABLE_UPDATES_ENV_VAR}=1)` }
  }
  if (!options.isEnabledInSettings) return { shouldCheck: false, reason: 'updates are off in settings' }
  return { shouldCheck: true, reason: 'checking the release feed for updates' }
}

/** The part of electron-updater's AppUpdater the shell uses. */
export interface AutoUpdaterLike {
  autoDownload: boolean
  autoInstallOnAppQuit: boolean
  checkForUpdates(): Promise<unknown>
  quitAndInstall(isSilent?: boolean, isForceRunAfter?: boolean): void
  on(event: 'update-downloaded', listener: (info: { version: string }) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
}

export interface UpdateCoordinatorDeps {
  readonly updater: AutoUpdaterLike
  /** Whether training is running now (asks the engine; an unreachable engine counts as training, to be safe). */
  readonly isTraining: () => Promise<boolean>
  /** Shows the offer; resolves with the person's choice. */
  readonly offer: (version: string) => Promise<'restart' | 'later'>
  /** Runs the graceful quit sequence, then lets electron-updater install and relaunch. */
  readonly installNow: () => Promise<void>
  readonly log: (line: string) => void
  readonly setTimer?: (fn: () => void, ms: number) => { cancel(): void }
  readonly recheckMs?: number
}

export type UpdateState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'waiting-for-idle'; readonly version: string }
  | { readonly kind: 'offered'; readonly version: string }
  | { readonly kind: 'deferred'; readonly version: string }
  | { readonly kind: 'installing'; readonly version: string }

/** Decides when a downloaded update is offered; never installs without the person's yes. */
export class UpdateCoordinator {
  private state: UpdateState = { kind: 'idle' }
  private timer: { cancel(): void } | undefined
  private isClosed = false
  private readonly setTimer: (fn: () => void, ms: number) => { cancel(): void }

  constructor(private readonly deps: UpdateCoordinatorDeps) {
    this.setTimer =
      deps.setTimer ??
      ((fn, ms) => {
        const handle = setTimeout(fn, ms)
        return { cancel: () => clearTimeout(handle) }
      })
    // Download in the background; install only when asked, or at the next ordinary quit.
    deps.updater.autoDownload = true
    deps.updater.autoInstallOnAppQuit = true
    deps.updater.on('update-downloaded', (info) => {
      this.onDownloaded(info.version)
    })
    deps.updater.on('error', (error) => deps.log(`update: ${error.message}`))
  }

  current(): UpdateState {
    return this.state
  }

  /** Starts a check; failures (offline, no feed) are logged, never shown as errors. */
  async check(): Promise<void> {
    try {
      await this.deps.updater.checkForUpdates()
    } catch (error) {
      this.deps.log(`update: check failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  onDownloaded(version: string): void {
    if (this.isClosed || this.state.kind === 'installing') return
    this.deps.log(`update: ${version} downloaded`)
    this.state = { kind: 'waiting-for-idle', version }
    void this.maybeOffer()
  }

  /** Offers the waiting update if training is idle; otherwise looks again later. */
  async maybeOffer(): Promise<void> {
    const state = this.state
    if (this.isClosed || state.kind !== 'waiting-for-idle') return
    let isTraining: boolean
    try {
      isTraining = await this.deps.isTraining()
    } catch {
      isTraining = true
    }
    if (this.state !== state) return
    if (isTraining) {
      this.deps.log(`update: ${state.version} waits until training is idle`)
      this.timer?.cancel()
      this.timer = this.setTimer(
        () => void this.maybeOffer(),
        this.deps.recheckMs ?? DEFAULT_UPDATE_RECHECK_MS,
      )
      return
    }
    this.state = { kind: 'offered', version: state.version }
    const choice = await this.deps.offer(state.version)
    if (this.isClosed) return
    if (choice === 'later') {
      this.state = { kind: 'deferred', version: state.version }
      this.deps.log(`update: ${state.version} will be installed when Longhaul quits`)
      return
    }
    // Training may have started while the dialog was open: never install under it.
    if (await this.deps.isTraining().catch(() => true)) {
      this.state = { kind: 'waiting-for-idle', version: state.version }
      await this.maybeOffer()
      return
    }
    this.state = { kind: 'installing', version: state.version }
    await this.deps.installNow()
  }

  close(): void {
    this.isClosed = true
    this.timer?.cancel()
  }
}
