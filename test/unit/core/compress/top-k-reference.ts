/**
 * An independent, deliberately plain reader and writer of the top-k wire format (version 2,
 * core/compress/top-k.ts): arrays and DataView, no shared code with the compressor, so the
 * tests compare two implementations of the documented layout.
 */

export interface DecodedTopK {
  readonly d: number
  readonly indices: number[]
  readonly values: number[]
  /** Bytes the LEB128 gaps took (without padding). */
  readonly gapBytes: number
}

/** Reads a payload the layout allows; throws a plain Error on anything it does not. */
export function decodeTopK(payload: Uint8Array): DecodedTopK {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  if (payload.length < 12 || payload[0] !== 3 || payload[1] !== 2 || payload[2] !== 0 || payload[3] !== 0) {
    throw new Error('bad header')
  }
  const d = view.getUint32(4, true)
  const k = view.getUint32(8, true)
  if (k > d) throw new Error('k > d')
  const indices: number[] = []
  let at = 12
  let previous = -1
  for (let j = 0; j < k; j++) {
    let gap = 0
    for (let shift = 0; ; shift++) {
      if (shift === 5 || at >= payload.length) throw new Error('bad gap')
      const byte = payload[at++]!
      gap += (byte & 0x7f) * 2 ** (7 * shift)
      if (byte < 0x80) {
        if (byte === 0 && shift > 0) throw new Error('gap not in shortest form')
        break
      }
    }
    const index = previous + 1 + gap
    if (index >= d) throw new Error('index >= d')
    indices.push(index)
    previous = index
  }
  const gapBytes = at - 12
  while (at % 4 !== 0) {
    if (payload[at++] !== 0) throw new Error('nonzero padding')
  }
  if (payload.length !== at + 4 * k) throw new Error('length')
  const values = indices.map((_, j) => view.getFloat32(at + 4 * j, true))
  if (!values.every(Number.isFinite)) throw new Error('non-finite value')
  return { d, indices, values, gapBytes }
}

/**
 * Writes the payload for strictly increasing `indices` below d and float32 `values`.
 * `longForm` writes gap `at` with `extra` needless continuation groups (0x80 … 0x00), the
 * non-canonical form a sloppy encoder could produce; receivers must refuse it.
 */
export function encodeTopK(
  d: number,
  indices: readonly number[],
  values: readonly number[],
  longForm?: { readonly at: number; readonly extra: number },
): Uint8Array {
  const bytes: number[] = [3, 2, 0, 0, ...u32(d), ...u32(indices.length)]
  let next = 0
  indices.forEach((index, j) => {
    let gap = index - next
    const groups: number[] = []
    do {
      groups.push(gap % 128)
      gap = Math.floor(gap / 128)
    } while (gap > 0)
    if (longForm?.at === j) for (let n = 0; n < longForm.extra; n++) groups.push(0)
    groups.forEach((group, g) => bytes.push(g < groups.length - 1 ? group | 0x80 : group))
    next = index + 1
  })
  while (bytes.length % 4 !== 0) bytes.push(0)
  for (const value of values) bytes.push(...new Uint8Array(Float32Array.of(value).buffer))
  return Uint8Array.from(bytes)
}

function u32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24]
}
