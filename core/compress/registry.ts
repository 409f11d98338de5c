/**
 * The one place that turns a compressor spec string into an instance.
 *
 * Spec grammar: `<name>[:<arg>[:<option>]]`, no spaces, case-sensitive:
 *   none                      raw float32 (lossless)
 *   fp16                      binary16
 *   int8[:<blockSize>]        blockwise absmax int8; blockSize integer in [1, 2^20], default 1024
 *   sign                      scaled sign, (‖p‖₁/d)·sign(p)
 *   topk:<ratio>              k = round(ratio·d) largest magnitudes; ratio in (0, 1]
 *   randk:<ratio>[:unscaled]  k seeded-random entries, scaled by d/k unless `unscaled`
 *   qsgd:<levels>             QSGD with levels (integer) in [1, 32767]
 *   powersgd:<rank>           PowerSGD with rank (integer) in [1, 1024]
 * Numbers are plain decimals (`0.01`, `1e-3`, `8`); anything else is CoreError('ERR_BAD_SPEC').
 */
import { CoreError } from '../errors.ts'
import type { ParamLayout } from '../tensor/param-layout.ts'
import type { Compressor } from './compressor.ts'
import { Float16Compressor } from './float16.ts'
import {
  INT8_DEFAULT_BLOCK_SIZE,
  INT8_MAX_BLOCK_SIZE,
  INT8_MIN_BLOCK_SIZE,
  Int8BlockwiseCompressor,
} from './int8-blockwise.ts'
import { NoCompressor } from './none.ts'
import { POWER_SGD_MAX_RANK, POWER_SGD_MIN_RANK, PowerSgdCompressor } from './power-sgd.ts'
import { QSGD_MAX_LEVELS, QSGD_MIN_LEVELS, QsgdCompressor } from './qsgd.ts'
import { RandomKCompressor } from './random-k.ts'
import { ScaledSignCompressor } from './scaled-sign.ts'
import { TopKCompressor } from './top-k.ts'
import { COMPRESSOR_WIRE_IDS, type CompressorName } from './wire-format.ts'

export { COMPRESSOR_WIRE_IDS, type CompressorName } from './wire-format.ts'

/** A parsed spec: the family and its validated parameters. */
export type CompressorConfig =
  | { readonly name: 'none' }
  | { readonly name: 'fp16' }
  | { readonly name: 'sign' }
  | { readonly name: 'int8'; readonly blockSize: number }
  | { readonly name: 'topk'; readonly ratio: number }
  | { readonly name: 'randk'; readonly ratio: number; readonly isScaled: boolean }
  | { readonly name: 'qsgd'; readonly levels: number }
  | { readonly name: 'powersgd'; readonly rank: number }

/** Every family name, for help texts and UI pickers. */
export const COMPRESSOR_NAMES: readonly CompressorName[] =
  Object.keys(COMPRESSOR_WIRE_IDS).filter(isCompressorName)

/** Example spec per family (valid, typical settings), for help texts. */
export const COMPRESSOR_SPEC_EXAMPLES: Readonly<Record<CompressorName, string>> = {
  none: 'none',
  fp16: 'fp16',
  topk: 'topk:0.01',
  randk: 'randk:0.01',
  qsgd: 'qsgd:127',
  sign: 'sign',
  int8: 'int8',
  powersgd: 'powersgd:4',
}

function isCompressorName(value: string): value is CompressorName {
  return Object.hasOwn(COMPRESSOR_WIRE_IDS, value)
}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

function badSpec(spec: string, why: string): CoreError {
  return new CoreError('ERR_BAD_SPEC', `compressor spec "${spec}": ${why}`)
}

function parseNumber(spec: string, text: string, what: string): number {
  if (!DECIMAL.test(text)) throw badSpec(spec, `${what} "${text}" is not a number`)
  return Number(text)
}

function parseIntegerIn(spec: string, text: string, what: string, min: number, max: number): number {
  const value = parseNumber(spec, text, what)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw badSpec(spec, `${what} must be an integer in [${min}, ${max}], got ${text}`)
  }
  return value
}

function parseRatio(spec: string, text: string): number {
  const ratio = parseNumber(spec, text, 'ratio')
  if (!(ratio > 0 && ratio <= 1)) throw badSpec(spec, `ratio must be in (0, 1], got ${text}`)
  return ratio
}

/**
 * Parses and validates a spec string (grammar in the module comment). Throws
 * CoreError('ERR_BAD_SPEC') naming what is wrong: unknown family, missing, extra or
 * out-of-range arguments.
 */
export function parseCompressorSpec(spec: string): CompressorConfig {
  const parts = spec.split(':')
  const name = parts[0] ?? ''
  if (!isCompressorName(name)) {
    throw badSpec(spec, `unknown compressor "${name}"; known: ${COMPRESSOR_NAMES.join(', ')}`)
  }
  const args = parts.slice(1)
  const expectArgs = (min: number, max: number, usage: string): void => {
    if (args.length < min || args.length > max) throw badSpec(spec, `expected ${usage}`)
  }
  switch (name) {
    case 'none':
    case 'fp16':
    case 'sign':
      expectArgs(0, 0, `"${name}" with no arguments`)
      return { name }
    case 'int8': {
      expectArgs(0, 1, '"int8" or "int8:<blockSize>"')
      const text = args[0]
      const blockSize =
        text === undefined
          ? INT8_DEFAULT_BLOCK_SIZE
          : parseIntegerIn(spec, text, 'block size', INT8_MIN_BLOCK_SIZE, INT8_MAX_BLOCK_SIZE)
      return { name, blockSize }
    }
    case 'topk':
      expectArgs(1, 1, '"topk:<ratio>", e.g. topk:0.01')
      return { name, ratio: parseRatio(spec, args[0] ?? '') }
    case 'randk': {
      expectArgs(1, 2, '"randk:<ratio>" or "randk:<ratio>:unscaled"')
      const option = args[1]
      if (option !== undefined && option !== 'unscaled') throw badSpec(spec, `unknown option "${option}"`)
      return { name, ratio: parseRatio(spec, args[0] ?? ''), isScaled: option === undefined }
    }
    case 'qsgd':
      expectArgs(1, 1, '"qsgd:<levels>", e.g. qsgd:127')
      return { name, levels: parseIntegerIn(spec, args[0] ?? '', 'levels', QSGD_MIN_LEVELS, QSGD_MAX_LEVELS) }
    case 'powersgd':
      expectArgs(1, 1, '"powersgd:<rank>", e.g. powersgd:4')
      return {
        name,
        rank: parseIntegerIn(spec, args[0] ?? '', 'rank', POWER_SGD_MIN_RANK, POWER_SGD_MAX_RANK),
      }
  }
}

/**
 * Builds the compressor a spec names, configured for `layout` (buffers sized once for
 * layout.totalSize). Throws CoreError('ERR_BAD_SPEC') for an invalid spec.
 */
export function createCompressor(spec: string, layout: ParamLayout): Compressor {
  const config = parseCompressorSpec(spec)
  switch (config.name) {
    case 'none':
      return new NoCompressor({ layout })
    case 'fp16':
      return new Float16Compressor({ layout })
    case 'sign':
      return new ScaledSignCompressor({ layout })
    case 'int8':
      return new Int8BlockwiseCompressor({ layout, blockSize: config.blockSize })
    case 'topk':
      return new TopKCompressor({ layout, ratio: config.ratio })
    case 'randk':
      return new RandomKCompressor({ layout, ratio: config.ratio, isScaled: config.isScaled })
    case 'qsgd':
      return new QsgdCompressor({ layout, levels: config.levels })
    case 'powersgd':
      return new PowerSgdCompressor({ layout, rank: config.rank })
  }
}
