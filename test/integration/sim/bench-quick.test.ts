import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { benchAlgorithms } from '../../../bench/algorithms.ts'

// The CI smoke test of `npm run bench -- algorithms --quick`: 4 workers, 6,144 Fashion-MNIST
// samples, four rows, IID. It checks the shape of the results, not their values.
describe('npm run bench -- algorithms --quick', () => {
  let dir = ''
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'longhaul-bench-'))
  })
  afterEach(async () => {
    vi.restoreAllMocks()
    await rm(dir, { recursive: true, force: true })
  })

  it('prints the table with every quick row and writes finite results', async () => {
    const printed: string[] = []
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      printed.push(args.map(String).join(' '))
    })
    vi.spyOn(console, 'error').mockImplementation(() => undefined)
    await benchAlgorithms(['--quick', '--out', dir])
    const table = printed.join('\n')
    const rows = ['sync', 'local H=8', 'olco3 (s=2, top-k 1%)', 'sgp 1-peer']
    for (const row of rows)
      expect(table).toMatch(new RegExp(`^\\| ${row.replace(/[()]/g, '\\$&')} +\\|`, 'm'))
    expect(table).toMatch(/## Targets \(IID\)/)

    const csv = (await readFile(path.join(dir, 'algorithms.csv'), 'utf8')).trim().split('\n')
    expect(csv[0]).toMatch(/^split,row,test_accuracy,test_loss,bytes_per_worker,lan_seconds,wan_seconds/)
    expect(csv.slice(1).map((l) => l.split(',')[1])).toEqual(['sync', 'local-h8', 'olco3-topk', 'sgp-1peer'])
    for (const line of csv.slice(1)) {
      const [, , accuracy, loss, bytes, lan, wan, inter] = line.split(',').map(Number)
      for (const v of [accuracy, loss, bytes, lan, wan, inter]) expect(Number.isFinite(v), line).toBe(true)
      // Better than chance on ten classes after 6,144 samples, and time grows with distance.
      expect(accuracy).toBeGreaterThan(0.2)
      expect(accuracy).toBeLessThanOrEqual(1)
      expect(bytes).toBeGreaterThan(0)
      expect(lan).toBeLessThanOrEqual(wan!)
      expect(wan).toBeLessThanOrEqual(inter!)
    }
    const svg = await readFile(path.join(dir, 'algorithms-wan.svg'), 'utf8')
    expect(svg.startsWith('<svg')).toBe(true)
    expect(svg.match(/<polyline /g)).toHaveLength(4)
    const curves = (await readFile(path.join(dir, 'algorithms-curves.csv'), 'utf8')).trim().split('\n')
    expect(curves.length).toBeGreaterThan(4)
  }, 600_000)
})
