/**
 * The training form's fields (strings, as inputs hold them) and their translation into the
 * engine's TrainingConfig. The engine validates everything again; this catches typos early
 * and names the field, so the error can sit next to it.
 */
import { TRAINING_PRESETS } from '../../../core/api/contract.ts'
import type { AlgorithmConfig, TrainingConfig, TrainingPreset } from '../../../core/api/contract.ts'

export type BaseKind = 'sync' | 'local' | 'olco3' | 'sgp'
export const BASE_KINDS: ReadonlyArray<{ readonly kind: BaseKind; readonly label: string }> = [
  { kind: 'sync', label: 'Synchronous SGD' },
  { kind: 'local', label: 'Local SGD' },
  { kind: 'olco3', label: 'OLCO3 (stale, compressed)' },
  { kind: 'sgp', label: 'Stochastic Gradient Push' },
]

/** Suggestions for the compressor field; any spec the engine knows is accepted. */
export const COMPRESSOR_SUGGESTIONS: readonly string[] = [
  'none',
  'fp16',
  'int8',
  'topk:0.1',
  'topk:0.01',
  'randk:0.01',
  'qsgd:127',
  'sign',
  'powersgd:4',
]

/** Mutable: the Training screen binds its inputs to these fields. */
export interface AdvancedSettings {
  /** Replace the preset's algorithm with the settings below. */
  isEnabled: boolean
  kind: BaseKind
  H: string
  staleness: string
  compressor: string
  sgpPeers: '1' | '2'
  overlapDelay: string
  hasSlowMo: boolean
  alpha: string
  beta: string
  tau: string
}

export interface TrainingForm {
  datasetId: string
  model: string
  preset: TrainingPreset
  epochs: string
  batchSize: string
  optimizer: TrainingConfig['optimizer']
  learningRate: string
  seed: string
  maxTrainSamples: string
  /** As the room's first node, wait for this many peers before training. */
  waitForPeers: string
  resumeFrom: string
  advanced: AdvancedSettings
}

export type FormField = keyof Omit<TrainingForm, 'advanced'> | `advanced.${keyof AdvancedSettings}`

export type FormResult =
  | { readonly ok: true; readonly config: TrainingConfig }
  | { readonly ok: false; readonly field: FormField; readonly message: string }

/** The advanced fields filled from a preset's algorithm, so switching them on starts from it. */
export function advancedFromPreset(preset: TrainingPreset, isEnabled = false): AdvancedSettings {
  const algorithm = TRAINING_PRESETS[preset].algorithm
  const base: AdvancedSettings = {
    isEnabled,
    kind: 'olco3',
    H: '4',
    staleness: '1',
    compressor: 'none',
    sgpPeers: '1',
    overlapDelay: '2',
    hasSlowMo: false,
    alpha: '1',
    beta: '0.5',
    tau: '8',
  }
  switch (algorithm.kind) {
    case 'sync':
      return { ...base, kind: 'sync', compressor: algorithm.compressor ?? 'none' }
    case 'local':
      return { ...base, kind: 'local', H: String(algorithm.H), compressor: algorithm.compressor ?? 'none' }
    case 'olco3':
      return {
        ...base,
        kind: 'olco3',
        H: String(algorithm.H),
        staleness: String(algorithm.staleness),
        compressor: algorithm.compressor,
      }
    case 'sgp':
      return {
        ...base,
        kind: 'sgp',
        sgpPeers: algorithm.peers === 2 ? '2' : '1',
        overlapDelay: String(algorithm.overlapDelay),
      }
    default:
      return base
  }
}

export function defaultTrainingForm(datasetId: string, model: string): TrainingForm {
  return {
    datasetId,
    model,
    preset: 'long-haul',
    epochs: '3',
    batchSize: '64',
    optimizer: 'adam',
    learningRate: '',
    seed: '',
    maxTrainSamples: '',
    waitForPeers: '',
    resumeFrom: '',
    advanced: advancedFromPreset('long-haul'),
  }
}

type Parsed = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly message: string }

function parseNumber(
  text: string,
  what: string,
  options: {
    readonly isInteger: boolean
    readonly min: number
    readonly max: number
    readonly maxExclusive?: boolean
  },
): Parsed {
  const trimmed = text.trim()
  const value = Number(trimmed)
  const inRange =
    value >= options.min && (options.maxExclusive === true ? value < options.max : value <= options.max)
  if (
    trimmed === '' ||
    !Number.isFinite(value) ||
    (options.isInteger && !Number.isInteger(value)) ||
    !inRange
  ) {
    const kind = options.isInteger ? 'a whole number' : 'a number'
    const upper = options.maxExclusive === true ? `below ${options.max}` : `at most ${options.max}`
    return { ok: false, message: `${what} must be ${kind} from ${options.min}, ${upper}.` }
  }
  return { ok: true, value }
}

type AlgorithmResult =
  | { readonly ok: true; readonly algorithm: AlgorithmConfig }
  | { readonly ok: false; readonly field: FormField; readonly message: string }

/** The algorithm the advanced settings describe. */
export function algorithmFromSettings(s: AdvancedSettings): AlgorithmResult {
  const fail = (field: keyof AdvancedSettings, message: string): AlgorithmResult => ({
    ok: false,
    field: `advanced.${field}`,
    message,
  })
  const compressor = s.compressor.trim()
  if ((s.kind === 'olco3' || s.kind === 'local' || s.kind === 'sync') && compressor === '') {
    return fail('compressor', 'Compressor is required (use "none" for none).')
  }
  let base: AlgorithmConfig
  switch (s.kind) {
    case 'sync':
      // 'none' is the default: left out, the config matches the preset's exactly.
      base = { kind: 'sync', ...(compressor !== 'none' && { compressor }) }
      break
    case 'local': {
      const H = parseNumber(s.H, 'H (local steps per round)', { isInteger: true, min: 1, max: 1_000_000 })
      if (!H.ok) return fail('H', H.message)
      base = { kind: 'local', H: H.value, ...(compressor !== 'none' && { compressor }) }
      break
    }
    case 'olco3': {
      const H = parseNumber(s.H, 'H (local steps per round)', { isInteger: true, min: 1, max: 1_000_000 })
      if (!H.ok) return fail('H', H.message)
      const staleness = parseNumber(s.staleness, 'Staleness', { isInteger: true, min: 0, max: 64 })
      if (!staleness.ok) return fail('staleness', staleness.message)
      base = { kind: 'olco3', H: H.value, staleness: staleness.value, compressor }
      break
    }
    case 'sgp': {
      const overlap = parseNumber(s.overlapDelay, 'Overlap delay', { isInteger: true, min: 0, max: 1024 })
      if (!overlap.ok) return fail('overlapDelay', overlap.message)
      base = { kind: 'sgp', peers: s.sgpPeers === '2' ? 2 : 1, overlapDelay: overlap.value }
      break
    }
  }
  if (!s.hasSlowMo) return { ok: true, algorithm: base }
  const alpha = parseNumber(s.alpha, 'SlowMo α (slow learning rate)', {
    isInteger: false,
    min: 1e-6,
    max: 100,
  })
  if (!alpha.ok) return fail('alpha', alpha.message)
  const beta = parseNumber(s.beta, 'SlowMo β (slow momentum)', {
    isInteger: false,
    min: 0,
    max: 1,
    maxExclusive: true,
  })
  if (!beta.ok) return fail('beta', beta.message)
  const tau = parseNumber(s.tau, 'SlowMo τ (outer period)', { isInteger: true, min: 1, max: 1_000_000 })
  if (!tau.ok) return fail('tau', tau.message)
  return {
    ok: true,
    algorithm: { kind: 'slowmo', base, alpha: alpha.value, beta: beta.value, tau: tau.value },
  }
}

/** The TrainingConfig the form describes, or the first field that is wrong and why. */
export function trainingConfigFromForm(form: TrainingForm): FormResult {
  if (form.datasetId === '') return { ok: false, field: 'datasetId', message: 'Add a dataset first (Data).' }
  if (form.model === '') return { ok: false, field: 'model', message: 'Choose a model.' }
  const epochs = parseNumber(form.epochs, 'Epochs', { isInteger: true, min: 1, max: 10_000 })
  if (!epochs.ok) return { ok: false, field: 'epochs', message: epochs.message }
  const batchSize = parseNumber(form.batchSize, 'Batch size', { isInteger: true, min: 1, max: 65_536 })
  if (!batchSize.ok) return { ok: false, field: 'batchSize', message: batchSize.message }
  let learningRate: number | undefined
  if (form.learningRate.trim() !== '') {
    const lr = parseNumber(form.learningRate, 'Learning rate', { isInteger: false, min: 1e-9, max: 10 })
    if (!lr.ok) return { ok: false, field: 'learningRate', message: lr.message }
    learningRate = lr.value
  }
  let seed: number | undefined
  if (form.seed.trim() !== '') {
    const parsed = parseNumber(form.seed, 'Seed', { isInteger: true, min: 0, max: 2 ** 31 - 1 })
    if (!parsed.ok) return { ok: false, field: 'seed', message: parsed.message }
    seed = parsed.value
  }
  let maxTrainSamples: number | undefined
  if (form.maxTrainSamples.trim() !== '') {
    const parsed = parseNumber(form.maxTrainSamples, 'Training samples', {
      isInteger: true,
      min: 1,
      max: 1e9,
    })
    if (!parsed.ok) return { ok: false, field: 'maxTrainSamples', message: parsed.message }
    maxTrainSamples = parsed.value
  }
  let waitForPeers: number | undefined
  if (form.waitForPeers.trim() !== '') {
    const parsed = parseNumber(form.waitForPeers, 'Wait for peers', { isInteger: true, min: 0, max: 64 })
    if (!parsed.ok) return { ok: false, field: 'waitForPeers', message: parsed.message }
    if (parsed.value > 0) waitForPeers = parsed.value
  }
  let algorithm: AlgorithmConfig | undefined
  if (form.advanced.isEnabled) {
    const result = algorithmFromSettings(form.advanced)
    if (!result.ok) return result
    algorithm = result.algorithm
  }
  return {
    ok: true,
    config: {
      datasetId: form.datasetId,
      model: form.model,
      preset: form.preset,
      epochs: epochs.value,
      batchSize: batchSize.value,
      optimizer: form.optimizer,
      ...(algorithm !== undefined && { algorithm }),
      ...(learningRate !== undefined && { learningRate }),
      ...(seed !== undefined && { seed }),
      ...(maxTrainSamples !== undefined && { maxTrainSamples }),
      ...(waitForPeers !== undefined && { waitForPeers }),
      ...(form.resumeFrom !== '' && { resumeFrom: form.resumeFrom }),
    },
  }
}

/** One line naming an algorithm config, e.g. `OLCO3 H=4 s=1 topk:0.1`. */
export function describeAlgorithm(algorithm: AlgorithmConfig | undefined): string {
  if (algorithm === undefined) return '—'
  switch (algorithm.kind) {
    case 'sync':
      return `Sync SGD${algorithm.compressor !== undefined && algorithm.compressor !== 'none' ? ` ${algorithm.compressor}` : ''}`
    case 'local':
      return `Local SGD H=${algorithm.H}${algorithm.compressor !== undefined && algorithm.compressor !== 'none' ? ` ${algorithm.compressor}` : ''}`
    case 'olco3':
      return `OLCO3 H=${algorithm.H} s=${algorithm.staleness} ${algorithm.compressor}`
    case 'sgp':
      return `SGP peers=${algorithm.peers} τ=${algorithm.overlapDelay}`
    case 'slowmo':
      return `SlowMo(${describeAlgorithm(algorithm.base)}) α=${algorithm.alpha} β=${algorithm.beta} τ=${algorithm.tau}`
    case 'diloco':
      return `DiLoCo τ=${algorithm.tau}`
  }
}
