/** Sample previews: the engine's base64 HWC uint8 pixels as RGBA, ready for a canvas. */
import type { SamplePreview } from '../../../core/api/contract.ts'

export interface RgbaImage {
  readonly width: number
  readonly height: number
  /** width × height × 4 bytes. */
  readonly data: Uint8ClampedArray<ArrayBuffer>
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/** RGBA pixels of an image sample; undefined for feature samples or a size that does not fit the shape. */
export function sampleToRgba(sample: SamplePreview): RgbaImage | undefined {
  if (sample.kind !== 'image' || sample.pixels === undefined) return undefined
  const [height, width, channels = 1] = sample.shape
  if (height === undefined || width === undefined || !(channels === 1 || channels === 3 || channels === 4)) {
    return undefined
  }
  const pixels = decodeBase64(sample.pixels)
  if (pixels.length !== height * width * channels) return undefined
  const data = new Uint8ClampedArray(new ArrayBuffer(height * width * 4))
  for (let i = 0; i < height * width; i++) {
    const src = i * channels
    const r = pixels[src] ?? 0
    data[i * 4] = r
    data[i * 4 + 1] = channels >= 3 ? (pixels[src + 1] ?? 0) : r
    data[i * 4 + 2] = channels >= 3 ? (pixels[src + 2] ?? 0) : r
    data[i * 4 + 3] = channels === 4 ? (pixels[src + 3] ?? 255) : 255
  }
  return { width, height, data }
}
