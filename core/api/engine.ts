/**
 * The engine behind the API (core/api/contract.ts): one object that validates and runs every
 * command, holds the state a UI shows, and streams events to subscribers with a bounded
 * history for replay. Runtime-agnostic: what touches files, tensors, sockets or processes is
 * an `EngineHost` (core/api/node-engine.node.ts in Node; the Electron shell hosts the
 * same one in its utility process). The HTTP/WebSocket server (http-server.node.ts) is one
 * transport over `execute`, `state` and `subscribe`; tests call them directly.
 *
 * Rules the engine keeps:
 * - Every command's params are validated (params.ts) before anything happens; a refusal is a
 *   CoreError with one sentence (ERR_INVALID_ARGUMENT, ERR_NOT_FOUND, or ERR_INVALID_STATE
 *   for a command the current state does not allow, e.g. pause while nothing trains).
 * - One room and one training run at a time. A room is an address (signaling URL, name,
 *   secret) plus, for a local room, the embedded signaling server; the node connects to it
 *   when training starts and leaves it when training ends.
 * - Training failures never throw out of the engine: the phase becomes 'failed' with the
 *   error, an 'error' event goes out, and the next start is possible.
 */
import { resolveAlgorithmConfig, type AlgorithmConfig } from '../algorithms/config.ts'
import { CoreError, isCoreError } from '../errors.ts'
import type { NodeEvent, NodeSummary } from '../node/node-events.ts'
import { generatePeerId, generateRoomSecret } from '../signaling/room-auth.ts'
import {
  API_LIMITS,
  API_VERSION,
  TRAINING_PRESETS,
  type ApiCommandName,
  type ApiError,
  type ApiEvent,
  type ApiParams,
  type ApiResponse,
  type ApiResult,
  type BackendInfo,
  type BackendRouteInfo,
  type CheckpointInfo,
  type DatasetEntry,
  type EngineState,
  type RoomInfo,
  type SamplePreview,
  type TrainingConfig,
  type TrainingStatus,
} from './contract.ts'
import { EventHistory, type EventHistoryLimits } from './event-history.ts'
import { checkRoomAddress, formatInvite, joinCommandOf, parseInvite, type RoomAddress } from './invite.ts'
import { isCommandName, readParams, TRAINING_LIMITS } from './params.ts'

/** The datasets the engine knows, persisted by the host. */
export interface DatasetStore {
  list(): Promise<DatasetEntry[]>
  /** Loads and validates the dataset, then records it; adding a known source returns its entry. */
  add(source: string, log: (message: string) => void): Promise<DatasetEntry>
  remove(id: string): Promise<boolean>
  preview(
    entry: DatasetEntry,
    split: 'train' | 'test',
    offset: number,
    count: number,
  ): Promise<{ total: number; samples: SamplePreview[] }>
}

export interface CheckpointStore {
  list(): Promise<CheckpointInfo[]>
  /** Writes a tfjs LayersModel; `directory` absolute, default chosen by the store. */
  export(
    info: CheckpointInfo,
    directory: string | undefined,
    backend: string | undefined,
  ): Promise<{ directory: string; files: string[] }>
}

export interface EngineSettings {
  readonly backend?: string
}

export interface SettingsStore {
  load(): Promise<EngineSettings>
  save(settings: EngineSettings): Promise<void>
}

export interface EmbeddedSignaling {
  readonly url: string
  close(): Promise<void>
}

/** What the engine asks the host to run: everything resolved and validated. */
export interface TrainingRequest {
  readonly config: TrainingConfig
  readonly dataset: DatasetEntry
  /** The resolved algorithm (preset or advanced). */
  readonly algorithm: AlgorithmConfig
  readonly maxPeers: number
  readonly room: RoomAddress & { readonly peerId: string }
  readonly backend?: string
  /** Where `backend` came from, for the sentences: the launch flag or the saved setting. */
  readonly backendSource?: string
  /** Where this run's checkpoints go. */
  readonly checkpointId: string
  readonly resumeFrom?: CheckpointInfo
  readonly onEvent: (event: NodeEvent) => void
  readonly log: (level: 'info' | 'warn', message: string) => void
  /** Called after each checkpoint is written. */
  readonly onCheckpoint: (info: CheckpointInfo) => void
}

/** A training run in progress, as the host started it. */
export interface TrainingRun {
  readonly backend: BackendInfo
  /** What carries the peer connections (TrainingStatus.connections). */
  readonly connections: string
  pause(): void
  resume(): void
  /** Asks the node to stop after its current step (it checkpoints and leaves the room). */
  stop(): void
  /** Settles when the node left the room and the trainer is freed; rejects with the failure. */
  readonly done: Promise<NodeSummary>
}

/** Everything the engine cannot do runtime-agnostically. */
export interface EngineHost {
  readonly version: string
  /** Model zoo names `training.start` accepts. */
  readonly models: readonly string[]
  readonly builtinDatasets: readonly string[]
  /** Route names `settings.setBackend` accepts. */
  readonly backendNames: readonly string[]
  readonly datasets: DatasetStore
  readonly checkpoints: CheckpointStore
  readonly settings: SettingsStore
  /** Absent when this build cannot run a signaling server (then rooms need a signalUrl). */
  readonly startSignalingServer?: (options: { host: string; port: number }) => Promise<EmbeddedSignaling>
  listBackends(options: { readonly probeBrowser: boolean }): Promise<BackendRouteInfo[]>
  /** Builds the node and starts it; resolves once it runs (data loaded, model built). */
  startTraining(request: TrainingRequest): Promise<TrainingRun>
  /** Frees what the host holds (browser pages); called by `Engine.close`. */
  close?(): Promise<void>
}

export interface EngineOptions {
  /** A backend preference for this session only (a flag); wins over the saved setting. */
  readonly preferredBackend?: string
  readonly historyLimits?: Partial<EventHistoryLimits>
}

/** Absolute path on POSIX or Windows (checked without node:path: this module runs anywhere). */
export function isAbsolutePath(path: string): boolean {
  return path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\\\')
}

export function toApiError(error: unknown): ApiError {
  if (isCoreError(error)) return { code: error.code, message: error.message }
  return {
    code: 'ERR_INTERNAL',
    message: `internal error: ${error instanceof Error ? error.message : String(error)}`,
  }
}

function invalidState(message: string): CoreError {
  return new CoreError('ERR_INVALID_STATE', message)
}

/** A checkpoint id: sortable by time, readable, unique enough for one data folder. */
function newCheckpointId(model: string): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  const random = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(3)), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('')
  return `${stamp}-${model.replace(/[^A-Za-z0-9_-]/g, '_')}-${random}`
}

type Handlers = { readonly [N in ApiCommandName]: (params: ApiParams<N>) => Promise<ApiResult<N>> }

interface RoomSession {
  readonly address: RoomAddress
  readonly peerId: string
  readonly embedded?: EmbeddedSignaling
  joinCommand: string
}

interface ActiveRun {
  readonly run: TrainingRun
  readonly settled: Promise<void>
  isStopRequested: boolean
}

export class Engine {
  private readonly history: EventHistory
  private readonly listeners = new Set<(event: ApiEvent) => void>()
  private readonly startedAtMs = performance.now()
  private datasets: DatasetEntry[] = []
  private checkpoints: CheckpointInfo[] = []
  private savedBackend: string | undefined
  private readonly sessionBackend: string | undefined
  private backend: BackendInfo | undefined
  private room: RoomSession | undefined
  private isRoomBusy = false
  private training: TrainingStatus = { phase: 'idle' }
  private active: ActiveRun | undefined
  private isClosed = false

  private constructor(
    private readonly host: EngineHost,
    options: EngineOptions,
  ) {
    this.history = new EventHistory({
      main: options.historyLimits?.main ?? API_LIMITS.historyEvents,
      perRound: options.historyLimits?.perRound ?? 512,
    })
    this.sessionBackend = options.preferredBackend
  }

  /** Creates an engine and loads what the host persisted (datasets, checkpoints, settings). */
  static async open(host: EngineHost, options: EngineOptions = {}): Promise<Engine> {
    const engine = new Engine(host, options)
    if (options.preferredBackend !== undefined) engine.checkBackendName(options.preferredBackend)
    const [datasets, checkpoints, settings] = await Promise.all([
      host.datasets.list(),
      host.checkpoints.list(),
      host.settings.load(),
    ])
    engine.datasets = datasets
    engine.checkpoints = checkpoints
    engine.savedBackend = settings.backend
    return engine
  }

  state(): EngineState {
    const preferred = this.preferredBackend
    return {
      apiVersion: API_VERSION,
      version: this.host.version,
      ...(this.backend !== undefined && { backend: this.backend }),
      ...(preferred !== undefined && { preferredBackend: preferred }),
      datasets: [...this.datasets],
      ...(this.room !== undefined && { room: this.roomInfo(this.room) }),
      training: this.training,
      checkpoints: [...this.checkpoints],
      models: [...this.host.models],
      builtinDatasets: [...this.host.builtinDatasets],
    }
  }

  /** Receives every event from now on; returns the unsubscribe function. */
  subscribe(listener: (event: ApiEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The recent history, oldest first, marked as replay (see event-history.ts). */
  replay(): ApiEvent[] {
    return this.history.replay()
  }

  /**
   * Runs a command by name with outside params: never throws; the answer says ok or not.
   * Unknown names answer ERR_UNKNOWN_COMMAND.
   */
  async execute(name: string, params: unknown): Promise<ApiResponse<ApiCommandName>> {
    if (!isCommandName(name)) {
      return { ok: false, error: { code: 'ERR_UNKNOWN_COMMAND', message: `no command "${name}"` } }
    }
    try {
      return { ok: true, result: await this.command(name, readParams(name, params)) }
    } catch (error) {
      return { ok: false, error: toApiError(error) }
    }
  }

  /** Runs a command with typed params (validated again: callers may be JavaScript). */
  async command<N extends ApiCommandName>(name: N, params: ApiParams<N>): Promise<ApiResult<N>> {
    if (this.isClosed) throw new CoreError('ERR_DESTROYED', 'the engine is closed')
    const handler: Handlers[N] = this.handlers[name]
    return handler(readParams(name, params))
  }

  private readonly handlers: Handlers = {
    'datasets.list': () => Promise.resolve([...this.datasets]),
    'datasets.add': (p) => this.addDataset(p),
    'datasets.inspect': (p) => Promise.resolve(this.datasetById(p.id)),
    'datasets.preview': (p) => this.host.datasets.preview(this.datasetById(p.id), p.split, p.offset, p.count),
    'datasets.remove': (p) => this.removeDataset(p),
    'room.create': (p) => this.createRoom(p),
    'room.join': (p) => Promise.resolve(this.joinRoom(p)),
    'room.leave': () => this.leaveRoom(),
    'training.start': (p) => this.startTraining(p),
    'training.pause': () => Promise.resolve(this.pauseTraining()),
    'training.resume': () => Promise.resolve(this.resumeTraining()),
    'training.stop': () => this.stopTraining(),
    'checkpoints.list': async () => {
      this.checkpoints = await this.host.checkpoints.list()
      return [...this.checkpoints]
    },
    'checkpoints.export': (p) => this.exportCheckpoint(p),
    'backends.list': (p) => this.host.listBackends({ probeBrowser: p.probeBrowser === true }),
    'settings.setBackend': (p) => this.setBackend(p),
  }

  /**
   * Graceful shutdown: stops training (the node checkpoints and leaves the room), closes an
   * embedded signaling server and the host's extras. Idempotent.
   */
  async close(): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    const active = this.active
    if (active !== undefined) {
      active.isStopRequested = true
      active.run.stop()
      await active.settled
    }
    await this.room?.embedded?.close()
    this.room = undefined
    await this.host.close?.()
    this.listeners.clear()
  }

  // ---- events ----------------------------------------------------------------------------------

  private get t(): number {
    return Math.round(performance.now() - this.startedAtMs)
  }

  private emit(event: ApiEvent): void {
    this.history.add(event)
    for (const listener of [...this.listeners]) {
      try {
        listener(event)
      } catch {
        // A subscriber's bug (a closed socket) must not stop the engine.
      }
    }
  }

  private emitState(): void {
    this.emit({ kind: 'state', state: this.state() })
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.emit({ kind: 'log', t: this.t, level, message })
  }

  // ---- datasets --------------------------------------------------------------------------------

  private datasetById(id: string): DatasetEntry {
    const entry = this.datasets.find((d) => d.id === id)
    if (entry === undefined) {
      throw new CoreError('ERR_NOT_FOUND', `no dataset with id "${id}" (datasets.list shows the known ones)`)
    }
    return entry
  }

  private async addDataset(params: ApiParams<'datasets.add'>): Promise<DatasetEntry> {
    const source = params.source.trim()
    if (!this.host.builtinDatasets.includes(source) && !isAbsolutePath(source)) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `datasets.add: "${source}" is neither a built-in dataset (${this.host.builtinDatasets.join(', ')}) nor an absolute path`,
      )
    }
    this.log('info', `loading dataset ${source}`)
    const entry = await this.host.datasets.add(source, (message) => this.log('info', message))
    this.datasets = await this.host.datasets.list()
    this.log(
      'info',
      `dataset ${entry.manifest.name} (${entry.id}): ${entry.manifest.trainCount} training / ${entry.manifest.testCount} test samples, ${entry.manifest.classes.length} classes`,
    )
    this.emitState()
    return entry
  }

  private async removeDataset(params: ApiParams<'datasets.remove'>): Promise<{ removed: boolean }> {
    const isInUse =
      this.active !== undefined && this.training.config?.datasetId === params.id && this.isTrainingLive()
    if (isInUse) throw invalidState(`dataset ${params.id} is in use by the running training; stop it first`)
    const removed = await this.host.datasets.remove(params.id)
    this.datasets = await this.host.datasets.list()
    if (removed) this.emitState()
    return { removed }
  }

  // ---- room ------------------------------------------------------------------------------------

  private roomInfo(room: RoomSession): RoomInfo {
    return {
      room: room.address.room,
      signalUrl: room.address.signalUrl,
      isEmbeddedSignaling: room.embedded !== undefined,
      invite: formatInvite(room.address),
      joinCommand: room.joinCommand,
      peerId: room.peerId,
    }
  }

  private checkRoomFree(): void {
    if (this.isRoomBusy) throw invalidState('another room command is in progress')
    if (this.room !== undefined) {
      throw invalidState(`already in room ${this.room.address.room}; leave it first (room.leave)`)
    }
  }

  private enterRoom(address: RoomAddress, embedded?: EmbeddedSignaling): RoomInfo {
    const room: RoomSession = {
      address,
      peerId: generatePeerId(),
      ...(embedded !== undefined && { embedded }),
      joinCommand: joinCommandOf(address),
    }
    this.room = room
    this.log('info', `room ${address.room} at ${address.signalUrl}; the node joins it when training starts`)
    this.emitState()
    return this.roomInfo(room)
  }

  private async createRoom(params: ApiParams<'room.create'>): Promise<RoomInfo> {
    this.checkRoomFree()
    const name =
      params.room ??
      `room-${generatePeerId()
        .slice(0, 10)
        .replace(/[^A-Za-z0-9]/g, 'x')}`
    const secret = generateRoomSecret()
    if (params.signalUrl !== undefined) {
      return this.enterRoom(checkRoomAddress({ signalUrl: params.signalUrl, room: name, secret }))
    }
    const start = this.host.startSignalingServer
    if (start === undefined) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        'room.create: this build has no embedded signaling server; give a signalUrl',
      )
    }
    checkRoomAddress({ signalUrl: 'ws://127.0.0.1', room: name, secret })
    this.isRoomBusy = true
    try {
      const server = await start({ host: params.host ?? '127.0.0.1', port: params.port ?? 0 })
      return this.enterRoom({ signalUrl: server.url, room: name, secret }, server)
    } finally {
      this.isRoomBusy = false
    }
  }

  private joinRoom(params: ApiParams<'room.join'>): RoomInfo {
    this.checkRoomFree()
    const address =
      params.invite !== undefined
        ? parseInvite(params.invite)
        : checkRoomAddress({
            signalUrl: params.signalUrl ?? '',
            room: params.room ?? '',
            secret: params.secret ?? '',
          })
    return this.enterRoom(address)
  }

  private async leaveRoom(): Promise<{ left: boolean }> {
    if (this.isRoomBusy) throw invalidState('another room command is in progress')
    const room = this.room
    if (room === undefined) return { left: false }
    this.isRoomBusy = true
    try {
      if (this.active !== undefined) await this.stopTraining()
      await room.embedded?.close()
      this.room = undefined
      this.log('info', `left room ${room.address.room}`)
      this.emitState()
      return { left: true }
    } finally {
      this.isRoomBusy = false
    }
  }

  // ---- training --------------------------------------------------------------------------------

  private isTrainingLive(): boolean {
    const phase = this.training.phase
    return phase === 'starting' || phase === 'running' || phase === 'paused' || phase === 'stopping'
  }

  private setTraining(status: TrainingStatus): void {
    this.training = status
    this.emitState()
  }

  private async startTraining(config: TrainingConfig): Promise<TrainingStatus> {
    if (this.isTrainingLive()) throw invalidState(`training is already ${this.training.phase}; stop it first`)
    const room = this.room
    if (room === undefined) throw invalidState('join or create a room first (room.create, room.join)')
    if (this.isRoomBusy) throw invalidState('a room command is in progress')
    const dataset = this.datasetById(config.datasetId)
    if (!this.host.models.includes(config.model)) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `training.start: unknown model "${config.model}"; choose one of ${this.host.models.join(', ')}`,
      )
    }
    let algorithm: AlgorithmConfig
    try {
      algorithm = resolveAlgorithmConfig(config.algorithm ?? TRAINING_PRESETS[config.preset].algorithm)
    } catch (error) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `training.start: ${error instanceof Error ? error.message : String(error)}`,
      )
    }
    let resumeFrom: CheckpointInfo | undefined
    if (config.resumeFrom !== undefined) {
      this.checkpoints = await this.host.checkpoints.list()
      resumeFrom = this.checkpoints.find((c) => c.id === config.resumeFrom)
      if (resumeFrom === undefined) {
        throw new CoreError('ERR_NOT_FOUND', `training.start: no checkpoint "${config.resumeFrom}"`)
      }
      if (resumeFrom.model !== config.model) {
        throw new CoreError(
          'ERR_INVALID_ARGUMENT',
          `training.start: checkpoint ${resumeFrom.id} is of model ${resumeFrom.model}, not ${config.model}`,
        )
      }
    }
    const maxPeers = config.maxPeers ?? TRAINING_LIMITS.defaultMaxPeers
    const checkpointId = newCheckpointId(config.model)
    const startedAt = new Date().toISOString()
    this.history.clear()
    this.setTraining({ phase: 'starting', config, algorithm, startedAt, checkpointId })
    room.joinCommand = joinCommandOf(room.address, {
      dataset: dataset.source,
      model: config.model,
      algorithm,
      maxPeers,
    })
    const preferred = this.preferredBackend
    let run: TrainingRun
    try {
      run = await this.host.startTraining({
        config,
        dataset,
        algorithm,
        maxPeers,
        room: { ...room.address, peerId: room.peerId },
        ...(preferred !== undefined && {
          backend: preferred,
          backendSource:
            this.sessionBackend !== undefined
              ? `--backend ${preferred}`
              : `the backend setting: ${preferred}`,
        }),
        checkpointId,
        ...(resumeFrom !== undefined && { resumeFrom }),
        onEvent: (event) => this.emit({ kind: 'node', event }),
        log: (level, message) => this.log(level, message),
        onCheckpoint: (info) => this.onCheckpointWritten(info),
      })
    } catch (error) {
      const apiError = toApiError(error)
      this.emit({ kind: 'error', t: this.t, error: apiError })
      this.setTraining({ phase: 'failed', config, algorithm, startedAt, checkpointId, error: apiError })
      throw error
    }
    this.backend = run.backend
    const active: ActiveRun = {
      run,
      isStopRequested: false,
      settled: run.done.then(
        (summary) => this.onRunEnded(active, { phase: 'finished', summary }),
        (error: unknown) => {
          if (active.isStopRequested && isCoreError(error, 'ERR_ABORTED')) {
            this.log('info', 'training stopped before it began')
            this.onRunEnded(active, { phase: 'finished' })
            return
          }
          const apiError = toApiError(error)
          this.emit({ kind: 'error', t: this.t, error: apiError })
          this.onRunEnded(active, { phase: 'failed', error: apiError })
        },
      ),
    }
    this.active = active
    this.setTraining({ ...this.training, phase: 'running', connections: run.connections })
    return this.training
  }

  private onRunEnded(active: ActiveRun, end: Pick<TrainingStatus, 'phase' | 'summary' | 'error'>): void {
    if (this.active === active) this.active = undefined
    this.setTraining({
      ...this.training,
      phase: end.phase,
      ...(end.summary !== undefined && { summary: end.summary }),
      ...(end.error !== undefined && { error: end.error }),
    })
  }

  private onCheckpointWritten(info: CheckpointInfo): void {
    this.checkpoints = [info, ...this.checkpoints.filter((c) => c.id !== info.id)]
    this.log('info', `checkpoint ${info.id}: epoch ${info.epoch}, step ${info.step} (${info.reason})`)
    this.emitState()
  }

  private requireActive(verb: string, phases: readonly string[]): ActiveRun {
    const active = this.active
    if (active === undefined || !phases.includes(this.training.phase)) {
      throw invalidState(`cannot ${verb}: training is ${this.training.phase}`)
    }
    return active
  }

  private pauseTraining(): TrainingStatus {
    const active = this.requireActive('pause', ['running', 'paused'])
    active.run.pause()
    if (this.training.phase !== 'paused') this.setTraining({ ...this.training, phase: 'paused' })
    return this.training
  }

  private resumeTraining(): TrainingStatus {
    const active = this.requireActive('resume', ['running', 'paused'])
    active.run.resume()
    if (this.training.phase !== 'running') this.setTraining({ ...this.training, phase: 'running' })
    return this.training
  }

  /** Stops and waits until the node checkpointed and left the room. */
  private async stopTraining(): Promise<TrainingStatus> {
    const active = this.requireActive('stop', ['running', 'paused', 'stopping'])
    if (!active.isStopRequested) {
      active.isStopRequested = true
      active.run.stop()
      this.setTraining({ ...this.training, phase: 'stopping' })
    }
    await active.settled
    return this.training
  }

  // ---- checkpoints and settings ----------------------------------------------------------------

  private async exportCheckpoint(
    params: ApiParams<'checkpoints.export'>,
  ): Promise<{ directory: string; files: string[] }> {
    if (params.directory !== undefined && !isAbsolutePath(params.directory)) {
      throw new CoreError('ERR_INVALID_ARGUMENT', `checkpoints.export: directory must be an absolute path`)
    }
    this.checkpoints = await this.host.checkpoints.list()
    const info = this.checkpoints.find((c) => c.id === params.id)
    if (info === undefined) throw new CoreError('ERR_NOT_FOUND', `no checkpoint "${params.id}"`)
    // While a run trains, build the export on its backend: switching tfjs's global backend
    // under a running trainer would move its tensors.
    const backend = this.active !== undefined ? this.backend?.name : this.preferredBackend
    const result = await this.host.checkpoints.export(info, params.directory, backend)
    this.log('info', `exported checkpoint ${info.id} to ${result.directory}`)
    return result
  }

  private get preferredBackend(): string | undefined {
    return this.sessionBackend ?? this.savedBackend
  }

  private checkBackendName(name: string): void {
    if (!this.host.backendNames.includes(name)) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `unknown tensor backend "${name}"; choose one of ${this.host.backendNames.join(', ')}`,
      )
    }
  }

  private async setBackend(params: ApiParams<'settings.setBackend'>): Promise<EngineState> {
    if (params.backend !== undefined) this.checkBackendName(params.backend)
    await this.host.settings.save(params.backend === undefined ? {} : { backend: params.backend })
    this.savedBackend = params.backend
    if (this.sessionBackend !== undefined) {
      this.log(
        'warn',
        `this session keeps backend ${this.sessionBackend} (given at launch); the setting applies next launch`,
      )
    }
    this.emitState()
    return this.state()
  }
}
