/**
 * The engine in Node: `createNodeEngine(options)` puts the runtime-agnostic `Engine` on a
 * host that keeps its files in a data folder (datasets.json, settings.json, checkpoints/,
 * exports/), loads data with loadDataset, trains with the same node session `longhaul node`
 * builds (core/node/node-session.node.ts), and lists the tensor backends of this runtime.
 * The CLI (`longhaul node --ui`) and the Electron shell's utility process both call it.
 */
import { homedir } from 'node:os'
import * as path from 'node:path'
import { LONGHAUL_VERSION } from '../cli/main.ts'
import { BUILTIN_DATASETS, type LoadDatasetOptions } from '../data/resolve-dataset.node.ts'
import { CoreError } from '../errors.ts'
import { isRecord } from '../guards.ts'
import type { WebRtcStack, WebRtcStackName } from '../platform/webrtc-stack.node.ts'
import { createNodeSession, explainNodeFailure, type NodeTimeouts } from '../node/node-session.node.ts'
import { closeBrowserHosts, listRoutes } from '../platform/backends.node.ts'
import { probeRoutes, type BackendChoice, type BackendRoute } from '../tensor/backend-select.ts'
import { MODEL_ZOO } from '../tensor/models.ts'
import { DEFAULT_LEARNING_RATES } from '../training/trainer.ts'
import { NodeCheckpointStore } from './checkpoint-store.node.ts'
import type { BackendInfo, BackendRouteInfo } from './contract.ts'
import { DatasetRegistry, REGISTRY_SEED } from './dataset-registry.node.ts'
import {
  Engine,
  type EmbeddedSignaling,
  type EngineHost,
  type EngineSettings,
  type SettingsStore,
  type TrainingRequest,
  type TrainingRun,
} from './engine.ts'
import { readJsonFile, writeJsonAtomic } from './json-file.node.ts'

/** Environment variable naming the data folder. */
export const HOME_ENV_VAR = 'LONGHAUL_HOME'
const SETTINGS_FILE = 'settings.json'
/** How long a founder waits for `waitForPeers` peers before it trains alone. */
const WAIT_FOR_PEERS_TIMEOUT_MS = 60_000

/** The same shape as the CLI's embedded server, so signaling-server's function fits as it is. */
export type SignalingServerStarter = (options: {
  readonly config: { readonly host: string; readonly port: number; readonly logLevel: 'warn' }
}) => Promise<EmbeddedSignaling>

export interface NodeEngineOptions {
  /** Data folder; default $LONGHAUL_HOME, else ~/.longhaul. Electron passes its userData folder. */
  readonly dataDir?: string
  /** Shown in the state and announced to peers; default this package's version. */
  readonly version?: string
  /** Tensor routes in priority order; default this runtime's table (core/platform/backends.node.ts). */
  readonly routes?: readonly BackendRoute[]
  /** Starts an embedded signaling server for local rooms (injected: core/ may not import it). */
  readonly startSignalingServer?: SignalingServerStarter
  /** A backend for this session only (e.g. `--backend`); wins over the saved setting. */
  readonly preferredBackend?: string
  /** Node timeouts (tests shorten them); default core/node's defaults. */
  readonly nodeTimeouts?: Partial<NodeTimeouts>
  /**
   * What carries peer connections (core/platform/webrtc-stack.node.ts); default 'wrtc'. The desktop
   * engine passes its hidden window's stack.
   */
  readonly webrtc?: WebRtcStackName | (() => Promise<WebRtcStack>)
  /** Passed to loadDataset (tests: no download). */
  readonly loadOptions?: Omit<LoadDatasetOptions, 'seed' | 'onProgress'>
  /** Warnings before any API client listens (a malformed file set aside). Default: stderr. */
  readonly warn?: (message: string) => void
}

/** $LONGHAUL_HOME, else ~/.longhaul. */
export function defaultDataDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const fromEnv = env[HOME_ENV_VAR]?.trim()
  return fromEnv !== undefined && fromEnv !== '' ? path.resolve(fromEnv) : path.join(homedir(), '.longhaul')
}

function isSettings(value: unknown): value is EngineSettings {
  return isRecord(value) && (value['backend'] === undefined || typeof value['backend'] === 'string')
}

class SettingsFile implements SettingsStore {
  constructor(
    private readonly file: string,
    private readonly warn: (message: string) => void,
  ) {}

  async load(): Promise<EngineSettings> {
    return (await readJsonFile(this.file, isSettings, this.warn)) ?? {}
  }

  save(settings: EngineSettings): Promise<void> {
    return writeJsonAtomic(this.file, settings)
  }
}

/**
 * The route a run trains on, for EngineState.backend: its name, whether it is a GPU (a GPU API on
 * a software rasteriser such as SwiftShader is not, and the reason says so), and the adapter.
 */
export function backendInfoOf(choice: BackendChoice): BackendInfo {
  const chosen = choice.report.find((r) => r.chosen)
  const renderer = chosen?.softwareRenderer
  const isSoftwareGpu = !choice.isHardware && (chosen?.kind === 'webgl' || chosen?.kind === 'webgpu')
  const where = choice.placement === 'browser' ? '; trains in a headless Chromium page' : ''
  const honesty = isSoftwareGpu
    ? `; runs on ${renderer ?? 'a software rasteriser'}, a software renderer, not a GPU`
    : ''
  return {
    name: choice.name,
    isHardware: choice.isHardware,
    reason: `${choice.reason}${where}${honesty}`,
    ...(chosen?.adapter !== undefined && { adapter: chosen.adapter }),
    ...(renderer !== undefined && { softwareRenderer: renderer }),
  }
}

function routeInfo(report: Awaited<ReturnType<typeof probeRoutes>>[number]): BackendRouteInfo {
  return {
    name: report.name,
    placement: report.placement === 'browser' ? 'browser' : 'process',
    probed: report.probed,
    available: report.available,
    reason: report.detail !== undefined ? `${report.reason}; ${report.detail}` : report.reason,
    isHardware: report.isHardware,
    ...(report.adapter !== undefined && { adapter: report.adapter }),
    ...(report.softwareRenderer !== undefined && { softwareRenderer: report.softwareRenderer }),
  }
}

class NodeEngineHost implements EngineHost {
  readonly version: string
  readonly models = Object.keys(MODEL_ZOO)
  readonly builtinDatasets = [...BUILTIN_DATASETS]
  readonly backendNames: readonly string[]
  readonly datasets: DatasetRegistry
  readonly checkpoints: NodeCheckpointStore
  readonly settings: SettingsStore
  readonly startSignalingServer?: (options: { host: string; port: number }) => Promise<EmbeddedSignaling>
  private readonly routes: readonly BackendRoute[]

  constructor(
    dataDir: string,
    private readonly options: NodeEngineOptions,
    warn: (message: string) => void,
  ) {
    this.version = options.version ?? LONGHAUL_VERSION
    this.routes = options.routes ?? listRoutes()
    this.backendNames = this.routes.map((r) => r.name)
    this.datasets = new DatasetRegistry(dataDir, warn, options.loadOptions)
    this.checkpoints = new NodeCheckpointStore(dataDir, { warn, routes: this.routes })
    this.settings = new SettingsFile(path.join(dataDir, SETTINGS_FILE), warn)
    const start = options.startSignalingServer
    if (start !== undefined) {
      this.startSignalingServer = ({ host, port }) => start({ config: { host, port, logLevel: 'warn' } })
    }
  }

  /** The default table's browser routes may have started Chromium pages (probes): close them. */
  async close(): Promise<void> {
    if (this.options.routes === undefined) await closeBrowserHosts()
  }

  async listBackends(options: { readonly probeBrowser: boolean }): Promise<BackendRouteInfo[]> {
    return (await probeRoutes(this.routes, { probeOnDemand: options.probeBrowser })).map(routeInfo)
  }

  async startTraining(request: TrainingRequest): Promise<TrainingRun> {
    const { config } = request
    const seed = config.seed ?? REGISTRY_SEED
    const dataset = await this.datasets.load(request.dataset, seed, (line) => request.log('info', line))
    let resumeFrom
    if (request.resumeFrom !== undefined) {
      const loaded = await this.checkpoints.load(request.resumeFrom.id)
      if (loaded.datasetHash !== dataset.manifest.contentHash) {
        throw new CoreError(
          'ERR_BAD_CHECKPOINT',
          `checkpoint ${request.resumeFrom.id} was trained on other data (hash ${loaded.datasetHash}, this dataset with seed ${seed} is ${dataset.manifest.contentHash})`,
        )
      }
      resumeFrom = loaded.state
    }
    const checkpointRun = {
      id: request.checkpointId,
      config,
      algorithm: request.algorithm,
      datasetName: dataset.manifest.name,
      datasetHash: dataset.manifest.contentHash,
      inputShape: dataset.manifest.inputShape,
      classes: dataset.manifest.classes,
    }
    const controller = new AbortController()
    const session = await createNodeSession({
      data: { dataset },
      training: {
        modelSpec: config.model,
        epochs: config.epochs,
        batchSize: config.batchSize,
        optimizer: config.optimizer,
        learningRate: config.learningRate ?? DEFAULT_LEARNING_RATES[config.optimizer],
        seed,
        maxTrainSamples: config.maxTrainSamples ?? Number.POSITIVE_INFINITY,
      },
      ...(config.partition !== undefined && { partition: config.partition }),
      algorithm: request.algorithm,
      ...(request.backend !== undefined && { backend: request.backend }),
      ...(request.backendSource !== undefined && { backendSource: request.backendSource }),
      routes: this.routes,
      maxPeers: request.maxPeers,
      room: {
        signalUrl: request.room.signalUrl,
        room: request.room.room,
        secret: request.room.secret,
        peerId: request.room.peerId,
      },
      ...(this.options.nodeTimeouts !== undefined && { timeouts: this.options.nodeTimeouts }),
      ...(this.options.webrtc !== undefined && { webrtc: this.options.webrtc }),
      ...(config.waitForPeers !== undefined &&
        config.waitForPeers > 0 && {
          waitForPeers: { count: config.waitForPeers, timeoutMs: WAIT_FOR_PEERS_TIMEOUT_MS },
        }),
      ...(resumeFrom !== undefined && { resumeFrom }),
      onCheckpoint: async (state, reason) => {
        request.onCheckpoint(await this.checkpoints.save(checkpointRun, state, reason))
      },
      signal: controller.signal,
      onEvent: request.onEvent,
      log: (line) => request.log('info', line),
      softwareVersion: `longhaul/${this.version}`,
    })
    if (request.resumeFrom !== undefined) {
      request.log(
        'info',
        `resuming from checkpoint ${request.resumeFrom.id} (step ${request.resumeFrom.step}) if this node founds the room; a node that joins a training room takes the room's current model instead`,
      )
    }
    const done = session.node.run().then(
      async (summary) => {
        await session.close()
        return summary
      },
      async (error: unknown) => {
        await session.close().catch(() => {})
        throw explainNodeFailure(error, session.signalUrl)
      },
    )
    return {
      backend: backendInfoOf(session.backend),
      connections: session.connections,
      pause: () => session.node.pause(),
      resume: () => session.node.resume(),
      stop: () => controller.abort(),
      done,
    }
  }
}

/**
 * An engine on the data folder (created if needed). Close it with `engine.close()`: it stops
 * a training run gracefully (checkpoint, leave the room) and an embedded signaling server.
 */
export async function createNodeEngine(options: NodeEngineOptions = {}): Promise<Engine> {
  const dataDir = path.resolve(options.dataDir ?? defaultDataDir())
  const warn = options.warn ?? ((message: string) => process.stderr.write(`longhaul engine: ${message}\n`))
  const host = new NodeEngineHost(dataDir, options, warn)
  return Engine.open(host, {
    ...(options.preferredBackend !== undefined && { preferredBackend: options.preferredBackend }),
  })
}
