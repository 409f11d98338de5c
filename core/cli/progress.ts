/** Text for progress lines; pure functions so they are easy to test and reuse. */
import type { ProgressReport } from '../training/local-training.ts'

export function progressBar(fraction: number, width = 24): string {
  const clamped = Math.min(Math.max(fraction, 0), 1)
  const filled = Math.round(clamped * width)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
}

export function progressLine(p: ProgressReport, epochs: number): string {
  const fraction = p.batchesPerEpoch > 0 ? p.batchInEpoch / p.batchesPerEpoch : 0
  return `epoch ${p.epoch + 1}/${epochs} ${progressBar(fraction)} ${String(Math.round(fraction * 100)).padStart(3)}%  loss ${p.loss.toFixed(4)}  ${Math.round(p.examplesPerSec)} examples/s`
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`
  const m = Math.floor(seconds / 60)
  const s = Math.round(seconds - m * 60)
  return m < 60 ? `${m} min ${s} s` : `${Math.floor(m / 60)} h ${m % 60} min`
}
