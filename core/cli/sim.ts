/**
 * `longhaul sim`: many virtual workers in one process on a virtual clock (core/sim), training
 * a real model on partitioned data with a production algorithm over a modelled network.
 */
import { parseAlgorithmSpec } from '../algorithms/config.ts'
import type { AlgorithmConfig } from '../algorithms/config.ts'
import { loadDataset } from '../data/resolve-dataset.node.ts'
import { CoreError } from '../errors.ts'
import { writeTextFile } from '../sim/csv.node.ts'
import { curveCsv } from '../sim/curve.ts'
import {
  NETWORK_PRESET_NAMES,
  parseLinkOverrides,
  resolveNetwork,
  type LinkOverride,
  type NetworkSpec,
} from '../sim/network.ts'
import { defaultStepMs, runSimulation, type PartitionSpec } from '../sim/run-simulation.ts'
import { parseMembershipEvents, parseStragglers } from '../sim/sim-specs.ts'
import type { SgpDelivery } from '../sim/simulator.ts'
import { MODEL_ZOO, zooModel } from '../tensor/models.ts'
import { setupBackend } from '../training/trainer-setup.node.ts'
import { DEFAULT_LEARNING_RATES, parseOptimizerKind } from '../training/trainer.ts'
import {
  ALGORITHM_OPTION_FLAGS,
  algorithmFlagFields,
  booleanFlag,
  numberFlag,
  parseCommandArgs,
  stringFlag,
  type OptionSpec,
} from './args.ts'
import type { CliIo } from './io.ts'
import { formatDuration, progressBar } from './progress.ts'

const OPTIONS: OptionSpec = {
  workers: { type: 'string' },
  algo: { type: 'string' },
  ...ALGORITHM_OPTION_FLAGS,
  net: { type: 'string' },
  'rtt-ms': { type: 'string' },
  'bandwidth-mbit': { type: 'string' },
  loss: { type: 'string' },
  'jitter-ms': { type: 'string' },
  links: { type: 'string' },
  'also-net': { type: 'string' },
  data: { type: 'string' },
  model: { type: 'string' },
  samples: { type: 'string' },
  iid: { type: 'boolean' },
  dirichlet: { type: 'string' },
  seed: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  optimizer: { type: 'string' },
  'eval-every': { type: 'string' },
  'test-samples': { type: 'string' },
  'step-ms': { type: 'string' },
  'measure-compute': { type: 'boolean' },
  stragglers: { type: 'string' },
  leave: { type: 'string' },
  join: { type: 'string' },
  'deadline-ms': { type: 'string' },
  'sgp-delivery': { type: 'string' },
  backend: { type: 'string' },
  csv: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
}

/** Default optimizer of simulated workers (heavy-ball momentum 0.9, as in the SlowMo and OLCO3 papers). */
export const SIM_DEFAULT_OPTIMIZER = 'momentum'
/** Default learning rate for the default optimizer (tuned on sync, 8 workers, Fashion-MNIST mlp). */
export const SIM_DEFAULT_MOMENTUM_LR = 0.05

export const SIM_HELP = `Usage: longhaul sim [options]

Simulate N workers training one model together, in one process on a virtual clock: the
production algorithms, each worker's own data shard, and a network model (latency, jitter,
bandwidth, loss) per link. Results depend only on the seed, not on how busy the machine is.
Progress goes to stderr; the last stdout line (with --json) is one JSON object:
{"testAccuracy", "bytesPerWorker", "simulatedSeconds", "rounds", ...}.

Example:
  longhaul sim --workers 8 --algo olco3 --H 8 --staleness 2 --compress topk:0.01 \\
    --net wan --data fashion-mnist --samples 300000 --json

Algorithm:
  --algo <spec>            sync, local, olco3, sgp, slowmo, diloco, or a full spec such as
                           slowmo:base=local,H=32,alpha=1,beta=0.6,tau=32 (default: sync)
  --H <n>                  local steps per round (local, olco3)
  --staleness <s>          OLCO3 staleness in rounds
  --compress <spec>        compressor: none, fp16, int8, sign, topk:0.01, randk:0.01, qsgd:127, powersgd:4
  --peers <1|2>            SGP out-peers per step
  --overlap <tau>          SGP overlap: bounded delay in steps (0 = synchronous SGP)
  --tau <n> --alpha <a> --beta <b>   SlowMo outer period, slow learning rate, slow momentum
  --warmup <steps>         post-local SGD warm-up steps with H = 1 (local)
Network:
  --net <preset>           ${NETWORK_PRESET_NAMES.join(', ')} (default: wan)
                           lan 0.5 ms RTT 1 Gbit/s; wan 100 ms 20 Mbit/s;
                           intercontinental 250 ms 10 Mbit/s 1% loss
  --rtt-ms <ms> --bandwidth-mbit <m> --loss <p> --jitter-ms <ms>   override the preset's link
  --links <list>           per-link overrides, ';'-separated: i-j:rtt=300,mbit=5,loss=0.02,jitter=1
                           (i=j: for both directions)
  --also-net <presets>     also report simulated time on these presets (comma-separated);
                           replayed from the same run where the algorithm allows it
  --deadline-ms <ms>       give up waiting for one round's messages after this long (default: never)
  --sgp-delivery <mode>    arrival (default): SGP mixes shares when they arrive; fixed: every
                           share is mixed exactly --overlap steps after it was sent
Workers and data:
  --workers <n>            virtual workers (default: 8)
  --data <spec>            shapes, fashion-mnist, or a dataset path (default: fashion-mnist)
  --model <name>           ${Object.keys(MODEL_ZOO).join(', ')} (default: mlp)
  --samples <n>            total training samples, all workers together (default: one epoch)
  --iid | --dirichlet <a>  IID shards (default) or Dirichlet(a) non-IID shards
  --batch <n>              batch size per worker (default: 64)
  --optimizer <name>       momentum, sgd or adam (default: ${SIM_DEFAULT_OPTIMIZER})
  --lr <rate>              learning rate (default: momentum ${SIM_DEFAULT_MOMENTUM_LR}, sgd ${DEFAULT_LEARNING_RATES.sgd}, adam ${DEFAULT_LEARNING_RATES.adam})
  --step-ms <ms>           virtual compute time per step (default: ${defaultStepMs(64)} ms per 64 samples, mlp on wasm)
  --measure-compute        use each step's measured compute time instead (not deterministic)
  --stragglers <list>      slower workers, e.g. 1:3 (worker 1 computes 3x slower)
  --leave <list>           workers leaving, e.g. 3@120s
  --join <list>            late joiners, e.g. 5@200s (absent until then; catch up from a peer)
  --seed <n>               seed of data, model init and network (default: 1)
  --eval-every <steps>     evaluate the averaged model every n steps (default: about 10 times)
  --test-samples <n>       evaluate on the first n test samples (default: all)
  --backend <name>         tensor backend of this process: tensorflow-gpu, tensorflow, wasm, cpu
                           (workers step synchronously on the virtual clock, so the browser
                           routes and async-only WebGPU are refused with the reason)
Output:
  --csv <file>             write the accuracy curve (per network and checkpoint) as CSV
  --json                   print the summary as JSON on the last stdout line
  -h, --help               show this help
`

export interface SimSummary {
  readonly testAccuracy: number
  readonly testLoss: number
  readonly bytesPerWorker: number
  readonly simulatedSeconds: number
  readonly rounds: number
  readonly steps: number
  readonly samples: number
  readonly workers: number
  readonly algorithm: AlgorithmConfig
  readonly network: string
  readonly partition: string
  readonly data: string
  readonly seed: number
  readonly stepMs: number
  readonly localOnlyRounds: number
  readonly rejectedMessages: number
  readonly lostChunks: number
  /** Simulated seconds per network (the first is `network`). */
  readonly simulatedSecondsBy: Readonly<Record<string, number>>
}

/** Turns `--algo` plus the per-option flags into one algorithm spec string. */
export function algorithmSpecFromFlags(
  values: Record<string, string | boolean | undefined>,
): AlgorithmConfig {
  const algo = stringFlag(values, 'algo') ?? 'sync'
  const extra = algorithmFlagFields(values).map(([key, value]) => `${key}=${value}`)
  if (extra.length === 0) return parseAlgorithmSpec(algo)
  const joiner = algo.includes(':') ? ',' : ':'
  return parseAlgorithmSpec(`${algo}${joiner}${extra.join(',')}`)
}

function optionalNumber(
  values: Record<string, string | boolean | undefined>,
  name: string,
  min: number,
): number | undefined {
  return stringFlag(values, name) === undefined ? undefined : numberFlag(values, name, 0, { min })
}

function networkFromFlags(values: Record<string, string | boolean | undefined>): NetworkSpec {
  const rtt = optionalNumber(values, 'rtt-ms', 0)
  const bandwidth = optionalNumber(values, 'bandwidth-mbit', Number.MIN_VALUE)
  const loss = optionalNumber(values, 'loss', 0)
  const jitter = optionalNumber(values, 'jitter-ms', 0)
  const spec = resolveNetwork(stringFlag(values, 'net') ?? 'wan', {
    ...(rtt !== undefined ? { rttMs: rtt } : {}),
    ...(bandwidth !== undefined ? { bandwidthMbit: bandwidth } : {}),
    ...(loss !== undefined ? { loss } : {}),
    ...(jitter !== undefined ? { jitterMs: jitter } : {}),
  })
  const links = stringFlag(values, 'links')
  if (links === undefined) return spec
  const overrides: LinkOverride[] = links
    .split(';')
    .filter((p) => p.trim() !== '')
    .flatMap((p) => parseLinkOverrides(p))
  return { ...spec, name: `${spec.name}+links`, overrides }
}

function parseDelivery(value: string | undefined): SgpDelivery {
  if (value === undefined || value === 'arrival') return 'arrival'
  if (value === 'fixed') return 'fixed-delay'
  throw new CoreError('ERR_INVALID_ARGUMENT', `--sgp-delivery must be arrival or fixed, got "${value}"`)
}

function round(value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

export async function runSimCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('sim', args, OPTIONS)
  if (booleanFlag(values, 'help')) {
    io.out(SIM_HELP)
    return 0
  }
  if (positionals.length > 0) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `longhaul sim takes no positional arguments, got "${positionals[0]}"`,
    )
  }
  const workers = numberFlag(values, 'workers', 8, { integer: true, min: 1, max: 256 })
  const algorithm = algorithmSpecFromFlags(values)
  const network = networkFromFlags(values)
  const alsoNets = (stringFlag(values, 'also-net') ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '' && n !== network.name)
    .map((n) => resolveNetwork(n))
  const dataSpec = stringFlag(values, 'data') ?? 'fashion-mnist'
  const modelName = stringFlag(values, 'model') ?? 'mlp'
  const model = zooModel(modelName)
  const batchSize = numberFlag(values, 'batch', 64, { integer: true, min: 1, max: 65536 })
  const optimizerKind = parseOptimizerKind(stringFlag(values, 'optimizer') ?? SIM_DEFAULT_OPTIMIZER)
  const defaultLr =
    optimizerKind === 'momentum' ? SIM_DEFAULT_MOMENTUM_LR : DEFAULT_LEARNING_RATES[optimizerKind]
  const learningRate = numberFlag(values, 'lr', defaultLr, { min: Number.MIN_VALUE })
  const seed = numberFlag(values, 'seed', 1, { integer: true, min: 0, max: 2 ** 31 - 1 })
  const dirichlet = stringFlag(values, 'dirichlet')
  if (dirichlet !== undefined && booleanFlag(values, 'iid')) {
    throw new CoreError('ERR_INVALID_ARGUMENT', '--iid and --dirichlet exclude each other')
  }
  const partition: PartitionSpec =
    dirichlet === undefined
      ? { kind: 'iid' }
      : { kind: 'dirichlet', alpha: numberFlag(values, 'dirichlet', 0, { min: Number.MIN_VALUE }) }
  const stepMs = numberFlag(values, 'step-ms', defaultStepMs(batchSize), { min: Number.MIN_VALUE })
  const isMeasured = booleanFlag(values, 'measure-compute')
  const slowdown = parseStragglers(stringFlag(values, 'stragglers') ?? '', workers)
  const leaves = parseMembershipEvents(stringFlag(values, 'leave') ?? '', workers, '--leave')
  const joins = parseMembershipEvents(stringFlag(values, 'join') ?? '', workers, '--join')
  const deadlineMs = optionalNumber(values, 'deadline-ms', Number.MIN_VALUE)
  const sgpDelivery = parseDelivery(stringFlag(values, 'sgp-delivery'))
  const csvPath = stringFlag(values, 'csv')
  const isJson = booleanFlag(values, 'json')
  const started = performance.now()

  const backend = await setupBackend({
    modelSpec: modelName,
    backend: stringFlag(values, 'backend'),
    log: (line) => io.err(line),
  })
  const dataset = await loadDataset(dataSpec, { seed, onProgress: (line: string) => io.status(line) })
  const samples = numberFlag(values, 'samples', dataset.train.count, { integer: true, min: 1 })
  const steps = Math.max(1, Math.round(samples / (workers * batchSize)))
  const evalEvery = numberFlag(values, 'eval-every', Math.max(1, Math.round(steps / 10)), {
    integer: true,
    min: 0,
  })
  const testSamples = numberFlag(values, 'test-samples', dataset.test.count, { integer: true, min: 1 })
  const partitionLabel = partition.kind === 'iid' ? 'iid' : `dirichlet(${partition.alpha})`
  io.err(
    `sim: ${workers} workers, ${JSON.stringify(algorithm)}, ${steps} steps of ${batchSize} per worker (${steps * workers * batchSize} samples, ${partitionLabel}), network ${network.name}, data ${dataset.manifest.name}, model ${modelName}, ${optimizerKind} lr ${learningRate}, backend ${backend.name}`,
  )

  let lastStatus = 0
  const result = runSimulation({
    dataset,
    model,
    workers,
    algorithm,
    steps,
    batchSize,
    optimizer: { kind: optimizerKind, learningRate },
    partition,
    seed,
    networks: [network, ...alsoNets],
    stepMs,
    slowdown,
    ...(isMeasured ? { measureClock: () => performance.now() } : {}),
    evalEvery,
    testSamples,
    leaves,
    joins,
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
    sgpDelivery,
    onProgress: (p) => {
      const now = performance.now()
      if (now - lastStatus < 250 && p.stepsDone < p.stepsTotal) return
      lastStatus = now
      const fraction = p.stepsTotal > 0 ? p.stepsDone / p.stepsTotal : 0
      io.status(
        `sim ${p.network} ${progressBar(fraction)} ${String(Math.round(fraction * 100)).padStart(3)}%  virtual ${formatDuration(p.timeMs / 1000)}  wall ${formatDuration((now - started) / 1000)}`,
      )
    },
    onCheckpoint: (c) =>
      io.err(
        `${c.network} step ${c.step}/${steps}: test accuracy ${(c.accuracy * 100).toFixed(2)}%, loss ${c.loss.toFixed(4)}, at ${(c.timeMs / 1000).toFixed(1)} virtual s (${c.workers} workers averaged)`,
      ),
  })

  const live = result.live
  const first = result.networks[0]!
  for (const run of result.networks.slice(1)) {
    io.err(`${run.network}: ${(run.simulatedMs / 1000).toFixed(1)} virtual s (${run.method})`)
  }
  if (!live.replayable.ok && alsoNets.length > 0) {
    io.err(`other networks were simulated again: ${live.replayable.reason}`)
  }
  if (csvPath !== undefined) {
    await writeTextFile(csvPath, curveCsv(result.networks, workers * batchSize))
    io.err(`curve written to ${csvPath}`)
  }
  const simulatedSecondsBy: Record<string, number> = {}
  for (const run of result.networks) simulatedSecondsBy[run.network] = round(run.simulatedMs / 1000, 3)
  const summary: SimSummary = {
    testAccuracy: round(first.final?.accuracy ?? Number.NaN, 4),
    testLoss: round(first.final?.loss ?? Number.NaN, 4),
    bytesPerWorker: Math.round(live.bytesPerWorker),
    simulatedSeconds: round(live.simulatedMs / 1000, 3),
    rounds: live.rounds,
    steps,
    samples: result.samples,
    workers,
    algorithm,
    network: network.name,
    partition: partitionLabel,
    data: dataset.manifest.name,
    seed,
    stepMs: isMeasured ? Number.NaN : stepMs,
    localOnlyRounds: live.localOnlyRounds,
    rejectedMessages: Object.values(live.rejected).reduce((a, b) => a + b, 0),
    lostChunks: live.lostChunks,
    simulatedSecondsBy,
  }
  io.err(`wall time ${formatDuration((performance.now() - started) / 1000)}`)
  if (isJson) io.out(JSON.stringify(summary))
  else
    io.out(
      `test accuracy ${(summary.testAccuracy * 100).toFixed(2)}% after ${summary.rounds} rounds; ${(summary.bytesPerWorker / 1e6).toFixed(2)} MB sent per worker; ${formatDuration(summary.simulatedSeconds)} simulated on ${summary.network}`,
    )
  return 0
}
