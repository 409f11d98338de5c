import { spawn } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const BIN = path.resolve('bin/longhaul.mjs')

interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

function runCli(args: string[], options: { killAfterMatch?: RegExp } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, LONGHAUL_BACKEND: 'wasm' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (options.killAfterMatch?.test(stderr)) child.kill('SIGKILL')
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

function lastJsonLine(stdout: string): Record<string, unknown> {
  const last = stdout.trim().split('\n').at(-1) ?? ''
  const parsed: unknown = JSON.parse(last)
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`not a JSON object: ${last}`)
  return parsed as Record<string, unknown>
}

describe('longhaul train', () => {
  let dir = ''
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'longhaul-train-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('trains on shapes, prints the JSON summary last, writes a checkpoint and exports the model', async () => {
    const ckpt = path.join(dir, 'run')
    const result = await runCli([
      'train',
      '--data',
      'shapes',
      '--epochs',
      '2',
      '--max-train-samples',
      '3000',
      '--checkpoint-dir',
      ckpt,
      '--json',
    ])
    expect(result.code, result.stderr).toBe(0)
    const summary = lastJsonLine(result.stdout)
    expect(summary).toMatchObject({ epochs: 2, backend: 'wasm' })
    expect(summary['testAccuracy']).toBeGreaterThan(0.6)
    expect(summary['examplesPerSec']).toBeGreaterThan(0)
    expect(summary['seconds']).toBeGreaterThan(0)
    expect(result.stderr).toMatch(/epoch 2\/2: .*test accuracy/)
    expect((await readdir(ckpt)).sort()).toEqual(['latest.ckpt', 'model', 'previous.ckpt'])
    expect((await readdir(path.join(ckpt, 'model'))).sort()).toEqual(['model.json', 'weights.bin'])
  }, 120_000)

  it('resumes from the checkpoint and continues to the requested epoch count', async () => {
    const ckpt = path.join(dir, 'run')
    const first = await runCli([
      'train',
      '--data',
      'shapes',
      '--epochs',
      '1',
      '--max-train-samples',
      '2000',
      '--checkpoint-dir',
      ckpt,
      '--json',
    ])
    expect(first.code, first.stderr).toBe(0)
    const second = await runCli([
      'train',
      '--data',
      'shapes',
      '--epochs',
      '2',
      '--max-train-samples',
      '2000',
      '--checkpoint-dir',
      ckpt,
      '--resume',
      '--json',
    ])
    expect(second.code, second.stderr).toBe(0)
    expect(second.stderr).toMatch(/resume: .*latest\.ckpt: epoch 1, batch 0/)
    expect(second.stderr).toMatch(/epoch 2\/2/)
    expect(second.stderr).not.toMatch(/epoch 1\/2:/)
    expect(lastJsonLine(second.stdout)).toMatchObject({ epochs: 2 })
  }, 120_000)

  it('resumes cleanly after a SIGKILL that lands while a checkpoint is being written', async () => {
    const ckpt = path.join(dir, 'run')
    // The epoch line is printed just before the checkpoint write starts: kill right there.
    const killed = await runCli(
      ['train', '--data', 'shapes', '--epochs', '3', '--max-train-samples', '1500', '--checkpoint-dir', ckpt],
      { killAfterMatch: /epoch 2\/3:/ },
    )
    expect(killed.code).toBe(null)
    const resumed = await runCli([
      'train',
      '--data',
      'shapes',
      '--epochs',
      '3',
      '--max-train-samples',
      '1500',
      '--checkpoint-dir',
      ckpt,
      '--resume',
      '--json',
    ])
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toMatch(/resume: .*: epoch [12], batch 0/)
    expect(lastJsonLine(resumed.stdout)).toMatchObject({ epochs: 3 })
  }, 120_000)

  it('refuses to resume a checkpoint written for another model', async () => {
    const ckpt = path.join(dir, 'run')
    expect(
      (
        await runCli([
          'train',
          '--data',
          'shapes',
          '--epochs',
          '1',
          '--max-train-samples',
          '500',
          '--checkpoint-dir',
          ckpt,
        ])
      ).code,
    ).toBe(0)
    const other = await runCli([
      'train',
      '--data',
      'shapes',
      '--model',
      'cnn',
      '--backend',
      'cpu',
      '--epochs',
      '1',
      '--max-train-samples',
      '500',
      '--checkpoint-dir',
      ckpt,
      '--resume',
    ])
    expect(other.code).toBe(1)
    expect(other.stderr).toMatch(/was written for model layout \w+ \(mlp\), not \w+ \(cnn\)/)
    expect(other.stderr).not.toMatch(/at .*\.ts:\d+/)
  }, 120_000)

  it('names a missing data path in one line, without a stack trace', async () => {
    const result = await runCli(['train', '--data', path.join(dir, 'nowhere'), '--epochs', '1'])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/nowhere/)
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/)
  }, 60_000)

  it('explains a corrupt dataset file', async () => {
    const csv = path.join(dir, 'bad.csv')
    await writeFile(csv, 'label,a,b\n1,2,3\n0,oops,4\n')
    const result = await runCli(['train', '--data', csv, '--epochs', '1'])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/bad\.csv:3/)
  }, 60_000)

  it('rejects an unknown flag with a pointer to --help', async () => {
    const result = await runCli(['train', '--data', 'shapes', '--epoch', '3'])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/Unknown option '--epoch'.*longhaul train --help/)
  }, 60_000)
})
