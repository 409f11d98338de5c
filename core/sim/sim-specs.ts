/**
 * Parsers for the simulator's scenario flags, runtime-agnostic so the CLI, the benchmark and
 * tests share them. Each fails with CoreError('ERR_BAD_SPEC') naming the bad part.
 *
 *   stragglers   `1:3,4:1.5`        worker 1 computes 3× slower, worker 4 1.5× slower
 *   membership   `3@120s,5@90000ms` worker 3 at 120 virtual seconds, worker 5 at 90 s
 *                (a bare number is seconds)
 */
import { CoreError } from '../errors.ts'
import type { MembershipEvent } from './simulator.ts'

function bad(message: string): CoreError {
  return new CoreError('ERR_BAD_SPEC', message)
}

function workerIndex(text: string, workers: number, spec: string): number {
  const n = Number(text)
  if (text.trim() === '' || !Number.isInteger(n) || n < 0 || n >= workers) {
    throw bad(`${spec}: "${text}" is not a worker index in 0..${workers - 1}`)
  }
  return n
}

function parts(text: string): string[] {
  return text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
}

/** Per-worker compute time multipliers (1 for workers not listed). */
export function parseStragglers(text: string, workers: number): number[] {
  const slowdown = Array.from({ length: workers }, () => 1)
  for (const part of parts(text)) {
    const [who, factor, extra] = part.split(':')
    if (who === undefined || factor === undefined || extra !== undefined) {
      throw bad(`stragglers "${text}": "${part}" is not worker:factor`)
    }
    const i = workerIndex(who, workers, `stragglers "${text}"`)
    const f = Number(factor)
    if (factor.trim() === '' || !Number.isFinite(f) || f < 1 || f > 1000) {
      throw bad(`stragglers "${text}": factor "${factor}" must be a number in [1, 1000]`)
    }
    slowdown[i] = f
  }
  return slowdown
}

const TIME = /^(\d+(?:\.\d+)?)(ms|s|min)?$/

/** Virtual times of leaves or joins. */
export function parseMembershipEvents(text: string, workers: number, what: string): MembershipEvent[] {
  const out: MembershipEvent[] = []
  for (const part of parts(text)) {
    const at = part.indexOf('@')
    if (at <= 0) throw bad(`${what} "${text}": "${part}" is not worker@time (e.g. 3@120s)`)
    const worker = workerIndex(part.slice(0, at), workers, `${what} "${text}"`)
    const m = TIME.exec(part.slice(at + 1).trim())
    if (m === null)
      throw bad(`${what} "${text}": "${part.slice(at + 1)}" is not a time like 120s, 500ms or 2min`)
    const value = Number(m[1])
    const unit = m[2] ?? 's'
    const atMs = unit === 'ms' ? value : unit === 's' ? value * 1000 : value * 60_000
    if (out.some((e) => e.worker === worker)) throw bad(`${what} "${text}": worker ${worker} is listed twice`)
    out.push({ worker, atMs })
  }
  return out
}
