/**
 * `shapes`: a generated, seeded image dataset that is always available offline (the demo's
 * embedded default). Ten classes of grayscale shapes drawn with random position, size,
 * stroke width, rotation, contrast and pixel noise: an MLP learns it within a couple of
 * epochs, yet no single pixel gives a class away.
 *
 * Each shape is a signed distance function d(u, v) in pixels (negative inside) evaluated in
 * the shape's rotated frame; coverage = clamp(0.5 − d, 0, 1) gives one pixel of antialiasing.
 * Pixels are rendered as bytes, then scaled to [0, 1]; the content hash covers those bytes.
 */
import { CoreError } from '../errors.ts'
import type { Dataset, Split } from './dataset.ts'
import { assertDatasetConsistent, buildManifest, hashPixelDataset, pixelsToUnitFloats } from './dataset.ts'
import type { Prng } from './prng.ts'
import { createPrng, shuffleInPlace } from './prng.ts'

export const SHAPES_NAME = 'shapes'

/** Label i is SHAPES_CLASSES[i]. */
export const SHAPES_CLASSES: readonly string[] = [
  'circle',
  'square',
  'triangle',
  'cross',
  'horizontal bar',
  'vertical bar',
  'diagonal',
  'ring',
  'dot grid',
  'checker',
]

export interface ShapesOptions {
  /** Training samples; default 6000 (balanced: count / 10 per class, remainder spread). */
  readonly count?: number
  /** Test samples; default count / 6 rounded (1000 for the default count). */
  readonly testCount?: number
  /** Default 0. */
  readonly seed?: number
  /** Image side in pixels (square, one channel); default 28, at least 8. */
  readonly size?: number
}

export const DEFAULT_SHAPES_COUNT = 6000
export const DEFAULT_SHAPES_SIZE = 28

// Purpose tags: train and test come from separate streams, so the test set is never a prefix of train.
const TRAIN_SALT = 0x74726e
const TEST_SALT = 0x747374
const NOISE_TABLE_SIZE = 4096
const NOISE_MASK = NOISE_TABLE_SIZE - 1

interface ShapeParams {
  cx: number
  cy: number
  radius: number
  thickness: number
  cos: number
  sin: number
  foreground: number
  background: number
  noise: number
}

function uniform(prng: Prng, lo: number, hi: number): number {
  return lo + (hi - lo) * prng.nextFloat()
}

function box(u: number, v: number, halfU: number, halfV: number): number {
  return Math.max(Math.abs(u) - halfU, Math.abs(v) - halfV)
}

const INV_SQRT2 = Math.SQRT1_2

// Math.hypot guards against overflow we cannot have here and is several times slower.
function norm(u: number, v: number): number {
  return Math.sqrt(u * u + v * v)
}
const TRIANGLE_EDGE_NORM = Math.hypot(1.75, 0.95)

/** Signed distance (pixels, negative inside) of class `label` at rotated offset (u, v). */
function distance(label: number, u: number, v: number, r: number, halfT: number): number {
  switch (label) {
    case 0: // circle
      return norm(u, v) - r
    case 1: // square
      return box(u, v, 0.85 * r, 0.85 * r)
    case 2: {
      // triangle, apex up: vertices (0, −r), (±0.95r, 0.75r) with v pointing down. The
      // distance is the max over the base line and the two slanted edges (symmetric in u).
      const base = v - 0.75 * r
      const side = (1.75 * Math.abs(u) - 0.95 * (v + r)) / TRIANGLE_EDGE_NORM
      return Math.max(base, side)
    }
    case 3: // cross (plus)
      return Math.min(box(u, v, r, halfT), box(u, v, halfT, r))
    case 4: // horizontal bar
      return box(u, v, r, halfT)
    case 5: // vertical bar
      return box(u, v, halfT, r)
    case 6: // diagonal, top-left to bottom-right
      return box((u + v) * INV_SQRT2, (v - u) * INV_SQRT2, r, halfT)
    case 7: // ring
      return Math.abs(norm(u, v) - 0.8 * r) - halfT
    case 8: {
      // 3 × 3 dot grid: distance to the nearest dot centre.
      const gap = 0.7 * r
      const i = Math.max(-1, Math.min(1, Math.round(u / gap)))
      const j = Math.max(-1, Math.min(1, Math.round(v / gap)))
      return norm(u - i * gap, v - j * gap) - Math.max(1.2, 0.2 * r)
    }
    default: {
      // checker: 3 × 3 cells inside a square; dark cells count as outside.
      const half = 0.85 * r
      const inside = box(u, v, half, half)
      const cell = (2 * half) / 3
      const parity = (Math.floor((u + half) / cell) + Math.floor((v + half) / cell)) & 1
      return parity === 1 ? Math.max(inside, 0.5) : inside
    }
  }
}

function drawParams(prng: Prng, size: number): ShapeParams {
  const angle = uniform(prng, -0.2, 0.2)
  const foreground = uniform(prng, 0.55, 1)
  return {
    cx: size / 2 + uniform(prng, -0.08, 0.08) * size,
    cy: size / 2 + uniform(prng, -0.08, 0.08) * size,
    radius: uniform(prng, 0.22, 0.32) * size,
    thickness: Math.max(1.5, uniform(prng, 0.08, 0.14) * size),
    cos: Math.cos(angle),
    sin: Math.sin(angle),
    foreground,
    background: uniform(prng, 0, 0.2),
    noise: uniform(prng, 0.03, 0.12),
  }
}

function renderSplit(
  count: number,
  size: number,
  seed: number,
  stream: number,
): { pixels: Uint8Array; labels: Int32Array } {
  const prng = createPrng(seed, stream)
  const labels = Int32Array.from({ length: count }, (_, i) => i % SHAPES_CLASSES.length)
  shuffleInPlace(labels, prng)
  // A fixed table of normal deviates, indexed at random per pixel: the noise looks Gaussian
  // at a fraction of the cost of one Box–Muller transform per pixel.
  const normals = Float32Array.from({ length: NOISE_TABLE_SIZE }, () => prng.nextNormal())
  const pixelsPerImage = size * size
  const pixels = new Uint8Array(count * pixelsPerImage)
  // The clamped view rounds and clamps to 0..255 natively on store.
  const clamped = new Uint8ClampedArray(pixels.buffer)
  for (let n = 0; n < count; n++) {
    const label = labels[n]!
    const p = drawParams(prng, size)
    const { cx, cy, cos, sin, background, noise, radius } = p
    const halfT = p.thickness / 2
    const contrast = (p.foreground - background) * 255
    const base = background * 255
    const noiseScale = noise * 255
    const offset = n * pixelsPerImage
    for (let py = 0; py < size; py++) {
      const dy = py + 0.5 - cy
      const row = offset + py * size
      for (let px = 0; px < size; px++) {
        const dx = px + 0.5 - cx
        const d = distance(label, cos * dx + sin * dy, cos * dy - sin * dx, radius, halfT)
        const coverage = d <= -0.5 ? 1 : d >= 0.5 ? 0 : 0.5 - d
        clamped[row + px] = base + contrast * coverage + noiseScale * normals[prng.nextUint32() & NOISE_MASK]!
      }
    }
  }
  return { pixels, labels }
}

function checkCount(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new CoreError('ERR_INVALID_ARGUMENT', `shapes: ${name} must be an integer ≥ ${min}, got ${value}`)
  }
  return value
}

/** Generates the `shapes` dataset; the same options give byte-identical data everywhere. */
export function generateShapes(options: ShapesOptions = {}): Dataset {
  const count = checkCount('count', options.count ?? DEFAULT_SHAPES_COUNT, 1)
  const testCount = checkCount('testCount', options.testCount ?? Math.round(count / 6), 0)
  const size = checkCount('size', options.size ?? DEFAULT_SHAPES_SIZE, 8)
  const seed = options.seed ?? 0
  const trainRaw = renderSplit(count, size, seed, TRAIN_SALT)
  const testRaw = renderSplit(testCount, size, seed, TEST_SALT)
  const inputShape = [size, size, 1]
  const toSplit = (raw: { pixels: Uint8Array; labels: Int32Array }): Split => ({
    x: pixelsToUnitFloats(raw.pixels),
    y: raw.labels,
    count: raw.labels.length,
  })
  const train = toSplit(trainRaw)
  const test = toSplit(testRaw)
  const dataset: Dataset = {
    manifest: buildManifest({
      name: SHAPES_NAME,
      source: 'builtin',
      inputShape,
      classes: SHAPES_CLASSES,
      split: 'given',
      contentHash: hashPixelDataset(inputShape, SHAPES_CLASSES, [trainRaw, testRaw]),
      train,
      test,
    }),
    train,
    test,
  }
  assertDatasetConsistent(dataset)
  return dataset
}
