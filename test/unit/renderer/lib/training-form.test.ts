import { describe, expect, it } from 'vitest'
import { TRAINING_PRESETS } from '../../../../core/api/contract.ts'
import { parseAlgorithmConfig } from '../../../../core/algorithms/config.ts'
import {
  advancedFromPreset,
  algorithmFromSettings,
  defaultTrainingForm,
  trainingConfigFromForm,
} from '../../../../renderer/src/lib/training-form.ts'

describe('trainingConfigFromForm', () => {
  it('sends the preset alone when the advanced settings are off', () => {
    const result = trainingConfigFromForm({
      ...defaultTrainingForm('ds', 'mlp'),
      epochs: '2',
      maxTrainSamples: '300',
    })
    expect(result).toEqual({
      ok: true,
      config: {
        datasetId: 'ds',
        model: 'mlp',
        preset: 'long-haul',
        epochs: 2,
        batchSize: 64,
        optimizer: 'adam',
        maxTrainSamples: 300,
      },
    })
  })

  it('names the field that is wrong', () => {
    const form = defaultTrainingForm('ds', 'mlp')
    expect(trainingConfigFromForm({ ...form, epochs: '1.5' })).toMatchObject({ ok: false, field: 'epochs' })
    expect(trainingConfigFromForm({ ...form, datasetId: '' })).toMatchObject({
      ok: false,
      field: 'datasetId',
    })
    expect(
      trainingConfigFromForm({ ...form, advanced: { ...form.advanced, isEnabled: true, staleness: '-1' } }),
    ).toMatchObject({ ok: false, field: 'advanced.staleness' })
  })

  it('wraps the base algorithm in SlowMo when asked', () => {
    const form = defaultTrainingForm('ds', 'mlp')
    const result = trainingConfigFromForm({
      ...form,
      advanced: {
        ...form.advanced,
        isEnabled: true,
        H: '8',
        hasSlowMo: true,
        alpha: '1',
        beta: '0.5',
        tau: '8',
      },
    })
    expect(result.ok && result.config.algorithm).toEqual({
      kind: 'slowmo',
      base: { kind: 'olco3', H: 8, staleness: 1, compressor: 'topk:0.1' },
      alpha: 1,
      beta: 0.5,
      tau: 8,
    })
  })

  it('refuses SlowMo β of 1 or more', () => {
    const form = defaultTrainingForm('ds', 'mlp')
    const advanced = { ...advancedFromPreset('same-lan', true), hasSlowMo: true, beta: '1' }
    expect(algorithmFromSettings(advanced)).toMatchObject({ ok: false, field: 'advanced.beta' })
    expect(trainingConfigFromForm({ ...form, advanced })).toMatchObject({ ok: false })
  })
})

describe('advancedFromPreset', () => {
  it.each(Object.keys(TRAINING_PRESETS) as (keyof typeof TRAINING_PRESETS)[])(
    'reproduces the %s preset, which the engine accepts',
    (preset) => {
      const result = algorithmFromSettings(advancedFromPreset(preset, true))
      expect(result.ok).toBe(true)
      if (!result.ok) return
      // Compared as the engine reads them (with its defaults filled in).
      expect(parseAlgorithmConfig(result.algorithm)).toEqual(
        parseAlgorithmConfig(TRAINING_PRESETS[preset].algorithm),
      )
    },
  )
})
