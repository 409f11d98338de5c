/**
 * Helpers `longhaul train` and `longhaul node` share; model and backend setup lives in
 * core/training/trainer-setup.node.ts (the engine API uses it too).
 */
export { limitSamples } from '../training/trainer-setup.node.ts'

/** Rounds to `digits` decimals (for JSON summaries). */
export function roundTo(value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
