/** Type guards for values that cross a boundary (disk, wire, IPC, user input). */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A non-negative safe integer: counts, lengths, indices. */
export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

export function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string')
}

/**
 * A short, safe rendering of an untrusted value for an error message: strings quoted and cut,
 * numbers and booleans as themselves, anything else by its type. Never throws (`String(value)`
 * can: an object may refuse to become a string).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 64))
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return value === null ? 'null' : typeof value
}
