/**
 * The one place that turns an `AlgorithmConfig` into a running per-worker algorithm (the
 * tfjs-style registry of pluggable parts). Drivers (core/sim, core/node) call
 * `createAlgorithm(config, deps)` once per worker and then follow the contract in algorithm.ts.
 */
import type { BaseAlgorithm, DistributedAlgorithm } from './algorithm.ts'
import type { AlgorithmDeps } from './algorithm-core.ts'
import { resolveAlgorithmConfig, type AlgorithmConfig, type BaseAlgorithmConfig } from './config.ts'
import { LocalSgd } from './local-sgd.ts'
import { Olco3 } from './olco3.ts'
import { Sgp } from './sgp.ts'
import { SlowMo } from './slowmo.ts'
import { SyncSgd } from './sync-sgd.ts'

function createBase(config: BaseAlgorithmConfig, deps: AlgorithmDeps): BaseAlgorithm {
  switch (config.kind) {
    case 'sync':
      return new SyncSgd(config, deps)
    case 'local':
      return new LocalSgd(config, deps)
    case 'olco3':
      return new Olco3(config, deps)
    case 'sgp':
      return new Sgp(config, deps)
  }
}

/**
 * Builds one worker's algorithm. The config is validated (defaults filled, `diloco` resolved
 * to its SlowMo form); an invalid config or compressor spec fails with CoreError('ERR_BAD_SPEC'),
 * invalid deps with CoreError('ERR_INVALID_ARGUMENT').
 */
export function createAlgorithm(config: AlgorithmConfig, deps: AlgorithmDeps): DistributedAlgorithm {
  const resolved = resolveAlgorithmConfig(config)
  if (resolved.kind === 'slowmo') return new SlowMo(resolved, createBase(resolved.base, deps), deps)
  return createBase(resolved, deps)
}
