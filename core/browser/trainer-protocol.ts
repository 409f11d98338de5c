/**
 * The trainer protocol between the engine (client) and a browser context hosting a Trainer
 * (service), carried by a TrainerChannel. Requests and replies are channel messages: the head is a
 * small record `{ v: 1, id, type: 'trainer.<verb>', ... }`, and every vector (inputs, labels,
 * parameters, gradients, losses) is a raw buffer in `buffers`, never JSON.
 *
 * One request is answered by exactly one reply with the same id: `trainer.ok` (a `result` record
 * plus buffers) or `trainer.error` (an ErrorCode and a message). Both sides validate every head and
 * buffer size before use: the other side is another process and may be a different build.
 */
import type { RouteKind } from '../tensor/backend-select.ts'
import type { OptimizerConfig, OptimizerStateTensor } from '../training/trainer.ts'
import { CoreError, ERROR_CODES } from '../errors.ts'
import type { ErrorCode } from '../errors.ts'
import { describeValue, isCount, isRecord, isStringArray } from '../guards.ts'
import type { ChannelMessage } from './channel.ts'

export const TRAINER_PROTOCOL_VERSION = 1

/** What a browser context found out about one of its tfjs backends (its probe, sent to the engine). */
export interface BrowserRouteFacts {
  /** tfjs backend name in the browser context: 'webgpu', 'webgl', 'cpu'. */
  readonly backendName: string
  readonly kind: RouteKind
  readonly available: boolean
  readonly reason: string
  readonly detail?: string
  /** Adapter (WebGPU) or unmasked renderer (WebGL) string. */
  readonly adapter?: string
  readonly isHardware: boolean
  readonly softwareRenderer?: string
  /** Kernel names registered for this backend in the browser context (empty when unavailable). */
  readonly kernels: readonly string[]
}

/** What the engine asks the browser context to build: a zoo model trained by the shared Trainer. */
export interface TrainerSpec {
  /** tfjs backend to run in the browser context. */
  readonly backend: string
  /** Model zoo name (core/tensor/models.ts). */
  readonly model: string
  readonly inputShape: readonly number[]
  readonly classCount: number
  readonly optimizer: OptimizerConfig
}

/** The browser context's answer to `trainer.open`. */
export interface OpenedTrainerInfo {
  readonly backend: string
  readonly totalSize: number
  readonly fingerprint: string
  readonly adapter?: string
  readonly isHardware: boolean
  readonly softwareRenderer?: string
}

export type TrainerRequest =
  | {
      readonly id: number
      readonly type: 'trainer.probe'
      /** Backends to probe (default all): a probe can be costly or even disruptive (see browser-routes.ts). */
      readonly backends?: readonly string[]
    }
  | { readonly id: number; readonly type: 'trainer.open'; readonly spec: TrainerSpec }
  | { readonly id: number; readonly type: 'trainer.read-params' }
  | { readonly id: number; readonly type: 'trainer.write-params'; readonly params: Float32Array }
  | {
      readonly id: number
      readonly type: 'trainer.train-steps'
      /** The examples in x/y are split into consecutive batches of this size, one step each. */
      readonly batchSize: number
      readonly x: Float32Array
      readonly y: Int32Array
    }
  | {
      readonly id: number
      readonly type: 'trainer.compute-gradients'
      readonly x: Float32Array
      readonly y: Int32Array
    }
  | { readonly id: number; readonly type: 'trainer.apply-gradients'; readonly gradient: Float32Array }
  | {
      readonly id: number
      readonly type: 'trainer.evaluate'
      readonly batchSize: number
      readonly x: Float32Array
      readonly y: Int32Array
    }
  | { readonly id: number; readonly type: 'trainer.export-optimizer' }
  | {
      readonly id: number
      readonly type: 'trainer.import-optimizer'
      /** Names and shapes travel in the head; all values as one buffer, concatenated in that order. */
      readonly tensors: readonly OptimizerStateTensor[]
    }
  | { readonly id: number; readonly type: 'trainer.close' }

export type TrainerRequestType = TrainerRequest['type']

/** A request without its id (the client numbers requests). */
export type TrainerRequestBody = TrainerRequest extends infer R
  ? R extends TrainerRequest
    ? Omit<R, 'id'>
    : never
  : never

/** A reply as the client sees it, before the per-request result check. */
export type TrainerReply =
  | {
      readonly id: number
      readonly ok: true
      readonly result: Record<string, unknown>
      readonly buffers: readonly ArrayBuffer[]
    }
  | { readonly id: number; readonly ok: false; readonly code: ErrorCode; readonly message: string }

const REQUEST_TYPES: ReadonlySet<string> = new Set<TrainerRequestType>([
  'trainer.probe',
  'trainer.open',
  'trainer.read-params',
  'trainer.write-params',
  'trainer.train-steps',
  'trainer.compute-gradients',
  'trainer.apply-gradients',
  'trainer.evaluate',
  'trainer.export-optimizer',
  'trainer.import-optimizer',
  'trainer.close',
])

function bad(message: string): CoreError {
  return new CoreError('ERR_BAD_MESSAGE', `bad trainer message: ${message}`)
}

/** Copies a typed array into a fresh ArrayBuffer that can be transferred without touching the caller's. */
function ownBuffer(values: Float32Array | Int32Array): ArrayBuffer {
  // slice() of a typed array allocates a new ArrayBuffer of exactly its length.
  return values.slice().buffer
}

/** Encodes a request. Vectors are copied once into buffers the channel may transfer. */
export function encodeTrainerRequest(id: number, request: TrainerRequestBody): ChannelMessage {
  const base = { v: TRAINER_PROTOCOL_VERSION, id, type: request.type }
  switch (request.type) {
    case 'trainer.probe':
      return {
        head: request.backends !== undefined ? { ...base, backends: request.backends } : base,
        buffers: [],
      }
    case 'trainer.read-params':
    case 'trainer.export-optimizer':
    case 'trainer.close':
      return { head: base, buffers: [] }
    case 'trainer.import-optimizer':
      return {
        head: { ...base, tensors: tensorHeads(request.tensors) },
        buffers: [concatValues(request.tensors)],
      }
    case 'trainer.open':
      return { head: { ...base, spec: request.spec }, buffers: [] }
    case 'trainer.write-params':
      return { head: base, buffers: [ownBuffer(request.params)] }
    case 'trainer.apply-gradients':
      return { head: base, buffers: [ownBuffer(request.gradient)] }
    case 'trainer.compute-gradients':
      return { head: base, buffers: [ownBuffer(request.x), ownBuffer(request.y)] }
    case 'trainer.train-steps':
    case 'trainer.evaluate':
      return {
        head: { ...base, batchSize: request.batchSize },
        buffers: [ownBuffer(request.x), ownBuffer(request.y)],
      }
  }
}

function float32(buffer: ArrayBuffer | undefined, what: string): Float32Array {
  if (buffer === undefined) throw bad(`${what} is missing`)
  if (buffer.byteLength % 4 !== 0) throw bad(`${what} has ${buffer.byteLength} bytes, not whole float32s`)
  return new Float32Array(buffer)
}

function int32(buffer: ArrayBuffer | undefined, what: string): Int32Array {
  if (buffer === undefined) throw bad(`${what} is missing`)
  if (buffer.byteLength % 4 !== 0) throw bad(`${what} has ${buffer.byteLength} bytes, not whole int32s`)
  return new Int32Array(buffer)
}

function expectBuffers(message: ChannelMessage, count: number, type: string): void {
  if (message.buffers.length !== count) {
    throw bad(`${type} carries ${message.buffers.length} buffers, expected ${count}`)
  }
}

function isPositiveInteger(value: unknown): value is number {
  return isCount(value) && value > 0
}

function isOptimizerConfig(value: unknown): value is OptimizerConfig {
  if (!isRecord(value)) return false
  const { kind, learningRate, momentum } = value
  return (
    (kind === 'sgd' || kind === 'momentum' || kind === 'adam') &&
    typeof learningRate === 'number' &&
    Number.isFinite(learningRate) &&
    learningRate > 0 &&
    (momentum === undefined || (typeof momentum === 'number' && Number.isFinite(momentum)))
  )
}

/** Type guard for a TrainerSpec from the wire. */
export function isTrainerSpec(value: unknown): value is TrainerSpec {
  if (!isRecord(value)) return false
  const { backend, model, inputShape, classCount, optimizer } = value
  return (
    typeof backend === 'string' &&
    backend !== '' &&
    typeof model === 'string' &&
    model !== '' &&
    Array.isArray(inputShape) &&
    inputShape.length > 0 &&
    inputShape.length <= 4 &&
    inputShape.every(isPositiveInteger) &&
    isPositiveInteger(classCount) &&
    isOptimizerConfig(optimizer)
  )
}

/** Reads the version, id and type every head has. */
function readEnvelope(head: unknown): { id: number; type: string; head: Record<string, unknown> } {
  if (!isRecord(head)) throw bad('the head is not a record')
  if (head.v !== TRAINER_PROTOCOL_VERSION) {
    throw bad(`protocol version ${describeValue(head.v)}, expected ${TRAINER_PROTOCOL_VERSION}`)
  }
  if (!isCount(head.id)) throw bad('the id is not a non-negative integer')
  if (typeof head.type !== 'string') throw bad('the type is not a string')
  return { id: head.id, type: head.type, head }
}

/**
 * Validates a request from the wire.
 *
 * @throws CoreError ERR_BAD_MESSAGE naming the first problem. When the envelope was readable the
 *   error's message starts with the id (so a service can still answer the right request).
 */
export function decodeTrainerRequest(message: ChannelMessage): TrainerRequest {
  const { id, type, head } = readEnvelope(message.head)
  if (!REQUEST_TYPES.has(type)) throw bad(`unknown request type '${type}'`)
  switch (type) {
    case 'trainer.probe': {
      expectBuffers(message, 0, type)
      const { backends } = head
      if (backends === undefined) return { id, type }
      if (!isStringArray(backends)) throw bad('trainer.probe has backends that are not strings')
      return { id, type, backends }
    }
    case 'trainer.read-params':
    case 'trainer.export-optimizer':
    case 'trainer.close':
      expectBuffers(message, 0, type)
      return { id, type }
    case 'trainer.import-optimizer':
      expectBuffers(message, 1, type)
      return { id, type, tensors: decodeNamedTensors(head.tensors, message.buffers[0], type) }
    case 'trainer.open':
      expectBuffers(message, 0, type)
      if (!isTrainerSpec(head.spec)) throw bad('trainer.open has an invalid spec')
      return { id, type, spec: head.spec }
    case 'trainer.write-params':
      expectBuffers(message, 1, type)
      return { id, type, params: float32(message.buffers[0], 'the parameter vector') }
    case 'trainer.apply-gradients':
      expectBuffers(message, 1, type)
      return { id, type, gradient: float32(message.buffers[0], 'the gradient') }
    case 'trainer.compute-gradients':
      expectBuffers(message, 2, type)
      return { id, type, x: float32(message.buffers[0], 'x'), y: int32(message.buffers[1], 'y') }
    case 'trainer.train-steps':
    case 'trainer.evaluate': {
      expectBuffers(message, 2, type)
      if (!isPositiveInteger(head.batchSize)) throw bad(`${type} has no positive batchSize`)
      const x = float32(message.buffers[0], 'x')
      const y = int32(message.buffers[1], 'y')
      return { id, type, batchSize: head.batchSize, x, y }
    }
    default:
      throw bad(`unknown request type '${type}'`)
  }
}

/** The part of a named tensor that travels in a head: name and shape (the values go in a buffer). */
export interface NamedTensorHead {
  readonly name: string
  readonly shape: readonly number[]
}

/** Heads of `tensors`, in order; their values travel as one buffer (concatValues) in the same order. */
export function tensorHeads(tensors: readonly OptimizerStateTensor[]): NamedTensorHead[] {
  return tensors.map((t) => ({ name: t.name, shape: t.shape }))
}

/**
 * All tensors' values in one fresh buffer, in order: one buffer however many tensors there are
 * (Adam on a conv net has 17), so a channel's buffer limit never depends on the model.
 */
export function concatValues(tensors: readonly OptimizerStateTensor[]): ArrayBuffer {
  const all = new Float32Array(tensors.reduce((n, t) => n + t.values.length, 0))
  let offset = 0
  for (const t of tensors) {
    all.set(t.values, offset)
    offset += t.values.length
  }
  return all.buffer
}

function isTensorHead(value: unknown): value is NamedTensorHead {
  return (
    isRecord(value) &&
    typeof value.name === 'string' &&
    value.name !== '' &&
    Array.isArray(value.shape) &&
    value.shape.length <= 8 &&
    value.shape.every(isCount)
  )
}

/**
 * Splits one buffer of concatenated float32 values into the tensors the heads describe; the sizes
 * must add up exactly. Used by the service for trainer.import-optimizer and by the client for the
 * reply to trainer.export-optimizer.
 *
 * @throws CoreError ERR_BAD_MESSAGE naming the first problem.
 */
export function decodeNamedTensors(
  heads: unknown,
  buffer: ArrayBuffer | undefined,
  what: string,
): OptimizerStateTensor[] {
  if (!Array.isArray(heads) || !heads.every(isTensorHead)) throw bad(`${what} has malformed tensor heads`)
  const all = float32(buffer, `the values of ${what}`)
  const sizes = heads.map((head) => head.shape.reduce((a, b) => a * b, 1))
  const total = sizes.reduce((a, b) => a + b, 0)
  if (all.length !== total) {
    throw bad(`${what} carries ${all.length} values, but its tensor shapes need ${total}`)
  }
  let offset = 0
  return heads.map((head, i) => {
    const size = sizes[i]!
    const values = all.subarray(offset, offset + size)
    offset += size
    return { name: head.name, shape: [...head.shape], values }
  })
}

/** Reads the id of a head whose body failed validation, so the error can still be answered. */
export function requestIdOf(head: unknown): number | undefined {
  return isRecord(head) && isCount(head.id) ? head.id : undefined
}

/** A success reply. `buffers` are transferred by port channels. */
export function encodeOkReply(
  id: number,
  result: Record<string, unknown>,
  buffers: readonly ArrayBuffer[] = [],
): ChannelMessage {
  return { head: { v: TRAINER_PROTOCOL_VERSION, id, type: 'trainer.ok', result }, buffers }
}

/** An error reply carrying a stable code. */
export function encodeErrorReply(id: number, code: ErrorCode, message: string): ChannelMessage {
  return { head: { v: TRAINER_PROTOCOL_VERSION, id, type: 'trainer.error', code, message }, buffers: [] }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value)
}

/** Validates a reply from the wire. @throws CoreError ERR_BAD_MESSAGE. */
export function decodeTrainerReply(message: ChannelMessage): TrainerReply {
  const { id, type, head } = readEnvelope(message.head)
  if (type === 'trainer.ok') {
    if (!isRecord(head.result)) throw bad('trainer.ok has no result record')
    return { id, ok: true, result: head.result, buffers: message.buffers }
  }
  if (type === 'trainer.error') {
    if (!isErrorCode(head.code)) throw bad(`trainer.error has an unknown code ${describeValue(head.code)}`)
    if (typeof head.message !== 'string') throw bad('trainer.error has no message')
    return { id, ok: false, code: head.code, message: head.message }
  }
  throw bad(`unknown reply type '${type}'`)
}

const ROUTE_KINDS: ReadonlySet<string> = new Set<RouteKind>(['native', 'wasm', 'js', 'webgpu', 'webgl'])

function optionalString(value: unknown): value is string | undefined {
  return value === undefined || typeof value === 'string'
}

/** Type guard for one route's facts from a browser context's probe. */
export function isBrowserRouteFacts(value: unknown): value is BrowserRouteFacts {
  if (!isRecord(value)) return false
  return (
    typeof value.backendName === 'string' &&
    typeof value.kind === 'string' &&
    ROUTE_KINDS.has(value.kind) &&
    typeof value.available === 'boolean' &&
    typeof value.reason === 'string' &&
    typeof value.isHardware === 'boolean' &&
    optionalString(value.detail) &&
    optionalString(value.adapter) &&
    optionalString(value.softwareRenderer) &&
    isStringArray(value.kernels)
  )
}

/** Type guard for the result of trainer.open. */
export function isOpenedTrainerInfo(value: unknown): value is OpenedTrainerInfo {
  if (!isRecord(value)) return false
  return (
    typeof value.backend === 'string' &&
    isCount(value.totalSize) &&
    typeof value.fingerprint === 'string' &&
    typeof value.isHardware === 'boolean' &&
    optionalString(value.adapter) &&
    optionalString(value.softwareRenderer)
  )
}
