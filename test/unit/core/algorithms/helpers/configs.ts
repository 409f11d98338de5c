import type { AlgorithmConfig } from '../../../../../core/algorithms/config.ts'

/** One config per algorithm family (and the interesting compositions), for describe.each. */
export const ALL_CONFIGS: ReadonlyArray<readonly [string, AlgorithmConfig]> = [
  ['sync', { kind: 'sync' }],
  ['sync topk', { kind: 'sync', compressor: 'topk:0.3' }],
  ['local', { kind: 'local', H: 2, warmupSteps: 2 }],
  ['local topk', { kind: 'local', H: 2, compressor: 'topk:0.3' }],
  ['olco3', { kind: 'olco3', H: 2, staleness: 2, compressor: 'topk:0.3' }],
  ['sgp', { kind: 'sgp', peers: 2, overlapDelay: 0 }],
  ['slowmo(local)', { kind: 'slowmo', base: { kind: 'local', H: 2 }, alpha: 0.9, beta: 0.5, tau: 4 }],
  [
    'slowmo(olco3)',
    {
      kind: 'slowmo',
      base: { kind: 'olco3', H: 2, staleness: 1, compressor: 'topk:0.3' },
      alpha: 1,
      beta: 0.5,
      tau: 6,
    },
  ],
  [
    'slowmo(sgp)',
    { kind: 'slowmo', base: { kind: 'sgp', peers: 1, overlapDelay: 0 }, alpha: 1, beta: 0.5, tau: 4 },
  ],
  ['diloco', { kind: 'diloco', tau: 4 }],
]
