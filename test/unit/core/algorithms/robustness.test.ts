import { describe, expect, it } from 'vitest'
import type { AlgorithmMessage, DistributedAlgorithm } from '../../../../core/algorithms/algorithm.ts'
import type { AlgorithmConfig } from '../../../../core/algorithms/config.ts'
import { ALL_CONFIGS } from './helpers/configs.ts'
import { runWorkers, startedAlgorithm } from './helpers/driver.ts'
import { makeQuadratic, TEST_LAYOUT } from './helpers/objective.ts'

const D = TEST_LAYOUT.totalSize
const N = 3

function make(config: AlgorithmConfig, workerIndex: number): DistributedAlgorithm {
  return startedAlgorithm(config, { layout: TEST_LAYOUT, workerIndex, workerCount: N, seed: 7 })
}

/**
 * Runs one worker on its own for `steps` steps, finishing every round at its deadline, and
 * returns the messages it sent. Peers are listed as present, so rounds end partial/local-only.
 */
function stepAlone(algo: DistributedAlgorithm, steps: number, objectiveSeed = 3): AlgorithmMessage[] {
  const objective = makeQuadratic({ workers: N, dim: D, seed: objectiveSeed })
  const params = new Float32Array(D)
  const grad = new Float32Array(D)
  const present = [0, 1, 2]
  const sent: AlgorithmMessage[] = []
  for (let k = algo.step, end = algo.step + steps; k < end; k++) {
    const ctx = { step: k, present, learningRate: 0.1 }
    algo.beforeLocalStep(ctx, params)
    objective.gradient(algo.workerIndex, params, k, grad)
    const view = { present, deadlinePassed: true }
    if (algo.exchangeKind === 'gradient') {
      sent.push(...algo.submitGradient(ctx, grad))
      const c = algo.tryComplete(view, { params, grad })
      expect(c.status).toBe('ready')
      sent.push(...c.messages)
    }
    for (let j = 0; j < D; j++) params[j] = (params[j] ?? 0) - 0.1 * (grad[j] ?? 0)
    sent.push(...algo.afterLocalStep(ctx, params))
    const c = algo.tryComplete(view, { params })
    expect(c.status).toBe('ready')
    sent.push(...c.messages)
  }
  return sent
}

/** A valid message of worker 1's main kind (its first one). */
function firstMessage(config: AlgorithmConfig): AlgorithmMessage {
  const m = stepAlone(make(config, 1), 6).find((x) => x.payload.length > 0)
  if (m === undefined) throw new Error('no message')
  return m
}

function snapshot(algo: DistributedAlgorithm): unknown {
  const s = algo.exportState()
  return {
    data: s.data,
    vectors: Object.fromEntries(Object.entries(s.vectors).map(([k, v]) => [k, Array.from(v)])),
    bytes: Object.keys(s.bytes).sort(),
  }
}

describe.each(ALL_CONFIGS)('receive (%s)', (_name, config) => {
  it('rejects messages from unknown peers and from itself with ERR_UNKNOWN_PEER', () => {
    const msg = firstMessage(config)
    const algo = make(config, 0)
    const before = snapshot(algo)
    for (const from of [0, 3, -1, 1.5]) {
      expect(algo.receive(from, msg)).toMatchObject({ kind: 'rejected', code: 'ERR_UNKNOWN_PEER' })
    }
    expect(snapshot(algo)).toEqual(before)
  })

  it('rejects malformed messages and payloads with ERR_BAD_MESSAGE', () => {
    const msg = firstMessage(config)
    const algo = make(config, 0)
    const before = snapshot(algo)
    const bad: unknown[] = [
      { ...msg, round: -1 },
      { ...msg, payload: Array.from(msg.payload) },
      { ...msg, kind: 'bogus' },
      { ...msg, payload: msg.payload.slice(0, msg.payload.length - 3) },
      { ...msg, round: msg.round + 100_000 },
      { ...msg, kind: msg.kind === 'gradient' ? 'delta' : 'gradient' },
      null,
    ]
    for (const m of bad) {
      // The algorithms take outside data through receive; the guard inside must catch it.
      const result = algo.receive(1, m as AlgorithmMessage)
      expect(result).toMatchObject({ kind: 'rejected', code: 'ERR_BAD_MESSAGE' })
    }
    expect(snapshot(algo)).toEqual(before)
  })

  it('rejects a payload that decodes to NaN and leaves the model untouched', () => {
    const msg = firstMessage(config)
    const payload = msg.payload.slice()
    // Every compressor payload carries float32 data after its 8-byte header; poison all of it.
    const floats = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
    for (let at = 8; at + 4 <= payload.length; at += 4) floats.setFloat32(at, Number.NaN, true)
    const algo = make(config, 0)
    const before = snapshot(algo)
    const result = algo.receive(1, { ...msg, payload })
    expect(result.kind).toBe('rejected')
    expect(['ERR_BAD_MESSAGE', 'ERR_NON_FINITE']).toContain(result.kind === 'rejected' ? result.code : '')
    expect(snapshot(algo)).toEqual(before)
  })

  it('accepts a message once and rejects its duplicate with ERR_DUPLICATE_MESSAGE', () => {
    const msg = firstMessage(config)
    const algo = make(config, 0)
    expect(algo.receive(1, msg)).toEqual({ kind: 'accepted' })
    const after = snapshot(algo)
    expect(algo.receive(1, { ...msg, payload: msg.payload.slice() })).toMatchObject({
      kind: 'rejected',
      code: 'ERR_DUPLICATE_MESSAGE',
    })
    expect(snapshot(algo)).toEqual(after)
  })

  it('gives the same models when every message is delivered twice', () => {
    const objective = makeQuadratic({ workers: N, dim: D, seed: 61 })
    const common = { config, objective, layout: TEST_LAYOUT, steps: 16, lr: 0.05 }
    const once = runWorkers(common, N)
    const twice = runWorkers({ ...common, duplicate: true }, N)
    for (let i = 0; i < N; i++) {
      expect(Array.from(twice.workers[i]?.params ?? [])).toEqual(Array.from(once.workers[i]?.params ?? []))
      const codes = new Set(twice.workers[i]?.rejections.map((r) => (r.kind === 'rejected' ? r.code : '')))
      // Copies that arrive after their round closed are late rather than duplicate.
      for (const code of codes) expect(['ERR_DUPLICATE_MESSAGE', 'ERR_LATE_MESSAGE']).toContain(code)
      expect(twice.workers[i]?.rejections.length).toBeGreaterThan(0)
    }
  })

  it('finishes rounds at the deadline when a peer goes silent, reporting partial or local-only outcomes', () => {
    const objective = makeQuadratic({ workers: N, dim: D, seed: 62 })
    const run = runWorkers(
      {
        config,
        objective,
        layout: TEST_LAYOUT,
        steps: 24,
        lr: 0.05,
        deadlineTicks: 2,
        drop: (e) => e.from === 2 && e.tick >= 6,
      },
      N,
    )
    const outcomes = run.workers[0]?.outcomes ?? []
    expect(outcomes.some((o) => o.kind === 'averaged' && o.peers.includes(2))).toBe(true)
    const afterSilence = outcomes.filter((o) => o.kind === 'averaged' && !o.peers.includes(2))
    const timedOut = outcomes.filter((o) => o.kind === 'local-only' && o.reason === 'ERR_TIMEOUT')
    expect(afterSilence.length + timedOut.length).toBeGreaterThan(0)
    for (const w of run.workers) expect(w.params.every(Number.isFinite)).toBe(true)
  })
})

describe('receive of late messages', () => {
  it.each(ALL_CONFIGS.filter(([, c]) => c.kind !== 'sgp' && !(c.kind === 'slowmo' && c.base.kind === 'sgp')))(
    'rejects a message for a round already completed with ERR_LATE_MESSAGE (%s)',
    (_name, config) => {
      const msg = firstMessage(config)
      const algo = make(config, 0)
      stepAlone(algo, 12)
      const before = snapshot(algo)
      expect(algo.receive(1, msg)).toMatchObject({ kind: 'rejected', code: 'ERR_LATE_MESSAGE' })
      expect(snapshot(algo)).toEqual(before)
    },
  )

  it('accepts a late push-sum share (mass is conserved whenever it arrives) unless it is too old', () => {
    const config: AlgorithmConfig = { kind: 'sgp', peers: 1, overlapDelay: 0 }
    const msg = firstMessage(config)
    const recent = make(config, 0)
    stepAlone(recent, 5)
    expect(recent.receive(1, msg)).toEqual({ kind: 'accepted' })
    const old = make(config, 0)
    stepAlone(old, 300)
    expect(old.receive(1, { ...msg, payload: msg.payload.slice() })).toMatchObject({
      kind: 'rejected',
      code: 'ERR_LATE_MESSAGE',
    })
  })

  it('rejects push-sum shares with a missing, negative or non-finite weight', () => {
    const config: AlgorithmConfig = { kind: 'sgp', peers: 1, overlapDelay: 0 }
    const msg = firstMessage(config)
    const algo = make(config, 0)
    for (const weight of [undefined, -1, 0, Number.POSITIVE_INFINITY]) {
      expect(algo.receive(1, { ...msg, weight })).toMatchObject({ kind: 'rejected', code: 'ERR_BAD_MESSAGE' })
    }
  })
})
