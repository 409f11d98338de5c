/**
 * `longhaul node --ui` as a user runs it: a real process that prints the UI address, serves
 * the API with the token from that address, pre-fills the dataset from --data, and stops
 * cleanly on Ctrl-C (SIGINT).
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const BIN = path.resolve('bin/longhaul.mjs')

describe('longhaul node --ui', () => {
  let home = ''
  beforeEach(async () => {
    home = await mkdtemp(path.join(tmpdir(), 'longhaul-ui-home-'))
  })
  afterEach(async () => {
    await rm(home, { recursive: true, force: true })
  })

  it('prints the UI address with its token, serves the API there and stops on Ctrl-C', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'node', '--ui', '--home', home, '--data', 'shapes', '--epochs', '2'],
      {
        env: { ...process.env, CI: 'true' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const stderr: string[] = []
    createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    try {
      const uiLine = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (l) => {
          if (l.startsWith('UI: ')) resolve(l.slice(4))
        })
        void exited.then((code) => reject(new Error(`exited ${code}: ${stderr.join(' / ')}`)))
      })
      const match = /^(http:\/\/127\.0\.0\.1:\d+)\/#token=([A-Za-z0-9_-]{43})$/.exec(uiLine)
      expect(match, uiLine).not.toBeNull()
      const [, base, token] = match ?? []
      expect((await fetch(`${base}/api/state`)).status).toBe(401)
      const res = await fetch(`${base}/api/state`, { headers: { Authorization: `Bearer ${token}` } })
      expect(res.status).toBe(200)
      const state = (await res.json()) as { datasets: Array<{ source: string }>; training: { phase: string } }
      expect(state.datasets.map((d) => d.source)).toEqual(['shapes'])
      expect(state.training.phase).toBe('idle')
      expect(stderr.join('\n')).toContain('--epochs ignored')
      child.kill('SIGINT')
      expect(await exited).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  }, 60_000)
})
