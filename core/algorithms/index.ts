/**
 * Public entry of core/algorithms for other modules (core/sim, core/node, core/cli). Files
 * inside this folder import their siblings directly, never this barrel.
 */
export type {
  AlgorithmMessage,
  AlgorithmStats,
  BaseAlgorithm,
  Completion,
  CompletionBuffers,
  DistributedAlgorithm,
  ExchangeKind,
  ImportOptions,
  MembershipView,
  MessageKind,
  PeerStaleness,
  ReceiveResult,
  RoundOutcome,
  StepContext,
} from './algorithm.ts'
export { MESSAGE_KINDS } from './algorithm.ts'
export type { AlgorithmDeps, CompressorFactory } from './algorithm-core.ts'
export type {
  AlgorithmConfig,
  AlgorithmKind,
  BaseAlgorithmConfig,
  DiLoCoConfig,
  LocalConfig,
  Olco3Config,
  SgpConfig,
  SlowMoConfig,
  SyncConfig,
} from './config.ts'
export {
  ALGORITHM_DEFAULTS,
  ALGORITHM_KINDS,
  ALGORITHM_LIMITS,
  parseAlgorithmConfig,
  parseAlgorithmSpec,
  resolveAlgorithmConfig,
} from './config.ts'
export { exponentialInPeers, exponentialOutPeers } from './exponential-graph.ts'
export { LocalSgd } from './local-sgd.ts'
export { Olco3 } from './olco3.ts'
export { Sgp, SGP_MAX_SHARE_AGE_STEPS, SGP_MAX_STEPS_AHEAD, SGP_WEIGHT_FLOOR_FACTOR } from './sgp.ts'
export { SlowMo } from './slowmo.ts'
export { SyncSgd } from './sync-sgd.ts'
export { isAlgorithmMessage } from './messages.ts'
export { createAlgorithm } from './registry.ts'
export type { AlgorithmState, JsonObject, JsonValue } from './state.ts'
export { isAlgorithmState } from './state.ts'
