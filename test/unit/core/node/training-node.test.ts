/**
 * TrainingNode driven end to end in one process: real algorithms, real swarm and protocol,
 * in-memory links, a fake signaling hub, a small pure-JS model, and virtual time (each
 * step costs 1 ms of it), so timeouts and deadlines are exact and the tests are fast.
 */
import { describe, expect, it } from 'vitest'
import type { AlgorithmConfig } from '../../../../core/algorithms/config.ts'
import { isCoreError } from '../../../../core/errors.ts'
import type { FaultPlan } from '../../../../core/node/fault-injection.ts'
import type { NodeEvent, NodeSummary } from '../../../../core/node/node-events.ts'
import { decodeSnapshot } from '../../../../core/node/snapshot-codec.ts'
import { decodeNodeCheckpoint, encodeNodeCheckpoint } from '../../../../core/node/node-checkpoint.ts'
import {
  TrainingNode,
  roomSeed,
  type NodeTrainingState,
  type TrainingNodeOptions,
} from '../../../../core/node/training-node.ts'
import { decodeCheckpoint, encodeCheckpoint } from '../../../../core/training/checkpoint.ts'
import { PROTOCOL_VERSION } from '../../../../core/protocol/frame.ts'
import { jsonObjectOf, type RunManifest } from '../../../../core/swarm/run-manifest.ts'
import { Swarm } from '../../../../core/swarm/swarm.ts'
import type { TransportClock } from '../../../../core/transport/peer-transport.ts'
import { FakeHub, FakeNet } from '../swarm/fake-room.ts'
import { ManualClock } from '../transport/manual-clock.ts'
import { AsyncTrainerModel } from '../../../../core/node/local-model.ts'
import { CLASSES, FEATURES, FakeModel, blobs, fakeAsyncTrainer } from './fake-model.ts'

const SECRET = 'room-secret-1'
const ROOM = 'unit-room'
const TEST = blobs(300, 999)
const OLCO3: AlgorithmConfig = { kind: 'olco3', H: 4, staleness: 1, compressor: 'none' }

/** Virtual time where a zero-delay timer still costs 1 ms: each step advances the clock. */
function stepCost(clock: ManualClock): TransportClock {
  return { now: () => clock.now(), setTimeout: (fn, ms) => clock.setTimeout(fn, Math.max(1, ms)) }
}

interface NodeOptions {
  readonly epochs?: number
  readonly samples?: number
  readonly algorithm?: AlgorithmConfig
  readonly fault?: FaultPlan
  readonly waitForPeers?: number
  readonly signal?: AbortSignal
  readonly extra?: Partial<TrainingNodeOptions>
  /** Train through AsyncTrainerModel over the same FakeModel (every call a promise). */
  readonly isAsync?: boolean
}

interface TestNode {
  readonly id: string
  readonly node: TrainingNode
  readonly swarm: Swarm
  readonly model: FakeModel
  readonly events: NodeEvent[]
  readonly served: Uint8Array[]
  of<T extends NodeEvent['type']>(type: T): Array<Extract<NodeEvent, { type: T }>>
}

function setup() {
  const manual = new ManualClock()
  const clock = stepCost(manual)
  const hub = new FakeHub(SECRET)
  const net = new FakeNet(clock, { connectTimeoutMs: 500, link: { latencyMs: 2 } })
  const make = (id: string, seed: number, o: NodeOptions = {}): TestNode => {
    const algorithm = o.algorithm ?? OLCO3
    const model = new FakeModel(seed)
    const manifest: RunManifest = {
      protocolVersion: PROTOCOL_VERSION,
      model: {
        name: 'blobs',
        layoutFingerprint: model.layout.fingerprint,
        parameterCount: model.layout.totalSize,
      },
      algorithm: jsonObjectOf(algorithm),
      dataset: { inputShape: [FEATURES], classes: Array.from({ length: CLASSES }, (_, c) => `c${c}`) },
      workerSlots: 4,
    }
    const swarm = new Swarm({
      signaling: hub.client(id),
      room: ROOM,
      secret: SECRET,
      manifest,
      createTransport: net.factory(id),
      clock,
      heartbeatMs: 100,
      peerTimeoutMs: 600,
      handshakeTimeoutMs: 500,
      snapshotChunkBytes: 256,
    })
    const served: Uint8Array[] = []
    const serve = swarm.serveSnapshot.bind(swarm)
    swarm.serveSnapshot = (peer, bytes, step) => {
      served.push(bytes.slice())
      return serve(peer, bytes, step)
    }
    const events: NodeEvent[] = []
    const node = new TrainingNode({
      model:
        o.isAsync === true
          ? new AsyncTrainerModel(fakeAsyncTrainer(model), model.layout, {
              kind: 'sgd',
              learningRate: model.learningRate,
            })
          : model,
      train: blobs(o.samples ?? 120, seed),
      test: TEST,
      epochs: o.epochs ?? 4,
      batchSize: 10,
      seed,
      algorithm,
      algorithmSeed: roomSeed(ROOM),
      swarm,
      room: ROOM,
      clock,
      roundTimeoutMs: 400,
      joinTimeoutMs: 5000,
      snapshotTimeoutMs: 1000,
      settleMs: 100,
      statsIntervalMs: 200,
      onEvent: (e) => events.push(e),
      ...(o.fault !== undefined && { fault: o.fault }),
      ...(o.waitForPeers !== undefined && { waitForPeers: { count: o.waitForPeers, timeoutMs: 3000 } }),
      ...(o.signal !== undefined && { signal: o.signal }),
      ...o.extra,
    })
    return {
      id,
      node,
      swarm,
      model,
      events,
      served,
      of: <T extends NodeEvent['type']>(type: T) =>
        events.filter((e): e is Extract<NodeEvent, { type: T }> => e.type === type),
    }
  }
  /** Runs `starts` (a node and the virtual time it starts at) until every run settles. */
  const run = async (
    starts: ReadonlyArray<readonly [TestNode, number]>,
  ): Promise<Array<PromiseSettledResult<NodeSummary>>> => {
    const results: Array<Promise<NodeSummary>> = []
    let settled = false
    for (const [n, atMs] of starts) {
      results.push(
        new Promise<NodeSummary>((resolve, reject) => {
          manual.setTimeout(() => void n.node.run().then(resolve, reject), atMs)
        }),
      )
    }
    const all = Promise.allSettled(results).then((r) => {
      settled = true
      return r
    })
    for (let i = 0; !settled; i++) {
      if (i > 200_000) throw new Error('the room never finished')
      await manual.advance(5)
    }
    return all
  }
  return { manual, hub, net, make, run }
}

function ok(result: PromiseSettledResult<NodeSummary> | undefined): NodeSummary {
  if (result?.status !== 'fulfilled')
    throw new Error(`node failed: ${String(result?.status === 'rejected' ? result.reason : 'missing')}`)
  return result.value
}

describe('TrainingNode', () => {
  it('trains a room of three: the founder starts, two late joiners catch up and all average', async () => {
    const { make, run } = setup()
    const a = make('aaa', 1, { epochs: 8 })
    const b = make('bbb', 2)
    const c = make('ccc', 3)
    const results = await run([
      [a, 0],
      [b, 20],
      [c, 25],
    ])
    const [sa, sb, sc] = results.map(ok)
    expect(sa?.role).toBe('founder')
    for (const s of [sa, sb, sc]) {
      expect(s?.peersSeen).toBe(2)
      expect(s?.averagedRounds).toBeGreaterThan(0)
      expect(s?.testAccuracy).toBeGreaterThan(0.85)
      expect(s?.rejectedMessages).toBe(0)
      expect(s?.protocolErrors).toBe(0)
    }
    expect(new Set([sa?.slot, sb?.slot, sc?.slot])).toEqual(new Set([0, 1, 2]))
    for (const joiner of [b, c]) {
      const [catchUp] = joiner.of('catch-up')
      expect(catchUp?.from).toBe('aaa')
      // Joined late, at one of the founder's round boundaries (H = 4).
      expect(catchUp?.step).toBeGreaterThan(0)
      expect((catchUp?.step ?? 1) % 4).toBe(0)
      // The model it imported is the founder's model of that step, bit for bit.
      const snapshot = a.served
        .map((bytes) => decodeSnapshot(bytes, a.model.layout.totalSize))
        .find((s) => s.step === catchUp?.step)
      expect(snapshot).toBeDefined()
      expect(joiner.model.writes[0]).toEqual(snapshot?.params)
      expect(catchUp?.testAccuracy).toBeGreaterThan(1 / CLASSES + 0.2)
    }
    expect(
      a
        .of('snapshot-served')
        .map((e) => e.slot)
        .sort(),
    ).toEqual([1, 2])
  })

  it('goes on without a peer that leaves gracefully, never waiting for it', async () => {
    const { make, run } = setup()
    const a = make('aaa', 1, { epochs: 6, waitForPeers: 2 })
    const b = make('bbb', 2, { epochs: 1 })
    const c = make('ccc', 3, { epochs: 6 })
    const results = await run([
      [a, 0],
      [b, 0],
      [c, 0],
    ])
    results.forEach((r) => ok(r))
    for (const survivor of [a, c]) {
      const left = survivor.of('peer-left').find((e) => e.peer === 'bbb')
      expect(left?.reason).toBe('bye')
      const after = survivor.of('round').filter((e) => e.t > (left?.t ?? 0))
      expect(after.length).toBeGreaterThan(3)
      // The survivors still average with each other, and nobody waits for the leaver.
      expect(after.some((e) => e.outcome.kind === 'averaged')).toBe(true)
      expect(after.every((e) => e.waitedMs < 400)).toBe(true)
    }
  })

  it('removes a frozen peer after the peer timeout; rounds wait at most their deadline', async () => {
    const { make, run, net, manual } = setup()
    const a = make('aaa', 1, { epochs: 10, waitForPeers: 2 })
    const b = make('bbb', 2, { epochs: 10 })
    const c = make('ccc', 3, { epochs: 10 })
    // At 40 ms c freezes: everything it sends is lost (a machine that hangs, no bye).
    manual.setTimeout(() => {
      for (const t of [...net.transportsOf('ccc', 'aaa'), ...net.transportsOf('ccc', 'bbb')]) t.mute()
    }, 40)
    const results = await run([
      [a, 0],
      [b, 0],
      [c, 0],
    ])
    for (const survivor of [a, b]) {
      const summary = ok(results[survivor === a ? 0 : 1])
      expect(summary.testAccuracy).toBeGreaterThan(0.85)
      const left = survivor.of('peer-left').find((e) => e.peer === 'ccc')
      expect(left?.reason).toBe('timeout')
      expect(left?.t).toBeGreaterThanOrEqual(40 + 600)
      expect(left?.t).toBeLessThanOrEqual(40 + 600 + 300)
      expect(survivor.of('round').every((e) => e.waitedMs <= 400 + 5)).toBe(true)
      const after = survivor.of('round').filter((e) => e.t > (left?.t ?? 0))
      expect(after.filter((e) => e.outcome.kind === 'averaged').length).toBeGreaterThan(0)
    }
  })

  it('rejects and reports a NaN delta, keeps its model finite and counts it against the sender', async () => {
    const { make, run } = setup()
    const a = make('aaa', 1, { epochs: 4, waitForPeers: 1 })
    const b = make('bbb', 2, { epochs: 4, fault: { kind: 'nan-delta', round: 3 } })
    const results = await run([
      [a, 0],
      [b, 0],
    ])
    const sa = ok(results[0])
    const rejected = a.of('message-rejected')
    expect(rejected).toHaveLength(1)
    expect(rejected[0]).toMatchObject({ peer: 'bbb', kind: 'delta', round: 3 })
    // The compressor's own finite check (ERR_BAD_MESSAGE) or the channel's (ERR_NON_FINITE).
    expect(['ERR_NON_FINITE', 'ERR_BAD_MESSAGE']).toContain(rejected[0]?.code)
    expect(rejected[0]?.message).toMatch(/finite|NaN/i)
    expect(sa.rejectedMessages).toBe(1)
    expect(a.model.params.every((v) => Number.isFinite(v))).toBe(true)
    expect(sa.testAccuracy).toBeGreaterThan(0.85)
    // The round b's bad delta belonged to ended at its deadline, without b's contribution.
    const round3 = a.of('round').find((e) => e.outcome.round === 3)
    expect(round3?.outcome.kind).toBe('local-only')
    expect(round3?.waitedMs).toBeGreaterThanOrEqual(400)
  })

  it('refuses a frame that names another layout as a protocol error', async () => {
    const { make, run } = setup()
    const a = make('aaa', 1, { epochs: 3, waitForPeers: 1 })
    const b = make('bbb', 2, { epochs: 3, fault: { kind: 'wrong-layout-delta', round: 2 } })
    const results = await run([
      [a, 0],
      [b, 0],
    ])
    expect(ok(results[0]).protocolErrors).toBe(1)
    const [error] = a.of('protocol-error')
    expect(error).toMatchObject({ peer: 'bbb', code: 'ERR_SCHEMA_MISMATCH' })
    expect(error?.message).toMatch(/model layout/)
  })

  it('says what a joiner waits for while the only member has not started training', async () => {
    const { make, run } = setup()
    // The founder waits 25 s for two peers: meanwhile it is admitted but trains in no slot.
    const a = make('aaa', 1, { epochs: 2, extra: { waitForPeers: { count: 2, timeoutMs: 25_000 } } })
    const b = make('bbb', 2, { epochs: 2, extra: { joinTimeoutMs: 60_000 } })
    const results = await run([
      [a, 0],
      [b, 10],
    ])
    expect(ok(results[1]).role).toBe('joiner')
    const waits = b
      .of('log')
      .filter((e) => e.message.startsWith('waiting for a member that trains to send the current model'))
    expect(waits.length).toBeGreaterThanOrEqual(2)
    expect(waits.length).toBeLessThanOrEqual(3)
    expect(waits[0]?.message).toBe(
      'waiting for a member that trains to send the current model (connected but not training yet: aaa)',
    )
    // Nobody was asked for a model it could not have.
    expect(b.of('log').filter((e) => e.message.startsWith('no snapshot from'))).toEqual([])
  })

  it('fails the join with a clear refusal when the only member runs another algorithm', async () => {
    const { make, run } = setup()
    const a = make('aaa', 1, { epochs: 3 })
    const b = make('bbb', 2, { algorithm: { kind: 'olco3', H: 8, staleness: 1, compressor: 'none' } })
    const results = await run([
      [a, 0],
      [b, 10],
    ])
    expect(ok(results[0]).peersSeen).toBe(0)
    const failure = results[1]
    expect(failure?.status).toBe('rejected')
    const reason: unknown = failure?.status === 'rejected' ? failure.reason : undefined
    expect(isCoreError(reason, 'ERR_SCHEMA_MISMATCH')).toBe(true)
    expect(reason instanceof Error ? reason.message : '').toMatch(
      /^admission refused by aaa: run manifest differs: algorithm: ours .*"H":8.*theirs .*"H":4/,
    )
    expect(a.of('peer-refused')[0]).toMatchObject({ peer: 'bbb', code: 'ERR_SCHEMA_MISMATCH', by: 'self' })
  })

  it('keeps synchronous SGD models identical on every worker (gradient path)', async () => {
    const { make, run } = setup()
    const sync: AlgorithmConfig = { kind: 'sync', compressor: 'none' }
    const a = make('aaa', 1, { epochs: 3, algorithm: sync, waitForPeers: 1 })
    const b = make('bbb', 2, { epochs: 3, algorithm: sync })
    const results = await run([
      [a, 0],
      [b, 0],
    ])
    const [sa, sb] = results.map(ok)
    const start = b.of('catch-up')[0]?.step ?? -1
    expect(start).toBeGreaterThanOrEqual(0)
    // b imported a's model of step `start`; from there, while both trained, every step applied
    // the same averaged gradient, so the models stay bit-identical.
    const common = Math.min(a.model.afterSteps.length, start + b.model.afterSteps.length) - start
    expect(common).toBeGreaterThan(20)
    for (let i = 0; i < common; i++) {
      expect(b.model.afterSteps[i], `step ${start + i}`).toEqual(a.model.afterSteps[start + i])
    }
    const shared = a.of('round').filter((e) => e.outcome.round >= start && e.outcome.round < start + common)
    expect(shared.length).toBe(common)
    expect(shared.every((e) => e.outcome.kind === 'averaged')).toBe(true)
    expect(sa?.testAccuracy).toBeGreaterThan(0.85)
    expect(sb?.testAccuracy).toBeGreaterThan(0.85)
  })

  it('trains with SGP push-sum and hands the mass over when a worker leaves', async () => {
    const { make, run } = setup()
    const sgp: AlgorithmConfig = { kind: 'sgp', peers: 1, overlapDelay: 0 }
    const a = make('aaa', 1, { epochs: 5, algorithm: sgp, waitForPeers: 2 })
    const b = make('bbb', 2, { epochs: 2, algorithm: sgp })
    const c = make('ccc', 3, { epochs: 5, algorithm: sgp })
    const results = await run([
      [a, 0],
      [b, 0],
      [c, 0],
    ])
    const summaries = results.map(ok)
    for (const s of summaries) {
      expect(s.averagedRounds).toBeGreaterThan(0)
      expect(s.rejectedMessages).toBe(0)
      expect(s.testAccuracy).toBeGreaterThan(0.85)
    }
    expect(a.of('peer-left').find((e) => e.peer === 'bbb')?.reason).toBe('bye')
  })

  it('leaves gracefully when stopped and reports the run as stopped', async () => {
    const { make, run, manual } = setup()
    const controller = new AbortController()
    const a = make('aaa', 1, { epochs: 6, waitForPeers: 1 })
    const b = make('bbb', 2, { epochs: 50, signal: controller.signal })
    manual.setTimeout(() => controller.abort(), 60)
    const results = await run([
      [a, 0],
      [b, 0],
    ])
    expect(ok(results[1]).isStopped).toBe(true)
    expect(ok(results[1]).epochs).toBe(50)
    expect(a.of('peer-left').find((e) => e.peer === 'bbb')?.reason).toBe('bye')
  })

  it('emits a topology event per round: the slots it sent its delta to and the slots it averaged', async () => {
    const { make, run } = setup()
    const a = make('aaa', 1, { epochs: 3, waitForPeers: 1 })
    const b = make('bbb', 2, { epochs: 3 })
    const results = await run([
      [a, 0],
      [b, 0],
    ])
    results.map(ok)
    for (const [node, self, other] of [
      [a, 0, 1],
      [b, 1, 0],
    ] as const) {
      const topology = node.of('topology')
      expect(topology.length, node.id).toBe(node.of('round').length)
      expect(topology.every((e) => e.slot === self)).toBe(true)
      const averaged = node.of('round').filter((e) => e.outcome.kind === 'averaged')
      expect(averaged.length).toBeGreaterThan(0)
      const both = topology.filter((e) => e.receivedFrom.includes(other) && e.sentTo.includes(other))
      expect(both.length, node.id).toBeGreaterThan(0)
      // A round that stayed local used nobody's contribution.
      for (const [i, round] of node.of('round').entries()) {
        if (round.outcome.kind === 'local-only') expect(topology[i]?.receivedFrom).toEqual([])
        else expect(topology[i]?.receivedFrom).toEqual([...round.outcome.peers].sort())
      }
    }
  })

  it('pauses between steps without leaving the room, and resumes where it stopped', async () => {
    const { make, run, manual } = setup()
    const a = make('aaa', 1, { epochs: 12, waitForPeers: 1 })
    const b = make('bbb', 2, { epochs: 4 })
    manual.setTimeout(() => b.node.pause(), 40)
    manual.setTimeout(() => b.node.resume(), 1540)
    const results = await run([
      [a, 0],
      [b, 0],
    ])
    const sb = ok(results[1])
    // Every local step ran: 4 epochs of 12 batches.
    expect(sb.steps).toBe(48)
    expect(b.node.isPaused).toBe(false)
    const paused = b.events.find((e) => e.type === 'log' && e.message.startsWith('paused at step'))
    const resumed = b.events.find((e) => e.type === 'log' && e.message.startsWith('resumed at step'))
    expect(paused).toBeDefined()
    expect(resumed).toBeDefined()
    // No step ran while paused; the founder kept it as a member (it left only at its end).
    const during = b.events.filter((e) => e.t > (paused?.t ?? 0) && e.t < (resumed?.t ?? 0))
    expect(during.filter((e) => e.type === 'round' || e.type === 'step')).toEqual([])
    expect((resumed?.t ?? 0) - (paused?.t ?? 0)).toBeGreaterThan(1000)
    expect(a.of('peer-left').filter((e) => e.peer === 'bbb' && e.t < (resumed?.t ?? 0))).toEqual([])
    // Meanwhile the founder's rounds went on without it.
    expect(
      a
        .of('round')
        .some((e) => e.t > (paused?.t ?? 0) && e.t < (resumed?.t ?? 0) && e.outcome.kind === 'local-only'),
    ).toBe(true)
  })

  it('checkpoints each epoch and on stop; a founder resumed from the stop ends bit for bit where an uninterrupted run ends', async () => {
    const uninterrupted = setup()
    const full = uninterrupted.make('aaa', 1, { epochs: 3 })
    ok((await uninterrupted.run([[full, 0]]))[0])

    const first = setup()
    const controller = new AbortController()
    const saved: Array<{ state: NodeTrainingState; reason: string }> = []
    const stopped = first.make('aaa', 1, {
      epochs: 3,
      signal: controller.signal,
      extra: {
        onCheckpoint: (state, reason) => {
          saved.push({ state, reason })
          return Promise.resolve()
        },
      },
    })
    // Stop in the middle of the second epoch (12 batches each), after 17 steps.
    const trainStep = stopped.model.trainStep.bind(stopped.model)
    stopped.model.trainStep = (x, y) => {
      if (stopped.model.afterSteps.length === 16) controller.abort()
      return trainStep(x, y)
    }
    expect(ok((await first.run([[stopped, 0]]))[0]).isStopped).toBe(true)
    expect(saved.map((s) => s.reason)).toEqual(['epoch', 'stopped'])
    const last = saved[1]?.state
    if (last === undefined) throw new Error('no stop checkpoint')
    expect(last.epoch).toBe(1)
    expect(last.batchInEpoch).toBe(5)
    expect(last.step).toBe(17)
    expect(saved[0]?.state.testAccuracy).toBeGreaterThan(0)

    // Through the checkpoint file format, as the engine stores it.
    const bytes = encodeCheckpoint(
      encodeNodeCheckpoint(last, { modelName: 'blobs', datasetName: 'blobs', datasetHash: 'h', extra: {} }),
    )
    const restored = decodeNodeCheckpoint(decodeCheckpoint(bytes, 'test'), 'test')
    expect(restored.params).toEqual(last.params)
    const second = setup()
    const resumed = second.make('aaa', 1, { epochs: 3, extra: { resumeFrom: restored } })
    const summary = ok((await second.run([[resumed, 0]]))[0])
    expect(resumed.of('training-started')[0]?.step).toBe(17)
    expect(summary.steps).toBe(36 - 17)
    expect(resumed.model.params).toEqual(full.model.params)
  })

  it('trains bit for bit the same through an asynchronous model (AsyncTrainerModel) as through the synchronous one', async () => {
    const room = async (algorithm: AlgorithmConfig, isAsync: boolean, ids: readonly string[]) => {
      const { make, run } = setup()
      const nodes = ids.map((id, i) =>
        make(id, i + 1, {
          epochs: 3,
          algorithm,
          isAsync,
          ...(i === 0 && ids.length > 1 && { waitForPeers: 1 }),
        }),
      )
      const summaries = (await run(nodes.map((n) => [n, 0] as const)))
        .map(ok)
        // Wall-clock seconds of the run: the only field virtual time does not fix.
        .map(({ seconds: _seconds, ...rest }) => rest)
      // Outcomes, not times: awaiting a model's answers moves events in (virtual) time, which
      // must not change which contributions a round averaged.
      return { summaries, nodes, rounds: nodes.map((n) => n.of('round').map((e) => e.outcome)) }
    }
    // A room of two averaging models (trainStep), and the gradient path (computeGradients, then
    // applyGradients) on one node: with two, when the joiner catches up depends on timing.
    const cases = [
      { algorithm: OLCO3, ids: ['aaa', 'bbb'] },
      { algorithm: { kind: 'sync', compressor: 'none' } as const, ids: ['aaa'] },
    ]
    for (const { algorithm, ids } of cases) {
      const sync = await room(algorithm, false, ids)
      const async = await room(algorithm, true, ids)
      expect(async.summaries, algorithm.kind).toEqual(sync.summaries)
      expect(async.rounds, algorithm.kind).toEqual(sync.rounds)
      if (ids.length > 1) for (const s of async.summaries) expect(s.averagedRounds).toBeGreaterThan(0)
      for (const [i, node] of async.nodes.entries()) {
        const twin = sync.nodes[i]
        expect(node.model.afterSteps.length).toBeGreaterThan(20)
        expect(node.model.afterSteps, `${algorithm.kind} ${node.id}`).toEqual(twin?.model.afterSteps)
        expect(node.model.writes, `${algorithm.kind} ${node.id}`).toEqual(twin?.model.writes)
        expect(node.model.params).toEqual(twin?.model.params)
      }
    }
  })

  it('keeps synchronous SGD models identical on every worker through asynchronous models', async () => {
    const { make, run } = setup()
    const sync: AlgorithmConfig = { kind: 'sync', compressor: 'none' }
    const a = make('aaa', 1, { epochs: 3, algorithm: sync, waitForPeers: 1, isAsync: true })
    const b = make('bbb', 2, { epochs: 3, algorithm: sync, isAsync: true })
    const summaries = (
      await run([
        [a, 0],
        [b, 0],
      ])
    ).map(ok)
    const start = b.of('catch-up')[0]?.step ?? -1
    expect(start).toBeGreaterThanOrEqual(0)
    const common = Math.min(a.model.afterSteps.length, start + b.model.afterSteps.length) - start
    expect(common).toBeGreaterThan(20)
    for (let i = 0; i < common; i++) {
      expect(b.model.afterSteps[i], `step ${start + i}`).toEqual(a.model.afterSteps[start + i])
    }
    for (const s of summaries) {
      expect(s.averagedRounds).toBeGreaterThan(20)
      expect(s.testAccuracy).toBeGreaterThan(0.85)
    }
  })

  it('refuses an asynchronous trainer of another layout before training', () => {
    const model = new FakeModel(1)
    const other = new FakeModel(2)
    const trainer = { ...fakeAsyncTrainer(other), fingerprint: 'ffffffffffffffff' }
    expect(() => new AsyncTrainerModel(trainer, model.layout, { kind: 'sgd', learningRate: 0.1 })).toThrow(
      expect.objectContaining({ code: 'ERR_SHAPE_MISMATCH' }),
    )
  })

  it('refuses a resume state of another model layout', () => {
    const { make } = setup()
    const state: NodeTrainingState = {
      step: 0,
      epoch: 0,
      batchInEpoch: 0,
      params: new Float32Array(3),
      algorithm: {
        algorithm: 'olco3',
        version: 1,
        workerIndex: 0,
        workerCount: 4,
        layoutFingerprint: 'other',
        data: {},
        vectors: {},
        bytes: {},
        children: {},
      },
      optimizer: { kind: 'sgd', tensors: [] },
    }
    expect(() => make('aaa', 1, { extra: { resumeFrom: state } })).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_CHECKPOINT' }),
    )
  })
})
