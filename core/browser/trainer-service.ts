/**
 * The browser side of the trainer protocol: answers requests on a TrainerChannel with the SAME
 * Trainer, model zoo and backend selection the engine uses in Node (no second copy of training
 * code). It runs in a Chromium page (tests, benchmarks), in Electron's hidden renderer, or in any
 * context with tfjs; in Node it serves the cpu backend for unit tests.
 *
 * The open trainer is served through `localAsyncTrainer` with the chosen route's readback, so on
 * WebGPU (whose synchronous readback returns zeros and loses the device) every read is data(), and
 * on WebGL and cpu the synchronous methods run as they do in Node.
 *
 * Requests are handled one at a time, in arrival order: tfjs work from two requests must never
 * interleave. One trainer is open at a time; `trainer.open` selects its backend with the kernel
 * check (a backend lacking a training kernel is refused with the sentence saying which).
 */
import { getKernelsForBackend } from '@tensorflow/tfjs-core'
import type { LayersModel } from '@tensorflow/tfjs-layers'
import { CoreError, isCoreError } from '../errors.ts'
import type { ErrorCode } from '../errors.ts'
import { backendNameOf, firstLine, probeRoutes, selectBackend, startRoute } from '../tensor/backend-select.ts'
import type { BackendRoute, RouteReport } from '../tensor/backend-select.ts'
import { checkModelFitsData, zooModel } from '../tensor/models.ts'
import type { ModelShape } from '../tensor/models.ts'
import { requiredTrainingKernels } from '../tensor/training-kernels.ts'
import { Trainer } from '../training/trainer.ts'
import { localAsyncTrainer, wholeBuffer } from './async-trainer.ts'
import type { AsyncTrainer } from './async-trainer.ts'
import type { ChannelMessage, TrainerChannel } from './channel.ts'
import {
  decodeTrainerRequest,
  encodeErrorReply,
  encodeOkReply,
  requestIdOf,
  concatValues,
  tensorHeads,
} from './trainer-protocol.ts'
import type { BrowserRouteFacts, OpenedTrainerInfo, TrainerRequest, TrainerSpec } from './trainer-protocol.ts'

export interface TrainerServiceOptions {
  readonly channel: TrainerChannel
  /** This context's routes in priority order (createBrowserRoutes() in a page). */
  readonly routes: readonly BackendRoute[]
  /** Builds a model by name; default: the model zoo. A seam for tests. */
  readonly buildModel?: (name: string, shape: ModelShape) => LayersModel
  /** Kernel names the model needs to train; default: from the zoo model's layer classes. */
  readonly trainingKernels?: (name: string) => readonly string[]
}

interface Reply {
  readonly result: Record<string, unknown>
  readonly buffers?: readonly ArrayBuffer[]
}

function routeFacts(report: RouteReport): BrowserRouteFacts {
  const kernels = report.available
    ? getKernelsForBackend(report.backendName)
        .map((k) => k.kernelName)
        .sort()
    : []
  return {
    backendName: report.backendName,
    kind: report.kind,
    available: report.available,
    reason: report.reason,
    isHardware: report.isHardware,
    ...(report.detail !== undefined ? { detail: report.detail } : {}),
    ...(report.adapter !== undefined ? { adapter: report.adapter } : {}),
    ...(report.softwareRenderer !== undefined ? { softwareRenderer: report.softwareRenderer } : {}),
    kernels,
  }
}

/** Serves trainer requests until the channel closes or `close()` is called. */
export class TrainerService {
  private readonly channel: TrainerChannel
  private readonly routes: readonly BackendRoute[]
  private readonly buildModel: (name: string, shape: ModelShape) => LayersModel
  private readonly trainingKernels: (name: string) => readonly string[]
  private trainer: AsyncTrainer | undefined
  private queue: Promise<void> = Promise.resolve()
  private isClosed = false
  private readonly unsubscribe: Array<() => void>

  constructor(options: TrainerServiceOptions) {
    this.channel = options.channel
    this.routes = options.routes
    this.buildModel = options.buildModel ?? ((name, shape) => zooModel(name).build(shape))
    this.trainingKernels =
      options.trainingKernels ?? ((name) => requiredTrainingKernels(zooModel(name).layerClasses))
    this.unsubscribe = [
      this.channel.onMessage((message) => this.enqueue(message)),
      this.channel.onClose(() => this.close()),
    ]
  }

  /** Frees the open trainer and stops answering. Safe to call twice. */
  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    for (const off of this.unsubscribe) off()
    void this.trainer?.close()
    this.trainer = undefined
    this.channel.close()
  }

  private enqueue(message: ChannelMessage): void {
    // A chain, not a lock: each request starts after the previous one has replied.
    this.queue = this.queue.then(() => this.handle(message))
  }

  private async handle(message: ChannelMessage): Promise<void> {
    if (this.isClosed) return
    let request: TrainerRequest
    try {
      request = decodeTrainerRequest(message)
    } catch (error) {
      const id = requestIdOf(message.head)
      if (id === undefined) {
        // No id to answer: the other side is not speaking this protocol.
        this.channel.close(isCoreError(error) ? error : new CoreError('ERR_BAD_MESSAGE', String(error)))
        return
      }
      this.replyError(id, error)
      return
    }
    try {
      const reply = await this.answer(request)
      if (!this.isClosed && !this.channel.isClosed) {
        this.channel.send(encodeOkReply(request.id, reply.result, reply.buffers ?? []))
      }
    } catch (error) {
      this.replyError(request.id, error)
    }
  }

  private replyError(id: number, error: unknown): void {
    if (this.isClosed || this.channel.isClosed) return
    const code: ErrorCode = isCoreError(error) ? error.code : 'ERR_REMOTE_TRAINER'
    const message = isCoreError(error) ? error.message : firstLine(error)
    this.channel.send(encodeErrorReply(id, code, message))
  }

  private openTrainer(): AsyncTrainer {
    if (this.trainer === undefined) {
      throw new CoreError('ERR_INVALID_ARGUMENT', 'no trainer is open; send trainer.open first')
    }
    return this.trainer
  }

  private async answer(request: TrainerRequest): Promise<Reply> {
    switch (request.type) {
      case 'trainer.probe': {
        const { backends } = request
        const routes = this.routes.filter(
          (r) => backends === undefined || backends.includes(backendNameOf(r)),
        )
        const reports = await probeRoutes(routes, { probeOnDemand: true })
        return { result: { routes: reports.map(routeFacts) } }
      }
      case 'trainer.open':
        return { result: { ...(await this.open(request.spec)) } }
      case 'trainer.read-params':
        return { result: {}, buffers: [wholeBuffer(await this.openTrainer().readParams())] }
      case 'trainer.write-params':
        await this.openTrainer().writeParams(request.params)
        return { result: {} }
      case 'trainer.train-steps': {
        const losses = await this.openTrainer().trainSteps(request.x, request.y, request.batchSize)
        return { result: { steps: losses.length }, buffers: [wholeBuffer(losses)] }
      }
      case 'trainer.compute-gradients': {
        const trainer = this.openTrainer()
        const gradient = new Float32Array(trainer.totalSize)
        const loss = await trainer.computeGradients(request.x, request.y, gradient)
        return { result: { loss }, buffers: [wholeBuffer(gradient)] }
      }
      case 'trainer.apply-gradients':
        await this.openTrainer().applyGradients(request.gradient)
        return { result: {} }
      case 'trainer.evaluate': {
        const split = { x: request.x, y: request.y, count: request.y.length }
        const result = await this.openTrainer().evaluate(split, request.batchSize)
        return { result: { loss: result.loss, accuracy: result.accuracy, count: result.count } }
      }
      case 'trainer.export-optimizer': {
        const tensors = await this.openTrainer().exportOptimizerState()
        return { result: { tensors: tensorHeads(tensors) }, buffers: [concatValues(tensors)] }
      }
      case 'trainer.import-optimizer':
        await this.openTrainer().importOptimizerState(request.tensors)
        return { result: {} }
      case 'trainer.close': {
        const trainer = this.trainer
        this.trainer = undefined
        await trainer?.close()
        return { result: {} }
      }
    }
  }

  private async open(spec: TrainerSpec): Promise<OpenedTrainerInfo> {
    if (this.trainer !== undefined) {
      throw new CoreError('ERR_INVALID_ARGUMENT', 'a trainer is already open here; close it first')
    }
    // The same selection as in Node: the requested backend must be available and have every
    // kernel the model needs to train, or the open fails with the sentence saying why.
    const choice = await selectBackend(this.routes, {
      preferred: spec.backend,
      preferredSource: 'the engine asked for it',
      requiredKernels: this.trainingKernels(spec.model),
      start: startRoute,
    })
    const shape = { inputShape: spec.inputShape, classCount: spec.classCount }
    const model = this.buildModel(spec.model, shape)
    checkModelFitsData(model, shape, `model ${spec.model}`)
    const trainer = new Trainer({ model, classCount: spec.classCount, optimizer: spec.optimizer })
    this.trainer = localAsyncTrainer(trainer, `${choice.backendName} in this context`, choice.readback)
    const chosen = choice.report.find((r) => r.chosen)
    return {
      backend: choice.backendName,
      totalSize: trainer.params.layout.totalSize,
      fingerprint: trainer.params.layout.fingerprint,
      isHardware: choice.isHardware,
      ...(chosen?.adapter !== undefined ? { adapter: chosen.adapter } : {}),
      ...(chosen?.softwareRenderer !== undefined ? { softwareRenderer: chosen.softwareRenderer } : {}),
    }
  }
}
