/**
 * Algorithm state as plain data (STYLE.md: PyTorch DDP comm-hook state, never hidden in
 * closures). `AlgorithmState` is what `exportState()` returns and `importState()` takes: a
 * JSON-able `data` object plus named Float32Arrays (vectors of the layout's size or smaller)
 * and named byte arrays (stored payloads). A checkpoint writer stores `data` as JSON and the
 * arrays as binary blobs; nothing else is needed to resume bit for bit.
 *
 * States read back from disk or from a peer are outside data: `isAlgorithmState` checks the
 * shape, and the `read*` helpers below check every field an algorithm reads, failing with
 * CoreError('ERR_BAD_CHECKPOINT') instead of trusting casts.
 */
import { CoreError } from '../errors.ts'
import { isRecord } from '../guards.ts'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

export const ALGORITHM_STATE_VERSION = 1

export interface AlgorithmState {
  /** Registry name of the algorithm that wrote it ('sync', 'local', 'olco3', 'slowmo', 'sgp'). */
  readonly algorithm: string
  readonly version: number
  readonly workerIndex: number
  readonly workerCount: number
  /** ParamLayout fingerprint the vectors belong to. */
  readonly layoutFingerprint: string
  readonly data: JsonObject
  readonly vectors: Readonly<Record<string, Float32Array>>
  readonly bytes: Readonly<Record<string, Uint8Array>>
  /** Nested states (SlowMo's base algorithm). */
  readonly children: Readonly<Record<string, AlgorithmState>>
}

export function isJsonValue(value: unknown, depth = 0): value is JsonValue {
  if (depth > 32) return false
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.every((v) => isJsonValue(v, depth + 1))
  if (isRecord(value)) return Object.values(value).every((v) => isJsonValue(v, depth + 1))
  return false
}

/** Shape check for a state that comes from disk or from a peer. */
export function isAlgorithmState(value: unknown, depth = 0): value is AlgorithmState {
  if (depth > 4 || !isRecord(value)) return false
  const { algorithm, version, workerIndex, workerCount, layoutFingerprint, data, vectors, bytes, children } =
    value
  if (typeof algorithm !== 'string' || typeof layoutFingerprint !== 'string') return false
  if (!Number.isInteger(version) || !Number.isInteger(workerIndex) || !Number.isInteger(workerCount))
    return false
  if (!isJsonObject(data)) return false
  if (!isRecord(vectors) || !Object.values(vectors).every((v) => v instanceof Float32Array)) return false
  if (!isRecord(bytes) || !Object.values(bytes).every((v) => v instanceof Uint8Array)) return false
  if (!isRecord(children)) return false
  return Object.values(children).every((c) => isAlgorithmState(c, depth + 1))
}

export function badState(message: string): CoreError {
  return new CoreError('ERR_BAD_CHECKPOINT', `algorithm state: ${message}`)
}

/** Reads `data[key]` as an integer within [min, max]. */
export function readInt(data: JsonObject, key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = data[key]
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw badState(`field ${key} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`)
  }
  return v
}

export function readNumber(data: JsonObject, key: string): number {
  const v = data[key]
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badState(`field ${key} must be a finite number`)
  return v
}

export function readBoolean(data: JsonObject, key: string): boolean {
  const v = data[key]
  if (typeof v !== 'boolean') throw badState(`field ${key} must be a boolean`)
  return v
}

export function readString<T extends string>(data: JsonObject, key: string, allowed: readonly T[]): T {
  const v = data[key]
  const found = allowed.find((a) => a === v)
  if (found === undefined) throw badState(`field ${key} must be one of ${allowed.join(', ')}`)
  return found
}

export function readIntArray(
  data: JsonObject,
  key: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number[] {
  const v = data[key]
  if (!Array.isArray(v)) throw badState(`field ${key} must be an array`)
  return v.map((x, i) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) {
      throw badState(`field ${key}[${i}] must be an integer in [${min}, ${max}]`)
    }
    return x
  })
}

export function isJsonObject(value: unknown): value is JsonObject {
  return isRecord(value) && isJsonValue(value)
}

export function readObject(data: JsonObject, key: string): JsonObject {
  const v = data[key]
  if (!isJsonObject(v)) throw badState(`field ${key} must be an object`)
  return v
}

export function readVector(state: AlgorithmState, key: string, length: number): Float32Array {
  const v = state.vectors[key]
  if (!(v instanceof Float32Array) || v.length !== length) {
    throw badState(`vector ${key} must be a Float32Array of length ${length}`)
  }
  return v
}

export function readBytes(state: AlgorithmState, key: string): Uint8Array {
  const v = state.bytes[key]
  if (!(v instanceof Uint8Array)) throw badState(`byte array ${key} is missing`)
  return v
}

export function readChild(state: AlgorithmState, key: string): AlgorithmState {
  const c = state.children[key]
  if (c === undefined) throw badState(`child state ${key} is missing`)
  return c
}

/** The envelope fields that say whose state it is: stamped by `buildState`, compared by `checkEnvelope`. */
export interface StateOwner {
  readonly algorithm: string
  readonly workerIndex: number
  readonly workerCount: number
  readonly layoutFingerprint: string
}

/** The owner of the states written by algorithm `algorithm` running as `worker`. */
export function stateOwner(
  algorithm: string,
  worker: {
    readonly workerIndex: number
    readonly workerCount: number
    readonly layout: { readonly fingerprint: string }
  },
): StateOwner {
  return {
    algorithm,
    workerIndex: worker.workerIndex,
    workerCount: worker.workerCount,
    layoutFingerprint: worker.layout.fingerprint,
  }
}

/** A state of the current version written by `owner`, its fields in the one order every writer uses. */
export function buildState(
  owner: StateOwner,
  body: Pick<AlgorithmState, 'data' | 'vectors' | 'bytes' | 'children'>,
): AlgorithmState {
  return {
    algorithm: owner.algorithm,
    version: ALGORITHM_STATE_VERSION,
    workerIndex: owner.workerIndex,
    workerCount: owner.workerCount,
    layoutFingerprint: owner.layoutFingerprint,
    data: body.data,
    vectors: body.vectors,
    bytes: body.bytes,
    children: body.children,
  }
}

/**
 * Checks the envelope of a state against the instance importing it. In 'checkpoint' mode the
 * worker index must match; in 'catch-up' mode any worker of the same room may be the source.
 */
export function checkEnvelope(
  state: AlgorithmState,
  expected: StateOwner,
  mode: 'checkpoint' | 'catch-up',
): void {
  if (!isAlgorithmState(state)) throw badState('not an algorithm state object')
  if (state.version !== ALGORITHM_STATE_VERSION) throw badState(`unsupported version ${state.version}`)
  if (state.algorithm !== expected.algorithm) {
    throw badState(`it belongs to algorithm ${state.algorithm}, not ${expected.algorithm}`)
  }
  if (state.layoutFingerprint !== expected.layoutFingerprint) {
    throw new CoreError(
      'ERR_BAD_CHECKPOINT',
      `algorithm state belongs to layout ${state.layoutFingerprint}, this model is ${expected.layoutFingerprint}`,
    )
  }
  if (state.workerCount !== expected.workerCount) {
    throw badState(
      `it was written for ${state.workerCount} worker slots, this room has ${expected.workerCount}`,
    )
  }
  if (mode === 'checkpoint' && state.workerIndex !== expected.workerIndex) {
    throw badState(`it belongs to worker ${state.workerIndex}, not ${expected.workerIndex}`)
  }
}
