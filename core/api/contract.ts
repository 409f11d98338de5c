/**
 * The engine API contract: every command a UI may send, what it answers, and the events it
 * streams. Types and small constant tables only, so the renderer (which may import nothing
 * else from core/) and the Electron shell share one definition with the engine.
 *
 * Transport (core/api/http-server.node.ts serves it on 127.0.0.1; the Electron shell hosts the
 * same server in its utility process):
 * - `GET  /api/state`                      → `EngineState`
 * - `POST /api/command/<name>` JSON params → `{ ok: true, result }` or `{ ok: false, error }`
 *   (HTTP 200 when ok; 400 for params the command refuses or a state it cannot run in, 404 for
 *   an unknown command or id, 405 wrong method, 413 body over API_LIMITS.maxBodyBytes, 500 a
 *   bug; the body is an `ApiResponse` either way)
 * - `GET  /api/events` (WebSocket upgrade) → one JSON `ApiEvent` per message; the first is
 *   `{ kind: 'hello' }`, then the recent history (`replay: true`), then live events.
 * - Every `/api/` request carries the per-launch token, as `Authorization: Bearer <token>` or,
 *   for the WebSocket (browsers cannot set its headers), as the `token` query parameter.
 *   Missing or wrong token: 401. A `Host` other than the server's own loopback address, or an
 *   `Origin` other than the server's own origin (or an origin the host allowed): 403.
 * - The UI page itself is served without the token; the printed URL carries the token in its
 *   fragment (`#token=...`), which browsers never send to a server.
 * - Invites (`RoomInfo.invite`, `room.join`'s `invite`): `longhaul://join?v=1&signal=<url>&room=<name>&secret=<secret>`,
 *   each value percent-encoded (INVITE_PREFIX; core/api/invite.ts writes and parses them).
 */
import type { AlgorithmConfig } from '../algorithms/config.ts'
import type { DatasetManifest } from '../data/dataset.ts'
import type { ErrorCode } from '../errors.ts'
import type { NodeEvent, NodeSummary } from '../node/node-events.ts'

export type { AlgorithmConfig } from '../algorithms/config.ts'
export type { DatasetManifest } from '../data/dataset.ts'
export type { NodeEvent, NodeSummary, PeerMetrics } from '../node/node-events.ts'

export const API_VERSION = 1

/** A dataset the engine knows (persisted in its data folder). */
export interface DatasetEntry {
  /** Stable id, derived from the source. */
  readonly id: string
  /** What the user added: a built-in name (`shapes`, `fashion-mnist`) or an absolute path. */
  readonly source: string
  readonly manifest: DatasetManifest
  /** ISO time it was added. */
  readonly addedAt: string
}

/** One sample for the preview grid. Images: `pixels` is base64 of height×width×channels bytes (0-255). */
export interface SamplePreview {
  readonly index: number
  readonly label: number
  readonly className: string
  readonly kind: 'image' | 'features'
  /** Image samples: [height, width, channels]. */
  readonly shape: readonly number[]
  /** Image samples: base64 of the uint8 pixels, row-major HWC. */
  readonly pixels?: string
  /** Feature samples (CSV): the first features, rounded. */
  readonly features?: readonly number[]
}

export interface RoomInfo {
  readonly room: string
  readonly signalUrl: string
  /** Whether this engine runs the signaling server itself (a local room). */
  readonly isEmbeddedSignaling: boolean
  /** Paste-able string that carries signalUrl, room and secret (`parseInvite` reads it). */
  readonly invite: string
  /** The same as a `longhaul node` command line, for headless machines. */
  readonly joinCommand: string
  readonly peerId: string
}

/** UI presets; `advanced` settings override the preset's algorithm. */
export type TrainingPreset = 'same-lan' | 'long-haul' | 'gossip'

export const TRAINING_PRESETS: Readonly<
  Record<
    TrainingPreset,
    { readonly label: string; readonly description: string; readonly algorithm: AlgorithmConfig }
  >
> = {
  'same-lan': {
    label: 'Same LAN',
    description: 'Synchronous SGD: every step averaged. Best accuracy on fast, near links.',
    algorithm: { kind: 'sync' },
  },
  'long-haul': {
    label: 'Long-haul',
    description: 'OLCO3: local steps, stale averages used without waiting, compressed deltas.',
    algorithm: { kind: 'olco3', H: 4, staleness: 1, compressor: 'topk:0.1' },
  },
  gossip: {
    label: 'Gossip',
    description: 'Stochastic Gradient Push: each step talks to one peer; tolerant of stragglers.',
    algorithm: { kind: 'sgp', peers: 1, overlapDelay: 2 },
  },
}

export interface TrainingConfig {
  readonly datasetId: string
  /** A model zoo name (mlp, cnn, resnet). */
  readonly model: string
  readonly preset: TrainingPreset
  /** When set, replaces the preset's algorithm (the advanced settings). */
  readonly algorithm?: AlgorithmConfig
  readonly epochs: number
  readonly batchSize: number
  readonly optimizer: 'adam' | 'momentum' | 'sgd'
  readonly learningRate?: number
  readonly seed?: number
  /** Train on shard `index` of `count` (IID) of the dataset, for several nodes on one dataset. */
  readonly partition?: { readonly index: number; readonly count: number }
  readonly maxTrainSamples?: number
  /** Resume from this checkpoint id (see `checkpoints.list`). Used when this node founds the room. */
  readonly resumeFrom?: string
  /** Worker slots of the room (`--max-peers`); must match on every node. Default 8. */
  readonly maxPeers?: number
  /** As the room's first node, wait for this many peers before training (at most a minute). Default 0. */
  readonly waitForPeers?: number
}

export type TrainingPhase = 'idle' | 'starting' | 'running' | 'paused' | 'stopping' | 'finished' | 'failed'

export interface TrainingStatus {
  readonly phase: TrainingPhase
  readonly config?: TrainingConfig
  /** The resolved algorithm in use. */
  readonly algorithm?: AlgorithmConfig
  readonly startedAt?: string
  /** Where this run's checkpoints go (a `CheckpointInfo.id`). */
  readonly checkpointId?: string
  /**
   * What carries this run's peer connections, in one sentence: "@roamhq/wrtc (libwebrtc in this
   * process)", or a browser's own WebRTC (a Chromium page, the desktop app's hidden window).
   */
  readonly connections?: string
  readonly summary?: NodeSummary
  readonly error?: ApiError
}

/** The tensor backend this engine trains on, said honestly. */
export interface BackendInfo {
  readonly name: string
  readonly isHardware: boolean
  /** One sentence: why this route (and why not the faster ones). */
  readonly reason: string
  /** GPU adapter or WebGL renderer string, when the route has one. */
  readonly adapter?: string
  /** The software rasteriser behind a GPU API (SwiftShader, llvmpipe), when one is: not a GPU. */
  readonly softwareRenderer?: string
}

/** One route as `longhaul doctor` reports it. */
export interface BackendRouteInfo {
  readonly name: string
  /** 'process': trains in the engine's process; 'browser': in a Chromium page the engine starts (by name only). */
  readonly placement: 'process' | 'browser'
  /** False for a browser route that was not probed (`backends.list` without probeBrowser); `available` is false then. */
  readonly probed: boolean
  readonly available: boolean
  readonly reason: string
  readonly isHardware: boolean
  readonly adapter?: string
  readonly softwareRenderer?: string
}

export interface CheckpointInfo {
  readonly id: string
  readonly createdAt: string
  readonly datasetId: string
  readonly model: string
  readonly algorithm: AlgorithmConfig
  readonly step: number
  readonly epoch: number
  readonly testAccuracy?: number
  readonly bytes: number
  /** Epochs the run was asked for, and why this checkpoint was written. */
  readonly epochs: number
  readonly reason: 'epoch' | 'stopped'
}

export interface EngineState {
  readonly apiVersion: number
  readonly version: string
  readonly backend?: BackendInfo
  /** Route preference set in the UI settings or by flag/env; undefined = automatic. */
  readonly preferredBackend?: string
  readonly datasets: readonly DatasetEntry[]
  readonly room?: RoomInfo
  readonly training: TrainingStatus
  readonly checkpoints: readonly CheckpointInfo[]
  readonly models: readonly string[]
  readonly builtinDatasets: readonly string[]
}

export interface ApiError {
  readonly code:
    | ErrorCode
    | 'ERR_UNAUTHORIZED'
    | 'ERR_FORBIDDEN'
    | 'ERR_UNKNOWN_COMMAND'
    | 'ERR_BAD_REQUEST'
    | 'ERR_INTERNAL'
  /** One sentence a person can act on. */
  readonly message: string
}

/** Every command: its params and its result. */
export interface ApiCommands {
  'datasets.list': { params: Record<string, never>; result: readonly DatasetEntry[] }
  'datasets.add': { params: { readonly source: string }; result: DatasetEntry }
  'datasets.inspect': { params: { readonly id: string }; result: DatasetEntry }
  'datasets.preview': {
    params: {
      readonly id: string
      readonly split: 'train' | 'test'
      readonly offset: number
      readonly count: number
    }
    result: { readonly total: number; readonly samples: readonly SamplePreview[] }
  }
  'datasets.remove': { params: { readonly id: string }; result: { readonly removed: boolean } }
  /**
   * Without signalUrl: a local room on an embedded signaling server listening on `host`
   * (default 127.0.0.1; 0.0.0.0 for a LAN) and `port` (default 0: any free port). Generates
   * the secret, and a room name when none is given.
   */
  'room.create': {
    params: {
      readonly signalUrl?: string
      readonly room?: string
      readonly host?: string
      readonly port?: number
    }
    result: RoomInfo
  }
  /** Either an invite string or the three fields. */
  'room.join': {
    params: {
      readonly invite?: string
      readonly signalUrl?: string
      readonly room?: string
      readonly secret?: string
    }
    result: RoomInfo
  }
  'room.leave': { params: Record<string, never>; result: { readonly left: boolean } }
  'training.start': { params: TrainingConfig; result: TrainingStatus }
  'training.pause': { params: Record<string, never>; result: TrainingStatus }
  'training.resume': { params: Record<string, never>; result: TrainingStatus }
  'training.stop': { params: Record<string, never>; result: TrainingStatus }
  'checkpoints.list': { params: Record<string, never>; result: readonly CheckpointInfo[] }
  /** Writes a tfjs LayersModel (model.json + weights) into `directory` (default: under the data folder). */
  'checkpoints.export': {
    params: { readonly id: string; readonly directory?: string }
    result: { readonly directory: string; readonly files: readonly string[] }
  }
  /** probeBrowser: also start Chromium to probe the browser routes (seconds). */
  'backends.list': { params: { readonly probeBrowser?: boolean }; result: readonly BackendRouteInfo[] }
  /** undefined: automatic choice. Takes effect at the next training start. */
  'settings.setBackend': { params: { readonly backend?: string }; result: EngineState }
}

export type ApiCommandName = keyof ApiCommands
export type ApiParams<N extends ApiCommandName> = ApiCommands[N]['params']
export type ApiResult<N extends ApiCommandName> = ApiCommands[N]['result']

export type ApiResponse<N extends ApiCommandName> =
  { readonly ok: true; readonly result: ApiResult<N> } | { readonly ok: false; readonly error: ApiError }

export const API_COMMAND_NAMES: readonly ApiCommandName[] = [
  'datasets.list',
  'datasets.add',
  'datasets.inspect',
  'datasets.preview',
  'datasets.remove',
  'room.create',
  'room.join',
  'room.leave',
  'training.start',
  'training.pause',
  'training.resume',
  'training.stop',
  'checkpoints.list',
  'checkpoints.export',
  'backends.list',
  'settings.setBackend',
]

/** The event stream. `t` is ms since the engine started. */
export type ApiEvent =
  | { readonly kind: 'hello'; readonly apiVersion: number; readonly state: EngineState }
  | { readonly kind: 'state'; readonly state: EngineState }
  /** A training node's event, as core/node emits it; `replay` marks history sent on connect. */
  | { readonly kind: 'node'; readonly event: NodeEvent; readonly replay?: boolean }
  | {
      readonly kind: 'log'
      readonly t: number
      readonly level: 'info' | 'warn' | 'error'
      readonly message: string
      readonly replay?: boolean
    }
  | { readonly kind: 'error'; readonly t: number; readonly error: ApiError; readonly replay?: boolean }

export const API_PATHS = {
  state: '/api/state',
  command: '/api/command/',
  events: '/api/events',
} as const

/** Limits the server enforces (and a client can respect up front). */
export const API_LIMITS = {
  /** Largest command body accepted (413 above). */
  maxBodyBytes: 1024 * 1024,
  /** Most samples one `datasets.preview` returns. */
  maxPreviewSamples: 256,
  /** Events kept for replay to a new WebSocket client (besides the latest 'peers' event). */
  historyEvents: 2000,
} as const

/** Start of every invite string. */
export const INVITE_PREFIX = 'longhaul://join?'
