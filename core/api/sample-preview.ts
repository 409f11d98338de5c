/**
 * Samples of a loaded dataset as the UI's preview grid shows them: images as 8-bit pixels
 * (height × width × channels, row-major, base64), tabular rows as their first features.
 * Datasets hold images as floats in [0, 1] (core/data/dataset.ts); they are scaled back here.
 */
import type { Dataset } from '../data/dataset.ts'
import type { SamplePreview } from './contract.ts'

/** Features shown per tabular sample. */
export const PREVIEW_FEATURES = 16

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** Standard base64 with padding (no Buffer or btoa: runs anywhere). */
export function bytesToBase64(bytes: Uint8Array): string {
  const out: string[] = []
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out.push(BASE64[n >> 18]!, BASE64[(n >> 12) & 63]!, BASE64[(n >> 6) & 63]!, BASE64[n & 63]!)
  }
  const rest = bytes.length - i
  if (rest === 1) {
    const n = bytes[i]! << 16
    out.push(BASE64[n >> 18]!, BASE64[(n >> 12) & 63]!, '==')
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8)
    out.push(BASE64[n >> 18]!, BASE64[(n >> 12) & 63]!, BASE64[(n >> 6) & 63]!, '=')
  }
  return out.join('')
}

/** Whether samples of this input shape are shown as images ([height, width, channels]). */
export function isImageShape(inputShape: readonly number[]): boolean {
  return inputShape.length === 3 && (inputShape[2] === 1 || inputShape[2] === 3 || inputShape[2] === 4)
}

/**
 * Samples [offset, offset + count) of a split (fewer at its end, none past it), with the
 * split's total.
 */
export function previewSamples(
  dataset: Dataset,
  split: 'train' | 'test',
  offset: number,
  count: number,
): { total: number; samples: SamplePreview[] } {
  const data = dataset[split]
  const { inputShape, classes } = dataset.manifest
  const size = inputShape.reduce((a, b) => a * b, 1)
  const isImage = isImageShape(inputShape)
  const samples: SamplePreview[] = []
  for (let index = offset; index < Math.min(data.count, offset + count); index++) {
    const x = data.x.subarray(index * size, (index + 1) * size)
    const label = data.y[index]!
    const common = { index, label, className: classes[label] ?? String(label), shape: [...inputShape] }
    if (isImage) {
      const pixels = new Uint8Array(size)
      for (let k = 0; k < size; k++) pixels[k] = Math.round(Math.min(1, Math.max(0, x[k]!)) * 255)
      samples.push({ ...common, kind: 'image', pixels: bytesToBase64(pixels) })
    } else {
      const features = Array.from(x.subarray(0, PREVIEW_FEATURES), (v) => Math.round(v * 1e4) / 1e4)
      samples.push({ ...common, kind: 'features', features })
    }
  }
  return { total: data.count, samples }
}
