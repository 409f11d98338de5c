/**
 * CSV datasets from bytes in memory (runtime-agnostic; csv.node.ts reads the file).
 *
 * Format: UTF-8, first line is the header, one sample per line, comma-separated; fields may
 * be double-quoted ("" escapes a quote) but may not span lines. One column (default `label`)
 * holds the class; every other column must be a decimal number. Blank lines are skipped.
 * Class names are the distinct labels, sorted numerically when all labels are numbers,
 * otherwise by code point. Features are kept as given (no scaling).
 * Errors are ERR_BAD_DATASET naming `file:line` and the problem.
 */
import { CoreError } from '../errors.ts'
import { Fnv1a64 } from '../hash.ts'
import type { Dataset, Split } from './dataset.ts'
import {
  assertDatasetConsistent,
  buildManifest,
  DEFAULT_TEST_FRACTION,
  stratifiedSplitIndices,
  subsetSplit,
} from './dataset.ts'

export const DEFAULT_LABEL_COLUMN = 'label'

export interface CsvDatasetOptions {
  /** Dataset name in the manifest. */
  readonly name: string
  /** Header name of the label column; default `label`. */
  readonly labelColumn?: string
  /** Share held out as the test split (stratified, seeded); default 0.1. */
  readonly testFraction?: number
  /** Seed of the test split; default 0. */
  readonly seed?: number
}

const NUMBER_PATTERN = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

/** Splits one CSV line into fields; returns a string describing the problem on malformed quoting. */
export function splitCsvLine(line: string): string[] | string {
  const fields: string[] = []
  let i = 0
  for (;;) {
    if (line[i] === '"') {
      let value = ''
      i++
      for (;;) {
        const next = line.indexOf('"', i)
        if (next < 0) return 'unterminated quoted field'
        value += line.slice(i, next)
        if (line[next + 1] === '"') {
          value += '"'
          i = next + 2
        } else {
          i = next + 1
          break
        }
      }
      fields.push(value)
      if (i === line.length) return fields
      if (line[i] !== ',') return `unexpected character after a quoted field at column ${i + 1}`
      i++
    } else {
      const next = line.indexOf(',', i)
      if (next < 0) {
        fields.push(line.slice(i))
        return fields
      }
      fields.push(line.slice(i, next))
      i = next + 1
    }
  }
}

function bad(file: string, line: number | undefined, what: string): CoreError {
  return new CoreError('ERR_BAD_DATASET', `${file}${line === undefined ? '' : `:${line}`}: ${what}`)
}

function sortClassNames(names: string[]): string[] {
  if (names.every((n) => NUMBER_PATTERN.test(n))) return names.sort((a, b) => Number(a) - Number(b))
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

/**
 * Parses a CSV file's bytes into a Dataset with a generated (seeded, stratified) test split.
 * The content hash is FNV-1a 64 over the file bytes followed by the label column and the
 * split parameters, since those decide which samples land in which split.
 */
export function datasetFromCsv(bytes: Uint8Array, file: string, options: CsvDatasetOptions): Dataset {
  const labelColumn = options.labelColumn ?? DEFAULT_LABEL_COLUMN
  const testFraction = options.testFraction ?? DEFAULT_TEST_FRACTION
  const seed = options.seed ?? 0
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch (err) {
    throw new CoreError('ERR_BAD_DATASET', `${file}: not valid UTF-8 text`, { cause: err })
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const lines = text.split('\n')

  let headerLine = -1
  let header: string[] = []
  for (let n = 0; n < lines.length; n++) {
    const line = stripCr(lines[n]!)
    if (line.trim() === '') continue
    const fields = splitCsvLine(line)
    if (typeof fields === 'string') throw bad(file, n + 1, fields)
    header = fields.map((f) => f.trim())
    headerLine = n
    break
  }
  if (headerLine < 0) throw bad(file, undefined, 'empty file: expected a header line')
  const labelIndex = header.indexOf(labelColumn)
  if (labelIndex < 0) {
    throw bad(
      file,
      headerLine + 1,
      `no "${labelColumn}" column in the header (columns: ${header.join(', ')})`,
    )
  }
  const featureCount = header.length - 1
  if (featureCount === 0) throw bad(file, headerLine + 1, 'no feature columns besides the label')

  const features: number[] = []
  const labelNames: string[] = []
  for (let n = headerLine + 1; n < lines.length; n++) {
    const line = stripCr(lines[n]!)
    if (line.trim() === '') continue
    const fields = splitCsvLine(line)
    if (typeof fields === 'string') throw bad(file, n + 1, fields)
    if (fields.length !== header.length) {
      throw bad(file, n + 1, `${fields.length} fields, expected ${header.length} as in the header`)
    }
    for (let c = 0; c < fields.length; c++) {
      const field = fields[c]!.trim()
      if (c === labelIndex) {
        if (field === '') throw bad(file, n + 1, `empty label in column "${labelColumn}"`)
        labelNames.push(field)
        continue
      }
      if (!NUMBER_PATTERN.test(field)) {
        throw bad(file, n + 1, `column "${header[c]}" has non-numeric value "${field.slice(0, 40)}"`)
      }
      features.push(Number(field))
    }
  }
  if (labelNames.length === 0) throw bad(file, undefined, 'no data rows after the header')

  const classes = sortClassNames([...new Set(labelNames)])
  const classIndex = new Map(classes.map((name, i) => [name, i]))
  const y = Int32Array.from(labelNames, (name) => classIndex.get(name) ?? -1)
  const all: Split = { x: Float32Array.from(features), y, count: y.length }
  const { keep, holdOut } = stratifiedSplitIndices(y, classes.length, testFraction, seed)
  const train = subsetSplit(all, keep)
  const test = subsetSplit(all, holdOut)

  const hash = new Fnv1a64().update(bytes)
  hash.updateString(JSON.stringify({ labelColumn, testFraction, seed }))
  const dataset: Dataset = {
    manifest: buildManifest({
      name: options.name,
      source: 'csv',
      inputShape: [featureCount],
      classes,
      split: 'generated',
      contentHash: hash.digestHex(),
      train,
      test,
    }),
    train,
    test,
  }
  assertDatasetConsistent(dataset)
  return dataset
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line
}
