/**
 * A short throughput probe of the backend tfjs is using now: a square matmul and a conv2d forward,
 * each run repeatedly for about half the time budget. Every run reads its result back (`dataSync`),
 * so lazy or asynchronous backends cannot report work they have not done; inputs are made once and
 * each run's output is disposed, so the probe leaves no tensors behind.
 */
import { conv2d, dispose, getBackend, matMul, randomUniform, tidy } from '@tensorflow/tfjs-core'
import type { Rank, Tensor } from '@tensorflow/tfjs-core'
import { CoreError } from '../errors.ts'

/** Side of the square matrices multiplied. */
export const PROBE_MATMUL_SIZE = 512
/** Conv probe: NHWC input and HWIO filter, 'same' padding, stride 1 (a small CNN's second layer). */
export const PROBE_CONV_INPUT = [32, 28, 28, 16] as const
export const PROBE_CONV_FILTER = [3, 3, 16, 32] as const

/** One timed operation. */
export interface ThroughputSample {
  readonly op: 'matmul' | 'conv2d'
  /** For people: "512x512 @ 512x512". */
  readonly shape: string
  readonly flopPerRun: number
  /** Timed runs (a warm-up run before them is not counted). */
  readonly runs: number
  readonly seconds: number
  /** 1e9 floating-point operations per second (a multiply-add counts as 2). */
  readonly gflops: number
}

export interface ThroughputResult {
  readonly backend: string
  readonly matmul: ThroughputSample
  readonly conv2d: ThroughputSample
}

export interface ThroughputOptions {
  /** Total time budget in seconds, split evenly between the two ops; at least one timed run each. */
  readonly seconds: number
  /** Milliseconds clock; default performance.now. */
  readonly now?: () => number
}

function timeRuns(run: () => Tensor, budgetMs: number, now: () => number): { runs: number; seconds: number } {
  const once = (): void => {
    const out = run()
    out.dataSync()
    out.dispose()
  }
  once() // warm-up: first runs compile shaders, grow the wasm heap, allocate buffers.
  const start = now()
  let runs = 0
  do {
    once()
    runs += 1
  } while (now() - start < budgetMs)
  return { runs, seconds: (now() - start) / 1000 }
}

function sample(
  op: ThroughputSample['op'],
  shape: string,
  flopPerRun: number,
  timed: { runs: number; seconds: number },
): ThroughputSample {
  // A clock that did not advance (coarse timers) must not produce Infinity.
  const seconds = Math.max(timed.seconds, 1e-6)
  return {
    op,
    shape,
    flopPerRun,
    runs: timed.runs,
    seconds,
    gflops: (flopPerRun * timed.runs) / seconds / 1e9,
  }
}

/**
 * Runs the probe on the current tfjs backend, synchronously: it blocks the thread for about `seconds`
 * (plus one warm-up run of each op).
 *
 * @throws CoreError ERR_INVALID_ARGUMENT when `seconds` is not a finite number >= 0.
 */
export function measureThroughput(options: ThroughputOptions): ThroughputResult {
  const { seconds } = options
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `Probe time must be a finite number of seconds >= 0, got ${seconds}.`,
    )
  }
  const now = options.now ?? (() => performance.now())
  const budgetMs = (seconds * 1000) / 2
  const n = PROBE_MATMUL_SIZE
  const [batch, height, width, inChannels] = PROBE_CONV_INPUT
  const [kernelH, kernelW, , outChannels] = PROBE_CONV_FILTER
  const a = randomUniform([n, n])
  const b = randomUniform([n, n])
  const image = randomUniform<Rank.R4>([...PROBE_CONV_INPUT])
  const filter = randomUniform<Rank.R4>([...PROBE_CONV_FILTER])
  try {
    const matmulTimed = timeRuns(() => tidy(() => matMul(a, b)), budgetMs, now)
    const convTimed = timeRuns(() => tidy(() => conv2d(image, filter, 1, 'same')), budgetMs, now)
    // 'same' padding with stride 1 keeps height x width.
    const convFlop = 2 * batch * height * width * outChannels * kernelH * kernelW * inChannels
    return {
      backend: getBackend(),
      matmul: sample('matmul', `${n}x${n} @ ${n}x${n}`, 2 * n * n * n, matmulTimed),
      conv2d: sample(
        'conv2d',
        `${PROBE_CONV_INPUT.join('x')} * ${PROBE_CONV_FILTER.join('x')} filter`,
        convFlop,
        convTimed,
      ),
    }
  } finally {
    dispose([a, b, image, filter])
  }
}
