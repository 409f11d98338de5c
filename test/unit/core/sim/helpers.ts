/**
 * A cheap stand-in for tfjs workers: worker i minimises f_i(x) = ½‖x − b_i‖² with plain SGD
 * (x ← x − γ(x − b_i)), so the simulator's event loop can be tested in milliseconds. The
 * evaluator scores the distance to the global optimum mean(b_i).
 */
import type { EvaluationScore, ModelEvaluator, WorkerCompute } from '../../../../core/sim/worker-compute.ts'
import { buildLayout, type ParamLayout } from '../../../../core/tensor/param-layout.ts'

export function testLayout(size: number): ParamLayout {
  return buildLayout([{ name: 'dense/kernel', shape: [size] }])
}

export class QuadraticWorkers implements WorkerCompute, ModelEvaluator {
  readonly targets: Float32Array[]
  readonly calls: Array<{ kind: string; worker: number; step: number }> = []
  readonly evaluated: Float32Array[] = []
  private readonly lr: number

  constructor(workers: number, size: number, lr = 0.1) {
    this.lr = lr
    this.targets = Array.from({ length: workers }, (_, i) =>
      Float32Array.from({ length: size }, (_, j) => Math.sin(i * 1.7 + j * 0.3) + i * 0.1),
    )
  }

  localStep(worker: number, step: number, params: Float32Array): number {
    this.calls.push({ kind: 'local', worker, step })
    const b = this.targets[worker]!
    let loss = 0
    for (let j = 0; j < params.length; j++) {
      const g = params[j]! - b[j]!
      loss += 0.5 * g * g
      params[j] = params[j]! - this.lr * g
    }
    return loss
  }

  gradient(worker: number, step: number, params: Float32Array, grad: Float32Array): number {
    this.calls.push({ kind: 'gradient', worker, step })
    const b = this.targets[worker]!
    let loss = 0
    for (let j = 0; j < params.length; j++) {
      grad[j] = params[j]! - b[j]!
      loss += 0.5 * grad[j]! * grad[j]!
    }
    return loss
  }

  applyGradient(worker: number, step: number, params: Float32Array, grad: Float32Array): void {
    this.calls.push({ kind: 'apply', worker, step })
    for (let j = 0; j < params.length; j++) params[j] = params[j]! - this.lr * grad[j]!
  }

  learningRate(): number {
    return this.lr
  }

  optimum(): Float32Array {
    const out = new Float32Array(this.targets[0]!.length)
    for (const b of this.targets)
      for (let j = 0; j < out.length; j++) out[j] = out[j]! + b[j]! / this.targets.length
    return out
  }

  evaluate(params: Float32Array): EvaluationScore {
    this.evaluated.push(params.slice())
    const opt = this.optimum()
    let loss = 0
    for (let j = 0; j < params.length; j++) loss += 0.5 * (params[j]! - opt[j]!) ** 2
    return { loss, accuracy: 1 / (1 + loss) }
  }
}
