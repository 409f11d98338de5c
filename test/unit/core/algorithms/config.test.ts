import { describe, expect, it } from 'vitest'
import {
  parseAlgorithmConfig,
  parseAlgorithmSpec,
  resolveAlgorithmConfig,
} from '../../../../core/algorithms/config.ts'
import { createAlgorithm } from '../../../../core/algorithms/registry.ts'
import { coreErrorCode as codeOf } from './helpers/errors.ts'
import { TEST_LAYOUT } from './helpers/objective.ts'

describe('parseAlgorithmConfig', () => {
  it('fills in the defaults in one place', () => {
    expect(parseAlgorithmConfig({ kind: 'local', H: 8 })).toEqual({
      kind: 'local',
      H: 8,
      warmupSteps: 0,
      compressor: 'none',
      errorFeedback: true,
    })
    expect(parseAlgorithmConfig({ kind: 'sgp', peers: 2 })).toEqual({
      kind: 'sgp',
      peers: 2,
      overlapDelay: 0,
      peerLoss: 'renormalise',
    })
    expect(
      parseAlgorithmConfig({ kind: 'slowmo', base: { kind: 'sync' }, alpha: 1, beta: 0.6, tau: 12 }),
    ).toMatchObject({
      nesterov: false,
      scaleByLearningRate: true,
      base: { kind: 'sync', compressor: 'none', errorFeedback: true },
    })
  })

  it.each([
    [{ kind: 'local', H: 0 }],
    [{ kind: 'local', H: 2.5 }],
    [{ kind: 'olco3', H: 4, staleness: -1, compressor: 'none' }],
    [{ kind: 'olco3', H: 4, staleness: 65, compressor: 'none' }],
    [{ kind: 'olco3', H: 4, staleness: 1 }],
    [{ kind: 'sgp', peers: 3 }],
    [{ kind: 'sgp', peers: 1, peerLoss: 'forget' }],
    [{ kind: 'slowmo', base: { kind: 'sync' }, alpha: 1, beta: 1, tau: 4 }],
    [{ kind: 'slowmo', base: { kind: 'slowmo' }, alpha: 1, beta: 0, tau: 4 }],
    [{ kind: 'slowmo', alpha: 1, beta: 0, tau: 4 }],
    [{ kind: 'local', H: 2, period: 3 }],
    [{ kind: 'adam' }],
    ['local'],
    [null],
  ])('rejects %j with ERR_BAD_SPEC', (value) => {
    expect(codeOf(() => parseAlgorithmConfig(value))).toBe('ERR_BAD_SPEC')
  })
})

describe('parseAlgorithmSpec', () => {
  it('parses CLI specs, compressor specs with colons included', () => {
    expect(parseAlgorithmSpec('sync')).toEqual({ kind: 'sync', compressor: 'none', errorFeedback: true })
    expect(parseAlgorithmSpec('olco3:H=8,staleness=2,compressor=topk:0.01')).toEqual({
      kind: 'olco3',
      H: 8,
      staleness: 2,
      compressor: 'topk:0.01',
    })
    expect(parseAlgorithmSpec('slowmo:base=local,H=12,alpha=1,beta=0.6,tau=12,nesterov=true')).toMatchObject({
      kind: 'slowmo',
      base: { kind: 'local', H: 12 },
      alpha: 1,
      beta: 0.6,
      tau: 12,
      nesterov: true,
    })
    expect(resolveAlgorithmConfig(parseAlgorithmSpec('diloco:tau=50'))).toMatchObject({
      kind: 'slowmo',
      base: { kind: 'local', H: 50 },
      alpha: 0.7,
      beta: 0.9,
      nesterov: true,
    })
  })

  it.each([
    'local:H',
    'local:H=x',
    'local:H=2,H=3',
    'slowmo:H=2,alpha=1,beta=0,tau=2',
    'sgp:peers=1,nope=2',
    'olco3:H=2,staleness=true',
  ])('rejects %s with ERR_BAD_SPEC', (spec) => {
    expect(codeOf(() => parseAlgorithmSpec(spec))).toBe('ERR_BAD_SPEC')
  })
})

describe('createAlgorithm', () => {
  const deps = { layout: TEST_LAYOUT, workerIndex: 0, workerCount: 4, seed: 1 }

  it('builds every kind with the exchange it needs', () => {
    expect(createAlgorithm({ kind: 'sync' }, deps).exchangeKind).toBe('gradient')
    expect(createAlgorithm({ kind: 'local', H: 2 }, deps).exchangeKind).toBe('model-delta')
    expect(createAlgorithm({ kind: 'olco3', H: 2, staleness: 1, compressor: 'sign' }, deps).name).toBe(
      'olco3',
    )
    expect(createAlgorithm({ kind: 'sgp', peers: 1, overlapDelay: 0 }, deps).exchangeKind).toBe('push-sum')
    const diloco = createAlgorithm({ kind: 'diloco', tau: 4 }, deps)
    expect([diloco.name, diloco.exchangeKind]).toEqual(['slowmo', 'model-delta'])
  })

  it('fails with ERR_BAD_SPEC for an unknown compressor and ERR_INVALID_ARGUMENT for bad deps', () => {
    expect(
      codeOf(() => createAlgorithm({ kind: 'olco3', H: 2, staleness: 1, compressor: 'zip' }, deps)),
    ).toBe('ERR_BAD_SPEC')
    expect(codeOf(() => createAlgorithm({ kind: 'sync' }, { ...deps, workerIndex: 4 }))).toBe(
      'ERR_INVALID_ARGUMENT',
    )
    expect(codeOf(() => createAlgorithm({ kind: 'sync' }, { ...deps, workerCount: 0 }))).toBe(
      'ERR_INVALID_ARGUMENT',
    )
  })
})
