/**
 * `npm run bench -- compress [--quick] [--scalar]`
 *
 * For d = 1M and 10M float32 (1M only with --quick): time of compress+encode (`compress`) and
 * decode+decompress (`decompress` of a received copy of the payload, as a peer gets it, into a
 * preallocated buffer) per compressor, each next to a plain `Float32Array.set` copy of the same
 * buffer timed right before it in the same repetition (copy, compress, copy, decompress), so
 * machine noise hits both alike. Ratios are per repetition, then the median.
 *
 * Two clocks: CPU time of this process (`process.cpuUsage`), which leaves out the time spent
 * waiting for a core on a shared, loaded machine, and wall-clock time. "met?" uses the CPU-time
 * ratios; the wall-clock ratios are printed too (on an idle machine the two agree).
 * Targets (both directions, as multiples of the copy): int8, fp16, sign <= 4x; topk:0.01 <= 15x;
 * qsgd <= 8x. Rows without a target are reported for reference.
 *
 * Also: the hot-loop path (`kernelPath`: wasm-simd or scalar), wire bytes, compression ratio
 * (4d / wire bytes), whether the payload buffer was reused on every call and how many typed
 * arrays of d/8 or more elements were allocated per call after warm-up (the constructors are
 * wrapped to count; the target is 0). `--scalar` adds rows for the scalar reference path of the
 * compressors that have a WebAssembly SIMD kernel.
 *
 * Input: a seeded normal vector (deltas look roughly like that). PowerSGD runs on a layout of
 * 1000 x 1000 matrices (d / 1M of them), every other compressor on one flat tensor of size d.
 */
import type { Compressor } from '../core/compress/compressor.ts'
import { Float16Compressor } from '../core/compress/float16.ts'
import { Int8BlockwiseCompressor } from '../core/compress/int8-blockwise.ts'
import { Xoshiro128 } from '../core/compress/prng.ts'
import { QsgdCompressor } from '../core/compress/qsgd.ts'
import { createCompressor, parseCompressorSpec } from '../core/compress/registry.ts'
import { ScaledSignCompressor } from '../core/compress/scaled-sign.ts'
import { buildLayout, type ParamLayout } from '../core/tensor/param-layout.ts'
import { markdownTable, median } from './table.ts'

const SPECS = ['none', 'fp16', 'int8', 'sign', 'topk:0.01', 'randk:0.01', 'qsgd:127', 'qsgd:7', 'powersgd:4']

/** Maximum compress or decompress time as a multiple of the copy; undefined: no target. */
function targetFor(spec: string): number | undefined {
  if (spec === 'fp16' || spec === 'int8' || spec === 'sign') return 4
  if (spec === 'topk:0.01') return 15
  if (spec.startsWith('qsgd:')) return 8
  return undefined
}

/** The scalar reference of a compressor that has a WebAssembly kernel; undefined for the rest. */
function createScalar(spec: string, layout: ParamLayout): Compressor | undefined {
  const config = parseCompressorSpec(spec)
  switch (config.name) {
    case 'fp16':
      return new Float16Compressor({ layout, kernels: 'scalar' })
    case 'sign':
      return new ScaledSignCompressor({ layout, kernels: 'scalar' })
    case 'int8':
      return new Int8BlockwiseCompressor({ layout, blockSize: config.blockSize, kernels: 'scalar' })
    case 'qsgd':
      return new QsgdCompressor({ layout, levels: config.levels, kernels: 'scalar' })
    default:
      return undefined
  }
}

function normalVector(d: number, seed: number): Float32Array {
  const rng = new Xoshiro128(seed)
  const x = new Float32Array(d)
  for (let i = 0; i < d; i += 2) {
    const u = 1 - rng.nextFloat()
    const v = rng.nextFloat()
    const r = Math.sqrt(-2 * Math.log(u))
    x[i] = r * Math.cos(2 * Math.PI * v)
    if (i + 1 < d) x[i + 1] = r * Math.sin(2 * Math.PI * v)
  }
  return x
}

interface Measured {
  compressMs: number
  decompressMs: number
  copyMs: number
  /** Medians over repetitions of (op / copy in the same repetition), CPU time. */
  compressRatio: number
  decompressRatio: number
  /** The same with wall-clock time. */
  wallCompressRatio: number
  wallDecompressRatio: number
  wireBytes: number
  isReused: boolean
}

/** CPU time of this process in ms (user + system). */
function cpuMs(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/** Runs `op` and returns [CPU ms, wall ms]. */
function timed(op: () => void): [number, number] {
  const wall = performance.now()
  const cpu = cpuMs()
  op()
  return [cpuMs() - cpu, performance.now() - wall]
}

const TYPED_ARRAY_NAMES = [
  'ArrayBuffer',
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Uint8Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
] as const

/**
 * Wraps the typed-array constructors so allocations of >= minLength elements are counted;
 * returns the count so far and a function that restores the originals.
 */
function watchAllocations(minLength: number): { count: () => number; restore: () => void } {
  const originals = TYPED_ARRAY_NAMES.map((name) => [name, Reflect.get(globalThis, name) as object] as const)
  let count = 0
  for (const [name, original] of originals) {
    const wrapped = new Proxy(original, {
      construct(target, args: unknown[], newTarget) {
        if (typeof args[0] === 'number' && args[0] >= minLength) count++
        return Reflect.construct(target as new (...a: unknown[]) => object, args, newTarget) as object
      },
    })
    Reflect.set(globalThis, name, wrapped)
  }
  return {
    count: () => count,
    restore: () => {
      for (const [name, original] of originals) Reflect.set(globalThis, name, original)
    },
  }
}

function measure(
  compressor: Compressor,
  input: Float32Array,
  copyTarget: Float32Array,
  out: Float32Array,
  warmups: number,
  reps: number,
): Measured {
  const times = { copy: [] as number[], compress: [] as number[], decompress: [] as number[] }
  const ratios = { compress: [] as number[], decompress: [] as number[] }
  const wallRatios = { compress: [] as number[], decompress: [] as number[] }
  let firstBuffer: ArrayBufferLike | undefined
  let isReused = true
  let wireBytes = 0
  // A receiver decodes bytes that arrived in a network frame, not the sender's own buffer.
  let received = new Uint8Array(0)
  for (let rep = 0; rep < warmups + reps; rep++) {
    const context = { seed: 12345, round: rep, senderIndex: 0 }
    let payload: Uint8Array = new Uint8Array(0)
    const [copyCpu, copyWall] = timed(() => copyTarget.set(input))
    const [compressCpu, compressWall] = timed(() => {
      payload = compressor.compress(input, context)
    })
    if (received.length < payload.length) received = new Uint8Array(payload.length)
    const frame = received.subarray(0, payload.length)
    frame.set(payload)
    const [copy2Cpu, copy2Wall] = timed(() => copyTarget.set(input))
    const [decompressCpu, decompressWall] = timed(() => compressor.decompress(frame, out, context))
    wireBytes = payload.length
    if (rep < warmups) {
      firstBuffer = payload.buffer
      continue
    }
    if (payload.buffer !== firstBuffer) isReused = false
    times.copy.push(copyCpu, copy2Cpu)
    times.compress.push(compressCpu)
    times.decompress.push(decompressCpu)
    ratios.compress.push(compressCpu / copyCpu)
    ratios.decompress.push(decompressCpu / copy2Cpu)
    wallRatios.compress.push(compressWall / copyWall)
    wallRatios.decompress.push(decompressWall / copy2Wall)
  }
  return {
    compressMs: median(times.compress),
    decompressMs: median(times.decompress),
    copyMs: median(times.copy),
    compressRatio: median(ratios.compress),
    decompressRatio: median(ratios.decompress),
    wallCompressRatio: median(wallRatios.compress),
    wallDecompressRatio: median(wallRatios.decompress),
    wireBytes,
    isReused,
  }
}

/**
 * Typed arrays of d/8+ elements allocated per compress+decompress call after a warm-up call.
 * Run after all timing: the wrapped constructors make V8 deoptimise code that uses them (and
 * it stays slower afterwards), so they must never be in place before a timed row.
 */
function countLargeAllocations(compressor: Compressor, input: Float32Array, out: Float32Array): number {
  const calls = 2
  const run = (round: number): void => {
    const context = { seed: 12345, round, senderIndex: 0 }
    compressor.decompress(compressor.compress(input, context), out, context)
  }
  run(0)
  const watch = watchAllocations(Math.floor(input.length / 8))
  try {
    for (let call = 1; call <= calls; call++) run(call)
  } finally {
    watch.restore()
  }
  return watch.count() / calls
}

interface Run {
  readonly spec: string
  readonly layout: ParamLayout
  readonly create: () => Compressor | undefined
}

/** Every row to measure at size d: the registry's compressor, and with --scalar the reference. */
function runsFor(d: number, withScalar: boolean): Run[] {
  const flat = buildLayout([{ name: 'delta', shape: [d] }])
  const matrices = buildLayout(
    Array.from({ length: Math.max(1, Math.round(d / 1_000_000)) }, (_, i) => ({
      name: `w${i}`,
      shape: [1000, 1000],
    })),
  )
  const runs: Run[] = []
  for (const spec of SPECS) {
    const layout = spec.startsWith('powersgd') ? matrices : flat
    runs.push({ spec, layout, create: () => createCompressor(spec, layout) })
    if (withScalar && createScalar(spec, layout) !== undefined) {
      runs.push({ spec, layout, create: () => createScalar(spec, layout) })
    }
  }
  return runs
}

export async function benchCompress(args: string[]): Promise<void> {
  const isQuick = args.includes('--quick')
  const withScalar = args.includes('--scalar')
  const sizes = isQuick ? [1_000_000] : [1_000_000, 10_000_000]
  console.log(
    `# compress benchmark${isQuick ? ' (--quick)' : ''}: medians over timed repetitions after warm-up; ` +
      'ratios to the copy in CPU time ("met?") and wall-clock time\n',
  )
  const rows: Array<{ cells: Array<string | number>; d: number; run: Run; isReused: boolean }> = []
  for (const d of sizes) {
    const warmups = isQuick ? 2 : 3
    const reps = isQuick ? 7 : d > 1_000_000 ? 9 : 21
    const input = normalVector(d, d)
    const copyTarget = new Float32Array(d)
    const out = new Float32Array(d)
    for (const run of runsFor(d, withScalar)) {
      const compressor = run.create()!
      const n = run.layout.totalSize
      const m = measure(
        compressor,
        input.subarray(0, n),
        copyTarget.subarray(0, n),
        out.subarray(0, n),
        warmups,
        reps,
      )
      const target = targetFor(run.spec)
      const isMet =
        target === undefined ? '-' : m.compressRatio <= target && m.decompressRatio <= target ? 'yes' : 'NO'
      const cells = [
        run.spec,
        (compressor as { kernelPath?: string }).kernelPath ?? 'scalar',
        n === d ? `${d / 1_000_000}M` : `${n}`,
        m.compressMs.toFixed(2),
        m.decompressMs.toFixed(2),
        m.copyMs.toFixed(3),
        `${m.compressRatio.toFixed(1)}x / ${m.decompressRatio.toFixed(1)}x`,
        target === undefined ? '-' : `<= ${target}x`,
        isMet,
        `${m.wallCompressRatio.toFixed(1)}x / ${m.wallDecompressRatio.toFixed(1)}x`,
        m.wireBytes,
        ((4 * n) / m.wireBytes).toFixed(1),
      ]
      rows.push({ cells, d, run, isReused: m.isReused })
      // Let the event loop breathe between rows (and the GC collect the previous instance).
      await new Promise((resolve) => setTimeout(resolve, 0))
    }
  }
  // Allocation counts only after every timed row (see countLargeAllocations).
  for (const d of sizes) {
    const input = normalVector(d, d)
    const out = new Float32Array(d)
    for (const row of rows.filter((r) => r.d === d)) {
      const n = row.run.layout.totalSize
      const allocations = countLargeAllocations(row.run.create()!, input.subarray(0, n), out.subarray(0, n))
      row.cells.push(`${row.isReused ? 'yes' : 'NO'}, ${allocations}`)
      await new Promise((resolve) => setTimeout(resolve, 0))
    }
  }
  console.log(
    markdownTable(
      [
        'compressor',
        'path',
        'd',
        'compress+encode ms (CPU)',
        'decode+decompress ms (CPU)',
        'copy ms (CPU)',
        'ratio to copy, CPU (enc / dec)',
        'target',
        'met?',
        'ratio to copy, wall (enc / dec)',
        'wire bytes',
        'compression ratio',
        'payload reused, d/8+ allocs per call',
      ],
      rows.map((r) => r.cells),
    ),
  )
}
