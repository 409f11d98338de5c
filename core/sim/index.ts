/**
 * Public entry of core/sim (the deterministic simulator) for other modules (CLI, benchmarks,
 * the engine). Files inside this folder import their siblings directly, never this barrel.
 * Node-only helpers (csv.node.ts) are not re-exported.
 */
export { EventQueue } from './event-queue.ts'
export type {
  LinkOverride,
  LinkSpec,
  NetworkPresetName,
  NetworkSpec,
  RingTiming,
  TransferTiming,
  WireMessage,
} from './network.ts'
export {
  NETWORK_DEFAULTS,
  NETWORK_PRESET_NAMES,
  NETWORK_PRESETS,
  NetworkModel,
  Uplinks,
  checkLink,
  parseLinkOverrides,
  resolveNetwork,
} from './network.ts'
export type { ReplayResult, Trace, TraceOp } from './trace.ts'
export { replayTrace } from './trace.ts'
export type {
  MembershipEvent,
  Replayability,
  SgpDelivery,
  SimCheckpoint,
  SimulationOptions,
  SimulationProgress,
  SimulationResult,
} from './simulator.ts'
export { Simulation, ringKinds, simulate, stateBytes, timingDependence } from './simulator.ts'
export type { EvaluationScore, ModelEvaluator, WorkerCompute } from './worker-compute.ts'
export { TfjsWorkers, type TfjsWorkersOptions } from './tfjs-workers.ts'
export type { NetworkRun, PartitionSpec, SimRunOptions, SimRunResult } from './run-simulation.ts'
export { MLP_BATCH64_STEP_MS, defaultStepMs, partitionShards, runSimulation } from './run-simulation.ts'
export { parseMembershipEvents, parseStragglers } from './sim-specs.ts'
export { CURVE_CSV_HEADER, curveCsv } from './curve.ts'
export { withSeededMathRandom } from './seeded-init.ts'
