import { describe, expect, it } from 'vitest'
import { isCoreError } from '../../../../core/errors.ts'
import type { NetworkSpec } from '../../../../core/sim/network.ts'
import { replayTrace, type Trace, type TraceMessage } from '../../../../core/sim/trace.ts'

// One way 20 ms; 1,000 bytes take 1 ms at 8 Mbit/s.
const CLEAN: NetworkSpec = { name: 'clean', link: { rttMs: 40, jitterMs: 0, bandwidthMbit: 8, loss: 0 } }

function message(key: string, to: number[], messageId: number, ring?: number[]): TraceMessage {
  const [kind, round] = key.split(':')
  return {
    kindCode: kind === 'model' ? 4 : 1,
    round: Number(round),
    bytes: 1000,
    to,
    messageId,
    key,
    ...(ring !== undefined ? { ring } : {}),
  }
}

describe('replayTrace', () => {
  it('ends each wait at the latest arrival of its deps', () => {
    const trace: Trace = {
      workerCount: 2,
      seed: 1,
      ops: [
        [
          { op: 'compute', ms: 10 },
          { op: 'send', messages: [message('delta:0', [1], 0)] },
          { op: 'wait', calls: [{ sends: [], waitingOn: null }], deps: [{ from: 1, key: 'delta:0' }] },
          { op: 'mark', step: 1 },
        ],
        [
          { op: 'compute', ms: 30 },
          { op: 'send', messages: [message('delta:0', [0], 0)] },
          { op: 'wait', calls: [{ sends: [], waitingOn: null }], deps: [{ from: 0, key: 'delta:0' }] },
          { op: 'mark', step: 1 },
        ],
      ],
    }
    const r = replayTrace(trace, CLEAN)
    // Worker 0 needs worker 1's message: sent at 30, on the wire 1 ms, 20 ms one way.
    expect(r.finishMs[0]).toBeCloseTo(51, 9)
    // Worker 1 has worker 0's message at 31.
    expect(r.finishMs[1]).toBeCloseTo(31, 9)
    expect(r.simulatedMs).toBeCloseTo(51, 9)
    expect(r.checkpointMs.get(1)).toBeCloseTo(51, 9)
    expect(r.network).toBe('clean')
  })

  it('sends messages emitted inside a wait once the earlier rounds of that wait are complete', () => {
    const wait = (peer: number, id: number) =>
      ({
        op: 'wait',
        calls: [
          { sends: [], waitingOn: 'delta:0' },
          { sends: [message('model:0', [peer], id)], waitingOn: 'model:0' },
          { sends: [], waitingOn: null },
        ],
        deps: [
          { from: peer, key: 'delta:0' },
          { from: peer, key: 'model:0' },
        ],
      }) as const
    const trace: Trace = {
      workerCount: 2,
      seed: 1,
      ops: [
        [{ op: 'compute', ms: 10 }, { op: 'send', messages: [message('delta:0', [1], 0)] }, wait(1, 1)],
        [{ op: 'compute', ms: 100 }, { op: 'send', messages: [message('delta:0', [0], 0)] }, wait(0, 1)],
      ],
    }
    const r = replayTrace(trace, CLEAN)
    // Worker 0 gets worker 1's delta at 121 and sends its model then (at 142 with worker 1).
    // Worker 1 had worker 0's delta at 31, so its model leaves once its own delta is off the
    // uplink (101) and reaches worker 0 at 122.
    expect(r.finishMs[1]).toBeCloseTo(142, 9)
    expect(r.finishMs[0]).toBeCloseTo(122, 9)
  })

  it('does not gate a message on the exchange it belongs to', () => {
    // Both workers found the peer's model already there and finished in the call that sent theirs.
    const trace: Trace = {
      workerCount: 2,
      seed: 1,
      ops: [0, 1].map((w) => [
        { op: 'compute', ms: 10 + 5 * w },
        {
          op: 'wait',
          calls: [{ sends: [message('model:0', [1 - w], 0)], waitingOn: null }],
          deps: [{ from: 1 - w, key: 'model:0' }],
        },
      ]),
    }
    const r = replayTrace(trace, CLEAN)
    expect(r.finishMs[0]).toBeCloseTo(15 + 21, 9)
    expect(r.finishMs[1]).toBeCloseTo(10 + 21, 9)
  })

  it('keeps a ring member waiting until its own contribution has gone round', () => {
    const ring = [0, 1]
    const trace: Trace = {
      workerCount: 2,
      seed: 1,
      ops: [
        [
          { op: 'compute', ms: 100 },
          { op: 'send', messages: [message('gradient:0', [1], 0, ring)] },
          { op: 'wait', calls: [{ sends: [], waitingOn: null }], deps: [{ from: 1, key: 'gradient:0' }] },
        ],
        [
          { op: 'compute', ms: 10 },
          { op: 'send', messages: [message('gradient:0', [0], 0, ring)] },
          { op: 'wait', calls: [{ sends: [], waitingOn: null }], deps: [{ from: 0, key: 'gradient:0' }] },
        ],
      ],
    }
    const r = replayTrace(trace, CLEAN)
    // Ring of 2: 2 steps of (500 bytes = 0.5 ms + 20 ms); the later start (100) decides for both.
    expect(r.finishMs[0]).toBeCloseTo(100 + 41, 9)
    expect(r.finishMs[1]).toBeCloseTo(100 + 41, 9)
  })

  it('queues a worker messages on its uplink in program order', () => {
    const trace: Trace = {
      workerCount: 2,
      seed: 1,
      ops: [
        [
          { op: 'send', messages: [message('delta:0', [1], 0), message('delta:1', [1], 1)] },
          { op: 'compute', ms: 1 },
        ],
        [
          {
            op: 'wait',
            calls: [{ sends: [], waitingOn: null }],
            deps: [
              { from: 0, key: 'delta:0' },
              { from: 0, key: 'delta:1' },
            ],
          },
        ],
      ],
    }
    expect(replayTrace(trace, CLEAN).finishMs[1]).toBeCloseTo(22, 9)
  })

  it('fails with ERR_INVALID_ARGUMENT when a wait depends on a message nobody sends', () => {
    const trace: Trace = {
      workerCount: 2,
      seed: 1,
      ops: [
        [{ op: 'wait', calls: [{ sends: [], waitingOn: null }], deps: [{ from: 1, key: 'delta:7' }] }],
        [],
      ],
    }
    let error: unknown
    try {
      replayTrace(trace, CLEAN)
    } catch (e) {
      error = e
    }
    expect(isCoreError(error, 'ERR_INVALID_ARGUMENT')).toBe(true)
  })
})
