/**
 * What a late joiner receives from a peer, as one byte string (sent in chunks and hash
 * verified by core/protocol/snapshot.ts): the peer's model parameters, its algorithm state
 * (`exportState()`, imported by the joiner in 'catch-up' mode) and its optimizer state.
 *
 * Layout (little-endian):
 *
 *   0    4 B   magic "LHSN"
 *   4    u32   format version (1)
 *   8    u32   J: length of the JSON header
 *   12   J B   UTF-8 JSON header (below)
 *   ...  zero padding to a multiple of 4
 *   B    blobs: raw bytes, each starting at a multiple of 4 from B
 *
 * Header: { step, params: blob, optimizer: { kind, tensors: [{ name, shape, values: blob }] },
 * state: { algorithm, version, workerIndex, workerCount, layoutFingerprint, data,
 * vectors: { name: blob }, bytes: { name: blob }, children: { name: state } } }, where a blob
 * is [offset from B, byte length]. Float32 blobs have lengths that are multiples of 4.
 *
 * Decoding is outside data: every field is checked, every blob must lie inside the buffer,
 * and arrays are copied out (the result shares nothing with the input).
 */
import { isAlgorithmState, isJsonObject, type AlgorithmState, type JsonObject } from '../algorithms/state.ts'
import { CoreError } from '../errors.ts'

const MAGIC = [0x4c, 0x48, 0x53, 0x4e]
export const SNAPSHOT_FORMAT_VERSION = 1
/** Largest JSON header accepted. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024

export interface OptimizerTensor {
  readonly name: string
  readonly shape: readonly number[]
  readonly values: Float32Array
}

export interface ModelSnapshot {
  /** The algorithm step the snapshot was taken at (the joiner's first step). */
  readonly step: number
  readonly params: Float32Array
  readonly state: AlgorithmState
  readonly optimizer: { readonly kind: string; readonly tensors: readonly OptimizerTensor[] }
}

type Blob = [number, number]

class BlobWriter {
  readonly parts: Uint8Array[] = []
  size = 0

  add(bytes: Uint8Array): Blob {
    const offset = this.size
    this.parts.push(bytes)
    this.size += bytes.length
    const pad = (4 - (this.size % 4)) % 4
    if (pad > 0) {
      this.parts.push(new Uint8Array(pad))
      this.size += pad
    }
    return [offset, bytes.length]
  }

  addFloats(values: Float32Array): Blob {
    return this.add(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
  }
}

function stateToJson(state: AlgorithmState, blobs: BlobWriter): JsonObject {
  const vectors: JsonObject = {}
  for (const [name, v] of Object.entries(state.vectors)) vectors[name] = blobs.addFloats(v)
  const bytes: JsonObject = {}
  for (const [name, b] of Object.entries(state.bytes)) bytes[name] = blobs.add(b)
  const children: JsonObject = {}
  for (const [name, c] of Object.entries(state.children)) children[name] = stateToJson(c, blobs)
  return {
    algorithm: state.algorithm,
    version: state.version,
    workerIndex: state.workerIndex,
    workerCount: state.workerCount,
    layoutFingerprint: state.layoutFingerprint,
    data: state.data,
    vectors,
    bytes,
    children,
  }
}

/** Serialises a snapshot (copies everything; the inputs are not kept). */
export function encodeSnapshot(snapshot: ModelSnapshot): Uint8Array {
  if (!Number.isSafeInteger(snapshot.step) || snapshot.step < 0)
    throw new CoreError('ERR_INVALID_ARGUMENT', `snapshot step must be an integer >= 0, got ${snapshot.step}`)
  const blobs = new BlobWriter()
  const header = {
    step: snapshot.step,
    params: blobs.addFloats(snapshot.params),
    optimizer: {
      kind: snapshot.optimizer.kind,
      tensors: snapshot.optimizer.tensors.map((t) => ({
        name: t.name,
        shape: [...t.shape],
        values: blobs.addFloats(t.values),
      })),
    },
    state: stateToJson(snapshot.state, blobs),
  }
  const json = new TextEncoder().encode(JSON.stringify(header))
  const headerEnd = 12 + json.length
  const blobStart = headerEnd + ((4 - (headerEnd % 4)) % 4)
  const out = new Uint8Array(blobStart + blobs.size)
  out.set(MAGIC, 0)
  const view = new DataView(out.buffer)
  view.setUint32(4, SNAPSHOT_FORMAT_VERSION, true)
  view.setUint32(8, json.length, true)
  out.set(json, 12)
  let at = blobStart
  for (const part of blobs.parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

function bad(message: string): CoreError {
  return new CoreError('ERR_BAD_CHECKPOINT', `snapshot: ${message}`)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

class BlobReader {
  constructor(
    private readonly bytes: Uint8Array,
    private readonly start: number,
  ) {}

  private range(value: unknown, what: string): [number, number] {
    if (!Array.isArray(value) || value.length !== 2) throw bad(`${what} is not a blob reference`)
    const offset: unknown = value[0]
    const length: unknown = value[1]
    if (
      typeof offset !== 'number' ||
      typeof length !== 'number' ||
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset % 4 !== 0 ||
      this.start + offset + length > this.bytes.length
    ) {
      throw bad(`${what} lies outside the snapshot`)
    }
    return [this.start + offset, length]
  }

  bytesOf(value: unknown, what: string): Uint8Array {
    const [at, length] = this.range(value, what)
    return this.bytes.slice(at, at + length)
  }

  floatsOf(value: unknown, what: string): Float32Array {
    const [at, length] = this.range(value, what)
    if (length % 4 !== 0) throw bad(`${what} is not a whole number of float32 values`)
    return new Float32Array(this.bytes.slice(at, at + length).buffer)
  }
}

function stateFromJson(value: unknown, blobs: BlobReader, depth: number): AlgorithmState {
  if (depth > 4 || !isRecord(value)) throw bad('algorithm state is not an object')
  const { algorithm, version, workerIndex, workerCount, layoutFingerprint, data, vectors, bytes, children } =
    value
  if (!isRecord(vectors) || !isRecord(bytes) || !isRecord(children) || !isJsonObject(data))
    throw bad('algorithm state fields are malformed')
  const v: Record<string, Float32Array> = {}
  for (const [name, ref] of Object.entries(vectors)) v[name] = blobs.floatsOf(ref, `vector ${name}`)
  const b: Record<string, Uint8Array> = {}
  for (const [name, ref] of Object.entries(bytes)) b[name] = blobs.bytesOf(ref, `bytes ${name}`)
  const c: Record<string, AlgorithmState> = {}
  for (const [name, child] of Object.entries(children)) c[name] = stateFromJson(child, blobs, depth + 1)
  const state: unknown = {
    algorithm,
    version,
    workerIndex,
    workerCount,
    layoutFingerprint,
    data,
    vectors: v,
    bytes: b,
    children: c,
  }
  if (!isAlgorithmState(state)) throw bad('algorithm state envelope is malformed')
  return state
}

/**
 * Parses a snapshot received from a peer. `parameterCount` is this model's size: a snapshot
 * of another size is refused. Fails with CoreError('ERR_BAD_CHECKPOINT') naming the problem.
 */
export function decodeSnapshot(bytes: Uint8Array, parameterCount: number): ModelSnapshot {
  if (bytes.length < 12 || MAGIC.some((m, i) => bytes[i] !== m)) throw bad('does not start with LHSN')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint32(4, true)
  if (version !== SNAPSHOT_FORMAT_VERSION)
    throw bad(`format version ${version} is not ${SNAPSHOT_FORMAT_VERSION}`)
  const jsonBytes = view.getUint32(8, true)
  if (jsonBytes > MAX_HEADER_BYTES || 12 + jsonBytes > bytes.length)
    throw bad('header length is out of range')
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + jsonBytes)))
  } catch {
    throw bad('header is not valid UTF-8 JSON')
  }
  const headerEnd = 12 + jsonBytes
  const blobs = new BlobReader(bytes, headerEnd + ((4 - (headerEnd % 4)) % 4))
  if (!isRecord(header)) throw bad('header is not an object')
  const { step, params, optimizer, state } = header
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)
    throw bad('step is not an integer >= 0')
  const paramValues = blobs.floatsOf(params, 'params')
  if (paramValues.length !== parameterCount)
    throw bad(`holds ${paramValues.length} parameters, this model has ${parameterCount}`)
  if (!isRecord(optimizer) || typeof optimizer.kind !== 'string' || !Array.isArray(optimizer.tensors))
    throw bad('optimizer state is malformed')
  const tensors = optimizer.tensors.map((t: unknown, i): OptimizerTensor => {
    if (!isRecord(t) || typeof t.name !== 'string' || !Array.isArray(t.shape))
      throw bad(`optimizer tensor ${i} is malformed`)
    const shape = t.shape.map((d: unknown) => {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
        throw bad(`optimizer tensor ${i} has a bad shape`)
      return d
    })
    const values = blobs.floatsOf(t.values, `optimizer tensor ${t.name}`)
    if (values.length !== shape.reduce((a, b) => a * b, 1))
      throw bad(`optimizer tensor ${t.name} does not fit its shape`)
    return { name: t.name, shape, values }
  })
  return {
    step,
    params: paramValues,
    state: stateFromJson(state, blobs, 0),
    optimizer: { kind: optimizer.kind, tensors },
  }
}
