/**
 * The accuracy curve of simulated runs as CSV: one row per (network, checkpoint). Pure text
 * so it can be tested and written by any runtime (csv.node.ts writes it in Node).
 */
import type { NetworkRun } from './run-simulation.ts'

export const CURVE_CSV_HEADER =
  'network,method,step,samples,simulated_seconds,test_accuracy,test_loss,workers'

/** CSV text (header + rows, trailing newline); `samplesPerStep` converts steps to samples (all workers). */
export function curveCsv(runs: readonly NetworkRun[], samplesPerStep: number): string {
  const lines = [CURVE_CSV_HEADER]
  for (const run of runs) {
    for (const c of run.checkpoints) {
      lines.push(
        [
          run.network,
          run.method,
          c.step,
          c.step * samplesPerStep,
          (c.timeMs / 1000).toFixed(3),
          c.accuracy.toFixed(4),
          c.loss.toFixed(4),
          c.workers,
        ].join(','),
      )
    }
  }
  return `${lines.join('\n')}\n`
}
