/**
 * Checkpoint encoding: everything needed to resume training bit-for-bit where it stopped.
 *
 * Layout (little-endian):
 *   0   4  magic "LHCK"
 *   4   4  format version (u32) = CHECKPOINT_FORMAT_VERSION
 *   8   4  header length H in bytes (u32)
 *   12  H  header, UTF-8 JSON (CheckpointHeader)
 *   ..     zero padding to a multiple of 4
 *   ..     float32 blocks, in header.blocks order, each header.blocks[i].length values
 *   end-4  CRC-32C of every byte before it
 *
 * Decoding validates the magic, version, every length against the buffer and the CRC before
 * it builds anything, so a truncated or corrupted file is an ERR_BAD_CHECKPOINT, never a
 * half-restored model.
 */
import { CoreError } from '../errors.ts'
import { isCount, isRecord } from '../guards.ts'
import { crc32c } from '../protocol/crc32c.ts'

export const CHECKPOINT_FORMAT_VERSION = 1
const MAGIC = [0x4c, 0x48, 0x43, 0x4b] // "LHCK"
const FIXED_HEADER_BYTES = 12
const CRC_BYTES = 4
/** Guards against a corrupt length making us parse megabytes of garbage JSON. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024

export interface CheckpointBlock {
  readonly name: string
  readonly shape: number[]
  readonly values: Float32Array
}

export interface CheckpointMeta {
  readonly layoutFingerprint: string
  readonly modelName: string
  readonly datasetName: string
  readonly datasetHash: string
  /** Local epochs completed on this worker's data. */
  readonly epoch: number
  /** Optimizer steps taken in total. */
  readonly step: number
  readonly createdAtMs: number
  /** Free-form, JSON-able extras (run config, algorithm state metadata, metrics). */
  readonly extra: Record<string, unknown>
}

export interface Checkpoint {
  readonly meta: CheckpointMeta
  readonly params: Float32Array
  /** Optimizer slots and any other named tensors (algorithm residuals, momentum buffers). */
  readonly blocks: readonly CheckpointBlock[]
}

interface BlockSpec {
  name: string
  shape: number[]
  length: number
}

export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  const blocks: CheckpointBlock[] = [
    { name: 'params', shape: [checkpoint.params.length], values: checkpoint.params },
    ...checkpoint.blocks,
  ]
  const header = JSON.stringify({
    meta: checkpoint.meta,
    blocks: blocks.map((b): BlockSpec => ({ name: b.name, shape: b.shape, length: b.values.length })),
  })
  const headerBytes = new TextEncoder().encode(header)
  const dataStart = align4(FIXED_HEADER_BYTES + headerBytes.length)
  const dataBytes = blocks.reduce((sum, b) => sum + b.values.length * 4, 0)
  const out = new Uint8Array(dataStart + dataBytes + CRC_BYTES)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  view.setUint32(4, CHECKPOINT_FORMAT_VERSION, true)
  view.setUint32(8, headerBytes.length, true)
  out.set(headerBytes, FIXED_HEADER_BYTES)
  let offset = dataStart
  for (const block of blocks) {
    // Copy through a byte view: the block's own buffer may be unaligned or shared.
    out.set(new Uint8Array(block.values.buffer, block.values.byteOffset, block.values.byteLength), offset)
    offset += block.values.byteLength
  }
  view.setUint32(offset, crc32c(out.subarray(0, offset)), true)
  return out
}

export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  const bad = (what: string): CoreError => new CoreError('ERR_BAD_CHECKPOINT', `${source}: ${what}`)
  if (bytes.length < FIXED_HEADER_BYTES + CRC_BYTES)
    throw bad(`only ${bytes.length} bytes, too short to be a checkpoint`)
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw bad('not a Longhaul checkpoint (wrong magic number)')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint32(4, true)
  if (version !== CHECKPOINT_FORMAT_VERSION)
    throw bad(`format version ${version}, this build reads version ${CHECKPOINT_FORMAT_VERSION}`)
  const headerLength = view.getUint32(8, true)
  if (headerLength > MAX_HEADER_BYTES || FIXED_HEADER_BYTES + headerLength + CRC_BYTES > bytes.length) {
    throw bad(`header length ${headerLength} does not fit in ${bytes.length} bytes (truncated?)`)
  }
  const crcOffset = bytes.length - CRC_BYTES
  const storedCrc = view.getUint32(crcOffset, true)
  if (crc32c(bytes.subarray(0, crcOffset)) !== storedCrc)
    throw bad('checksum mismatch: the file is corrupt or truncated')

  let parsed: unknown
  try {
    parsed = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(
        bytes.subarray(FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + headerLength),
      ),
    )
  } catch {
    throw bad('header is not valid JSON')
  }
  if (!isHeader(parsed)) throw bad('header has an unexpected shape')
  const dataStart = align4(FIXED_HEADER_BYTES + headerLength)
  const totalValues = parsed.blocks.reduce((sum, b) => sum + b.length, 0)
  if (dataStart + totalValues * 4 !== crcOffset)
    throw bad(`header lists ${totalValues} values but the file holds ${(crcOffset - dataStart) / 4}`)
  const first = parsed.blocks[0]
  if (!first || first.name !== 'params') throw bad('the first block must be the parameters')

  let offset = dataStart
  const blocks: CheckpointBlock[] = parsed.blocks.map((spec) => {
    // Copy into a fresh, aligned buffer: the file's bytes may sit at any offset.
    const values = new Float32Array(spec.length)
    new Uint8Array(values.buffer).set(bytes.subarray(offset, offset + spec.length * 4))
    offset += spec.length * 4
    return { name: spec.name, shape: spec.shape, values }
  })
  return { meta: parsed.meta, params: blocks[0]!.values, blocks: blocks.slice(1) }
}

function align4(n: number): number {
  return (n + 3) & ~3
}

function isHeader(value: unknown): value is { meta: CheckpointMeta; blocks: BlockSpec[] } {
  if (!isRecord(value) || !isRecord(value['meta']) || !Array.isArray(value['blocks'])) return false
  const meta = value['meta']
  const metaOk =
    typeof meta['layoutFingerprint'] === 'string' &&
    typeof meta['modelName'] === 'string' &&
    typeof meta['datasetName'] === 'string' &&
    typeof meta['datasetHash'] === 'string' &&
    isCount(meta['epoch']) &&
    isCount(meta['step']) &&
    typeof meta['createdAtMs'] === 'number' &&
    isRecord(meta['extra'])
  return (
    metaOk &&
    value['blocks'].every(
      (b: unknown) =>
        isRecord(b) &&
        typeof b['name'] === 'string' &&
        isCount(b['length']) &&
        Array.isArray(b['shape']) &&
        b['shape'].every(isCount) &&
        b['shape'].reduce((p: number, d: number) => p * d, 1) === b['length'],
    )
  )
}
