import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { encodeIdxImages, encodeIdxLabels } from '../../../../core/data/idx.ts'
import {
  findIdxFiles,
  loadIdxFolder,
  looksLikeIdxFolder,
  readMaybeGzip,
} from '../../../../core/data/idx-files.node.ts'
import { CoreError } from '../../../../core/errors.ts'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'longhaul-idx-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const TRAIN_LABELS = [0, 1, 2, 3, 0, 1, 2, 3]
const TEST_LABELS = [3, 2, 1, 0]

function files(): Record<'trainImages' | 'trainLabels' | 'testImages' | 'testLabels', Uint8Array> {
  const pixels = (n: number, salt: number): Uint8Array =>
    Uint8Array.from({ length: n * 25 }, (_, i) => (i * 7 + salt) & 0xff)
  return {
    trainImages: encodeIdxImages(pixels(TRAIN_LABELS.length, 3), TRAIN_LABELS.length, 5, 5),
    trainLabels: encodeIdxLabels(TRAIN_LABELS),
    testImages: encodeIdxImages(pixels(TEST_LABELS.length, 9), TEST_LABELS.length, 5, 5),
    testLabels: encodeIdxLabels(TEST_LABELS),
  }
}

async function writeIdx(
  target: string,
  options: {
    gzip?: boolean
    names?: Partial<Record<keyof ReturnType<typeof files>, string>>
    data?: Partial<ReturnType<typeof files>>
  } = {},
): Promise<void> {
  const names = {
    trainImages: 'train-images-idx3-ubyte',
    trainLabels: 'train-labels-idx1-ubyte',
    testImages: 't10k-images-idx3-ubyte',
    testLabels: 't10k-labels-idx1-ubyte',
    ...options.names,
  }
  const data = { ...files(), ...options.data }
  for (const key of Object.keys(names) as (keyof typeof names)[]) {
    const bytes = options.gzip ? gzipSync(data[key]) : data[key]
    await writeFile(join(target, names[key] + (options.gzip ? '.gz' : '')), bytes)
  }
}

async function loadError(target: string, classes?: string[]): Promise<CoreError> {
  try {
    await loadIdxFolder(target, { classes })
  } catch (err) {
    if (err instanceof CoreError) return err
    throw err
  }
  throw new Error('expected loadIdxFolder to fail')
}

describe('loadIdxFolder', () => {
  it('loads raw and gzip-compressed folders to the same data and content hash', async () => {
    const raw = join(dir, 'raw')
    const gz = join(dir, 'gz')
    await mkdir(raw)
    await mkdir(gz)
    await writeIdx(raw)
    await writeIdx(gz, { gzip: true })
    const a = await loadIdxFolder(raw)
    const b = await loadIdxFolder(gz)
    expect(a.manifest).toMatchObject({
      name: 'raw',
      source: 'idx',
      inputShape: [5, 5, 1],
      trainCount: 8,
      testCount: 4,
    })
    expect(a.manifest.classes).toEqual(['0', '1', '2', '3'])
    expect(b.manifest.contentHash).toBe(a.manifest.contentHash)
    expect([...b.train.x]).toEqual([...a.train.x])
    expect([...b.test.y]).toEqual(TEST_LABELS)
  })

  it('accepts the "test" prefix and a dot before idx', async () => {
    await writeIdx(dir, {
      names: {
        trainImages: 'train-images.idx3-ubyte',
        testImages: 'test-images.idx3-ubyte',
        testLabels: 'test-labels.idx1-ubyte',
      },
    })
    expect((await loadIdxFolder(dir)).manifest.testCount).toBe(4)
  })

  it('throws ERR_NOT_FOUND naming a missing folder', async () => {
    const missing = join(dir, 'nope')
    const err = await loadError(missing)
    expect(err.code).toBe('ERR_NOT_FOUND')
    expect(err.message).toBe(`${missing}: cannot read the folder (ENOENT)`)
  })

  it('throws ERR_NOT_FOUND naming the folder and the missing part', async () => {
    await writeIdx(dir)
    await rm(join(dir, 't10k-labels-idx1-ubyte'))
    const err = await loadError(dir)
    expect(err.code).toBe('ERR_NOT_FOUND')
    expect(err.message).toMatch(new RegExp(`^${dir}: no t10k-labels-idx1-ubyte\\[\\.gz\\] file`))
  })

  it('throws ERR_BAD_DATASET naming a truncated gzip file', async () => {
    await writeIdx(dir, { gzip: true })
    const file = join(dir, 'train-images-idx3-ubyte.gz')
    const whole = gzipSync(files().trainImages)
    await writeFile(file, whole.subarray(0, whole.length - 20))
    const err = await loadError(dir)
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toBe(`${file}: truncated gzip data (unexpected end of file)`)
  })

  it('throws ERR_BAD_DATASET naming a corrupt gzip file', async () => {
    await writeIdx(dir, { gzip: true })
    const file = join(dir, 't10k-images-idx3-ubyte.gz')
    const bytes = gzipSync(files().testImages)
    for (let i = 12; i < bytes.length - 8; i++) bytes[i] = bytes[i]! ^ 0x5a
    await writeFile(file, bytes)
    const err = await loadError(dir)
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toMatch(new RegExp(`^${file}: corrupt gzip data \\(Z_`))
  })

  it('throws ERR_BAD_DATASET naming a file with the wrong magic number', async () => {
    await writeIdx(dir, { data: { trainLabels: files().trainImages } })
    const err = await loadError(dir)
    expect(err.message).toBe(
      `${join(dir, 'train-labels-idx1-ubyte')}: wrong magic number 0x00000803, expected 0x00000801 (IDX labels: unsigned byte, 1 dimension)`,
    )
  })

  it('throws ERR_BAD_DATASET naming a truncated raw file', async () => {
    await writeIdx(dir, { data: { testImages: files().testImages.subarray(0, 50) } })
    const err = await loadError(dir)
    expect(err.message).toMatch(
      new RegExp(`^${join(dir, 't10k-images-idx3-ubyte')}: truncated: header declares 4 images`),
    )
  })

  it('throws ERR_BAD_DATASET naming the label file when a label is out of range', async () => {
    await writeIdx(dir)
    const err = await loadError(dir, ['a', 'b', 'c'])
    expect(err.message).toBe(
      `${join(dir, 'train-labels-idx1-ubyte')}: label 3 at index 3 is out of range (3 classes: 0..2)`,
    )
  })

  it('throws ERR_BAD_DATASET when image and label counts differ', async () => {
    await writeIdx(dir, { data: { testLabels: encodeIdxLabels([1, 2, 3]) } })
    const err = await loadError(dir)
    expect(err.message).toMatch(
      /t10k-labels-idx1-ubyte: has 3 labels but .*t10k-images-idx3-ubyte has 4 images/,
    )
  })
})

describe('readMaybeGzip', () => {
  it('refuses output beyond the size limit', async () => {
    const file = join(dir, 'bomb.gz')
    await writeFile(file, gzipSync(new Uint8Array(1 << 20)))
    await expect(readMaybeGzip(file, 1000)).rejects.toThrow(`${file}: decompresses to more than 1000 bytes`)
  })
})

describe('looksLikeIdxFolder / findIdxFiles', () => {
  it('detects IDX names and ignores other folders', async () => {
    expect(await looksLikeIdxFolder(dir)).toBe(false)
    await writeIdx(dir, { gzip: true })
    expect(await looksLikeIdxFolder(dir)).toBe(true)
    expect((await findIdxFiles(dir)).trainImages).toBe(join(dir, 'train-images-idx3-ubyte.gz'))
  })
})
