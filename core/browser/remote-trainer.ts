/**
 * The engine side of the trainer protocol: a client for one browser context (TrainerClient) and
 * the trainer open in it (RemoteTrainer, an AsyncTrainer). Requests carry ids; each waits for its
 * reply under a timeout, and a channel that closes fails every waiting request at once.
 *
 * Vectors the caller passes are copied once into fresh buffers before sending (the caller's arrays
 * are never detached); vectors that come back are the received buffers, wrapped without a copy.
 */
import { CoreError, isCoreError } from '../errors.ts'
import { isCount } from '../guards.ts'
import type { EvaluationResult, LabelledSplit, OptimizerStateTensor } from '../training/trainer.ts'
import type { AsyncTrainer } from './async-trainer.ts'
import { DEFAULT_EVALUATE_BATCH } from './async-trainer.ts'
import type { TrainerChannel } from './channel.ts'
import {
  decodeNamedTensors,
  decodeTrainerReply,
  encodeTrainerRequest,
  isBrowserRouteFacts,
  isOpenedTrainerInfo,
} from './trainer-protocol.ts'
import type {
  BrowserRouteFacts,
  OpenedTrainerInfo,
  TrainerRequestBody,
  TrainerSpec,
} from './trainer-protocol.ts'

/** Default wait for one reply. A CNN epoch chunk on a software rasteriser takes seconds; increase for bigger requests. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000

export interface TrainerClientOptions {
  readonly channel: TrainerChannel
  /** Longest wait for one reply, in milliseconds (default DEFAULT_REQUEST_TIMEOUT_MS). */
  readonly requestTimeoutMs?: number
  /** Aborting closes the client; waiting requests fail with ERR_ABORTED. */
  readonly signal?: AbortSignal
}

interface Received {
  readonly result: Record<string, unknown>
  readonly buffers: readonly ArrayBuffer[]
}

interface Pending {
  readonly type: TrainerRequestBody['type']
  readonly resolve: (received: Received) => void
  readonly reject: (error: CoreError) => void
  readonly timer: ReturnType<typeof setTimeout>
}

function protocolError(message: string): CoreError {
  return new CoreError('ERR_REMOTE_TRAINER', message)
}

/** A connection to one browser context that can host one trainer at a time. */
export class TrainerClient {
  private readonly channel: TrainerChannel
  private readonly timeoutMs: number
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closeError: CoreError | undefined
  private isClosed = false
  private readonly unsubscribe: Array<() => void>
  private readonly signal: AbortSignal | undefined
  private readonly onAbort = (): void =>
    this.close(new CoreError('ERR_ABORTED', 'the trainer client was aborted'))

  constructor(options: TrainerClientOptions) {
    this.channel = options.channel
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.signal = options.signal
    this.unsubscribe = [
      this.channel.onMessage((message) => {
        let reply
        try {
          reply = decodeTrainerReply(message)
        } catch (error) {
          this.close(error instanceof CoreError ? error : protocolError(String(error)))
          return
        }
        const waiting = this.pending.get(reply.id)
        if (waiting === undefined) {
          this.close(protocolError(`the browser context answered request ${reply.id}, which is not waiting`))
          return
        }
        this.pending.delete(reply.id)
        clearTimeout(waiting.timer)
        if (reply.ok) waiting.resolve({ result: reply.result, buffers: reply.buffers })
        else waiting.reject(new CoreError(reply.code, reply.message))
      }),
      this.channel.onClose((error) => {
        this.close(
          new CoreError(
            'ERR_REMOTE_TRAINER',
            `the browser context's channel closed${error !== undefined ? `: ${error.message}` : ''}`,
            { cause: error },
          ),
        )
      }),
    ]
    if (this.signal?.aborted === true) this.onAbort()
    else this.signal?.addEventListener('abort', this.onAbort, { once: true })
  }

  /** The browser context's own probe of its routes (adapter, renderer, kernels); `backends` limits it. */
  async probe(backends?: readonly string[]): Promise<BrowserRouteFacts[]> {
    const { result } = await this.request({
      type: 'trainer.probe',
      ...(backends !== undefined ? { backends } : {}),
    })
    const routes: unknown = result.routes
    if (!Array.isArray(routes) || !routes.every(isBrowserRouteFacts)) {
      throw protocolError('trainer.probe answered with malformed route facts')
    }
    return routes
  }

  /**
   * Opens a trainer in the browser context on `spec.backend`.
   *
   * @throws CoreError ERR_BACKEND_UNAVAILABLE (from the browser context) when that backend is
   *   unavailable there or lacks a kernel the model needs to train; ERR_INVALID_ARGUMENT when a
   *   trainer is already open.
   */
  async open(spec: TrainerSpec): Promise<RemoteTrainer> {
    const { result } = await this.request({ type: 'trainer.open', spec })
    if (!isOpenedTrainerInfo(result)) throw protocolError('trainer.open answered with a malformed result')
    return new RemoteTrainer(this, result)
  }

  /** Fails waiting requests and closes the channel. Safe to call twice. */
  close(error?: CoreError): void {
    if (this.isClosed) return
    this.isClosed = true
    this.closeError = error ?? new CoreError('ERR_DESTROYED', 'the trainer client is closed')
    for (const off of this.unsubscribe) off()
    this.signal?.removeEventListener('abort', this.onAbort)
    for (const [, waiting] of this.pending) {
      clearTimeout(waiting.timer)
      waiting.reject(this.closeError)
    }
    this.pending.clear()
    this.channel.close(error)
  }

  /** @internal Sends one request and waits for its reply. */
  request(body: TrainerRequestBody): Promise<Received> {
    if (this.isClosed) {
      return Promise.reject(this.closeError ?? new CoreError('ERR_DESTROYED', 'the trainer client is closed'))
    }
    const id = this.nextId
    this.nextId += 1
    return new Promise<Received>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(
          new CoreError(
            'ERR_TIMEOUT',
            `the browser context did not answer ${body.type} within ${this.timeoutMs} ms`,
          ),
        )
      }, this.timeoutMs)
      this.pending.set(id, { type: body.type, resolve, reject, timer })
      try {
        this.channel.send(encodeTrainerRequest(id, body))
      } catch (error) {
        this.pending.delete(id)
        clearTimeout(timer)
        reject(error instanceof CoreError ? error : protocolError(String(error)))
      }
    })
  }
}

function onlyBuffer(received: Received, what: string, length?: number): Float32Array {
  const buffer = received.buffers[0]
  if (received.buffers.length !== 1 || buffer === undefined || buffer.byteLength % 4 !== 0) {
    throw protocolError(`the reply carries no ${what}`)
  }
  const values = new Float32Array(buffer)
  if (length !== undefined && values.length !== length) {
    throw protocolError(`the ${what} has ${values.length} values, expected ${length}`)
  }
  return values
}

function finiteNumber(result: Record<string, unknown>, key: string): number {
  const value = result[key]
  // NaN is a legitimate loss (a diverged model), so only the type is checked.
  if (typeof value !== 'number') throw protocolError(`the reply has no numeric ${key}`)
  return value
}

/** A trainer living in a browser context; every method is one request. */
export class RemoteTrainer implements AsyncTrainer {
  readonly description: string
  readonly totalSize: number
  readonly fingerprint: string
  readonly info: OpenedTrainerInfo
  private isClosed = false

  constructor(
    private readonly client: TrainerClient,
    info: OpenedTrainerInfo,
  ) {
    this.info = info
    this.totalSize = info.totalSize
    this.fingerprint = info.fingerprint
    this.description = `browser ${info.backend}${info.adapter !== undefined ? ` (${info.adapter})` : ''}`
  }

  async trainSteps(x: Float32Array, y: Int32Array, batchSize: number): Promise<Float32Array> {
    const received = await this.client.request({ type: 'trainer.train-steps', batchSize, x, y })
    return onlyBuffer(received, 'loss vector', Math.ceil(y.length / batchSize))
  }

  async computeGradients(x: Float32Array, y: Int32Array, out: Float32Array): Promise<number> {
    if (out.length !== this.totalSize) {
      throw new CoreError(
        'ERR_SHAPE_MISMATCH',
        `the gradient vector has ${out.length} values but the model layout ${this.fingerprint} needs ${this.totalSize}`,
      )
    }
    const received = await this.client.request({ type: 'trainer.compute-gradients', x, y })
    out.set(onlyBuffer(received, 'gradient', this.totalSize))
    return finiteNumber(received.result, 'loss')
  }

  async applyGradients(gradient: Float32Array): Promise<void> {
    await this.client.request({ type: 'trainer.apply-gradients', gradient })
  }

  async readParams(out?: Float32Array): Promise<Float32Array> {
    const received = await this.client.request({ type: 'trainer.read-params' })
    const values = onlyBuffer(received, 'parameter vector', this.totalSize)
    if (out === undefined) return values
    if (out.length !== this.totalSize) {
      throw new CoreError(
        'ERR_SHAPE_MISMATCH',
        `the output vector has ${out.length} values but the model layout ${this.fingerprint} needs ${this.totalSize}`,
      )
    }
    out.set(values)
    return out
  }

  async writeParams(values: Float32Array): Promise<void> {
    await this.client.request({ type: 'trainer.write-params', params: values })
  }

  async evaluate(split: LabelledSplit, batchSize = DEFAULT_EVALUATE_BATCH): Promise<EvaluationResult> {
    const { result } = await this.client.request({
      type: 'trainer.evaluate',
      batchSize,
      x: split.x,
      y: split.y.subarray(0, split.count),
    })
    const count = result.count
    if (!isCount(count)) throw protocolError('trainer.evaluate answered without a count')
    return { loss: finiteNumber(result, 'loss'), accuracy: finiteNumber(result, 'accuracy'), count }
  }

  async exportOptimizerState(): Promise<OptimizerStateTensor[]> {
    const { result, buffers } = await this.client.request({ type: 'trainer.export-optimizer' })
    try {
      if (buffers.length !== 1)
        throw new Error(`the optimizer state came in ${buffers.length} buffers, not 1`)
      return decodeNamedTensors(result.tensors, buffers[0], 'the optimizer state')
    } catch (error) {
      throw protocolError(isCoreError(error) ? error.message : String(error))
    }
  }

  async importOptimizerState(state: readonly OptimizerStateTensor[]): Promise<void> {
    if (state.length === 0) return
    await this.client.request({ type: 'trainer.import-optimizer', tensors: state })
  }

  /** Frees the trainer in the browser context (the client stays open for another). Safe to call twice. */
  async close(): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    await this.client.request({ type: 'trainer.close' })
  }
}
