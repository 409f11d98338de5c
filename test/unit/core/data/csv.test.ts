import { describe, expect, it } from 'vitest'
import { datasetFromCsv, splitCsvLine } from '../../../../core/data/csv.ts'
import { CoreError } from '../../../../core/errors.ts'

const enc = (text: string): Uint8Array => new TextEncoder().encode(text)

function rows(n: number, labelOf: (i: number) => string): string {
  const lines = ['f1,label,f2']
  for (let i = 0; i < n; i++) lines.push(`${i},${labelOf(i)},${i / 10}`)
  return lines.join('\n') + '\n'
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

describe('splitCsvLine', () => {
  it('splits plain and quoted fields, unescaping doubled quotes', () => {
    expect(splitCsvLine('a,"b,c",,"say ""hi"""')).toEqual(['a', 'b,c', '', 'say "hi"'])
  })

  it('reports an unterminated quote', () => {
    expect(splitCsvLine('1,"open')).toBe('unterminated quoted field')
  })
})

describe('datasetFromCsv', () => {
  it('reads features without the label column and numbers classes in sorted order', () => {
    const ds = datasetFromCsv(enc(rows(40, (i) => ['cat', 'ant', 'bee'][i % 3]!)), 'd.csv', {
      name: 'd',
      testFraction: 0,
    })
    expect(ds.manifest).toMatchObject({
      name: 'd',
      source: 'csv',
      inputShape: [2],
      classes: ['ant', 'bee', 'cat'],
      trainCount: 40,
      testCount: 0,
      split: 'generated',
    })
    expect([...ds.train.x.subarray(0, 4)]).toEqual([0, 0, 1, Math.fround(0.1)])
    expect([...ds.train.y.subarray(0, 3)]).toEqual([2, 0, 1])
  })

  it('sorts numeric labels by value, not as text', () => {
    const ds = datasetFromCsv(enc(rows(30, (i) => ['10', '2', '1'][i % 3]!)), 'd.csv', { name: 'd' })
    expect(ds.manifest.classes).toEqual(['1', '2', '10'])
  })

  it('holds out a stratified, seeded test split when asked for 20%', () => {
    const text = enc(rows(100, (i) => (i % 4 === 0 ? 'a' : 'b')))
    const ds = datasetFromCsv(text, 'd.csv', { name: 'd', testFraction: 0.2, seed: 3 })
    expect(ds.manifest.counts).toEqual({ train: [20, 60], test: [5, 15] })
    const again = datasetFromCsv(text, 'd.csv', { name: 'd', testFraction: 0.2, seed: 3 })
    expect([...again.test.x]).toEqual([...ds.test.x])
    expect(again.manifest.contentHash).toBe(ds.manifest.contentHash)
    const otherSeed = datasetFromCsv(text, 'd.csv', { name: 'd', testFraction: 0.2, seed: 4 })
    expect([...otherSeed.test.x]).not.toEqual([...ds.test.x])
    expect(otherSeed.manifest.contentHash).not.toBe(ds.manifest.contentHash)
  })

  it('accepts CRLF line ends, a BOM, blank lines, quotes and a custom label column', () => {
    const text = '\ufeffclass,x,"y"\r\n"b",1,2\r\n\r\na,3,4e-1\r\n'
    const ds = datasetFromCsv(enc(text), 'd.csv', { name: 'd', labelColumn: 'class', testFraction: 0 })
    expect(ds.manifest.classes).toEqual(['a', 'b'])
    expect([...ds.train.x]).toEqual([1, 2, 3, Math.fround(0.4)])
  })

  it('rejects a row with the wrong number of fields, naming file and line', () => {
    const err = catchError(() => datasetFromCsv(enc('a,label\n1,x\n2\n'), '/tmp/d.csv', { name: 'd' }))
    expect(err.code).toBe('ERR_BAD_DATASET')
    expect(err.message).toBe('/tmp/d.csv:3: 1 fields, expected 2 as in the header')
  })

  it('rejects a non-numeric feature, naming file, line and column', () => {
    const err = catchError(() => datasetFromCsv(enc('a,label\n1,x\nNaN,y\n'), 'd.csv', { name: 'd' }))
    expect(err.message).toBe('d.csv:3: column "a" has non-numeric value "NaN"')
  })

  it('rejects an empty feature value', () => {
    expect(catchError(() => datasetFromCsv(enc('a,b,label\n1,,x\n'), 'd.csv', { name: 'd' })).message).toBe(
      'd.csv:2: column "b" has non-numeric value ""',
    )
  })

  it('rejects a header without the label column', () => {
    expect(catchError(() => datasetFromCsv(enc('a,b\n1,2\n'), 'd.csv', { name: 'd' })).message).toBe(
      'd.csv:1: no "label" column in the header (columns: a, b)',
    )
  })

  it('rejects an empty label', () => {
    expect(catchError(() => datasetFromCsv(enc('a,label\n1, \n'), 'd.csv', { name: 'd' })).message).toBe(
      'd.csv:2: empty label in column "label"',
    )
  })

  it('rejects a file with a header and no rows', () => {
    expect(catchError(() => datasetFromCsv(enc('a,label\n\n'), 'd.csv', { name: 'd' })).message).toBe(
      'd.csv: no data rows after the header',
    )
  })

  it('rejects an empty file', () => {
    expect(catchError(() => datasetFromCsv(enc(''), 'd.csv', { name: 'd' })).message).toMatch(/empty file/)
  })

  it('rejects bytes that are not UTF-8', () => {
    expect(
      catchError(() => datasetFromCsv(Uint8Array.of(0x61, 0xff, 0x0a), 'd.csv', { name: 'd' })).message,
    ).toBe('d.csv: not valid UTF-8 text')
  })

  it('rejects a broken quote, naming the line', () => {
    expect(catchError(() => datasetFromCsv(enc('a,label\n"1,x\n'), 'd.csv', { name: 'd' })).message).toBe(
      'd.csv:2: unterminated quoted field',
    )
  })
})
