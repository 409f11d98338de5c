/**
 * One way to build a training node on this machine, for `longhaul node` and the engine API
 * alike: dataset → this node's partition and sample limit → trainer on the chosen route (any
 * route, the browser ones included: setupRouteTrainer) → run manifest → swarm (signaling client +
 * WebRTC transports on the chosen stack: core/platform/webrtc-stack.node.ts) → `TrainingNode`. The caller runs `session.node.run()` and awaits
 * `session.close()` afterwards (the node closes its swarm itself; the trainer, and the Chromium
 * page of a browser route, are the session's to close).
 */
import { WebSocket } from 'ws'
import { ALGORITHM_KINDS, resolveAlgorithmConfig, type AlgorithmConfig } from '../algorithms/config.ts'
import { COMPRESSOR_NAMES } from '../compress/registry.ts'
import { subsetSplit, type Dataset, type Split } from '../data/dataset.ts'
import { partitionIid } from '../data/partition.ts'
import { loadDataset } from '../data/resolve-dataset.node.ts'
import { openWebRtcStack, type WebRtcStack, type WebRtcStackName } from '../platform/webrtc-stack.node.ts'
import { PROTOCOL_VERSION } from '../protocol/frame.ts'
import { SignalingClient } from '../signaling/signaling-client.ts'
import { jsonObjectOf, type RunManifest } from '../swarm/run-manifest.ts'
import { SWARM_DEFAULTS, Swarm } from '../swarm/swarm.ts'
import { CoreError, isCoreError } from '../errors.ts'
import type { BackendChoice, BackendRoute } from '../tensor/backend-select.ts'
import { MODEL_ZOO } from '../tensor/models.ts'
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../transport/chunked-transport.ts'
import { limitSamples, setupRouteTrainer, type RouteTrainerSetup } from '../training/trainer-setup.node.ts'
import type { OptimizerConfig, OptimizerKind } from '../training/trainer.ts'
import type { FaultPlan } from './fault-injection.ts'
import { AsyncTrainerModel, TrainerModel, type LocalModel } from './local-model.ts'
import type { NodeEvent } from './node-events.ts'
import { NODE_DEFAULTS, TrainingNode, roomSeed, type NodeTrainingState } from './training-node.ts'

/** What to train and how, as `longhaul train`/`node` flags and the engine's TrainingConfig say it. */
export interface TrainingSettings {
  /** A zoo name or a tfjs model.json path. */
  readonly modelSpec: string
  readonly epochs: number
  readonly batchSize: number
  readonly optimizer: OptimizerKind
  readonly learningRate: number
  readonly seed: number
  /** Infinity: every sample of this node's data. */
  readonly maxTrainSamples: number
}

/** Every timeout of a node; increase them on slow or far links. */
export interface NodeTimeouts {
  readonly roundTimeoutMs: number
  readonly joinTimeoutMs: number
  readonly peerTimeoutMs: number
  readonly heartbeatMs: number
  readonly connectTimeoutMs: number
  readonly connectAttempts: number
}

export const DEFAULT_NODE_TIMEOUTS: NodeTimeouts = {
  roundTimeoutMs: NODE_DEFAULTS.roundTimeoutMs,
  joinTimeoutMs: NODE_DEFAULTS.joinTimeoutMs,
  peerTimeoutMs: SWARM_DEFAULTS.peerTimeoutMs,
  heartbeatMs: SWARM_DEFAULTS.heartbeatMs,
  connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  connectAttempts: SWARM_DEFAULTS.connectAttempts,
}

export interface NodeSessionOptions {
  /** A spec for loadDataset, or a dataset the caller already holds. */
  readonly data: { readonly spec: string } | { readonly dataset: Dataset }
  readonly training: TrainingSettings
  /** Train on shard `index` of `count` (IID, seeded by the training seed). */
  readonly partition?: { readonly index: number; readonly count: number }
  readonly algorithm: AlgorithmConfig
  /** Route name to force (browser routes included); else LONGHAUL_BACKEND, else the first that works. */
  readonly backend?: string
  /** Where `backend` came from, for the sentences; default "--backend <name>". */
  readonly backendSource?: string
  /** Route table; default the Node table (core/platform/backends.node.ts). */
  readonly routes?: readonly BackendRoute[]
  /** Worker slots of the room; must match on every node. */
  readonly maxPeers: number
  readonly room: {
    /** A URL, or a function that provides one once the model is ready (starts an embedded server). */
    readonly signalUrl: string | (() => Promise<string>)
    readonly room: string
    readonly secret: string
    readonly peerId?: string
  }
  readonly iceServers?: readonly RTCIceServer[]
  /**
   * What carries the peer connections: a stack name (default 'wrtc'), or a function that opens
   * one (the desktop engine's hidden window). The session closes it in `close()`.
   */
  readonly webrtc?: WebRtcStackName | (() => Promise<WebRtcStack>)
  readonly timeouts?: Partial<NodeTimeouts>
  readonly waitForPeers?: { readonly count: number; readonly timeoutMs: number }
  readonly resumeFrom?: NodeTrainingState
  readonly onCheckpoint?: (state: NodeTrainingState, reason: 'epoch' | 'stopped') => Promise<void>
  readonly signal?: AbortSignal
  readonly onEvent: (event: NodeEvent) => void
  /** Human-readable lines: the data, the model, the backend choice. */
  readonly log: (line: string) => void
  /** Download progress of a built-in dataset. */
  readonly onDataProgress?: (line: string) => void
  /** Announced to peers, e.g. `longhaul/0.1.0`. */
  readonly softwareVersion: string
  /** TEST ONLY: corrupt one outgoing message. */
  readonly fault?: FaultPlan
}

export interface NodeSession {
  readonly node: TrainingNode
  readonly dataset: Dataset
  /** This node's training data (after partition and sample limit). */
  readonly train: Split
  /** What the node trains through: synchronous in this process, or an AsyncTrainer's requests. */
  readonly model: LocalModel
  readonly backend: BackendChoice
  readonly manifest: RunManifest
  /** The resolved algorithm (diloco as its SlowMo form). */
  readonly algorithm: AlgorithmConfig
  readonly signalUrl: string
  /** What carries the peer connections (the WebRTC stack's description). */
  readonly connections: string
  /**
   * Frees the trainer's tensors, closes the WebRTC stack and, on a browser route, the trainer's
   * Chromium page; call after `node.run()` settled. Idempotent.
   */
  close(): Promise<void>
}

/**
 * Builds the node; nothing runs until `session.node.run()`.
 * @throws CoreError from the dataset (ERR_NOT_FOUND, ERR_BAD_DATASET, ERR_DOWNLOAD_FAILED),
 *   the backend (ERR_BACKEND_UNAVAILABLE), the model (ERR_BAD_MODEL), the algorithm
 *   (ERR_BAD_SPEC), WebRTC (ERR_WEBRTC_UNAVAILABLE) or a resume state of another model
 *   (ERR_BAD_CHECKPOINT). The trainer is freed when building fails after it was made.
 */
export async function createNodeSession(options: NodeSessionOptions): Promise<NodeSession> {
  const { training, partition } = options
  const algorithm = resolveAlgorithmConfig(options.algorithm)
  const dataset =
    'dataset' in options.data
      ? options.data.dataset
      : await loadDataset(options.data.spec, {
          seed: training.seed,
          ...(options.onDataProgress !== undefined && { onProgress: options.onDataProgress }),
        })
  let train = dataset.train
  if (partition !== undefined) {
    const shards = partitionIid(train.y, partition.count, training.seed)
    train = subsetSplit(train, shards[partition.index] ?? new Int32Array(0))
  }
  train = limitSamples(train, training.maxTrainSamples)
  const { manifest: data } = dataset
  options.log(
    `data: ${data.name}${partition ? ` shard ${partition.index}/${partition.count}` : ''}: ${train.count} training / ${data.testCount} test examples, input [${data.inputShape.join(', ')}], ${data.classes.length} classes`,
  )
  const optimizer: OptimizerConfig = { kind: training.optimizer, learningRate: training.learningRate }
  const setup = await setupRouteTrainer({
    modelSpec: training.modelSpec,
    shape: { inputShape: data.inputShape, classCount: data.classes.length },
    optimizer,
    ...(options.backend !== undefined && { backend: options.backend }),
    ...(options.backendSource !== undefined && { backendSource: options.backendSource }),
    ...(options.routes !== undefined && { routes: options.routes }),
    log: options.log,
  })
  const { choice, layout } = setup
  let webrtc: WebRtcStack | undefined
  const close = async (): Promise<void> => {
    await webrtc?.close()
    await setup.close()
  }
  let swarm: Swarm | undefined
  try {
    const model = localModelOf(setup, optimizer)
    options.log(
      `model: ${training.modelSpec}, ${layout.totalSize.toLocaleString('en-US')} parameters (layout ${layout.fingerprint}) on ${choice.name}; algorithm ${JSON.stringify(algorithm)}`,
    )
    const manifest: RunManifest = {
      protocolVersion: PROTOCOL_VERSION,
      model: {
        name: MODEL_ZOO[training.modelSpec] !== undefined ? training.modelSpec : 'custom',
        layoutFingerprint: layout.fingerprint,
        parameterCount: layout.totalSize,
      },
      algorithm: jsonObjectOf(algorithm),
      dataset: { inputShape: [...data.inputShape], classes: [...data.classes] },
      workerSlots: options.maxPeers,
    }
    const timeouts: NodeTimeouts = { ...DEFAULT_NODE_TIMEOUTS, ...options.timeouts }
    const room = options.room
    const signalUrl = typeof room.signalUrl === 'string' ? room.signalUrl : await room.signalUrl()
    const stack = options.webrtc ?? 'wrtc'
    webrtc = typeof stack === 'string' ? await openWebRtcStack(stack) : await stack()
    options.log(`webrtc: ${webrtc.description}`)
    const transports = webrtc
    const iceServers = [...(options.iceServers ?? [])]
    const signaling = new SignalingClient({
      url: signalUrl,
      WebSocket,
      ...(room.peerId !== undefined && { peerId: room.peerId }),
    })
    swarm = new Swarm({
      signaling,
      room: room.room,
      secret: room.secret,
      manifest,
      createTransport: (remote, initiator) =>
        transports.createTransport({
          peerId: remote,
          initiator,
          iceServers,
          connectTimeoutMs: timeouts.connectTimeoutMs,
        }),
      heartbeatMs: timeouts.heartbeatMs,
      peerTimeoutMs: timeouts.peerTimeoutMs,
      connectAttempts: timeouts.connectAttempts,
      softwareVersion: options.softwareVersion,
      capabilities: { compressors: [...COMPRESSOR_NAMES], algorithms: [...ALGORITHM_KINDS] },
    })
    const node = new TrainingNode({
      model,
      train,
      test: dataset.test,
      epochs: training.epochs,
      batchSize: training.batchSize,
      seed: training.seed + (partition?.index ?? 0),
      algorithm,
      algorithmSeed: roomSeed(room.room),
      swarm,
      room: room.room,
      roundTimeoutMs: timeouts.roundTimeoutMs,
      joinTimeoutMs: timeouts.joinTimeoutMs,
      ...(options.waitForPeers !== undefined && { waitForPeers: options.waitForPeers }),
      ...(options.signal !== undefined && { signal: options.signal }),
      ...(options.resumeFrom !== undefined && { resumeFrom: options.resumeFrom }),
      ...(options.onCheckpoint !== undefined && { onCheckpoint: options.onCheckpoint }),
      onEvent: options.onEvent,
      ...(options.fault !== undefined && { fault: options.fault }),
    })
    return {
      node,
      dataset,
      train,
      model,
      backend: choice,
      manifest,
      algorithm,
      signalUrl,
      connections: webrtc.description,
      close,
    }
  } catch (error) {
    await swarm?.close()
    await close()
    throw error
  }
}

/**
 * The in-process Trainer itself on a route that reads synchronously (no promise per call, the
 * node's fast path as before); the AsyncTrainer's requests on a browser route (the page's trainer)
 * and on an async-only one (WebGPU through Dawn, whose reads must be awaited).
 */
function localModelOf(setup: RouteTrainerSetup, optimizer: OptimizerConfig): LocalModel {
  if (setup.localTrainer !== undefined && setup.choice.readback === 'sync') {
    return new TrainerModel(setup.localTrainer)
  }
  return new AsyncTrainerModel(setup.trainer, setup.layout, optimizer)
}

/** One clear sentence for failures of `node.run()` a user can act on (wrong secret, no server). */
export function explainNodeFailure(error: unknown, signalUrl: string): unknown {
  if (!isCoreError(error)) return error
  switch (error.code) {
    case 'ERR_CONNECTION_FAILED':
    case 'ERR_TIMEOUT':
      return /signaling|join did not complete/.test(error.message)
        ? new CoreError(
            error.code,
            `cannot join through the signaling server at ${signalUrl}: ${error.message}`,
          )
        : error
    case 'ERR_AUTH_FAILED':
      return new CoreError(
        error.code,
        `admission refused by the signaling server: wrong room secret (${error.message})`,
      )
    default:
      return error
  }
}
