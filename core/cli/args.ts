/**
 * Small helpers over node:util parseArgs so every subcommand reports bad flags the same way:
 * one sentence naming the flag and the accepted values, then a pointer to --help.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { CoreError } from '../errors.ts'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

/** Shorthand flags that set one option of `--algo` (`longhaul node` and `longhaul sim`). */
export const ALGORITHM_OPTION_FLAGS: OptionSpec = {
  H: { type: 'string' },
  staleness: { type: 'string' },
  compress: { type: 'string' },
  peers: { type: 'string' },
  overlap: { type: 'string' },
  tau: { type: 'string' },
  alpha: { type: 'string' },
  beta: { type: 'string' },
  warmup: { type: 'string' },
}

/** Each `--algo` shorthand flag and the algorithm spec key it sets, in the order above. */
const ALGORITHM_FLAG_KEYS: Readonly<Record<string, string>> = {
  H: 'H',
  staleness: 'staleness',
  compress: 'compressor',
  peers: 'peers',
  overlap: 'overlapDelay',
  tau: 'tau',
  alpha: 'alpha',
  beta: 'beta',
  warmup: 'warmupSteps',
}

/** The shorthand flags that were given, as [spec key, value] pairs (e.g. --compress -> compressor). */
export function algorithmFlagFields(
  values: Record<string, string | boolean | undefined>,
): Array<[key: string, value: string]> {
  return Object.keys(ALGORITHM_OPTION_FLAGS).flatMap((flag) => {
    const value = stringFlag(values, flag)
    const key = ALGORITHM_FLAG_KEYS[flag]
    return value === undefined || key === undefined ? [] : [[key, value] as [string, string]]
  })
}

export interface ParsedArgs {
  readonly values: Record<string, string | boolean | undefined>
  readonly positionals: string[]
}

export function parseCommandArgs(command: string, args: string[], options: OptionSpec): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true })
    const flat: Record<string, string | boolean | undefined> = {}
    for (const [key, value] of Object.entries(values)) {
      flat[key] = Array.isArray(value) ? value.at(-1) : value
    }
    return { values: flat, positionals }
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error)
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `longhaul ${command}: ${message}. Run "longhaul ${command} --help" for the options.`,
    )
  }
}

export function stringFlag(values: ParsedArgs['values'], name: string): string | undefined {
  const v = values[name]
  return typeof v === 'string' ? v : undefined
}

export function numberFlag(
  values: ParsedArgs['values'],
  name: string,
  fallback: number,
  check: { integer?: boolean; min?: number; max?: number } = {},
): number {
  const raw = stringFlag(values, name)
  if (raw === undefined) return fallback
  const n = Number(raw)
  const ok =
    raw.trim() !== '' &&
    Number.isFinite(n) &&
    (!check.integer || Number.isInteger(n)) &&
    (check.min === undefined || n >= check.min) &&
    (check.max === undefined || n <= check.max)
  if (!ok) {
    const range = [
      check.integer ? 'an integer' : 'a number',
      check.min !== undefined ? `>= ${check.min}` : '',
      check.max !== undefined ? `<= ${check.max}` : '',
    ]
      .filter(Boolean)
      .join(' ')
    throw new CoreError('ERR_INVALID_ARGUMENT', `--${name} must be ${range}, got "${raw}"`)
  }
  return n
}

export function booleanFlag(values: ParsedArgs['values'], name: string): boolean {
  return values[name] === true
}
