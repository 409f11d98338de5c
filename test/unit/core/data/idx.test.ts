import { describe, expect, it } from 'vitest'
import type { IdxDatasetInput } from '../../../../core/data/idx.ts'
import {
  datasetFromIdx,
  encodeIdxImages,
  encodeIdxLabels,
  parseIdxImages,
  parseIdxLabels,
} from '../../../../core/data/idx.ts'
import { CoreError, isCoreError } from '../../../../core/errors.ts'

function pixelsFor(count: number, rows: number, cols: number, salt: number): Uint8Array {
  return Uint8Array.from({ length: count * rows * cols }, (_, i) => (i * 31 + salt) & 0xff)
}

function input(
  overrides: Partial<{ trainLabels: number[]; testLabels: number[]; rows: number }> = {},
): IdxDatasetInput {
  const trainLabels = overrides.trainLabels ?? [0, 1, 2, 1, 0, 2]
  const testLabels = overrides.testLabels ?? [2, 0, 1]
  const rows = overrides.rows ?? 4
  return {
    name: 'tiny',
    source: 'idx',
    train: {
      images: encodeIdxImages(pixelsFor(trainLabels.length, 4, 3, 1), trainLabels.length, 4, 3),
      labels: encodeIdxLabels(trainLabels),
      imagesFile: 'train-images',
      labelsFile: 'train-labels',
    },
    test: {
      images: encodeIdxImages(pixelsFor(testLabels.length, rows, 3, 2), testLabels.length, rows, 3),
      labels: encodeIdxLabels(testLabels),
      imagesFile: 'test-images',
      labelsFile: 'test-labels',
    },
  }
}

function catchError(fn: () => unknown): CoreError {
  try {
    fn()
  } catch (err) {
    if (err instanceof CoreError) return err
    throw err
  }
  throw new Error('expected a CoreError')
}

describe('parseIdxImages', () => {
  it('reads count, rows, cols and the pixel bytes when the file is valid', () => {
    const pixels = pixelsFor(2, 3, 5, 0)
    const parsed = parseIdxImages(encodeIdxImages(pixels, 2, 3, 5), 'f')
    expect([parsed.count, parsed.rows, parsed.cols]).toEqual([2, 3, 5])
    expect([...parsed.pixels]).toEqual([...pixels])
  })

  it('rejects a wrong magic number and names the file and both numbers', () => {
    const bytes = encodeIdxLabels([1, 2])
    const err = catchError(() => parseIdxImages(bytes, '/data/x-images'))
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toMatch(/^\/data\/x-images: wrong magic number 0x00000801, expected 0x00000803/)
  })

  it('rejects a file shorter than the header says', () => {
    const bytes = encodeIdxImages(pixelsFor(3, 2, 2, 0), 3, 2, 2).subarray(0, 16 + 10)
    const err = catchError(() => parseIdxImages(bytes, 'imgs'))
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toMatch(
      /^imgs: truncated: header declares 3 images of 2×2 \(28 bytes\) but the file has 26 bytes/,
    )
  })

  it('rejects a file too short for the header', () => {
    const err = catchError(() =>
      parseIdxImages(encodeIdxImages(new Uint8Array(0), 0, 1, 1).subarray(0, 9), 'imgs'),
    )
    expect(err.message).toMatch(/imgs: truncated: 9 bytes is shorter than the 16-byte IDX header/)
  })

  it('rejects trailing bytes after the declared images', () => {
    const full = encodeIdxImages(pixelsFor(1, 2, 2, 0), 1, 2, 2)
    const bytes = new Uint8Array(full.length + 3)
    bytes.set(full)
    expect(catchError(() => parseIdxImages(bytes, 'imgs')).message).toMatch(
      /3 unexpected bytes after 1 images/,
    )
  })

  it('rejects a zero image size', () => {
    expect(
      catchError(() => parseIdxImages(encodeIdxImages(new Uint8Array(0), 5, 0, 3), 'imgs')).message,
    ).toMatch(/image size 0×3 is empty/)
  })
})

describe('parseIdxLabels', () => {
  it('reads the labels when the file is valid', () => {
    expect([...parseIdxLabels(encodeIdxLabels([3, 1, 4]), 'l')]).toEqual([3, 1, 4])
  })

  it('rejects an image file passed as labels', () => {
    const err = catchError(() => parseIdxLabels(encodeIdxImages(new Uint8Array(4), 1, 2, 2), 'lbl'))
    expect(err.message).toMatch(/^lbl: wrong magic number 0x00000803, expected 0x00000801/)
  })

  it('rejects a truncated label file', () => {
    const err = catchError(() => parseIdxLabels(encodeIdxLabels([1, 2, 3, 4]).subarray(0, 10), 'lbl'))
    expect(err.message).toMatch(/^lbl: truncated: header declares 4 labels/)
  })
})

describe('datasetFromIdx', () => {
  it('builds splits scaled to [0, 1] with a manifest when all four parts are valid', () => {
    const ds = datasetFromIdx({ ...input(), classes: ['a', 'b', 'c'] })
    expect(ds.manifest).toMatchObject({
      name: 'tiny',
      source: 'idx',
      inputShape: [4, 3, 1],
      classes: ['a', 'b', 'c'],
      counts: { train: [2, 2, 2], test: [1, 1, 1] },
      trainCount: 6,
      testCount: 3,
      split: 'given',
    })
    expect(ds.manifest.contentHash).toMatch(/^[0-9a-f]{16}$/)
    expect(ds.train.x.length).toBe(6 * 12)
    expect(ds.train.x[1]).toBeCloseTo(pixelsFor(6, 4, 3, 1)[1]! / 255, 6)
    expect([...ds.test.y]).toEqual([2, 0, 1])
  })

  it('names classes "0".."k−1" after the largest label when no names are given', () => {
    const ds = datasetFromIdx(input({ trainLabels: [0, 4, 1], testLabels: [3] }))
    expect(ds.manifest.classes).toEqual(['0', '1', '2', '3', '4'])
  })

  it('hashes the same bytes to the same value and one changed pixel to another', () => {
    const a = datasetFromIdx(input()).manifest.contentHash
    expect(datasetFromIdx(input()).manifest.contentHash).toBe(a)
    const changed = input()
    const images = changed.train.images.slice()
    images[20] = images[20]! ^ 1
    expect(datasetFromIdx({ ...changed, train: { ...changed.train, images } }).manifest.contentHash).not.toBe(
      a,
    )
  })

  it('rejects a label out of range, naming the label file, index and class count', () => {
    const err = catchError(() =>
      datasetFromIdx({ ...input({ testLabels: [0, 1, 7] }), classes: ['a', 'b', 'c'] }),
    )
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toBe('test-labels: label 7 at index 2 is out of range (3 classes: 0..2)')
  })

  it('rejects image and label files whose counts differ', () => {
    const base = input()
    const err = catchError(() =>
      datasetFromIdx({ ...base, train: { ...base.train, labels: encodeIdxLabels([0, 1, 2, 0, 1]) } }),
    )
    expect(err.message).toMatch(/^train-labels: has 5 labels but train-images has 6 images/)
  })

  it('rejects a test split whose image size differs from train', () => {
    const err = catchError(() => datasetFromIdx(input({ rows: 5 })))
    expect(err.message).toMatch(/^test-images: image size 5×3 differs from train-images \(4×3\)/)
  })

  it('throws before returning anything when one part is corrupt', () => {
    const base = input()
    const images = base.test.images.slice()
    images[3] = 0x02
    let result: unknown
    let error: unknown
    try {
      result = datasetFromIdx({ ...base, test: { ...base.test, images } })
    } catch (err) {
      error = err
    }
    expect(result).toBeUndefined()
    expect(isCoreError(error, 'ERR_BAD_DATASET')).toBe(true)
  })
})
