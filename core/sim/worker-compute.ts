/**
 * The arithmetic behind the simulator's workers, kept apart from the event loop so the same
 * loop drives real tfjs models (tfjs-workers.ts) and cheap test objectives. Every call works
 * on the caller's flat parameter vector (ParamLayout order): the simulator owns the params,
 * the compute side only reads and updates them.
 */

export interface WorkerCompute {
  /**
   * One local optimizer step of worker `worker` from `params` on its next batch; `params`
   * receives the updated model. Returns the batch loss.
   */
  localStep(worker: number, step: number, params: Float32Array): number
  /** The gradient of worker `worker`'s next batch at `params`, written into `grad`. Returns the batch loss. */
  gradient(worker: number, step: number, params: Float32Array, grad: Float32Array): number
  /** Applies worker `worker`'s optimizer with gradient `grad` to `params` in place. */
  applyGradient(worker: number, step: number, params: Float32Array, grad: Float32Array): void
  /** The learning rate γ at `step` (SlowMo divides by it). */
  learningRate(step: number): number
}

export interface EvaluationScore {
  readonly accuracy: number
  readonly loss: number
}

/** Scores a model (the average of the workers' models at a checkpoint). */
export interface ModelEvaluator {
  evaluate(params: Float32Array): EvaluationScore
}
