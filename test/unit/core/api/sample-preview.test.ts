import { describe, expect, it } from 'vitest'
import { bytesToBase64, previewSamples } from '../../../../core/api/sample-preview.ts'
import { generateShapes } from '../../../../core/data/shapes.ts'
import type { Dataset } from '../../../../core/data/dataset.ts'

describe('sample previews', () => {
  it('encodes base64 exactly as Node does, for every padding case', () => {
    for (let n = 0; n < 8; n++) {
      const bytes = Uint8Array.from({ length: n * 7 + (n % 3) }, (_, i) => (i * 37 + n) & 255)
      expect(bytesToBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'))
    }
  })

  it('turns image samples back into their 8-bit pixels and stops at the end of the split', () => {
    const shapes = generateShapes({ seed: 1, count: 40 })
    const { inputShape } = shapes.manifest
    const size = inputShape.reduce((a, b) => a * b, 1)
    const last = shapes.test.count - 1
    const { total, samples } = previewSamples(shapes, 'test', last, 5)
    expect(total).toBe(shapes.test.count)
    expect(samples).toHaveLength(1)
    const sample = samples[0]
    expect(sample).toMatchObject({
      index: last,
      kind: 'image',
      shape: inputShape,
      label: shapes.test.y[last],
    })
    const pixels = Buffer.from(sample?.pixels ?? '', 'base64')
    expect(pixels.length).toBe(size)
    const x = shapes.test.x.subarray(last * size, (last + 1) * size)
    for (let k = 0; k < size; k++) expect(pixels[k]).toBe(Math.round((x[k] ?? 0) * 255))
  })

  it('shows tabular samples as their first features', () => {
    const dataset: Dataset = {
      manifest: {
        name: 'rows',
        source: 'csv',
        inputShape: [20],
        classes: ['no', 'yes'],
        counts: { train: [1, 0], test: [0, 0] },
        trainCount: 1,
        testCount: 0,
        split: 'generated',
        contentHash: 'x',
      },
      train: { x: Float32Array.from({ length: 20 }, (_, i) => i / 3), y: Int32Array.of(0), count: 1 },
      test: { x: new Float32Array(0), y: new Int32Array(0), count: 0 },
    }
    const [sample] = previewSamples(dataset, 'train', 0, 1).samples
    expect(sample).toMatchObject({ kind: 'features', className: 'no' })
    expect(sample?.features).toHaveLength(16)
    expect(sample?.features?.[2]).toBe(0.6667)
  })
})
