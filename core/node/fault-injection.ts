/**
 * TEST-ONLY fault injection for the integration tests (`longhaul node --inject-fault`, a
 * hidden flag): makes this node misbehave once, on purpose, so the tests can check that its
 * peers reject and report the bad message instead of applying it.
 *
 * - `nan-delta@round<N>`: the first outgoing algorithm message of round N carries NaN: the
 *   last 4 payload bytes become a float32 NaN (the value section ends every dense and top-k
 *   payload: none, fp16, topk). Receivers reject it (ERR_NON_FINITE or ERR_BAD_MESSAGE).
 * - `wrong-layout-delta@round<N>`: that message's frame names another layout fingerprint;
 *   receivers refuse the frame itself (ERR_SCHEMA_MISMATCH, a protocol error).
 * Never use it outside tests: it corrupts training on purpose.
 */
import type { AlgorithmMessage } from '../algorithms/algorithm.ts'
import { CoreError } from '../errors.ts'

export type FaultKind = 'nan-delta' | 'wrong-layout-delta'

export interface FaultPlan {
  readonly kind: FaultKind
  readonly round: number
}

const SPEC = /^(nan-delta|wrong-layout-delta)@round(\d{1,9})$/

/** Parses `<kind>@round<N>`; ERR_INVALID_ARGUMENT otherwise. */
export function parseFaultPlan(spec: string): FaultPlan {
  const m = SPEC.exec(spec)
  const kind = m?.[1]
  const round = m?.[2]
  if ((kind !== 'nan-delta' && kind !== 'wrong-layout-delta') || round === undefined) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `--inject-fault must be nan-delta@round<N> or wrong-layout-delta@round<N>, got "${spec}"`,
    )
  }
  return { kind, round: Number(round) }
}

/** True when `message` is the one the plan corrupts (non-empty, of the planned round). */
export function isFaultTarget(plan: FaultPlan, message: AlgorithmMessage): boolean {
  return message.round === plan.round && message.payload.length >= 12
}

/** A copy of the message whose payload ends in a float32 NaN. */
export function withNaN(message: AlgorithmMessage): AlgorithmMessage {
  const payload = message.payload.slice()
  new DataView(payload.buffer).setFloat32(payload.length - 4, Number.NaN, true)
  return { ...message, payload }
}

/** Another valid-looking layout fingerprint (every bit of the first byte flipped). */
export function otherFingerprint(fingerprint: string): string {
  const first = (Number.parseInt(fingerprint.slice(0, 2), 16) ^ 0xff).toString(16).padStart(2, '0')
  return first + fingerprint.slice(2)
}
