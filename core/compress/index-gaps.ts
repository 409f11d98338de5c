/**
 * A strictly increasing index set as LEB128 gaps: the wire form of top-k's indices.
 *
 * Index j is sent as the gap g_j = i_j − i_{j−1} − 1 (g_0 = i_0), an unsigned LEB128 varint:
 * 7 bits per byte, low groups first, the high bit set on every byte but the last. Gaps are
 * small when the set is dense: at 1% density the mean gap is about 100, so most gaps take
 * one byte and a few two, against 4 bytes for a plain u32 index.
 *
 * The encoding is canonical, so a receiver can insist on it: the shortest form of every gap
 * (no final byte 0x00 after a continuation byte), at most MAX_GAP_BYTES bytes per gap (indices
 * are below d < 2^32), every index below d.
 */
import { badMessage } from './wire-format.ts'

/** A gap below 2^32 takes at most 5 groups of 7 bits. */
export const MAX_GAP_BYTES = 5

/**
 * Writes `count` indices (strictly increasing; the caller guarantees it) as gaps into `bytes`
 * from `offset`; returns the offset after the last byte. `bytes` needs room for
 * MAX_GAP_BYTES · count bytes in the worst case.
 */
export function writeIndexGaps(
  indices: Uint32Array,
  count: number,
  bytes: Uint8Array,
  offset: number,
): number {
  let at = offset
  let next = 0
  for (let j = 0; j < count; j++) {
    const index = indices[j]!
    let gap = index - next
    while (gap >= 0x80) {
      bytes[at++] = (gap & 0x7f) | 0x80
      gap >>>= 7
    }
    bytes[at++] = gap
    next = index + 1
  }
  return at
}

/**
 * Validates `count` gaps in `bytes[offset, limit)` for vectors of `d` entries and returns the
 * offset after the last one. Throws CoreError('ERR_BAD_MESSAGE') (prefixed with `name`) on a
 * gap that runs past `limit`, is longer than MAX_GAP_BYTES or not in its shortest form, or an
 * index at or beyond d. Reads only; allocates nothing.
 */
export function checkIndexGaps(
  bytes: Uint8Array,
  offset: number,
  limit: number,
  count: number,
  d: number,
  name: string,
): number {
  let at = offset
  let next = 0
  for (let j = 0; j < count; j++) {
    let gap = 0
    let scale = 1
    let length = 0
    for (;;) {
      if (at >= limit) throw badMessage(name, `index ${j} of ${count} runs past the index section`)
      const byte = bytes[at++]!
      length++
      gap += (byte & 0x7f) * scale
      if (byte < 0x80) {
        if (byte === 0 && length > 1) throw badMessage(name, `index ${j} is not in its shortest form`)
        break
      }
      if (length === MAX_GAP_BYTES) throw badMessage(name, `index ${j} is longer than ${MAX_GAP_BYTES} bytes`)
      scale *= 128
    }
    // Plain number arithmetic: gap < 2^35 here, so nothing wraps.
    const index = next + gap
    if (index >= d) throw badMessage(name, `index ${index} at position ${j} is not below ${d}`)
    next = index + 1
  }
  return at
}

/**
 * Writes values[j] at the j-th index of gaps already accepted by checkIndexGaps (same bytes,
 * offset and count); leaves every other entry of `out` as it is.
 */
export function scatterByIndexGaps(
  bytes: Uint8Array,
  offset: number,
  count: number,
  values: Float32Array,
  out: Float32Array,
): void {
  let at = offset
  let next = 0
  for (let j = 0; j < count; j++) {
    let byte = bytes[at++]!
    let gap = byte & 0x7f
    let scale = 128
    while (byte >= 0x80) {
      byte = bytes[at++]!
      gap += (byte & 0x7f) * scale
      scale *= 128
    }
    const index = next + gap
    out[index] = values[j]!
    next = index + 1
  }
}
