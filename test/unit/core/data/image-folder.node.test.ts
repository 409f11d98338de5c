import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadImageFolder } from '../../../../core/data/image-folder.node.ts'
import { CoreError } from '../../../../core/errors.ts'

let root: string
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'longhaul-img-'))
})
afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

async function grayPng(
  width: number,
  height: number,
  value: number | ((i: number) => number),
  compressionLevel = 6,
) {
  const data = Buffer.from(
    Uint8Array.from({ length: width * height }, (_, i) => (typeof value === 'number' ? value : value(i))),
  )
  return sharp(data, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png({ compressionLevel })
    .toBuffer()
}

async function rgbImage(
  width: number,
  height: number,
  rgb: [number, number, number],
  format: 'png' | 'jpeg' = 'png',
) {
  const data = Buffer.alloc(width * height * 3)
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3)
  const img = sharp(data, { raw: { width, height, channels: 3 } })
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer()
}

async function put(path: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true })
  await writeFile(path, bytes)
}

async function loadError(path: string, options = {}): Promise<CoreError> {
  try {
    await loadImageFolder(path, options)
  } catch (err) {
    if (err instanceof CoreError) return err
    throw err
  }
  throw new Error('expected loadImageFolder to fail')
}

describe('loadImageFolder', () => {
  it('decodes grayscale PNGs to one channel at the first image’s size, classes sorted by name', async () => {
    await put(join(root, 'zebra', 'a.png'), await grayPng(8, 6, 200))
    await put(join(root, 'apple', 'b.png'), await grayPng(8, 6, 51))
    await put(join(root, 'apple', 'a.png'), await grayPng(16, 12, 102))
    const ds = await loadImageFolder(root, { testFraction: 0 })
    expect(ds.manifest).toMatchObject({
      name: root.split('/').pop(),
      source: 'image-folder',
      inputShape: [12, 16, 1],
      classes: ['apple', 'zebra'],
      counts: { train: [2, 1], test: [0, 0] },
      split: 'generated',
    })
    // apple/a.png first (sorted), then apple/b.png resized up, then zebra.
    const px = 12 * 16
    expect(ds.train.x[0]).toBeCloseTo(102 / 255, 5)
    expect(ds.train.x[px + 7]).toBeCloseTo(51 / 255, 5)
    expect(ds.train.x[2 * px + 100]).toBeCloseTo(200 / 255, 5)
    expect([...ds.train.y]).toEqual([0, 0, 1])
  })

  it('uses three channels when any image has colour, and reads JPEG', async () => {
    await put(join(root, 'gray', 'g.png'), await grayPng(4, 4, 128))
    await put(join(root, 'red', 'r.jpg'), await rgbImage(4, 4, [255, 0, 0], 'jpeg'))
    const ds = await loadImageFolder(root, { testFraction: 0 })
    expect(ds.manifest.inputShape).toEqual([4, 4, 3])
    const [r0, g0, b0] = [ds.train.x[0]!, ds.train.x[1]!, ds.train.x[2]!]
    expect([r0, g0, b0].every((v) => Math.abs(v - 128 / 255) < 0.01)).toBe(true)
    const red = ds.train.x.subarray(48, 51)
    expect(red[0]).toBeGreaterThan(0.9)
    expect(red[1]).toBeLessThan(0.1)
    expect(red[2]).toBeLessThan(0.1)
  })

  it('applies EXIF orientation before taking the size', async () => {
    // Stored 8 wide × 4 high, tagged "rotate 90°": displayed 4 wide × 8 high.
    const data = Buffer.alloc(8 * 4 * 3, 90)
    const jpeg = await sharp(data, { raw: { width: 8, height: 4, channels: 3 } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer()
    expect((await sharp(jpeg).metadata()).orientation).toBe(6)
    await put(join(root, 'a', 'photo.jpg'), jpeg)
    const ds = await loadImageFolder(root, { testFraction: 0 })
    expect(ds.manifest.inputShape).toEqual([8, 4, 3])
  })

  it('resizes every image to the size option', async () => {
    await put(join(root, 'a', '1.png'), await grayPng(20, 10, 9))
    await put(join(root, 'b', '1.png'), await grayPng(7, 7, 9))
    const ds = await loadImageFolder(root, { size: { width: 6, height: 5 }, testFraction: 0 })
    expect(ds.manifest.inputShape).toEqual([5, 6, 1])
    expect(ds.train.x.length).toBe(2 * 30)
  })

  it('holds out a stratified, seeded test split when there is no train/test layout', async () => {
    for (const cls of ['a', 'b']) {
      for (let i = 0; i < 10; i++)
        await put(join(root, cls, `${i}.png`), await grayPng(3, 3, (p) => (p * 20 + i * 3) & 0xff))
    }
    const ds = await loadImageFolder(root, { seed: 1 })
    expect(ds.manifest.counts).toEqual({ train: [9, 9], test: [1, 1] })
    expect(ds.manifest.split).toBe('generated')
    expect((await loadImageFolder(root, { seed: 1 })).manifest.contentHash).toBe(ds.manifest.contentHash)
    expect((await loadImageFolder(root, { seed: 2 })).manifest.contentHash).not.toBe(ds.manifest.contentHash)
  })

  it('keeps the given split when the folder has train/ and test/', async () => {
    await put(join(root, 'train', 'cat', '1.png'), await grayPng(3, 3, 1))
    await put(join(root, 'train', 'cat', '2.png'), await grayPng(3, 3, 2))
    await put(join(root, 'train', 'dog', '1.png'), await grayPng(3, 3, 3))
    await put(join(root, 'test', 'dog', '1.png'), await grayPng(3, 3, 4))
    const ds = await loadImageFolder(root)
    expect(ds.manifest).toMatchObject({
      classes: ['cat', 'dog'],
      split: 'given',
      counts: { train: [2, 1], test: [0, 1] },
    })
  })

  it('hashes decoded pixels, so re-encoding a PNG keeps the content hash', async () => {
    const pattern = (i: number): number => (i * 37) & 0xff
    await put(join(root, 'a', '1.png'), await grayPng(5, 5, pattern, 0))
    await put(join(root, 'b', '1.png'), await grayPng(5, 5, 7, 0))
    const first = (await loadImageFolder(root, { testFraction: 0 })).manifest.contentHash
    await put(join(root, 'a', '1.png'), await grayPng(5, 5, pattern, 9))
    expect((await loadImageFolder(root, { testFraction: 0 })).manifest.contentHash).toBe(first)
    await put(join(root, 'a', '1.png'), await grayPng(5, 5, (i) => pattern(i) ^ (i === 3 ? 1 : 0), 9))
    expect((await loadImageFolder(root, { testFraction: 0 })).manifest.contentHash).not.toBe(first)
  })

  it('skips hidden entries and non-image files', async () => {
    await put(join(root, 'a', '1.png'), await grayPng(3, 3, 1))
    await put(join(root, 'a', 'notes.txt'), 'hello')
    await put(join(root, 'a', '.DS_Store'), 'junk')
    await put(join(root, '.cache', 'x.png'), 'not an image')
    const ds = await loadImageFolder(root, { testFraction: 0 })
    expect(ds.manifest.classes).toEqual(['a'])
    expect(ds.manifest.trainCount).toBe(1)
  })

  it('follows the classes option for label order and allows a missing class', async () => {
    await put(join(root, 'b', '1.png'), await grayPng(3, 3, 1))
    const ds = await loadImageFolder(root, { classes: ['a', 'b', 'c'], testFraction: 0 })
    expect(ds.manifest.counts.train).toEqual([0, 1, 0])
    expect([...ds.train.y]).toEqual([1])
  })

  it('rejects a class folder that is not in the classes option', async () => {
    await put(join(root, 'x', '1.png'), await grayPng(3, 3, 1))
    const err = await loadError(root, { classes: ['a'] })
    expect(err.message).toBe(`${join(root, 'x')}: class folder "x" is not one of the given classes (a)`)
  })

  it('throws ERR_NOT_FOUND naming a missing folder', async () => {
    const missing = join(root, 'missing')
    const err = await loadError(missing)
    expect(err.code).toBe('ERR_NOT_FOUND')
    expect(err.message).toBe(`${missing}: cannot read (ENOENT)`)
  })

  it('throws ERR_BAD_DATASET when there are no class sub-folders', async () => {
    await put(join(root, 'lonely.png'), await grayPng(3, 3, 1))
    const err = await loadError(root)
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toMatch(new RegExp(`^${root}: no class sub-folders`))
  })

  it('throws ERR_BAD_DATASET naming an empty class folder', async () => {
    await put(join(root, 'a', '1.png'), await grayPng(3, 3, 1))
    await put(join(root, 'b', 'readme.txt'), 'no images here')
    const err = await loadError(root)
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toBe(
      `${join(root, 'b')}: empty class folder: no PNG or JPEG images (1 other files skipped)`,
    )
  })

  it('throws ERR_BAD_DATASET naming an unreadable image', async () => {
    await put(join(root, 'a', '1.png'), await grayPng(3, 3, 1))
    const bad = join(root, 'a', '2.png')
    await put(bad, 'this is not a PNG')
    const err = await loadError(root)
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toMatch(new RegExp(`^${bad}: unreadable image \\(`))
  })

  it('throws ERR_BAD_DATASET naming a truncated image', async () => {
    await put(join(root, 'a', '1.png'), await grayPng(3, 3, 1))
    const truncated = join(root, 'b', 'cut.jpg')
    const jpeg = await rgbImage(64, 64, [10, 200, 30], 'jpeg')
    await put(truncated, jpeg.subarray(0, Math.floor(jpeg.length / 2)))
    const err = await loadError(root)
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toMatch(new RegExp(`^${truncated}: unreadable image \\(`))
  })
})
