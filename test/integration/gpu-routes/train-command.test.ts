/**
 * `--backend <route>` through the real commands: `longhaul train` trains in a Chromium page on the
 * browser routes (checkpoint, resume with the optimizer state, model export, all through the
 * trainer protocol), and `longhaul sim`, whose workers step synchronously, refuses them with the
 * sentence naming the command that can. Skipped with the reason where no Chromium exists.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { findChromium } from '../../../core/platform/chromium-host.node.ts'

const BIN = path.resolve('bin/longhaul.mjs')
const found = findChromium({ env: process.env })
const skipReason = 'reason' in found ? found.reason : undefined

interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

function runCli(args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // No LONGHAUL_BACKEND from the caller's environment: the flag is what is tested.
    const env = { ...process.env }
    delete env.LONGHAUL_BACKEND
    const child = spawn(process.execPath, [BIN, ...args], { env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

function summaryOf(result: RunResult): Record<string, unknown> {
  const last = result.stdout.trim().split('\n').at(-1) ?? ''
  const parsed: unknown = JSON.parse(last)
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`not a JSON object: ${last}`)
  return parsed as Record<string, unknown>
}

function explain(result: RunResult): string {
  return `exit ${String(result.code)}\n--- stderr ---\n${result.stderr.slice(-3000)}`
}

let dir = ''
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'longhaul-gpu-train-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe.skipIf(skipReason !== undefined)(
  `longhaul train --backend on a browser route${skipReason !== undefined ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('trains the cnn in a Chromium page on WebGL, checkpoints and exports the model', async () => {
      const ckpt = path.join(dir, 'cnn')
      const result = await runCli([
        'train',
        '--backend',
        'webgl',
        '--model',
        'cnn',
        '--data',
        'shapes',
        '--epochs',
        '1',
        '--max-train-samples',
        '64',
        '--batch',
        '32',
        '--checkpoint-dir',
        ckpt,
        '--json',
      ])
      expect(result.code, explain(result)).toBe(0)
      expect(result.stderr).toContain('backend webgl: chosen because it was requested (--backend webgl)')
      expect(result.stderr).toMatch(/trainer: browser webgl \(.*\)/)
      const summary = summaryOf(result)
      expect(summary).toMatchObject({ backend: 'webgl', epochs: 1 })
      expect(summary.testAccuracy).toBeGreaterThan(0)
      expect(await readdir(ckpt)).toContain('latest.ckpt')
      expect(existsSync(path.join(ckpt, 'model', 'model.json'))).toBe(true)
    }, 300_000)

    it('resumes on WebGPU in the page with the optimizer state it checkpointed', async () => {
      const ckpt = path.join(dir, 'mlp')
      const common = ['train', '--backend', 'webgpu-browser', '--model', 'mlp', '--data', 'shapes']
      const limits = ['--max-train-samples', '128', '--checkpoint-dir', ckpt, '--json']
      const first = await runCli([...common, '--epochs', '1', ...limits])
      expect(first.code, explain(first)).toBe(0)
      expect(first.stderr).toMatch(/trainer: browser webgpu \(.*\)/)
      expect(summaryOf(first)).toMatchObject({ backend: 'webgpu-browser', epochs: 1 })
      const second = await runCli([...common, '--epochs', '2', '--resume', ...limits])
      expect(second.code, explain(second)).toBe(0)
      expect(second.stderr).toContain('resume: ')
      expect(second.stderr).toContain('epoch 2/2')
      expect(second.stderr).not.toContain('epoch 1/2')
      expect(summaryOf(second)).toMatchObject({ backend: 'webgpu-browser', epochs: 2 })
    }, 300_000)
  },
)

describe('commands that step synchronously refuse the browser routes', () => {
  it('longhaul sim --backend webgl names the reason and the command that can', async () => {
    const result = await runCli([
      'sim',
      '--backend',
      'webgl',
      '--data',
      'shapes',
      '--workers',
      '2',
      '--samples',
      '128',
    ])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain(
      "Tensor backend 'webgl' was requested (--backend webgl) but it trains in a browser context",
    )
    expect(result.stderr).toContain('`longhaul train --backend webgl`')
  }, 60_000)
})
