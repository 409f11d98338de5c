/**
 * `npm run bench -- compress [--quick]`
 *
 * For d = 1M and 10M float32 (1M only with --quick): median time of compress+encode
 * (`compress`) and decode+decompress (`decompress` into a preallocated buffer) per compressor,
 * each next to the median time of a plain `Float32Array.set` copy of the same buffer, measured
 * interleaved in the same repetitions so machine noise hits both alike. Also wire bytes,
 * compression ratio (4d / wire bytes), whether the payload buffer was reused on every call
 * and how many typed arrays of d/8 or more elements were allocated per timed call (the
 * constructors are wrapped to count; the target is 0). "met?" uses the medians; the
 * best-rep ratio (fastest rep over fastest copy) is printed too because on a shared, busy
 * machine the longer operations are preempted more often than a sub-millisecond copy. Targets (both directions, as multiples of the copy): int8, fp16, sign <= 4x;
 * topk:0.01 <= 15x; qsgd <= 8x. Rows without a target are reported for reference.
 *
 * Input: a seeded normal vector (deltas look roughly like that). PowerSGD runs on a layout of
 * 1000 x 1000 matrices (d / 1M of them), every other compressor on one flat tensor of size d.
 */
import type { Compressor } from '../core/compress/compressor.ts'
import { Xoshiro128 } from '../core/compress/prng.ts'
import { createCompressor } from '../core/compress/registry.ts'
import { buildLayout } from '../core/tensor/param-layout.ts'
import { markdownTable, median } from './table.ts'

const SPECS = ['none', 'fp16', 'int8', 'sign', 'topk:0.01', 'randk:0.01', 'qsgd:127', 'qsgd:7', 'powersgd:4']

/** Maximum compress or decompress time as a multiple of the copy; undefined: no target. */
function targetFor(spec: string): number | undefined {
  if (spec === 'fp16' || spec === 'int8' || spec === 'sign') return 4
  if (spec === 'topk:0.01') return 15
  if (spec.startsWith('qsgd:')) return 8
  return undefined
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
  bestCompressRatio: number
  bestDecompressRatio: number
  wireBytes: number
  isReused: boolean
  largeAllocations: number
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
  const copyTimes: number[] = []
  const compressTimes: number[] = []
  const decompressTimes: number[] = []
  let firstBuffer: ArrayBufferLike | undefined
  let isReused = true
  let wireBytes = 0
  for (let rep = 0; rep < warmups + reps; rep++) {
    const context = { seed: 12345, round: rep, senderIndex: 0 }
    const t0 = performance.now()
    copyTarget.set(input)
    const t1 = performance.now()
    const payload = compressor.compress(input, context)
    const t2 = performance.now()
    compressor.decompress(payload, out, context)
    const t3 = performance.now()
    wireBytes = payload.length
    if (rep < warmups) {
      firstBuffer = payload.buffer
      continue
    }
    if (payload.buffer !== firstBuffer) isReused = false
    copyTimes.push(t1 - t0)
    compressTimes.push(t2 - t1)
    decompressTimes.push(t3 - t2)
  }
  // Allocation count in separate calls: the wrapped constructors make V8 deoptimise code
  // that uses them, so they must not be in place while timing.
  const allocationCalls = 2
  const watch = watchAllocations(Math.floor(input.length / 8))
  try {
    for (let call = 0; call < allocationCalls; call++) {
      const context = { seed: 12345, round: warmups + reps + call, senderIndex: 0 }
      compressor.decompress(compressor.compress(input, context), out, context)
    }
  } finally {
    watch.restore()
  }
  const bestCopy = Math.min(...copyTimes)
  return {
    compressMs: median(compressTimes),
    decompressMs: median(decompressTimes),
    copyMs: median(copyTimes),
    bestCompressRatio: Math.min(...compressTimes) / bestCopy,
    bestDecompressRatio: Math.min(...decompressTimes) / bestCopy,
    wireBytes,
    isReused,
    largeAllocations: watch.count() / allocationCalls,
  }
}

export async function benchCompress(args: string[]): Promise<void> {
  const isQuick = args.includes('--quick')
  const sizes = isQuick ? [1_000_000] : [1_000_000, 10_000_000]
  console.log(`# compress benchmark${isQuick ? ' (--quick)' : ''}: median of timed reps after warm-up\n`)
  const rows: Array<Array<string | number>> = []
  for (const d of sizes) {
    const warmups = isQuick ? 2 : 3
    const reps = isQuick ? 5 : d > 1_000_000 ? 5 : 11
    const input = normalVector(d, d)
    const copyTarget = new Float32Array(d)
    const out = new Float32Array(d)
    const flat = buildLayout([{ name: 'delta', shape: [d] }])
    const matrices = buildLayout(
      Array.from({ length: Math.max(1, Math.round(d / 1_000_000)) }, (_, i) => ({
        name: `w${i}`,
        shape: [1000, 1000],
      })),
    )
    for (const spec of SPECS) {
      const layout = spec.startsWith('powersgd') ? matrices : flat
      const n = layout.totalSize
      const compressor = createCompressor(spec, layout)
      const m = measure(
        compressor,
        input.subarray(0, n),
        copyTarget.subarray(0, n),
        out.subarray(0, n),
        warmups,
        reps,
      )
      const up = m.compressMs / m.copyMs
      const down = m.decompressMs / m.copyMs
      const target = targetFor(spec)
      const isMet = target === undefined ? '-' : up <= target && down <= target ? 'yes' : 'NO'
      rows.push([
        spec,
        n === d ? `${d / 1_000_000}M` : `${n}`,
        m.compressMs.toFixed(2),
        m.decompressMs.toFixed(2),
        m.copyMs.toFixed(3),
        `${up.toFixed(1)}x / ${down.toFixed(1)}x`,
        m.wireBytes,
        ((4 * n) / m.wireBytes).toFixed(1),
        target === undefined ? '-' : `<= ${target}x`,
        isMet,
        `${m.bestCompressRatio.toFixed(1)}x / ${m.bestDecompressRatio.toFixed(1)}x`,
        `${m.isReused ? 'yes' : 'NO'}, ${m.largeAllocations}`,
      ])
      // Let the event loop breathe between rows (and the GC collect the previous instance).
      await new Promise((resolve) => setTimeout(resolve, 0))
    }
  }
  console.log(
    markdownTable(
      [
        'compressor',
        'd',
        'compress+encode ms',
        'decode+decompress ms',
        'copy ms',
        'ratio to copy (enc / dec)',
        'wire bytes',
        'compression ratio',
        'target',
        'met?',
        'best-rep ratio (enc / dec)',
        'payload reused, d/8+ allocs per call',
      ],
      rows,
    ),
  )
}
