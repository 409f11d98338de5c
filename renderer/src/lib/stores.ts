/**
 * The UI's state, in Svelte stores, and the actions that change it. Every engine call goes
 * through the EngineApi passed in (api-client.ts in the app, anything with the same shape in
 * tests); components read these stores and call these actions, nothing else.
 *
 * Each screen area has its own busy flag and its own notice (the last error or success), so
 * an error shows next to the form that caused it, in that form's live region.
 */
import { derived, get, writable, type Readable } from 'svelte/store'
import { API_VERSION } from '../../../core/api/contract.ts'
import type {
  ApiParams,
  BackendRouteInfo,
  EngineState,
  SamplePreview,
  TrainingConfig,
} from '../../../core/api/contract.ts'
import { ApiRequestError, type ConnectionStatus, type EngineApi } from './api-client.ts'
import { applyNodeEvent, emptyRunView, type RunView } from './run-view.ts'
import { resolveTheme, saveTheme, type ResolvedTheme, type ThemeChoice } from './theme.ts'

export type Area = 'connection' | 'data' | 'room' | 'training' | 'checkpoints' | 'settings'

export interface Notice {
  readonly kind: 'error' | 'success'
  readonly message: string
  readonly code?: string
}

export interface PreviewState {
  readonly datasetId: string
  readonly split: 'train' | 'test'
  readonly offset: number
  readonly count: number
  readonly total: number
  readonly samples: readonly SamplePreview[]
}

export interface ExportResult {
  readonly checkpointId: string
  readonly directory: string
  readonly files: readonly string[]
}

/** Samples per page of the preview grid. */
export const PREVIEW_PAGE = 24

function messageOf(error: unknown): Notice {
  if (error instanceof ApiRequestError) return { kind: 'error', message: error.message, code: error.code }
  return { kind: 'error', message: error instanceof Error ? error.message : String(error) }
}

export function createAppStore(api: EngineApi) {
  const engine = writable<EngineState | undefined>(undefined)
  const connection = writable<ConnectionStatus>('connecting')
  const run = writable<RunView>(emptyRunView())
  const notices = writable<Partial<Record<Area, Notice>>>({})
  const busy = writable<Partial<Record<Area, boolean>>>({})
  const selectedDatasetId = writable<string | undefined>(undefined)
  const preview = writable<PreviewState | undefined>(undefined)
  const backends = writable<readonly BackendRouteInfo[]>([])
  const exported = writable<ExportResult | undefined>(undefined)

  const selectedDataset = derived([engine, selectedDatasetId], ([$engine, $id]) =>
    $engine?.datasets.find((d) => d.id === $id),
  )

  const setNotice = (area: Area, notice: Notice | undefined): void =>
    notices.update((all) => ({ ...all, [area]: notice }))
  const setBusy = (area: Area, isBusy: boolean): void => busy.update((all) => ({ ...all, [area]: isBusy }))

  /** Runs one engine call for an area: busy while it runs, its error (or success line) as the area's notice. */
  async function perform<T>(
    area: Area,
    action: () => Promise<T>,
    success?: (result: T) => string,
  ): Promise<T | undefined> {
    setBusy(area, true)
    setNotice(area, undefined)
    try {
      const result = await action()
      if (success !== undefined) setNotice(area, { kind: 'success', message: success(result) })
      return result
    } catch (error) {
      setNotice(area, messageOf(error))
      return undefined
    } finally {
      setBusy(area, false)
    }
  }

  /** Re-reads the engine state after a change (the event stream also pushes it; this makes the UI not depend on that). */
  async function refresh(): Promise<void> {
    try {
      engine.set(await api.state())
    } catch (error) {
      setNotice('connection', messageOf(error))
    }
  }

  let unsubscribe: (() => void) | undefined

  function connect(): void {
    unsubscribe?.()
    unsubscribe = api.subscribe({
      onStatus: (status) => {
        connection.set(status)
        if (status === 'unauthorized') {
          setNotice('connection', {
            kind: 'error',
            code: 'ERR_UNAUTHORIZED',
            message: 'The engine refused this page’s access token. Open the URL the engine printed.',
          })
        } else if (status === 'no-token') {
          setNotice('connection', {
            kind: 'error',
            code: 'ERR_UNAUTHORIZED',
            message: 'No access token: open the URL the engine printed (it ends in #token=…).',
          })
        } else if (status === 'open') {
          setNotice('connection', undefined)
        }
      },
      onEvent: (event) => {
        switch (event.kind) {
          case 'hello':
            if (event.apiVersion !== API_VERSION) {
              setNotice('connection', {
                kind: 'error',
                message: `This page speaks engine API ${API_VERSION}, the engine ${event.apiVersion}: reload it from the engine.`,
              })
            }
            engine.set(event.state)
            // The history follows as replayed events: rebuild the run view from it.
            run.set(emptyRunView())
            break
          case 'state':
            engine.set(event.state)
            break
          case 'node':
            run.update((view) => applyNodeEvent(view, event.event))
            break
          case 'error':
            setNotice('training', { kind: 'error', message: event.error.message, code: event.error.code })
            break
          case 'log':
            break
        }
      },
    })
  }

  function disconnect(): void {
    unsubscribe?.()
    unsubscribe = undefined
  }

  async function loadPreview(datasetId: string, split: 'train' | 'test', offset: number): Promise<void> {
    const result = await perform('data', () =>
      api.command('datasets.preview', { id: datasetId, split, offset, count: PREVIEW_PAGE }),
    )
    if (result !== undefined) {
      preview.set({
        datasetId,
        split,
        offset,
        count: PREVIEW_PAGE,
        total: result.total,
        samples: result.samples,
      })
    }
  }

  async function selectDataset(id: string): Promise<void> {
    selectedDatasetId.set(id)
    preview.set(undefined)
    await loadPreview(id, 'train', 0)
  }

  async function addDataset(source: string): Promise<boolean> {
    const trimmed = source.trim()
    if (trimmed === '') {
      setNotice('data', { kind: 'error', message: 'Enter a built-in dataset name or an absolute path.' })
      return false
    }
    const entry = await perform('data', () => api.command('datasets.add', { source: trimmed }))
    if (entry === undefined) return false
    await refresh()
    selectedDatasetId.set(entry.id)
    const result = await perform('data', () =>
      api.command('datasets.preview', { id: entry.id, split: 'train', offset: 0, count: PREVIEW_PAGE }),
    )
    if (result !== undefined) {
      preview.set({
        datasetId: entry.id,
        split: 'train',
        offset: 0,
        count: PREVIEW_PAGE,
        total: result.total,
        samples: result.samples,
      })
      setNotice('data', {
        kind: 'success',
        message: `Added ${entry.manifest.name}: ${entry.manifest.trainCount} training and ${entry.manifest.testCount} test samples.`,
      })
    }
    return true
  }

  async function removeDataset(id: string): Promise<void> {
    await perform('data', () => api.command('datasets.remove', { id }))
    if (get(selectedDatasetId) === id) {
      selectedDatasetId.set(undefined)
      preview.set(undefined)
    }
    await refresh()
  }

  async function createRoom(params: ApiParams<'room.create'>): Promise<void> {
    await perform(
      'room',
      () => api.command('room.create', params),
      (r) => `Room ${r.room} created.`,
    )
    await refresh()
  }

  async function joinRoom(params: ApiParams<'room.join'>): Promise<void> {
    await perform(
      'room',
      () => api.command('room.join', params),
      (r) => `Joined room ${r.room}.`,
    )
    await refresh()
  }

  async function leaveRoom(): Promise<void> {
    await perform(
      'room',
      () => api.command('room.leave', {}),
      () => 'Left the room.',
    )
    await refresh()
  }

  async function startTraining(config: TrainingConfig): Promise<void> {
    await perform('training', () => api.command('training.start', config))
    await refresh()
  }

  async function trainingCommand(
    name: 'training.pause' | 'training.resume' | 'training.stop',
  ): Promise<void> {
    await perform('training', () => api.command(name, {}))
    await refresh()
  }

  async function refreshCheckpoints(): Promise<void> {
    await perform('checkpoints', () => api.command('checkpoints.list', {}))
    await refresh()
  }

  async function exportCheckpoint(id: string, directory: string): Promise<void> {
    exported.set(undefined)
    const trimmed = directory.trim()
    const result = await perform(
      'checkpoints',
      () => api.command('checkpoints.export', { id, ...(trimmed !== '' && { directory: trimmed }) }),
      (r) => `Exported to ${r.directory}.`,
    )
    if (result !== undefined)
      exported.set({ checkpointId: id, directory: result.directory, files: result.files })
  }

  async function loadBackends(): Promise<void> {
    const routes = await perform('settings', () => api.command('backends.list', {}))
    if (routes !== undefined) backends.set(routes)
  }

  async function setBackend(backend: string | undefined): Promise<void> {
    const state = await perform(
      'settings',
      () => api.command('settings.setBackend', backend === undefined ? {} : { backend }),
      () => `Backend preference saved: ${backend ?? 'automatic'}. It applies from the next training start.`,
    )
    if (state !== undefined) engine.set(state)
  }

  const readonly = <T>(store: Readable<T>): Readable<T> => ({ subscribe: store.subscribe })

  return {
    engine: readonly(engine),
    connection: readonly(connection),
    run: readonly(run),
    notices: readonly(notices),
    busy: readonly(busy),
    selectedDataset,
    preview: readonly(preview),
    backends: readonly(backends),
    exported: readonly(exported),
    connect,
    disconnect,
    refresh,
    addDataset,
    selectDataset,
    removeDataset,
    loadPreview,
    createRoom,
    joinRoom,
    leaveRoom,
    startTraining,
    pauseTraining: () => trainingCommand('training.pause'),
    resumeTraining: () => trainingCommand('training.resume'),
    stopTraining: () => trainingCommand('training.stop'),
    refreshCheckpoints,
    exportCheckpoint,
    loadBackends,
    setBackend,
    dismissNotice: (area: Area) => setNotice(area, undefined),
  }
}

export type AppStore = ReturnType<typeof createAppStore>

/** The theme the person picked (persisted) and the one in effect (following the system on 'system'). */
export function createThemeStore(options: {
  readonly initial: ThemeChoice
  readonly storage: Pick<Storage, 'setItem'>
  readonly media: Pick<MediaQueryList, 'matches' | 'addEventListener'>
}) {
  const choice = writable<ThemeChoice>(options.initial)
  const prefersDark = writable(options.media.matches)
  options.media.addEventListener('change', (event) => prefersDark.set(event.matches))
  const resolved: Readable<ResolvedTheme> = derived([choice, prefersDark], ([$choice, $dark]) =>
    resolveTheme($choice, $dark),
  )
  return {
    choice: { subscribe: choice.subscribe } as Readable<ThemeChoice>,
    resolved,
    set(next: ThemeChoice): void {
      choice.set(next)
      saveTheme(options.storage, next)
    },
  }
}

export type ThemeStore = ReturnType<typeof createThemeStore>
