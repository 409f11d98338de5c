import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadCsvFile } from '../../../../core/data/csv.node.ts'
import { isCoreError } from '../../../../core/errors.ts'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'longhaul-csv-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('loadCsvFile', () => {
  it('loads a file and names the dataset after it', async () => {
    const file = join(dir, 'iris-ish.csv')
    await writeFile(file, 'label,a,b\nx,1,2\ny,3,4\nx,5,6\ny,7,8\n')
    const ds = await loadCsvFile(file, { testFraction: 0.5, seed: 1 })
    expect(ds.manifest.name).toBe('iris-ish')
    expect(ds.manifest.counts).toEqual({ train: [1, 1], test: [1, 1] })
  })

  it('throws ERR_NOT_FOUND naming a missing file', async () => {
    const file = join(dir, 'missing.csv')
    await expect(loadCsvFile(file)).rejects.toSatisfy(
      (err: unknown) =>
        isCoreError(err, 'ERR_NOT_FOUND') && err.message.startsWith(`${file}: cannot read (ENOENT)`),
    )
  })
})
