import '@tensorflow/tfjs-backend-cpu'
import * as tf from '@tensorflow/tfjs-core'
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FlatParams } from '../../../../core/tensor/flat-params.ts'
import { exportModel, importModel } from '../../../../core/tensor/model-files.node.ts'
import { MODEL_ZOO, checkModelFitsData } from '../../../../core/tensor/models.ts'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

describe('model files', () => {
  let dir = ''
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'longhaul-model-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('exports a model and imports it back with identical weights and layout', async () => {
    const model = MODEL_ZOO['cnn']!.build({ inputShape: [28, 28, 1], classCount: 10 })
    await exportModel(model, dir)
    const loaded = await importModel(dir)
    const a = new FlatParams(model)
    const b = new FlatParams(loaded)
    expect(b.layout.fingerprint).toBe(a.layout.fingerprint)
    expect(b.read()).toEqual(a.read())
    expect(() =>
      checkModelFitsData(loaded, { inputShape: [28, 28, 1], classCount: 10 }, 'loaded'),
    ).not.toThrow()
    model.dispose()
    loaded.dispose()
  })

  it('names the missing model.json', async () => {
    await expect(importModel(path.join(dir, 'nope'))).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
  })

  it('rejects a model.json that is not JSON', async () => {
    await writeFile(path.join(dir, 'model.json'), '{oops')
    await expect(importModel(dir)).rejects.toThrowError(/not valid JSON/)
  })

  it('rejects weight files shorter than the manifest says', async () => {
    const model = MODEL_ZOO['mlp']!.build({ inputShape: [4], classCount: 3 })
    await exportModel(model, dir)
    const weights = path.join(dir, 'weights.bin')
    await writeFile(weights, (await readFile(weights)).subarray(8))
    await expect(importModel(dir)).rejects.toThrowError(/manifest needs \d+ bytes but the weight files hold/)
    model.dispose()
  })

  it('reports a model that does not fit the dataset', () => {
    const model = MODEL_ZOO['mlp']!.build({ inputShape: [28, 28, 1], classCount: 10 })
    expect(() => checkModelFitsData(model, { inputShape: [32, 32, 3], classCount: 10 }, 'mine')).toThrowError(
      /expects input \[28, 28, 1\] but the dataset's examples are \[32, 32, 3\]/,
    )
    expect(() => checkModelFitsData(model, { inputShape: [28, 28, 1], classCount: 5 }, 'mine')).toThrowError(
      /outputs 10 classes but the dataset has 5/,
    )
    model.dispose()
  })
})
