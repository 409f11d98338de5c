/**
 * A `LocalModel` without tensors for node tests: multinomial logistic regression trained by
 * plain SGD on synthetic Gaussian blobs. Small (a few dozen parameters), deterministic, and
 * learnable to > 90 % accuracy in a few epochs, so tests can assert real training outcomes.
 */
import type { AsyncTrainer } from '../../../../core/browser/async-trainer.ts'
import { createPrng } from '../../../../core/data/prng.ts'
import type { Split } from '../../../../core/data/dataset.ts'
import type { LocalModel } from '../../../../core/node/local-model.ts'
import type { OptimizerTensor } from '../../../../core/node/snapshot-codec.ts'
import { buildLayout, type ParamLayout } from '../../../../core/tensor/param-layout.ts'
import type { EvaluationResult } from '../../../../core/training/trainer.ts'

export const FEATURES = 6
export const CLASSES = 3

/** `count` samples of CLASSES blobs in FEATURES dimensions (seeded). */
export function blobs(count: number, seed: number): Split {
  const prng = createPrng(seed)
  const centres = Array.from({ length: CLASSES }, (_, c) =>
    Array.from({ length: FEATURES }, (_, f) => (f % CLASSES === c ? 2.5 : 0)),
  )
  const x = new Float32Array(count * FEATURES)
  const y = new Int32Array(count)
  for (let i = 0; i < count; i++) {
    const c = i % CLASSES
    y[i] = c
    for (let f = 0; f < FEATURES; f++) {
      // Box-Muller for a unit normal.
      const u = Math.max(prng.nextFloat(), 1e-12)
      const v = prng.nextFloat()
      x[i * FEATURES + f] = (centres[c]?.[f] ?? 0) + Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
    }
  }
  return { x, y, count }
}

export class FakeModel implements LocalModel {
  readonly layout: ParamLayout = buildLayout([
    { name: 'w', shape: [FEATURES, CLASSES] },
    { name: 'b', shape: [CLASSES] },
  ])
  readonly optimizerKind = 'sgd'
  readonly params: Float32Array
  /** Every vector written with writeParams, in order. */
  readonly writes: Float32Array[] = []
  /** The parameters after each optimizer step (trainStep or applyGradients), in order. */
  readonly afterSteps: Float32Array[] = []
  private readonly grad: Float32Array

  constructor(
    seed: number,
    readonly learningRate = 0.1,
  ) {
    this.params = new Float32Array(this.layout.totalSize)
    this.grad = new Float32Array(this.layout.totalSize)
    const prng = createPrng(seed)
    for (let i = 0; i < this.params.length; i++) this.params[i] = (prng.nextFloat() - 0.5) * 0.1
  }

  readParams(out: Float32Array): void {
    out.set(this.params)
  }

  writeParams(values: Float32Array): void {
    if (values.length !== this.params.length) throw new Error('size')
    if (values.some((v) => !Number.isFinite(v))) throw new Error('non-finite params written to the model')
    this.writes.push(values.slice())
    this.params.set(values)
  }

  private logits(x: Float32Array, i: number, out: Float64Array): void {
    for (let c = 0; c < CLASSES; c++) {
      let z = this.params[FEATURES * CLASSES + c] ?? 0
      for (let f = 0; f < FEATURES; f++) z += (x[i * FEATURES + f] ?? 0) * (this.params[f * CLASSES + c] ?? 0)
      out[c] = z
    }
  }

  private softmax(z: Float64Array): void {
    const max = Math.max(...z)
    let sum = 0
    for (let c = 0; c < z.length; c++) {
      z[c] = Math.exp((z[c] ?? 0) - max)
      sum += z[c] ?? 0
    }
    for (let c = 0; c < z.length; c++) z[c] = (z[c] ?? 0) / sum
  }

  computeGradients(x: Float32Array, y: Int32Array, out: Float32Array): number {
    out.fill(0)
    const n = y.length
    const p = new Float64Array(CLASSES)
    let loss = 0
    for (let i = 0; i < n; i++) {
      this.logits(x, i, p)
      this.softmax(p)
      const label = y[i] ?? 0
      loss -= Math.log(Math.max(p[label] ?? 0, 1e-12))
      for (let c = 0; c < CLASSES; c++) {
        const d = ((p[c] ?? 0) - (c === label ? 1 : 0)) / n
        out[FEATURES * CLASSES + c] = (out[FEATURES * CLASSES + c] ?? 0) + d
        for (let f = 0; f < FEATURES; f++)
          out[f * CLASSES + c] = (out[f * CLASSES + c] ?? 0) + d * (x[i * FEATURES + f] ?? 0)
      }
    }
    return loss / n
  }

  applyGradients(gradient: Float32Array): void {
    for (let j = 0; j < this.params.length; j++)
      this.params[j] = (this.params[j] ?? 0) - this.learningRate * (gradient[j] ?? 0)
    this.afterSteps.push(this.params.slice())
  }

  trainStep(x: Float32Array, y: Int32Array): number {
    const loss = this.computeGradients(x, y, this.grad)
    this.applyGradients(this.grad)
    return loss
  }

  evaluate(split: Split): EvaluationResult {
    const p = new Float64Array(CLASSES)
    let correct = 0
    let loss = 0
    for (let i = 0; i < split.count; i++) {
      this.logits(split.x, i, p)
      this.softmax(p)
      const label = split.y[i] ?? 0
      loss -= Math.log(Math.max(p[label] ?? 0, 1e-12))
      let best = 0
      for (let c = 1; c < CLASSES; c++) if ((p[c] ?? 0) > (p[best] ?? 0)) best = c
      if (best === label) correct++
    }
    return { loss: loss / split.count, accuracy: correct / split.count, count: split.count }
  }

  exportOptimizerState(): Promise<OptimizerTensor[]> {
    return Promise.resolve([])
  }

  importOptimizerState(): Promise<void> {
    return Promise.resolve()
  }
}

/** A result a few microtasks later: what the caller sees of a reply from another context. */
async function later<T>(work: () => T): Promise<T> {
  await Promise.resolve()
  const result = work()
  await Promise.resolve()
  return result
}

/**
 * `model` behind the AsyncTrainer interface, as a browser page would serve it: every call answers
 * in a promise, and vectors cross as copies (a page's reply is a new buffer, never the caller's
 * array), so nothing is shared between the two sides.
 */
export function fakeAsyncTrainer(model: FakeModel): AsyncTrainer {
  const copy = (values: Float32Array): Float32Array => values.slice()
  return {
    description: 'fake async trainer',
    totalSize: model.layout.totalSize,
    fingerprint: model.layout.fingerprint,
    trainSteps: (x, y, batchSize) =>
      later(() => {
        const losses: number[] = []
        for (let start = 0; start < y.length; start += batchSize) {
          const end = Math.min(start + batchSize, y.length)
          losses.push(
            model.trainStep(copy(x.subarray(start * FEATURES, end * FEATURES)), y.slice(start, end)),
          )
        }
        return Float32Array.from(losses)
      }),
    computeGradients: (x, y, out) =>
      later(() => {
        const gradient = new Float32Array(out.length)
        const loss = model.computeGradients(copy(x), y.slice(), gradient)
        out.set(gradient)
        return loss
      }),
    applyGradients: (gradient) => later(() => model.applyGradients(copy(gradient))),
    readParams: (out) =>
      later(() => {
        const values = new Float32Array(model.layout.totalSize)
        model.readParams(values)
        if (out === undefined) return values
        out.set(values)
        return out
      }),
    writeParams: (values) => later(() => model.writeParams(copy(values))),
    evaluate: (split) => later(() => model.evaluate(split)),
    exportOptimizerState: () => later(() => []),
    importOptimizerState: () => later(() => undefined),
    close: () => later(() => undefined),
  }
}
