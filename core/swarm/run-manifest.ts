/**
 * The run manifest: what every peer of a training room must agree on before it may train
 * with the others. Peers exchange it during the handshake (the `hello` frame carries its
 * hash, a control message carries the whole object) and refuse each other on any
 * difference, naming the fields, so a mismatch is one clear error on both sides instead of
 * a silently diverging model.
 *
 * What must match, and why:
 * - protocolVersion: the wire format (core/protocol/frame.ts).
 * - model.layoutFingerprint: the flat parameter layout (names, shapes, order). Deltas and
 *   snapshots are meaningless across layouts. `model.name` is informative only.
 * - algorithm: the resolved config (kind, H, staleness, compressor, ...). Workers averaging
 *   with different periods or compressors would decode each other's payloads wrongly.
 * - dataset: the input shape and the class names in label order (the schema, not the
 *   content: every peer trains on its own local data).
 * - workerSlots: the algorithms' fixed index space (`workerCount`).
 *
 * The canonical form is JSON with sorted keys, so the hash does not depend on property
 * order; `manifestHash` is FNV-1a 64 of it (16 hex digits, what `hello` carries).
 */
import { CoreError } from '../errors.ts'
import { fnv1a64Hex } from '../hash.ts'

/** Longest manifest accepted from a peer, in characters of canonical JSON. */
export const MAX_MANIFEST_CHARS = 16 * 1024

export interface RunManifest {
  readonly protocolVersion: number
  readonly model: {
    /** Zoo name or the file the model came from; informative, not compared. */
    readonly name: string
    /** ParamLayout.fingerprint, 16 hex digits. */
    readonly layoutFingerprint: string
    readonly parameterCount: number
  }
  /** The resolved algorithm config as plain JSON (core/algorithms/config.ts). */
  readonly algorithm: JsonObjectValue
  readonly dataset: {
    readonly inputShape: readonly number[]
    readonly classes: readonly string[]
  }
  /** Worker index space of the room (the algorithms' workerCount). */
  readonly workerSlots: number
}

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }
/** A JSON object, as the algorithm config travels inside the manifest. */
export type JsonObjectValue = { [key: string]: JsonValue }

const HEX16 = /^[0-9a-f]{16}$/

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isJson(value: unknown, depth = 0): value is JsonValue {
  if (depth > 16) return false
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1))
  if (isRecord(value)) return Object.values(value).every((v) => isJson(v, depth + 1))
  return false
}

function hasOnlyKeys(o: Record<string, unknown>, keys: readonly string[]): boolean {
  return Object.keys(o).every((k) => keys.includes(k)) && keys.every((k) => k in o)
}

/** Shape check for a manifest that arrives from a peer (outside data). */
export function isRunManifest(value: unknown): value is RunManifest {
  if (
    !isRecord(value) ||
    !hasOnlyKeys(value, ['protocolVersion', 'model', 'algorithm', 'dataset', 'workerSlots'])
  )
    return false
  const { protocolVersion, model, algorithm, dataset, workerSlots } = value
  if (!Number.isSafeInteger(protocolVersion) || !Number.isSafeInteger(workerSlots)) return false
  if (!isRecord(model) || !hasOnlyKeys(model, ['name', 'layoutFingerprint', 'parameterCount'])) return false
  if (typeof model.name !== 'string' || model.name.length > 256) return false
  if (typeof model.layoutFingerprint !== 'string' || !HEX16.test(model.layoutFingerprint)) return false
  if (!Number.isSafeInteger(model.parameterCount)) return false
  if (!isRecord(algorithm) || !isJson(algorithm)) return false
  if (!isRecord(dataset) || !hasOnlyKeys(dataset, ['inputShape', 'classes'])) return false
  const { inputShape, classes } = dataset
  if (
    !Array.isArray(inputShape) ||
    !inputShape.every((d) => Number.isSafeInteger(d) && typeof d === 'number')
  )
    return false
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string')) return false
  return true
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (isRecord(value)) {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) {
      const v = value[key]
      if (v !== undefined) out[key] = canonical(v)
    }
    return out
  }
  return value
}

/**
 * A plain-data copy of `value` as a JSON object (for the algorithm config inside a
 * manifest); ERR_INVALID_ARGUMENT when it holds anything JSON cannot carry.
 */
export function jsonObjectOf(value: object): JsonObjectValue {
  const copy: unknown = JSON.parse(JSON.stringify(value))
  if (!isRecord(copy) || !isJson(copy))
    throw new CoreError('ERR_INVALID_ARGUMENT', 'value is not a JSON object')
  return copy
}

/** JSON with sorted keys and no undefined fields: equal manifests give equal text. */
export function canonicalManifestJson(manifest: RunManifest): string {
  return JSON.stringify(canonical(manifest))
}

/** FNV-1a 64 of the canonical JSON, 16 hex digits (what `hello.manifestHash` carries). */
export function manifestHash(manifest: RunManifest): string {
  return fnv1a64Hex(canonicalManifestJson(manifest))
}

/** Parses a manifest received from a peer; CoreError('ERR_BAD_MESSAGE') when malformed. */
export function parseRunManifest(value: unknown): RunManifest {
  if (!isRunManifest(value)) throw new CoreError('ERR_BAD_MESSAGE', 'malformed run manifest')
  if (canonicalManifestJson(value).length > MAX_MANIFEST_CHARS) {
    throw new CoreError('ERR_BAD_MESSAGE', `run manifest is longer than ${MAX_MANIFEST_CHARS} characters`)
  }
  return value
}

function show(value: unknown): string {
  const text = JSON.stringify(canonical(value)) ?? String(value)
  return text.length > 120 ? `${text.slice(0, 117)}...` : text
}

/**
 * The differences between our manifest and a peer's, one readable item per field that must
 * match (empty when they agree). Used for the refusal message on both sides.
 */
export function diffManifests(ours: RunManifest, theirs: RunManifest): string[] {
  const out: string[] = []
  const compare = (what: string, a: unknown, b: unknown): void => {
    const sa = JSON.stringify(canonical(a))
    const sb = JSON.stringify(canonical(b))
    if (sa !== sb) out.push(`${what}: ours ${show(a)}, theirs ${show(b)}`)
  }
  compare('protocol version', ours.protocolVersion, theirs.protocolVersion)
  if (ours.model.layoutFingerprint !== theirs.model.layoutFingerprint) {
    out.push(
      `model: ours ${ours.model.name} (layout ${ours.model.layoutFingerprint}, ${ours.model.parameterCount} parameters), theirs ${theirs.model.name} (layout ${theirs.model.layoutFingerprint}, ${theirs.model.parameterCount} parameters)`,
    )
  }
  compare('algorithm', ours.algorithm, theirs.algorithm)
  compare('dataset input shape', ours.dataset.inputShape, theirs.dataset.inputShape)
  compare('dataset classes', ours.dataset.classes, theirs.dataset.classes)
  compare('worker slots (--max-peers)', ours.workerSlots, theirs.workerSlots)
  return out
}
