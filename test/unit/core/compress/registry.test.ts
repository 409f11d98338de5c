import { describe, expect, it } from 'vitest'
import {
  COMPRESSOR_NAMES,
  COMPRESSOR_SPEC_EXAMPLES,
  COMPRESSOR_WIRE_IDS,
  createCompressor,
  parseCompressorSpec,
} from '../../../../core/compress/registry.ts'
import { isCoreError } from '../../../../core/errors.ts'
import { flatLayout } from './helpers.ts'

const layout = flatLayout(1000)

describe('createCompressor', () => {
  it.each([
    ['none', 'none'],
    ['fp16', 'fp16'],
    ['int8', 'int8'],
    ['int8:1024', 'int8'],
    ['int8:256', 'int8:256'],
    ['sign', 'sign'],
    ['topk:0.01', 'topk:0.01'],
    ['topk:1e-2', 'topk:0.01'],
    ['topk:.5', 'topk:0.5'],
    ['topk:1', 'topk:1'],
    ['randk:0.25', 'randk:0.25'],
    ['randk:0.25:unscaled', 'randk:0.25:unscaled'],
    ['qsgd:127', 'qsgd:127'],
    ['qsgd:32767', 'qsgd:32767'],
    ['powersgd:4', 'powersgd:4'],
  ])('builds %s with canonical spec %s', (spec, canonical) => {
    const compressor = createCompressor(spec, layout)
    expect(compressor.spec).toBe(canonical)
    expect(compressor.layout).toBe(layout)
    const name = parseCompressorSpec(spec).name
    expect(compressor.wireId).toBe(COMPRESSOR_WIRE_IDS[name])
  })

  it.each([
    '',
    'foo',
    'TOPK:0.1',
    ' topk:0.1',
    'topk',
    'topk:',
    'topk:0',
    'topk:-0.1',
    'topk:1.5',
    'topk:abc',
    'topk:NaN',
    'topk:Infinity',
    'topk:0x10',
    'topk:0.1:extra',
    'randk:0.1:scaled',
    'randk',
    'qsgd',
    'qsgd:0',
    'qsgd:1.5',
    'qsgd:32768',
    'powersgd:0',
    'powersgd:1025',
    'powersgd:2.5',
    'sign:1',
    'none:',
    'fp16:16',
    'int8:0',
    'int8:2000000',
    'int8:1.5',
  ])('rejects %j with ERR_BAD_SPEC', (spec) => {
    let caught: unknown
    try {
      createCompressor(spec, layout)
    } catch (error) {
      caught = error
    }
    expect(isCoreError(caught, 'ERR_BAD_SPEC')).toBe(true)
  })

  it('names the known compressors in the error when the family is unknown', () => {
    expect(() => createCompressor('zip', layout)).toThrow(/unknown compressor "zip"; known: none, fp16/)
  })
})

describe('COMPRESSOR_WIRE_IDS', () => {
  it('gives every family a distinct small positive integer', () => {
    const ids = Object.values(COMPRESSOR_WIRE_IDS)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(Number.isInteger(id) && id >= 1 && id <= 255).toBe(true)
  })

  it('keeps its published numbers (they are on the wire: never renumber)', () => {
    expect(COMPRESSOR_WIRE_IDS).toEqual({
      none: 1,
      fp16: 2,
      topk: 3,
      randk: 4,
      qsgd: 5,
      sign: 6,
      int8: 7,
      powersgd: 8,
    })
  })

  it('lists every family with a valid example spec', () => {
    expect([...COMPRESSOR_NAMES].sort()).toEqual(Object.keys(COMPRESSOR_WIRE_IDS).sort())
    for (const name of COMPRESSOR_NAMES) {
      expect(parseCompressorSpec(COMPRESSOR_SPEC_EXAMPLES[name]).name).toBe(name)
    }
  })
})
