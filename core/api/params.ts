/**
 * Validation of command params that come over the API (outside data): every command's params
 * go through its reader here before the engine looks at them. A reader returns the typed
 * params or throws CoreError('ERR_INVALID_ARGUMENT') with one sentence naming the command,
 * the field and what it accepts; unknown fields are refused too (a typo must not be ignored).
 */
import { parseAlgorithmConfig } from '../algorithms/config.ts'
import { CoreError } from '../errors.ts'
import { isRecord } from '../guards.ts'
import {
  API_LIMITS,
  TRAINING_PRESETS,
  type ApiCommandName,
  type ApiParams,
  type TrainingConfig,
  type TrainingPreset,
} from './contract.ts'

/** Bounds of TrainingConfig fields (the CLI's flags accept the same). */
export const TRAINING_LIMITS = {
  maxEpochs: 100_000,
  maxBatchSize: 65_536,
  maxSeed: 2 ** 31 - 1,
  maxPeers: 1024,
  defaultMaxPeers: 8,
} as const

class FieldReader {
  constructor(
    private readonly command: string,
    private readonly record: Record<string, unknown>,
  ) {}

  private bad(field: string, what: string): CoreError {
    return new CoreError('ERR_INVALID_ARGUMENT', `${this.command}: ${field} ${what}`)
  }

  onlyKeys(keys: readonly string[]): void {
    const unknown = Object.keys(this.record).filter((k) => !keys.includes(k))
    if (unknown.length > 0) {
      throw this.bad(
        unknown.map((k) => `"${k}"`).join(', '),
        `${unknown.length === 1 ? 'is not a field' : 'are not fields'} of this command (it takes ${keys.length > 0 ? keys.join(', ') : 'none'})`,
      )
    }
  }

  has(field: string): boolean {
    return this.record[field] !== undefined
  }

  string(field: string, options: { readonly maxChars?: number } = {}): string {
    const v = this.record[field]
    const max = options.maxChars ?? 4096
    if (typeof v !== 'string' || v.trim() === '' || v.length > max)
      throw this.bad(field, `must be a non-empty string of at most ${max} characters`)
    return v
  }

  optionalString(field: string, options: { readonly maxChars?: number } = {}): string | undefined {
    return this.has(field) ? this.string(field, options) : undefined
  }

  integer(field: string, min: number, max: number): number {
    const v = this.record[field]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw this.bad(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`)
    return v
  }

  optionalInteger(field: string, min: number, max: number): number | undefined {
    return this.has(field) ? this.integer(field, min, max) : undefined
  }

  positiveNumber(field: string): number | undefined {
    if (!this.has(field)) return undefined
    const v = this.record[field]
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw this.bad(field, `must be a number > 0, got ${JSON.stringify(v)}`)
    return v
  }

  optionalBoolean(field: string): boolean | undefined {
    if (!this.has(field)) return undefined
    const v = this.record[field]
    if (typeof v !== 'boolean') throw this.bad(field, 'must be true or false')
    return v
  }

  oneOf<T extends string>(field: string, values: readonly T[]): T {
    const v = this.record[field]
    const match = values.find((x) => x === v)
    if (match === undefined)
      throw this.bad(field, `must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`)
    return match
  }

  value(field: string): unknown {
    return this.record[field]
  }
}

function reader(command: ApiCommandName, params: unknown, keys: readonly string[]): FieldReader {
  const record = params === undefined || params === null ? {} : params
  if (!isRecord(record))
    throw new CoreError('ERR_INVALID_ARGUMENT', `${command}: params must be a JSON object`)
  const r = new FieldReader(command, record)
  r.onlyKeys(keys)
  return r
}

const PRESETS = Object.keys(TRAINING_PRESETS) as TrainingPreset[]

function readTrainingConfig(params: unknown): TrainingConfig {
  const r = reader('training.start', params, [
    'datasetId',
    'model',
    'preset',
    'algorithm',
    'epochs',
    'batchSize',
    'optimizer',
    'learningRate',
    'seed',
    'partition',
    'maxTrainSamples',
    'resumeFrom',
    'maxPeers',
    'waitForPeers',
  ])
  let partition: TrainingConfig['partition']
  if (r.has('partition')) {
    const p = r.value('partition')
    const pr = new FieldReader('training.start: partition', isRecord(p) ? p : {})
    if (!isRecord(p))
      throw new CoreError('ERR_INVALID_ARGUMENT', 'training.start: partition must be { index, count }')
    pr.onlyKeys(['index', 'count'])
    const count = pr.integer('count', 1, 1_000_000)
    partition = { index: pr.integer('index', 0, count - 1), count }
  }
  let algorithm: TrainingConfig['algorithm']
  if (r.has('algorithm')) {
    try {
      algorithm = parseAlgorithmConfig(r.value('algorithm'))
    } catch (error) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `training.start: ${error instanceof Error ? error.message : String(error)}`,
      )
    }
  }
  const learningRate = r.positiveNumber('learningRate')
  const seed = r.optionalInteger('seed', 0, TRAINING_LIMITS.maxSeed)
  const maxTrainSamples = r.optionalInteger('maxTrainSamples', 1, Number.MAX_SAFE_INTEGER)
  const resumeFrom = r.optionalString('resumeFrom', { maxChars: 200 })
  const maxPeers = r.optionalInteger('maxPeers', 1, TRAINING_LIMITS.maxPeers)
  const waitForPeers = r.optionalInteger('waitForPeers', 0, TRAINING_LIMITS.maxPeers)
  return {
    datasetId: r.string('datasetId', { maxChars: 200 }),
    model: r.string('model', { maxChars: 200 }),
    preset: r.oneOf('preset', PRESETS),
    ...(algorithm !== undefined && { algorithm }),
    epochs: r.integer('epochs', 1, TRAINING_LIMITS.maxEpochs),
    batchSize: r.integer('batchSize', 1, TRAINING_LIMITS.maxBatchSize),
    optimizer: r.oneOf('optimizer', ['adam', 'momentum', 'sgd'] as const),
    ...(learningRate !== undefined && { learningRate }),
    ...(seed !== undefined && { seed }),
    ...(partition !== undefined && { partition }),
    ...(maxTrainSamples !== undefined && { maxTrainSamples }),
    ...(resumeFrom !== undefined && { resumeFrom }),
    ...(maxPeers !== undefined && { maxPeers }),
    ...(waitForPeers !== undefined && { waitForPeers }),
  }
}

type Readers = { readonly [N in ApiCommandName]: (params: unknown) => ApiParams<N> }

const NONE = <N extends ApiCommandName>(name: N) => {
  return (params: unknown): Record<string, never> => {
    reader(name, params, [])
    return {}
  }
}

const READERS: Readers = {
  'datasets.list': NONE('datasets.list'),
  'datasets.add': (params) => {
    const r = reader('datasets.add', params, ['source'])
    return { source: r.string('source') }
  },
  'datasets.inspect': (params) => ({ id: reader('datasets.inspect', params, ['id']).string('id') }),
  'datasets.preview': (params) => {
    const r = reader('datasets.preview', params, ['id', 'split', 'offset', 'count'])
    return {
      id: r.string('id'),
      split: r.oneOf('split', ['train', 'test'] as const),
      offset: r.integer('offset', 0, Number.MAX_SAFE_INTEGER),
      count: r.integer('count', 1, API_LIMITS.maxPreviewSamples),
    }
  },
  'datasets.remove': (params) => ({ id: reader('datasets.remove', params, ['id']).string('id') }),
  'room.create': (params) => {
    const r = reader('room.create', params, ['signalUrl', 'room', 'host', 'port'])
    const signalUrl = r.optionalString('signalUrl')
    const room = r.optionalString('room', { maxChars: 128 })
    const host = r.optionalString('host', { maxChars: 255 })
    const port = r.optionalInteger('port', 0, 65535)
    if (signalUrl !== undefined && (host !== undefined || port !== undefined)) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        'room.create: host and port are for an embedded server; leave them out with signalUrl',
      )
    }
    return {
      ...(signalUrl !== undefined && { signalUrl }),
      ...(room !== undefined && { room }),
      ...(host !== undefined && { host }),
      ...(port !== undefined && { port }),
    }
  },
  'room.join': (params) => {
    const r = reader('room.join', params, ['invite', 'signalUrl', 'room', 'secret'])
    const invite = r.optionalString('invite')
    const fields = ['signalUrl', 'room', 'secret'].filter((f) => r.has(f))
    if (invite !== undefined) {
      if (fields.length > 0) {
        throw new CoreError('ERR_INVALID_ARGUMENT', 'room.join: give an invite or the three fields, not both')
      }
      return { invite }
    }
    if (fields.length !== 3) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        'room.join: give an invite, or signalUrl, room and secret together',
      )
    }
    return { signalUrl: r.string('signalUrl'), room: r.string('room'), secret: r.string('secret') }
  },
  'room.leave': NONE('room.leave'),
  'training.start': readTrainingConfig,
  'training.pause': NONE('training.pause'),
  'training.resume': NONE('training.resume'),
  'training.stop': NONE('training.stop'),
  'checkpoints.list': NONE('checkpoints.list'),
  'checkpoints.export': (params) => {
    const r = reader('checkpoints.export', params, ['id', 'directory'])
    const directory = r.optionalString('directory')
    return { id: r.string('id', { maxChars: 200 }), ...(directory !== undefined && { directory }) }
  },
  'backends.list': (params) => {
    const probeBrowser = reader('backends.list', params, ['probeBrowser']).optionalBoolean('probeBrowser')
    return probeBrowser === undefined ? {} : { probeBrowser }
  },
  'settings.setBackend': (params) => {
    const backend = reader('settings.setBackend', params, ['backend']).optionalString('backend', {
      maxChars: 64,
    })
    return backend === undefined ? {} : { backend }
  },
}

/** Validates `params` for `name` (a known command). */
export function readParams<N extends ApiCommandName>(name: N, params: unknown): ApiParams<N> {
  return READERS[name](params)
}

export function isCommandName(name: string): name is ApiCommandName {
  return Object.hasOwn(READERS, name)
}
