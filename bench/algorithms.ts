/**
 * `npm run bench -- algorithms [--quick] [options]`: the reproduction benchmark of the
 * distributed algorithms on the deterministic simulator (core/sim).
 *
 * Fashion-MNIST, mlp, 8 workers, every row trains on the same total sample budget (at least
 * three epochs' worth, rounded up so that every row ends on a round boundary), on IID shards
 * and on Dirichlet(0.3) shards. Each row is trained once, live on `wan`; its times on `lan`
 * and `intercontinental` are replayed from the same run's trace when the algorithm's
 * arithmetic does not depend on message timing, which holds for every row here (SGP's
 * overlap row uses fixed-delay delivery: every share is mixed exactly τ steps after it was
 * sent, the bounded-delay worst case; core/sim/simulator.ts).
 *
 * Output: the markdown tables (stdout), and with --out <dir> (default docs/results for the
 * full run, nothing for --quick): algorithms.md, algorithms.csv, algorithms-curves.csv and
 * algorithms-wan.svg (test accuracy against simulated time on wan, one line per row).
 *
 * --quick (the CI smoke test): 4 workers, 6,144 samples, four rows, IID only, test accuracy
 * on the first 2,000 test images.
 *
 * Other options: --rows <ids>, --splits iid,dirichlet, --samples <n>, --workers <n>,
 * --batch <n>, --lr <rate>, --seed <n>, --data <spec>, and --from <dir>[,<dir>...] to render
 * the report from earlier runs' CSV files without training (the two splits of the full run
 * can be trained by two processes with --splits and joined that way).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AlgorithmConfig } from '../core/algorithms/config.ts'
import type { Dataset } from '../core/data/dataset.ts'
import { loadDataset } from '../core/data/resolve-dataset.node.ts'
import { CoreError } from '../core/errors.ts'
import { initBackend } from '../core/platform/backends.node.ts'
import { writeTextFile } from '../core/sim/csv.node.ts'
import { NETWORK_PRESET_NAMES, resolveNetwork } from '../core/sim/network.ts'
import { defaultStepMs, runSimulation, type PartitionSpec } from '../core/sim/run-simulation.ts'
import { MODEL_ZOO } from '../core/tensor/models.ts'
import { requiredTrainingKernels } from '../core/tensor/training-kernels.ts'
import type { OptimizerConfig } from '../core/training/trainer.ts'
import { markdownTable } from './table.ts'

/** One row of the benchmark. */
export interface AlgorithmRow {
  readonly id: string
  readonly label: string
  readonly config: AlgorithmConfig
}

const OLCO3_TOPK = { kind: 'olco3', H: 8, staleness: 2, compressor: 'topk:0.01' } as const

/**
 * SlowMo's outer step for both SlowMo rows: α = 1, β = 0.5 (the paper's heavy-ball form) every
 * τ = 32 steps. Chosen on IID at this sample budget against α = 1, β = 0.7 in the Nesterov
 * form; both are reported in docs/algorithms-reproduction.md.
 */
const SLOWMO = { alpha: 1, beta: 0.5, tau: 32, nesterov: false } as const

/** The rows of the issue, in its order. */
export const ALGORITHM_ROWS: readonly AlgorithmRow[] = [
  { id: 'sync', label: 'sync', config: { kind: 'sync' } },
  { id: 'local-h8', label: 'local H=8', config: { kind: 'local', H: 8 } },
  { id: 'local-h32', label: 'local H=32', config: { kind: 'local', H: 32 } },
  {
    id: 'local-h32-slowmo',
    label: 'local H=32 + slowmo',
    config: { kind: 'slowmo', base: { kind: 'local', H: 32 }, ...SLOWMO },
  },
  { id: 'olco3-topk', label: 'olco3 (s=2, top-k 1%)', config: OLCO3_TOPK },
  {
    id: 'olco3-sign',
    label: 'olco3 (s=2, sign)',
    config: { kind: 'olco3', H: 8, staleness: 2, compressor: 'sign' },
  },
  {
    id: 'olco3-slowmo',
    label: 'olco3 (s=2, top-k 1%) + slowmo',
    config: { kind: 'slowmo', base: OLCO3_TOPK, ...SLOWMO },
  },
  { id: 'sgp-1peer', label: 'sgp 1-peer', config: { kind: 'sgp', peers: 1, overlapDelay: 0 } },
  { id: 'sgp-overlap', label: 'sgp overlap τ=2', config: { kind: 'sgp', peers: 1, overlapDelay: 2 } },
]

const QUICK_ROWS = ['sync', 'local-h8', 'olco3-topk', 'sgp-1peer']

export interface BenchSettings {
  readonly isQuick: boolean
  readonly workers: number
  readonly batchSize: number
  /** Local steps per worker (samples = steps × workers × batch). */
  readonly steps: number
  readonly evalEvery: number
  readonly testSamples: number | undefined
  readonly optimizer: OptimizerConfig
  readonly seed: number
  readonly data: string
  readonly rows: readonly AlgorithmRow[]
  readonly splits: ReadonlyArray<{ readonly label: string; readonly partition: PartitionSpec }>
  readonly outDir: string | undefined
  readonly stepMs: number
}

export interface RowResult {
  readonly split: string
  readonly row: AlgorithmRow
  readonly accuracy: number
  readonly loss: number
  readonly bytesPerWorker: number
  readonly rounds: number
  readonly localOnlyRounds: number
  /** Simulated seconds per network preset. */
  readonly seconds: Readonly<Record<string, number>>
  readonly methods: Readonly<Record<string, string>>
  /** The wan accuracy curve. */
  readonly curve: ReadonlyArray<{
    readonly step: number
    readonly seconds: number
    readonly accuracy: number
  }>
  readonly wallSeconds: number
}

function flagValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`)
  if (i < 0) return undefined
  const v = args[i + 1]
  if (v === undefined || v.startsWith('--'))
    throw new CoreError('ERR_INVALID_ARGUMENT', `--${name} needs a value`)
  return v
}

function positiveInt(args: readonly string[], name: string, fallback: number): number {
  const raw = flagValue(args, name)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1)
    throw new CoreError('ERR_INVALID_ARGUMENT', `--${name} must be a positive integer`)
  return n
}

/** Reads the benchmark's flags. Unknown rows or splits fail with ERR_INVALID_ARGUMENT. */
export function benchSettings(args: readonly string[]): BenchSettings {
  const isQuick = args.includes('--quick')
  const workers = positiveInt(args, 'workers', isQuick ? 4 : 8)
  const batchSize = positiveInt(args, 'batch', 64)
  const samples = positiveInt(args, 'samples', isQuick ? 6000 : 180_000)
  // Every row ends on a round boundary of its longest period (32 steps; 8 in --quick).
  const period = isQuick ? 8 : 32
  const steps = Math.ceil(samples / (workers * batchSize) / period) * period
  const rowIds = (flagValue(args, 'rows') ?? (isQuick ? QUICK_ROWS.join(',') : '')).split(',').filter(Boolean)
  const rows =
    rowIds.length === 0
      ? ALGORITHM_ROWS
      : rowIds.map((id) => {
          const row = ALGORITHM_ROWS.find((r) => r.id === id)
          if (row === undefined) {
            throw new CoreError(
              'ERR_INVALID_ARGUMENT',
              `unknown row "${id}": choose from ${ALGORITHM_ROWS.map((r) => r.id).join(', ')}`,
            )
          }
          return row
        })
  const splitNames = (flagValue(args, 'splits') ?? (isQuick ? 'iid' : 'iid,dirichlet'))
    .split(',')
    .filter(Boolean)
  const splits = splitNames.map((s) => {
    if (s === 'iid') return { label: 'IID', partition: { kind: 'iid' } as const }
    if (s === 'dirichlet')
      return { label: 'Dirichlet 0.3', partition: { kind: 'dirichlet', alpha: 0.3 } as const }
    throw new CoreError('ERR_INVALID_ARGUMENT', `unknown split "${s}": choose iid, dirichlet`)
  })
  const lr = Number(flagValue(args, 'lr') ?? '0.05')
  if (!(lr > 0)) throw new CoreError('ERR_INVALID_ARGUMENT', '--lr must be a positive number')
  return {
    isQuick,
    workers,
    batchSize,
    steps,
    evalEvery: Math.max(1, steps / 8),
    testSamples: isQuick ? 2000 : undefined,
    optimizer: { kind: 'momentum', learningRate: lr, momentum: 0.9 },
    seed: positiveInt(args, 'seed', 1),
    data: flagValue(args, 'data') ?? 'fashion-mnist',
    rows,
    splits,
    outDir: flagValue(args, 'out') ?? (isQuick ? undefined : join('docs', 'results')),
    stepMs: defaultStepMs(batchSize),
  }
}

function runRow(
  s: BenchSettings,
  dataset: Dataset,
  split: BenchSettings['splits'][number],
  row: AlgorithmRow,
): RowResult {
  const started = performance.now()
  const networks = ['wan', 'lan', 'intercontinental'].map((n) => resolveNetwork(n))
  const result = runSimulation({
    dataset,
    model: MODEL_ZOO['mlp']!,
    workers: s.workers,
    algorithm: row.config,
    steps: s.steps,
    batchSize: s.batchSize,
    optimizer: s.optimizer,
    partition: split.partition,
    seed: s.seed,
    networks,
    stepMs: s.stepMs,
    evalEvery: s.evalEvery,
    ...(s.testSamples !== undefined ? { testSamples: s.testSamples } : {}),
    sgpDelivery: 'fixed-delay',
  })
  const seconds: Record<string, number> = {}
  const methods: Record<string, string> = {}
  for (const run of result.networks) {
    seconds[run.network] = run.simulatedMs / 1000
    methods[run.network] = run.method
  }
  const wan = result.networks[0]!
  return {
    split: split.label,
    row,
    accuracy: wan.final?.accuracy ?? Number.NaN,
    loss: wan.final?.loss ?? Number.NaN,
    bytesPerWorker: wan.bytesPerWorker,
    rounds: result.live.rounds,
    localOnlyRounds: result.live.localOnlyRounds,
    seconds,
    methods,
    curve: wan.checkpoints.map((c) => ({ step: c.step, seconds: c.timeMs / 1000, accuracy: c.accuracy })),
    wallSeconds: (performance.now() - started) / 1000,
  }
}

// ---- report ----------------------------------------------------------------------------

const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a')
const mb = (bytes: number): string => (bytes / 1e6).toFixed(bytes >= 1e8 ? 0 : 2)
const sec = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? 'n/a' : x >= 100 ? x.toFixed(0) : x.toFixed(1)

export interface TargetCheck {
  readonly split: string
  readonly row: string
  readonly target: string
  readonly value: string
  readonly isMet: boolean
}

/** The issue's targets, checked on IID results that are present. */
export function checkTargets(results: readonly RowResult[]): TargetCheck[] {
  const checks: TargetCheck[] = []
  const iid = results.filter((r) => r.split === 'IID')
  const get = (id: string): RowResult | undefined => iid.find((r) => r.row.id === id)
  const sync = get('sync')
  const olco3 = get('olco3-topk')
  if (sync !== undefined && olco3 !== undefined) {
    const gap = (sync.accuracy - olco3.accuracy) * 100
    checks.push({
      split: 'IID',
      row: olco3.row.label,
      target: 'accuracy within 1.0 point of sync',
      value: `${gap >= 0 ? '-' : '+'}${Math.abs(gap).toFixed(2)} points`,
      isMet: gap <= 1.0,
    })
    const share = olco3.bytesPerWorker / sync.bytesPerWorker
    checks.push({
      split: 'IID',
      row: olco3.row.label,
      target: '<= 1% of sync bytes',
      value: `${(share * 100).toFixed(4)}%`,
      isMet: share <= 0.01,
    })
    const speedup = (sync.seconds['wan'] ?? Number.NaN) / (olco3.seconds['wan'] ?? Number.NaN)
    checks.push({
      split: 'IID',
      row: olco3.row.label,
      target: '>= 5x less simulated time than sync on wan',
      value: `${speedup.toFixed(1)}x`,
      isMet: speedup >= 5,
    })
  }
  const local = get('local-h32')
  const slowmo = get('local-h32-slowmo')
  if (local !== undefined && slowmo !== undefined) {
    const gain = (slowmo.accuracy - local.accuracy) * 100
    checks.push({
      split: 'IID',
      row: slowmo.row.label,
      target: 'SlowMo improves local H=32 accuracy',
      value: `${gain >= 0 ? '+' : ''}${gain.toFixed(2)} points`,
      isMet: gain > 0,
    })
  }
  for (const id of ['sgp-1peer', 'sgp-overlap']) {
    const sgp = get(id)
    if (sync === undefined || sgp === undefined) continue
    const gap = (sync.accuracy - sgp.accuracy) * 100
    checks.push({
      split: 'IID',
      row: sgp.row.label,
      target: 'accuracy within 1.5 points of sync',
      value: `${gap >= 0 ? '-' : '+'}${Math.abs(gap).toFixed(2)} points`,
      isMet: gap <= 1.5,
    })
    const speedup = (sync.seconds['wan'] ?? Number.NaN) / (sgp.seconds['wan'] ?? Number.NaN)
    checks.push({
      split: 'IID',
      row: sgp.row.label,
      target: 'faster than sync on wan',
      value: `${speedup.toFixed(2)}x`,
      isMet: speedup > 1,
    })
  }
  return checks
}

/** One markdown table per split; the IID table notes each row's missed targets. */
export function resultTables(results: readonly RowResult[], checks: readonly TargetCheck[]): string {
  const out: string[] = []
  const splits = [...new Set(results.map((r) => r.split))]
  for (const split of splits) {
    const rows = results.filter((r) => r.split === split)
    const sync = rows.find((r) => r.row.id === 'sync')
    const table = rows.map((r) => {
      const missed = checks.filter((c) => c.split === split && c.row === r.row.label && !c.isMet)
      const met = checks.filter((c) => c.split === split && c.row === r.row.label && c.isMet)
      const targets =
        missed.length > 0
          ? `MISSED: ${missed.map((c) => `${c.target} (${c.value})`).join('; ')}`
          : met.length > 0
            ? 'met'
            : ''
      return [
        r.row.label,
        pct(r.accuracy),
        mb(r.bytesPerWorker),
        sync === undefined ? 'n/a' : `${((r.bytesPerWorker / sync.bytesPerWorker) * 100).toFixed(2)}%`,
        sec(r.seconds['lan']),
        sec(r.seconds['wan']),
        sec(r.seconds['intercontinental']),
        sync === undefined
          ? 'n/a'
          : `${((sync.seconds['wan'] ?? NaN) / (r.seconds['wan'] ?? NaN)).toFixed(1)}x`,
        r.rounds,
        ...(split === 'IID' ? [targets] : []),
      ]
    })
    out.push(`### ${split}\n`)
    out.push(
      markdownTable(
        [
          'row',
          'test accuracy',
          'MB sent per worker',
          'bytes vs sync',
          'lan s',
          'wan s',
          'intercontinental s',
          'wan speed-up vs sync',
          'rounds',
          ...(split === 'IID' ? ['targets'] : []),
        ],
        table,
      ),
    )
    out.push('')
  }
  return out.join('\n')
}

export function targetTable(checks: readonly TargetCheck[]): string {
  return markdownTable(
    ['row', 'target (IID)', 'measured', 'met'],
    checks.map((c) => [c.row, c.target, c.value, c.isMet ? 'yes' : 'NO']),
  )
}

export function summaryCsv(results: readonly RowResult[]): string {
  const header =
    'split,row,test_accuracy,test_loss,bytes_per_worker,lan_seconds,wan_seconds,intercontinental_seconds,rounds,local_only_rounds,lan_method,intercontinental_method'
  const lines = results.map((r) =>
    [
      r.split,
      r.row.id,
      r.accuracy.toFixed(4),
      r.loss.toFixed(4),
      Math.round(r.bytesPerWorker),
      (r.seconds['lan'] ?? NaN).toFixed(3),
      (r.seconds['wan'] ?? NaN).toFixed(3),
      (r.seconds['intercontinental'] ?? NaN).toFixed(3),
      r.rounds,
      r.localOnlyRounds,
      r.methods['lan'] ?? '',
      r.methods['intercontinental'] ?? '',
    ].join(','),
  )
  return `${[header, ...lines].join('\n')}\n`
}

export function curvesCsv(results: readonly RowResult[]): string {
  const lines = ['split,row,step,wan_seconds,test_accuracy']
  for (const r of results) {
    for (const c of r.curve)
      lines.push([r.split, r.row.id, c.step, c.seconds.toFixed(3), c.accuracy.toFixed(4)].join(','))
  }
  return `${lines.join('\n')}\n`
}

const COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#17becf',
]

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/**
 * Test accuracy against simulated time on wan, one panel per split, one line per row; the
 * time axis is logarithmic (the rows span two orders of magnitude).
 */
export function accuracyPlotSvg(results: readonly RowResult[]): string {
  const splits = [...new Set(results.map((r) => r.split))]
  const rowIds = [...new Set(results.map((r) => r.row.id))]
  const panelW = 420
  const panelH = 300
  const margin = { left: 56, right: 16, top: 34, bottom: 46 }
  const legendH = 18 * Math.ceil(rowIds.length / 2) + 12
  const width = splits.length * (panelW + margin.left + margin.right)
  const height = panelH + margin.top + margin.bottom + legendH
  const points = results.flatMap((r) => r.curve)
  const times = points.map((p) => p.seconds).filter((t) => t > 0)
  const tMin = 10 ** Math.floor(Math.log10(Math.min(...times, 1)))
  const tMax = 10 ** Math.ceil(Math.log10(Math.max(...times, 10)))
  const accs = points.map((p) => p.accuracy).filter(Number.isFinite)
  const aMin = Math.max(0, Math.floor(Math.min(...accs, 1) * 10) / 10)
  const aMax = Math.min(1, Math.ceil(Math.max(...accs, 0) * 10) / 10)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ]
  splits.forEach((split, si) => {
    const x0 = si * (panelW + margin.left + margin.right) + margin.left
    const y0 = margin.top
    const xOf = (t: number): number =>
      x0 + ((Math.log10(t) - Math.log10(tMin)) / (Math.log10(tMax) - Math.log10(tMin))) * panelW
    const yOf = (a: number): number => y0 + panelH - ((a - aMin) / Math.max(1e-9, aMax - aMin)) * panelH
    out.push(
      `<text x="${x0 + panelW / 2}" y="${y0 - 14}" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(split)}: test accuracy vs simulated time on wan</text>`,
    )
    out.push(`<rect x="${x0}" y="${y0}" width="${panelW}" height="${panelH}" fill="none" stroke="#333"/>`)
    for (let t = tMin; t <= tMax * 1.0001; t *= 10) {
      const x = xOf(t)
      out.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + panelH}" stroke="#ddd"/>`)
      out.push(
        `<text x="${x}" y="${y0 + panelH + 14}" text-anchor="middle">${t >= 1 ? t.toFixed(0) : t}</text>`,
      )
    }
    out.push(
      `<text x="${x0 + panelW / 2}" y="${y0 + panelH + 32}" text-anchor="middle">simulated seconds (log scale)</text>`,
    )
    for (let a = aMin; a <= aMax + 1e-9; a += 0.1) {
      const y = yOf(a)
      out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + panelW}" y2="${y}" stroke="#ddd"/>`)
      out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${(a * 100).toFixed(0)}%</text>`)
    }
    for (const r of results.filter((x) => x.split === split)) {
      const color = COLORS[rowIds.indexOf(r.row.id) % COLORS.length]!
      const pts = r.curve.filter((p) => p.seconds > 0 && Number.isFinite(p.accuracy))
      if (pts.length === 0) continue
      const path = pts.map((p) => `${xOf(p.seconds).toFixed(1)},${yOf(p.accuracy).toFixed(1)}`).join(' ')
      out.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="1.8"/>`)
      for (const p of pts)
        out.push(
          `<circle cx="${xOf(p.seconds).toFixed(1)}" cy="${yOf(p.accuracy).toFixed(1)}" r="2.2" fill="${color}"/>`,
        )
    }
  })
  const legendY = margin.top + panelH + margin.bottom
  rowIds.forEach((id, i) => {
    const label = results.find((r) => r.row.id === id)?.row.label ?? id
    const x = margin.left + (i % 2) * 300
    const y = legendY + Math.floor(i / 2) * 18 + 8
    const color = COLORS[i % COLORS.length]!
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${color}" stroke-width="2.5"/>`)
    out.push(`<text x="${x + 30}" y="${y + 4}">${escapeXml(label)}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

export function reportMarkdown(
  s: BenchSettings,
  results: readonly RowResult[],
  manifestName: string,
  trainCount: number,
  isAssembled = false,
): string {
  const checks = checkTargets(results)
  const samples = s.steps * s.workers * s.batchSize
  const retrained = [
    ...new Set(
      results
        .filter((r) => Object.values(r.methods).filter((m) => m === 'live').length > 1)
        .map((r) => r.row.label),
    ),
  ]
  return [
    `# Algorithms reproduction${s.isQuick ? ' (--quick)' : ''}`,
    '',
    `Generated by \`npm run bench -- algorithms${s.isQuick ? ' --quick' : ''}\` (core/sim, deterministic for seed ${s.seed})${isAssembled ? '; assembled with `--from` from the CSV files of runs that trained subsets of the rows (`--splits`, `--rows`) in parallel processes' : ''}.`,
    `${manifestName}, mlp, ${s.workers} workers, batch ${s.batchSize} per worker, ${s.steps} local steps per worker = ${samples.toLocaleString('en-US')} samples per row (${(samples / trainCount).toFixed(2)} epochs), momentum SGD lr ${s.optimizer.learningRate} (μ 0.9), virtual compute ${s.stepMs} ms per step.`,
    `Test accuracy of the average of the workers' models${s.testSamples !== undefined ? ` on the first ${s.testSamples} test images` : ' on the full test split'}; bytes are what each worker put on its uplink (ring all-reduce for dense exact averages, one copy per peer otherwise; retransmissions not counted).`,
    `Networks: lan 0.5 ms RTT 1 Gbit/s; wan 100 ms RTT 20 Mbit/s; intercontinental 250 ms RTT 10 Mbit/s 1% loss. ${retrained.length === 0 ? 'Each row was trained once (live on wan); its lan and intercontinental times are replayed from that run.' : `Rows trained again per network (their arithmetic depends on timing): ${retrained.join(', ')}.`}`,
    `SlowMo rows: α ${SLOWMO.alpha}, β ${SLOWMO.beta} (heavy-ball), τ ${SLOWMO.tau}. SGP overlap mixes every share exactly τ steps after it was sent (fixed-delay delivery, the bounded-delay worst case).`,
    '',
    resultTables(results, checks),
    '## Targets (IID)',
    '',
    checks.length > 0 ? targetTable(checks) : '(no target rows in this run)',
    '',
    '![test accuracy vs simulated time on wan](algorithms-wan.svg)',
    '',
  ].join('\n')
}

/**
 * Reads results written by earlier runs (algorithms.csv and algorithms-curves.csv in each
 * folder), e.g. the IID and Dirichlet halves of the full run made by two processes with
 * `--splits`. A (split, row) found twice is taken from the first folder; results come back in
 * split order and row order. Throws ERR_BAD_DATASET naming the file for a line it cannot read.
 */
export async function loadResults(dirs: readonly string[]): Promise<RowResult[]> {
  const results: RowResult[] = []
  for (const dir of dirs) {
    const summaryFile = join(dir, 'algorithms.csv')
    const curveFile = join(dir, 'algorithms-curves.csv')
    const curveLines = (await readFile(curveFile, 'utf8')).trim().split('\n').slice(1)
    for (const line of (await readFile(summaryFile, 'utf8')).trim().split('\n').slice(1)) {
      const f = line.split(',')
      const row = ALGORITHM_ROWS.find((r) => r.id === f[1])
      const numbers = f.slice(2, 10).map(Number)
      if (f.length !== 12 || row === undefined || numbers.some((v) => !Number.isFinite(v))) {
        throw new CoreError('ERR_BAD_DATASET', `${summaryFile}: cannot read "${line}"`)
      }
      const [accuracy, loss, bytes, lan, wan, inter, rounds, localOnly] = numbers as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
      ]
      const split = f[0]!
      const curve = curveLines
        .map((l) => l.split(','))
        .filter((c) => c[0] === split && c[1] === row.id)
        .map((c) => ({ step: Number(c[2]), seconds: Number(c[3]), accuracy: Number(c[4]) }))
      results.push({
        split,
        row,
        accuracy,
        loss,
        bytesPerWorker: bytes,
        rounds,
        localOnlyRounds: localOnly,
        seconds: { lan, wan, intercontinental: inter },
        methods: { wan: 'live', lan: f[10]!, intercontinental: f[11]! },
        curve,
        wallSeconds: Number.NaN,
      })
    }
  }
  // One result per (split, row), in split order of appearance and the rows' own order.
  const splits = [...new Set(results.map((r) => r.split))]
  const unique = results.filter(
    (r, i) => results.findIndex((x) => x.split === r.split && x.row.id === r.row.id) === i,
  )
  return unique.sort(
    (a, b) =>
      splits.indexOf(a.split) - splits.indexOf(b.split) ||
      ALGORITHM_ROWS.indexOf(a.row) - ALGORITHM_ROWS.indexOf(b.row),
  )
}

export async function benchAlgorithms(args: string[]): Promise<void> {
  const s = benchSettings(args)
  const from = flagValue(args, 'from')
  if (from !== undefined) {
    // Re-render the report from earlier runs' CSV files (no training).
    const results = await loadResults(from.split(','))
    const { manifest } = await loadDataset(s.data, { seed: s.seed })
    const report = reportMarkdown(s, results, manifest.name, manifest.trainCount, true)
    console.log(report)
    if (s.outDir !== undefined) {
      await writeTextFile(join(s.outDir, 'algorithms.md'), report)
      await writeTextFile(join(s.outDir, 'algorithms.csv'), summaryCsv(results))
      await writeTextFile(join(s.outDir, 'algorithms-curves.csv'), curvesCsv(results))
      await writeTextFile(join(s.outDir, 'algorithms-wan.svg'), accuracyPlotSvg(results))
    }
    return
  }
  const started = performance.now()
  await initBackend({
    requiredKernels: requiredTrainingKernels(MODEL_ZOO['mlp']!.layerClasses),
    log: (line) => console.error(line),
  })
  const dataset = await loadDataset(s.data, { seed: s.seed })
  console.error(
    `algorithms bench${s.isQuick ? ' --quick' : ''}: ${s.rows.length} rows x ${s.splits.length} splits, ${s.workers} workers, ${s.steps} steps of ${s.batchSize} per worker`,
  )
  const results: RowResult[] = []
  const write = async (): Promise<void> => {
    if (s.outDir === undefined) return
    const report = reportMarkdown(s, results, dataset.manifest.name, dataset.train.count)
    await writeTextFile(join(s.outDir, 'algorithms.md'), report)
    await writeTextFile(join(s.outDir, 'algorithms.csv'), summaryCsv(results))
    await writeTextFile(join(s.outDir, 'algorithms-curves.csv'), curvesCsv(results))
    await writeTextFile(join(s.outDir, 'algorithms-wan.svg'), accuracyPlotSvg(results))
  }
  for (const split of s.splits) {
    for (const row of s.rows) {
      const r = runRow(s, dataset, split, row)
      results.push(r)
      // Written after every row, so a long run that is stopped keeps what it measured.
      await write()
      console.error(
        `  ${split.label} ${row.label}: ${pct(r.accuracy)}, ${mb(r.bytesPerWorker)} MB/worker, wan ${sec(r.seconds['wan'])} s, lan ${sec(r.seconds['lan'])} s, intercontinental ${sec(r.seconds['intercontinental'])} s (${r.wallSeconds.toFixed(0)} s wall; ${Object.entries(
          r.methods,
        )
          .map(([n, m]) => `${n} ${m}`)
          .join(', ')})`,
      )
    }
  }
  console.log(reportMarkdown(s, results, dataset.manifest.name, dataset.train.count))
  if (s.outDir !== undefined) console.error(`results written to ${s.outDir}`)
  console.error(
    `algorithms bench done in ${((performance.now() - started) / 1000).toFixed(0)} s (${NETWORK_PRESET_NAMES.join(', ')})`,
  )
}
