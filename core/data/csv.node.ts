/** Reads a CSV dataset file from disk; parsing and validation are in csv.ts. */
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { CoreError } from '../errors.ts'
import type { CsvDatasetOptions } from './csv.ts'
import { datasetFromCsv } from './csv.ts'
import type { Dataset } from './dataset.ts'

export type LoadCsvOptions = Partial<CsvDatasetOptions>

/** Loads `file` completely or throws ERR_NOT_FOUND / ERR_BAD_DATASET naming it. */
export async function loadCsvFile(file: string, options: LoadCsvOptions = {}): Promise<Dataset> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    const code =
      err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : String(err)
    throw new CoreError(
      code === 'ENOENT' ? 'ERR_NOT_FOUND' : 'ERR_BAD_DATASET',
      `${file}: cannot read (${code})`,
      {
        cause: err,
      },
    )
  }
  return datasetFromCsv(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file, {
    ...options,
    name: options.name ?? basename(file).replace(/\.csv$/i, ''),
  })
}
