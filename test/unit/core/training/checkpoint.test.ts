import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../../../../core/training/checkpoint.ts'
import { loadLatestCheckpoint, saveCheckpoint } from '../../../../core/training/checkpoint-files.node.ts'
import { isCoreError } from '../../../../core/errors.ts'

function sample(step: number): Checkpoint {
  const params = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i + step))
  return {
    meta: {
      layoutFingerprint: 'abcd',
      modelName: 'mlp',
      datasetName: 'shapes',
      datasetHash: '00ff',
      epoch: 2,
      step,
      createdAtMs: 5,
      extra: { lr: 0.1 },
    },
    params,
    blocks: [{ name: 'adam/m', shape: [3, 2], values: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
  }
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return isCoreError(error) ? error.code : 'not a CoreError'
  }
  return undefined
}

describe('checkpoint codec', () => {
  it('round-trips parameters, blocks and metadata exactly', () => {
    const original = sample(7)
    const decoded = decodeCheckpoint(encodeCheckpoint(original))
    expect(decoded.meta).toEqual(original.meta)
    expect(decoded.params).toEqual(original.params)
    expect(decoded.blocks).toEqual(original.blocks)
  })

  it('rejects every truncation with ERR_BAD_CHECKPOINT', () => {
    const bytes = encodeCheckpoint(sample(1))
    for (const length of [0, 3, 11, 12, 100, bytes.length - 5, bytes.length - 1]) {
      expect(codeOf(() => decodeCheckpoint(bytes.subarray(0, length)))).toBe('ERR_BAD_CHECKPOINT')
    }
  })

  it('rejects a single flipped bit anywhere with ERR_BAD_CHECKPOINT', () => {
    const bytes = encodeCheckpoint(sample(1))
    for (let i = 0; i < bytes.length; i += 97) {
      const corrupt = bytes.slice()
      corrupt[i] = corrupt[i]! ^ 0x10
      expect(codeOf(() => decodeCheckpoint(corrupt))).toBe('ERR_BAD_CHECKPOINT')
    }
  })

  it('rejects a foreign file by its magic number', () => {
    expect(() => decodeCheckpoint(new TextEncoder().encode('{"not":"a checkpoint"}'), 'x.ckpt')).toThrowError(
      /x.ckpt: not a Longhaul checkpoint/,
    )
  })
})

describe('checkpoint files', () => {
  let dir = ''
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'longhaul-ckpt-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('returns undefined for an empty directory', async () => {
    expect(await loadLatestCheckpoint(dir)).toBeUndefined()
  })

  it('keeps the newest as latest and the one before as previous, with no temp files left', async () => {
    await saveCheckpoint(dir, sample(1))
    await saveCheckpoint(dir, sample(2))
    const loaded = await loadLatestCheckpoint(dir)
    expect(loaded?.checkpoint.meta.step).toBe(2)
    expect((await readdir(dir)).sort()).toEqual(['latest.ckpt', 'previous.ckpt'])
  })

  it('falls back to previous with the reason when latest is corrupt', async () => {
    await saveCheckpoint(dir, sample(1))
    await saveCheckpoint(dir, sample(2))
    const latest = path.join(dir, 'latest.ckpt')
    const bytes = await readFile(latest)
    await writeFile(latest, bytes.subarray(0, bytes.length - 10))
    const loaded = await loadLatestCheckpoint(dir)
    expect(loaded?.checkpoint.meta.step).toBe(1)
    expect(loaded?.fallbackReason).toMatch(/latest.ckpt: checksum mismatch/)
  })

  it('recovers from a kill between the two renames (only previous left)', async () => {
    await saveCheckpoint(dir, sample(1))
    await saveCheckpoint(dir, sample(2))
    await rm(path.join(dir, 'latest.ckpt'))
    const loaded = await loadLatestCheckpoint(dir)
    expect(loaded?.checkpoint.meta.step).toBe(1)
  })

  it('fails with ERR_BAD_CHECKPOINT when the only checkpoint is corrupt', async () => {
    await writeFile(path.join(dir, 'latest.ckpt'), 'garbage')
    await expect(loadLatestCheckpoint(dir)).rejects.toMatchObject({ code: 'ERR_BAD_CHECKPOINT' })
  })
})
