/**
 * Algorithm configurations: plain objects (they travel in run manifests, CLI flags and the
 * engine API), every option with its default in one place (ALGORITHM_DEFAULTS), validated by
 * `parseAlgorithmConfig` (objects from JSON) and `parseAlgorithmSpec` (CLI strings such as
 * `olco3:H=8,staleness=2,compressor=topk:0.01`). Invalid input fails with
 * CoreError('ERR_BAD_SPEC') naming the field.
 */
import { CoreError } from '../errors.ts'
import { isRecord } from '../guards.ts'

/** Synchronous all-reduce SGD: gradients averaged every step (ALGORITHMS.md §0). */
export interface SyncConfig {
  readonly kind: 'sync'
  /** Compressor spec for the gradient (core/compress); default 'none'. */
  readonly compressor?: string
  /** Error feedback on the compressed gradient; default true (ignored for 'none'). */
  readonly errorFeedback?: boolean
}

/** Local SGD with period H and optional post-local warm-up (ALGORITHMS.md §1). */
export interface LocalConfig {
  readonly kind: 'local'
  /** Local steps per round, >= 1. */
  readonly H: number
  /** Post-local SGD: the first `warmupSteps` steps use H = 1; default 0. */
  readonly warmupSteps?: number
  /** Compressor spec for the round delta; default 'none' (plain Local SGD). */
  readonly compressor?: string
  /** Error feedback on the compressed delta; default true. */
  readonly errorFeedback?: boolean
}

/** OLCO3: staleness s, period H, compression with error feedback (ALGORITHMS.md §3). */
export interface Olco3Config {
  readonly kind: 'olco3'
  readonly H: number
  /** s: the average of round r is applied at the end of round r + s; 0 = blocking. */
  readonly staleness: number
  readonly compressor: string
}

/** Stochastic Gradient Push over the directed exponential graph (ALGORITHMS.md §5). */
export interface SgpConfig {
  readonly kind: 'sgp'
  /** Out-peers per step. */
  readonly peers: 1 | 2
  /** τ: proceed while every in-peer's newest expected message is at most τ steps old; 0 = synchronous SGP. */
  readonly overlapDelay: number
  /**
   * What to do when a peer disappears without handing over its mass: 'renormalise' (default)
   * resets x ← z, w ← 1 on every survivor, so Σw equals the new member count; 'keep-mass'
   * leaves (x, w) as they are (z stays a weighted average either way).
   */
  readonly peerLoss?: 'renormalise' | 'keep-mass'
}

export type BaseAlgorithmConfig = SyncConfig | LocalConfig | Olco3Config | SgpConfig

/** SlowMo outer momentum over any base (ALGORITHMS.md §4, Wang et al. 2020). */
export interface SlowMoConfig {
  readonly kind: 'slowmo'
  readonly base: BaseAlgorithmConfig
  /** Slow learning rate α > 0; α = 1, β = 0 recovers the base. */
  readonly alpha: number
  /** Slow momentum β in [0, 1). */
  readonly beta: number
  /** Outer period τ in local steps. */
  readonly tau: number
  /** Nesterov form of the outer momentum; default false. */
  readonly nesterov?: boolean
  /**
   * true (default, the SlowMo paper): u accumulates (x_{t,0} − x_{t,τ}) / γ_t and the step is
   * α·γ_t·u. false (DiLoCo): u accumulates the pseudo-gradient x_{t,0} − x_{t,τ} itself and the
   * step is α·u. Equal while γ is constant.
   */
  readonly scaleByLearningRate?: boolean
}

/**
 * DiLoCo preset (Douillard et al. 2023): SlowMo with outer Nesterov momentum on the
 * pseudo-gradient, outer lr 0.7, momentum 0.9, over Local SGD with H = τ. DiLoCo's inner AdamW
 * is the trainer's optimizer choice, not part of the algorithm: pick AdamW in the trainer.
 */
export interface DiLoCoConfig {
  readonly kind: 'diloco'
  readonly tau: number
  /** Default: { kind: 'local', H: tau }. */
  readonly base?: BaseAlgorithmConfig
  readonly outerLearningRate?: number
  readonly outerMomentum?: number
}

export type AlgorithmConfig = BaseAlgorithmConfig | SlowMoConfig | DiLoCoConfig
export type AlgorithmKind = AlgorithmConfig['kind']

export const ALGORITHM_KINDS: readonly AlgorithmKind[] = ['sync', 'local', 'olco3', 'sgp', 'slowmo', 'diloco']

/** Every default in one place. */
export const ALGORITHM_DEFAULTS = {
  compressor: 'none',
  errorFeedback: true,
  warmupSteps: 0,
  peerLoss: 'renormalise',
  nesterov: false,
  scaleByLearningRate: true,
  dilocoOuterLearningRate: 0.7,
  dilocoOuterMomentum: 0.9,
} as const

/** Upper bounds that keep a typo from allocating or waiting forever. */
export const ALGORITHM_LIMITS = {
  maxPeriod: 1_000_000,
  maxStaleness: 64,
  maxOverlapDelay: 1024,
  maxWarmupSteps: 100_000_000,
} as const

/** A short printable form of an outside value for error messages. */
function show(value: unknown): string {
  const text = JSON.stringify(value)
  return text === undefined ? typeof value : text.slice(0, 60)
}

function bad(field: string, message: string): CoreError {
  return new CoreError('ERR_BAD_SPEC', `algorithm config: ${field} ${message}`)
}

/** Reads `o[key]` (or `fallback` when absent) as a finite number in [min, max]; a whole one if `integer`. */
function numberField(
  o: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  fallback?: number,
  integer = false,
): number {
  const v = o[key] ?? fallback
  const isKind = integer ? Number.isInteger(v) : Number.isFinite(v)
  if (typeof v !== 'number' || !isKind || v < min || v > max) {
    throw bad(key, `must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${show(v)}`)
  }
  return v
}

function intField(
  o: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  fallback?: number,
): number {
  return numberField(o, key, min, max, fallback, true)
}

function boolField(o: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = o[key] ?? fallback
  if (typeof v !== 'boolean') throw bad(key, `must be true or false, got ${show(v)}`)
  return v
}

function specField(o: Record<string, unknown>, key: string, fallback?: string): string {
  const v = o[key] ?? fallback
  if (typeof v !== 'string' || v.length === 0 || v.length > 200)
    throw bad(key, 'must be a compressor spec string')
  return v
}

function checkKeys(o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) throw bad(key, `is not an option of ${show(o.kind)}`)
  }
}

function parseBase(o: Record<string, unknown>): BaseAlgorithmConfig {
  switch (o.kind) {
    case 'sync':
      checkKeys(o, ['kind', 'compressor', 'errorFeedback'])
      return {
        kind: 'sync',
        compressor: specField(o, 'compressor', ALGORITHM_DEFAULTS.compressor),
        errorFeedback: boolField(o, 'errorFeedback', ALGORITHM_DEFAULTS.errorFeedback),
      }
    case 'local':
      checkKeys(o, ['kind', 'H', 'warmupSteps', 'compressor', 'errorFeedback'])
      return {
        kind: 'local',
        H: intField(o, 'H', 1, ALGORITHM_LIMITS.maxPeriod),
        warmupSteps: intField(
          o,
          'warmupSteps',
          0,
          ALGORITHM_LIMITS.maxWarmupSteps,
          ALGORITHM_DEFAULTS.warmupSteps,
        ),
        compressor: specField(o, 'compressor', ALGORITHM_DEFAULTS.compressor),
        errorFeedback: boolField(o, 'errorFeedback', ALGORITHM_DEFAULTS.errorFeedback),
      }
    case 'olco3':
      checkKeys(o, ['kind', 'H', 'staleness', 'compressor'])
      return {
        kind: 'olco3',
        H: intField(o, 'H', 1, ALGORITHM_LIMITS.maxPeriod),
        staleness: intField(o, 'staleness', 0, ALGORITHM_LIMITS.maxStaleness),
        compressor: specField(o, 'compressor'),
      }
    case 'sgp': {
      checkKeys(o, ['kind', 'peers', 'overlapDelay', 'peerLoss'])
      const peers = intField(o, 'peers', 1, 2, 1)
      const peerLoss = o.peerLoss ?? ALGORITHM_DEFAULTS.peerLoss
      if (peerLoss !== 'renormalise' && peerLoss !== 'keep-mass') {
        throw bad('peerLoss', `must be 'renormalise' or 'keep-mass', got ${show(peerLoss)}`)
      }
      return {
        kind: 'sgp',
        peers: peers === 1 ? 1 : 2,
        overlapDelay: intField(o, 'overlapDelay', 0, ALGORITHM_LIMITS.maxOverlapDelay, 0),
        peerLoss,
      }
    }
    default:
      throw bad('kind', `must be one of sync, local, olco3, sgp (as a base), got ${show(o.kind)}`)
  }
}

/**
 * Validates a config that comes from JSON (run manifest, engine API, CLI) and fills in the
 * defaults. `diloco` is returned as given (resolved by `resolveAlgorithmConfig`).
 */
export function parseAlgorithmConfig(value: unknown): AlgorithmConfig {
  if (!isRecord(value)) throw bad('config', 'must be an object')
  if (value.kind === 'slowmo') {
    checkKeys(value, ['kind', 'base', 'alpha', 'beta', 'tau', 'nesterov', 'scaleByLearningRate'])
    if (!isRecord(value.base)) throw bad('base', 'must be an algorithm config object')
    return {
      kind: 'slowmo',
      base: parseBase(value.base),
      alpha: numberField(value, 'alpha', Number.MIN_VALUE, 100),
      beta: numberField(value, 'beta', 0, 0.999999),
      tau: intField(value, 'tau', 1, ALGORITHM_LIMITS.maxPeriod),
      nesterov: boolField(value, 'nesterov', ALGORITHM_DEFAULTS.nesterov),
      scaleByLearningRate: boolField(value, 'scaleByLearningRate', ALGORITHM_DEFAULTS.scaleByLearningRate),
    }
  }
  if (value.kind === 'diloco') {
    checkKeys(value, ['kind', 'tau', 'base', 'outerLearningRate', 'outerMomentum'])
    const tau = intField(value, 'tau', 1, ALGORITHM_LIMITS.maxPeriod)
    if (value.base !== undefined && !isRecord(value.base))
      throw bad('base', 'must be an algorithm config object')
    const base: Record<string, unknown> = isRecord(value.base) ? value.base : { kind: 'local', H: tau }
    return {
      kind: 'diloco',
      tau,
      base: parseBase(base),
      outerLearningRate: numberField(
        value,
        'outerLearningRate',
        Number.MIN_VALUE,
        100,
        ALGORITHM_DEFAULTS.dilocoOuterLearningRate,
      ),
      outerMomentum: numberField(value, 'outerMomentum', 0, 0.999999, ALGORITHM_DEFAULTS.dilocoOuterMomentum),
    }
  }
  return parseBase(value)
}

/** Turns the `diloco` preset into the SlowMo config it stands for; other configs pass through validated. */
export function resolveAlgorithmConfig(config: AlgorithmConfig): BaseAlgorithmConfig | SlowMoConfig {
  const parsed = parseAlgorithmConfig(config)
  if (parsed.kind !== 'diloco') return parsed
  return {
    kind: 'slowmo',
    base: parsed.base ?? { kind: 'local', H: parsed.tau },
    alpha: parsed.outerLearningRate ?? ALGORITHM_DEFAULTS.dilocoOuterLearningRate,
    beta: parsed.outerMomentum ?? ALGORITHM_DEFAULTS.dilocoOuterMomentum,
    tau: parsed.tau,
    nesterov: true,
    scaleByLearningRate: false,
  }
}

const NUMERIC_KEYS = new Set([
  'H',
  'warmupSteps',
  'staleness',
  'peers',
  'overlapDelay',
  'alpha',
  'beta',
  'tau',
])
const NUMERIC_KEYS_OUTER = new Set(['outerLearningRate', 'outerMomentum'])
const BOOLEAN_KEYS = new Set(['errorFeedback', 'nesterov', 'scaleByLearningRate'])
const OUTER_KEYS = new Set([
  'alpha',
  'beta',
  'tau',
  'nesterov',
  'scaleByLearningRate',
  'outerLearningRate',
  'outerMomentum',
])

/**
 * Parses a CLI spec: `name[:key=value,key=value...]`. For `slowmo` and `diloco` the base is
 * given with `base=<name>` and its options are written beside the outer ones, e.g.
 * `slowmo:base=local,H=12,alpha=1,beta=0.6,tau=12` or `diloco:tau=50`. Values cannot contain
 * commas (compressor specs such as `topk:0.01` are fine).
 */
export function parseAlgorithmSpec(spec: string): AlgorithmConfig {
  const colon = spec.indexOf(':')
  const name = (colon < 0 ? spec : spec.slice(0, colon)).trim()
  const rest = colon < 0 ? '' : spec.slice(colon + 1)
  const fields: Record<string, unknown> = {}
  for (const part of rest.split(',').filter((p) => p.trim().length > 0)) {
    const eq = part.indexOf('=')
    if (eq <= 0) throw new CoreError('ERR_BAD_SPEC', `algorithm spec ${spec}: "${part}" is not key=value`)
    const key = part.slice(0, eq).trim()
    const raw = part.slice(eq + 1).trim()
    if (key in fields) throw new CoreError('ERR_BAD_SPEC', `algorithm spec ${spec}: ${key} is given twice`)
    if (NUMERIC_KEYS.has(key) || NUMERIC_KEYS_OUTER.has(key)) {
      const n = Number(raw)
      if (raw.length === 0 || !Number.isFinite(n)) {
        throw new CoreError('ERR_BAD_SPEC', `algorithm spec ${spec}: ${key}=${raw} is not a number`)
      }
      fields[key] = n
    } else if (BOOLEAN_KEYS.has(key)) {
      if (raw !== 'true' && raw !== 'false') {
        throw new CoreError('ERR_BAD_SPEC', `algorithm spec ${spec}: ${key} must be true or false`)
      }
      fields[key] = raw === 'true'
    } else {
      fields[key] = raw
    }
  }
  if (name === 'slowmo' || name === 'diloco') {
    const outer: Record<string, unknown> = { kind: name }
    const base: Record<string, unknown> = {}
    for (const [key, v] of Object.entries(fields)) {
      if (key === 'base') base.kind = v
      else if (OUTER_KEYS.has(key)) outer[key] = v
      else base[key] = v
    }
    if (Object.keys(base).length > 0) {
      if (base.kind === undefined) {
        throw new CoreError('ERR_BAD_SPEC', `algorithm spec ${spec}: base options need base=<name>`)
      }
      outer.base = base
    }
    return parseAlgorithmConfig(outer)
  }
  return parseAlgorithmConfig({ kind: name, ...fields })
}
