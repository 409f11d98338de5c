import { isCoreError } from '../../../../../core/errors.ts'

/** The CoreError code `fn` throws, or a text that names what happened instead (never a code). */
export function coreErrorCode(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    return isCoreError(err) ? err.code : `not a CoreError: ${String(err)}`
  }
  return 'no error'
}
