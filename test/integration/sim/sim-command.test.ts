import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { algorithmSpecFromFlags } from '../../../core/cli/sim.ts'
import { isCoreError } from '../../../core/errors.ts'
import { CURVE_CSV_HEADER } from '../../../core/sim/curve.ts'

const BIN = path.resolve('bin/longhaul.mjs')

interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

function runCli(args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, LONGHAUL_BACKEND: 'wasm' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

function lastJsonLine(stdout: string): Record<string, unknown> {
  const last = stdout.trim().split('\n').at(-1) ?? ''
  const parsed: unknown = JSON.parse(last)
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error(`not a JSON object: ${last}`)
  return Object.fromEntries(Object.entries(parsed))
}

// 4 workers, 4 steps of 32 on the generated shapes data: 512 samples.
const TINY = [
  '--data',
  'shapes',
  '--workers',
  '4',
  '--samples',
  '512',
  '--batch',
  '32',
  '--eval-every',
  '2',
  '--json',
]

describe('longhaul sim', () => {
  let dir = ''
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'longhaul-sim-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('prints the same summary JSON for the same seed, and writes the curve CSV', async () => {
    const args = [
      ...TINY,
      '--algo',
      'olco3',
      '--H',
      '2',
      '--staleness',
      '1',
      '--compress',
      'topk:0.05',
      '--net',
      'wan',
    ]
    const csv = path.join(dir, 'curve.csv')
    const [a, b] = await Promise.all([runCli(['sim', ...args, '--csv', csv]), runCli(['sim', ...args])])
    expect(a.code, a.stderr).toBe(0)
    expect(b.code, b.stderr).toBe(0)
    const summaryA = lastJsonLine(a.stdout)
    expect(lastJsonLine(b.stdout)).toEqual(summaryA)
    expect(summaryA).toMatchObject({
      steps: 4,
      samples: 512,
      workers: 4,
      rounds: 2,
      network: 'wan',
      partition: 'iid',
    })
    for (const key of ['testAccuracy', 'bytesPerWorker', 'simulatedSeconds']) {
      expect(Number.isFinite(summaryA[key]), key).toBe(true)
    }
    expect(summaryA['simulatedSeconds']).toBeGreaterThan(0)
    // Progress and checkpoints go to stderr, never stdout.
    expect(a.stderr).toMatch(/step 2\/4: test accuracy/)
    expect(a.stdout.trim().split('\n')).toHaveLength(1)
    const lines = (await readFile(csv, 'utf8')).trim().split('\n')
    expect(lines[0]).toBe(CURVE_CSV_HEADER)
    expect(lines.slice(1).map((l) => l.split(',')[2])).toEqual(['2', '4'])
  }, 120_000)

  it('changes the summary with the seed and reports other networks from the same run', async () => {
    const args = [
      ...TINY,
      '--algo',
      'local',
      '--H',
      '2',
      '--net',
      'lan',
      '--also-net',
      'wan,intercontinental',
    ]
    const [a, b] = await Promise.all([runCli(['sim', ...args]), runCli(['sim', ...args, '--seed', '2'])])
    expect(a.code, a.stderr).toBe(0)
    const summary = lastJsonLine(a.stdout)
    const by = summary['simulatedSecondsBy']
    expect(by).toMatchObject({ lan: summary['simulatedSeconds'] })
    if (typeof by !== 'object' || by === null) throw new Error('no simulatedSecondsBy')
    const times = Object.values(by).map(Number)
    expect(times[0]).toBeLessThan(times[1]!)
    expect(times[1]).toBeLessThan(times[2]!)
    expect(a.stderr).toMatch(/wan: .* virtual s \(replay\)/)
    expect(lastJsonLine(b.stdout)['testLoss']).not.toBe(summary['testLoss'])
  }, 120_000)

  it('runs stragglers, a leave and a late join to the end', async () => {
    const r = await runCli([
      'sim',
      ...TINY,
      '--samples',
      '1024',
      '--algo',
      'local',
      '--H',
      '2',
      '--net',
      'lan',
      '--stragglers',
      '1:3',
      '--leave',
      '2@150ms',
      '--join',
      '3@100ms',
    ])
    expect(r.code, r.stderr).toBe(0)
    const summary = lastJsonLine(r.stdout)
    expect(summary['steps']).toBe(8)
    expect(Number(summary['samples'])).toBeLessThan(4 * 8 * 32)
    expect(Number.isFinite(summary['testAccuracy'])).toBe(true)
  }, 120_000)

  it('prints its help', async () => {
    const r = await runCli(['sim', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/Usage: longhaul sim/)
    expect(r.stdout).toMatch(/--stragglers/)
  }, 60_000)

  it('fails with one clear line for bad flags', async () => {
    const r = await runCli(['sim', '--net', 'moon', '--data', 'shapes'])
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toMatch(/^longhaul sim: unknown network "moon"/)
    const both = await runCli(['sim', '--iid', '--dirichlet', '0.3', '--data', 'shapes'])
    expect(both.code).toBe(1)
    expect(both.stderr).toMatch(/--iid and --dirichlet exclude each other/)
  }, 60_000)
})

describe('algorithmSpecFromFlags', () => {
  it('merges the per-option flags into the --algo spec', () => {
    expect(algorithmSpecFromFlags({ algo: 'olco3', H: '8', staleness: '2', compress: 'topk:0.01' })).toEqual({
      kind: 'olco3',
      H: 8,
      staleness: 2,
      compressor: 'topk:0.01',
    })
    expect(
      algorithmSpecFromFlags({ algo: 'slowmo:base=local,H=32', alpha: '1', beta: '0.6', tau: '32' }),
    ).toMatchObject({
      kind: 'slowmo',
      base: { kind: 'local', H: 32 },
      alpha: 1,
      beta: 0.6,
      tau: 32,
    })
    expect(algorithmSpecFromFlags({ algo: 'sgp', peers: '2', overlap: '3' })).toMatchObject({
      kind: 'sgp',
      peers: 2,
      overlapDelay: 3,
    })
    expect(algorithmSpecFromFlags({})).toMatchObject({ kind: 'sync' })
  })

  it('rejects an option given twice or one the algorithm lacks', () => {
    for (const values of [
      { algo: 'local:H=4', H: '8' },
      { algo: 'sync', staleness: '2' },
      { algo: 'olco3', H: '8', staleness: '2' },
    ]) {
      let error: unknown
      try {
        algorithmSpecFromFlags(values)
      } catch (e) {
        error = e
      }
      expect(isCoreError(error, 'ERR_BAD_SPEC'), JSON.stringify(values)).toBe(true)
    }
  })
})
