/**
 * One training run, many networks. When an algorithm's arithmetic does not depend on when its
 * messages arrive (it always waits for the same messages: sync, Local SGD, OLCO3, SlowMo over
 * those, synchronous SGP, SGP with fixed-delay delivery), a run's virtual time under another
 * network can be computed from what each worker did, without training again. The live
 * simulation records a trace per worker:
 *
 *   compute(ms)            a local step's compute time
 *   send(messages)         messages handed to the network, in order
 *   wait(calls, deps)      a wait loop: the messages each tryComplete call emitted and the
 *                          (kind, round) it reported waiting for; deps are the messages the
 *                          completed rounds consumed (from the RoundOutcomes: peers × (kind, round))
 *   mark(step)             the worker completed `step` steps (evaluation checkpoints)
 *
 * A wait also lasts until every ring all-reduce the worker contributed to has completed
 * (network.ts: the reduced result exists only once the last contribution went round).
 *
 * The replay walks every worker's ops with a fresh set of uplinks on the other network. A
 * wait ends at the latest arrival among its deps; messages emitted inside a wait loop leave
 * once every dep has arrived except those of the (kind, round) that call or a later one still
 * waited for, and those of the exchange the messages themselves belong to (SlowMo's
 * exact-average models leave when the base's round has completed, also when the live run
 * found every peer's model already there and finished in the same call). A worker whose dep has not been sent yet is parked until its sender gets there.
 * Replaying under the live run's own network must give the live run's times to the bit; the
 * simulator checks that before trusting a replay (simulation.ts).
 */
import { CoreError } from '../errors.ts'
import { NetworkModel, Uplinks, type NetworkSpec, type WireMessage } from './network.ts'

/** A message as the trace keeps it: the network's view plus its (kind, round) key. */
export interface TraceMessage extends WireMessage {
  /** `${kind}:${round}` of the algorithm message. */
  readonly key: string
}

export interface TraceWaitCall {
  readonly sends: readonly TraceMessage[]
  /** `${kind}:${round}` reported as waiting, or null for the final 'ready'. */
  readonly waitingOn: string | null
}

export interface TraceDep {
  readonly from: number
  readonly key: string
}

export type TraceOp =
  | { readonly op: 'compute'; readonly ms: number }
  | { readonly op: 'send'; readonly messages: readonly TraceMessage[] }
  | { readonly op: 'wait'; readonly calls: readonly TraceWaitCall[]; readonly deps: readonly TraceDep[] }
  | { readonly op: 'mark'; readonly step: number }

export interface Trace {
  readonly workerCount: number
  readonly seed: number
  /** Per worker, in program order. */
  readonly ops: ReadonlyArray<readonly TraceOp[]>
}

export interface ReplayResult {
  readonly network: string
  /** When the last worker finished its last op. */
  readonly simulatedMs: number
  /** Per worker, when it finished. */
  readonly finishMs: readonly number[]
  /** Checkpoint step → when the last worker passed it. */
  readonly checkpointMs: ReadonlyMap<number, number>
}

function arrivalKey(to: number, from: number, key: string): string {
  return `${to}|${from}|${key}`
}

interface Cursor {
  op: number
  call: number
  timeMs: number
  /** When the last ring all-reduce this worker contributed to completes. */
  ringDoneAtMs: number
}

/**
 * Replays a trace under `network`; `observe` (for tests and debugging) sees every op's end
 * time. Throws ERR_INVALID_ARGUMENT when the trace is inconsistent (a dep that no worker ever
 * sends: then the trace did not come from a completed run).
 */
export function replayTrace(
  trace: Trace,
  network: NetworkSpec,
  observe?: (worker: number, op: number, timeMs: number) => void,
): ReplayResult {
  const uplinks = new Uplinks(new NetworkModel(network, trace.seed), trace.workerCount)
  const arrivals = new Map<string, number>()
  const checkpointMs = new Map<number, number>()
  const cursors: Cursor[] = trace.ops.map(() => ({ op: 0, call: 0, timeMs: 0, ringDoneAtMs: 0 }))

  const send = (from: number, atMs: number, messages: readonly TraceMessage[]): void => {
    for (const m of messages) {
      const result = uplinks.send(from, atMs, m)
      const cursor = cursors[from]!
      for (const d of result.deliveries) {
        arrivals.set(arrivalKey(d.to, from, m.key), d.atMs)
        if (m.ring !== undefined) cursor.ringDoneAtMs = Math.max(cursor.ringDoneAtMs, d.atMs)
      }
    }
  }
  /** Latest arrival of `deps` at `to`, or undefined while one is not sent yet. */
  const latest = (to: number, deps: readonly TraceDep[], fromMs: number): number | undefined => {
    let t = fromMs
    for (const d of deps) {
      const at = arrivals.get(arrivalKey(to, d.from, d.key))
      if (at === undefined) return undefined
      t = Math.max(t, at)
    }
    return t
  }

  /** Runs worker `w` as far as it can; true when it made progress. */
  const advance = (w: number): boolean => {
    const ops = trace.ops[w] ?? []
    const c = cursors[w]!
    let moved = false
    while (c.op < ops.length) {
      const op = ops[c.op]!
      if (op.op === 'compute') {
        c.timeMs += op.ms
      } else if (op.op === 'send') {
        send(w, c.timeMs, op.messages)
      } else if (op.op === 'mark') {
        checkpointMs.set(op.step, Math.max(checkpointMs.get(op.step) ?? 0, c.timeMs))
      } else {
        while (c.call < op.calls.length) {
          const call = op.calls[c.call]!
          if (call.sends.length > 0) {
            // Not gated: what this or a later call still waited for, and the exchange these
            // messages are this worker's contribution to.
            const open = new Set<string>(call.sends.map((m) => m.key))
            for (let k = c.call; k < op.calls.length; k++) {
              const key = op.calls[k]!.waitingOn
              if (key !== null) open.add(key)
            }
            const gate = op.deps.filter((d) => !open.has(d.key))
            const at = latest(w, gate, c.timeMs)
            if (at === undefined) return moved
            c.timeMs = at
            send(w, at, call.sends)
          }
          c.call++
          moved = true
        }
        const end = latest(w, op.deps, c.timeMs)
        if (end === undefined) return moved
        c.timeMs = Math.max(end, c.ringDoneAtMs)
        c.call = 0
      }
      observe?.(w, c.op, c.timeMs)
      c.op++
      moved = true
    }
    return moved
  }

  for (;;) {
    let moved = false
    for (let w = 0; w < trace.workerCount; w++) if (advance(w)) moved = true
    const done = cursors.every((c, w) => c.op >= (trace.ops[w]?.length ?? 0))
    if (done) break
    if (!moved) {
      const stuck = cursors
        .map((c, w) => `${w}@op${c.op}`)
        .filter((_, w) => (cursors[w]?.op ?? 0) < (trace.ops[w]?.length ?? 0))
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `trace replay on ${network.name} is stuck (${stuck.join(', ')}): a wait depends on a message nobody sends`,
      )
    }
  }
  const finishMs = cursors.map((c) => c.timeMs)
  return {
    network: network.name,
    simulatedMs: Math.max(0, ...finishMs),
    finishMs,
    checkpointMs,
  }
}
