import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { FASHION_MNIST_CLASSES, FASHION_MNIST_FILES } from '../../../../core/data/fashion-mnist.ts'
import { loadDataset } from '../../../../core/data/resolve-dataset.node.ts'

const DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
const hasDebianFiles = FASHION_MNIST_FILES.every((f) => existsSync(join(DEBIAN_DIR, f.file)))
const SKIP_REASON = `${DEBIAN_DIR} is absent (Debian package dataset-fashion-mnist not installed)`

describe.skipIf(!hasDebianFiles)(`Fashion-MNIST from ${DEBIAN_DIR}`, () => {
  if (!hasDebianFiles) console.warn(`skipped: ${SKIP_REASON}`)

  it('matches the content checksums and sizes in the table', async () => {
    for (const f of FASHION_MNIST_FILES) {
      const content = gunzipSync(await readFile(join(DEBIAN_DIR, f.file)))
      expect(content.length).toBe(f.contentBytes)
      expect(createHash('sha256').update(content).digest('hex')).toBe(f.contentSha256)
    }
  })

  it('loads 60000/10000 images of 28×28×1 in 10 named classes, 6000 per class in train', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'longhaul-fm-'))
    try {
      const started = performance.now()
      const ds = await loadDataset('fashion-mnist', {
        dataDir: join(empty, 'data'),
        cacheDir: join(empty, 'cache'),
        systemDirs: ['/usr/share/datasets'],
        allowDownload: false,
      })
      const seconds = (performance.now() - started) / 1000
      console.log(`fashion-mnist loaded in ${seconds.toFixed(2)} s`)
      expect(ds.manifest).toMatchObject({
        name: 'fashion-mnist',
        source: 'builtin',
        inputShape: [28, 28, 1],
        trainCount: 60000,
        testCount: 10000,
        split: 'given',
      })
      expect(ds.manifest.classes).toEqual(FASHION_MNIST_CLASSES)
      expect(ds.manifest.classes[0]).toBe('T-shirt/top')
      expect(ds.manifest.classes[9]).toBe('Ankle boot')
      expect(ds.manifest.counts.train).toEqual(new Array(10).fill(6000))
      expect(ds.manifest.counts.test).toEqual(new Array(10).fill(1000))
      expect(ds.train.x.length).toBe(60000 * 784)
      let min = 1
      let max = 0
      for (const v of ds.test.x) {
        if (v < min) min = v
        if (v > max) max = v
      }
      expect([min, max]).toEqual([0, 1])
      // The first training image of the canonical file is an ankle boot (label 9).
      expect(ds.train.y[0]).toBe(9)
      expect(ds.manifest.contentHash).toMatch(/^[0-9a-f]{16}$/)
      // Generous bound for a shared 2-core machine; see the report for measured times.
      expect(seconds).toBeLessThan(10)
    } finally {
      await rm(empty, { recursive: true, force: true })
    }
  })
})
