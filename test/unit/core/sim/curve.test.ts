import { describe, expect, it } from 'vitest'
import { CURVE_CSV_HEADER, curveCsv } from '../../../../core/sim/curve.ts'
import type { NetworkRun } from '../../../../core/sim/run-simulation.ts'

describe('curveCsv', () => {
  it('writes one row per network and checkpoint with samples and seconds', () => {
    const runs: NetworkRun[] = [
      {
        network: 'wan',
        method: 'live',
        simulatedMs: 2000,
        checkpoints: [
          { step: 10, timeMs: 1234.5, accuracy: 0.5, loss: 1.25, workers: 4 },
          { step: 20, timeMs: 2000, accuracy: 0.75, loss: 0.5, workers: 4 },
        ],
        final: { accuracy: 0.75, loss: 0.5 },
        bytesPerWorker: 10,
      },
      {
        network: 'lan',
        method: 'replay',
        simulatedMs: 900,
        checkpoints: [{ step: 20, timeMs: 900, accuracy: 0.75, loss: 0.5, workers: 4 }],
        final: { accuracy: 0.75, loss: 0.5 },
        bytesPerWorker: 10,
      },
    ]
    const lines = curveCsv(runs, 256).trimEnd().split('\n')
    expect(lines[0]).toBe(CURVE_CSV_HEADER)
    expect(lines.slice(1)).toEqual([
      'wan,live,10,2560,1.234,0.5000,1.2500,4',
      'wan,live,20,5120,2.000,0.7500,0.5000,4',
      'lan,replay,20,5120,0.900,0.7500,0.5000,4',
    ])
  })

  it('writes only the header when there are no checkpoints', () => {
    expect(curveCsv([], 64)).toBe(`${CURVE_CSV_HEADER}\n`)
  })
})
