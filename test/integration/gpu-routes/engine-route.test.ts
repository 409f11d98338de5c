/**
 * The engine API on a browser route: `settings.setBackend webgl`, then `training.start` trains in
 * a headless Chromium page (the same node session `longhaul node` builds), EngineState.backend
 * says which route, whether it is a GPU and which adapter, each epoch's checkpoint carries the
 * page's Adam state out (trainer.export-optimizer), a second run resumes from it into a new page
 * (trainer.import-optimizer) and the checkpoint exports as a tfjs model. A room of one (the
 * founder alone), so no second process. Skipped with the reason where no Chromium exists.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiEvent, CheckpointInfo } from '../../../core/api/contract.ts'
import type { Engine } from '../../../core/api/engine.ts'
import { createNodeEngine } from '../../../core/api/node-engine.node.ts'
import { findChromium } from '../../../core/platform/chromium-host.node.ts'
import { startSignalingServer } from '../../../signaling-server/server.ts'

const found = findChromium({ env: process.env })
const skipReason = 'reason' in found ? found.reason : undefined
const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

let dataDir = ''
let engine: Engine | undefined
const events: ApiEvent[] = []

/** The engine's log lines and its node's. */
function logs(): string[] {
  return events.flatMap((e) => {
    if (e.kind === 'log') return [e.message]
    return e.kind === 'node' && e.event.type === 'log' ? [e.event.message] : []
  })
}

/** Waits for the run to end; fails with the engine's log when it failed or took too long. */
async function runEnded(current: Engine, timeoutMs: number): Promise<void> {
  const started = Date.now()
  for (;;) {
    const { phase, error } = current.state().training
    if (phase === 'finished') return
    if (phase === 'failed') throw new Error(`the run failed: ${error?.code} ${error?.message}`)
    if (Date.now() - started > timeoutMs) {
      throw new Error(`the run is still ${phase} after ${timeoutMs} ms: ${logs().slice(-8).join(' / ')}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe.skipIf(skipReason !== undefined)(
  `the engine on a browser route${skipReason !== undefined ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    beforeAll(async () => {
      dataDir = await mkdtemp(path.join(tmpdir(), 'longhaul-gpu-engine-'))
      engine = await createNodeEngine({
        dataDir,
        startSignalingServer: (options) => startSignalingServer({ config: options.config, logger: QUIET }),
        nodeTimeouts: { heartbeatMs: 500, peerTimeoutMs: 4000, roundTimeoutMs: 4000 },
        loadOptions: { allowDownload: false },
        warn: () => {},
      })
      engine.subscribe((event) => events.push(event))
    })
    afterAll(async () => {
      await engine?.close()
      await rm(dataDir, { recursive: true, force: true })
    })

    it('trains on webgl after settings.setBackend, says what it runs on, checkpoints, resumes and exports', async () => {
      if (engine === undefined) throw new Error('no engine')
      await engine.command('settings.setBackend', { backend: 'webgl' })
      const dataset = await engine.command('datasets.add', { source: 'shapes' })
      await engine.command('room.create', { room: 'gpu-engine' })
      const config = {
        datasetId: dataset.id,
        model: 'mlp',
        preset: 'long-haul',
        epochs: 1,
        batchSize: 32,
        optimizer: 'adam',
        // 30 steps: enough to be well above chance (0.1) whatever the random init; 10 steps once
        // ended at 0.18 on a loaded machine.
        maxTrainSamples: 960,
      } as const
      expect((await engine.command('training.start', config)).phase).toBe('running')
      const backend = engine.state().backend
      expect(backend?.name).toBe('webgl')
      expect(backend?.reason).toContain('Chromium page')
      expect(backend?.reason).toContain('requested (the backend setting: webgl)')
      expect(backend?.adapter).toBeDefined()
      // Honest about what renders: a software rasteriser is not a GPU, and the sentence says so.
      if (backend?.softwareRenderer !== undefined) {
        expect(backend.isHardware).toBe(false)
        expect(backend.reason).toContain(`${backend.softwareRenderer}, a software renderer, not a GPU`)
      }
      console.log(`[gpu-routes] engine backend: ${JSON.stringify(backend)}`)
      await runEnded(engine, 60_000)
      const first = engine.state().training.summary
      expect(first?.steps).toBe(30)
      expect(first?.testAccuracy).toBeGreaterThan(0.3)

      const checkpoint: CheckpointInfo | undefined = engine.state().checkpoints[0]
      expect(checkpoint).toMatchObject({ model: 'mlp', epoch: 1, step: 30, reason: 'epoch' })
      if (checkpoint === undefined) throw new Error('no checkpoint')

      // A new run resumes in a new page: parameters and the Adam state go back in.
      const resumed = await engine.command('training.start', {
        ...config,
        epochs: 2,
        resumeFrom: checkpoint.id,
      })
      expect(resumed.phase).toBe('running')
      await runEnded(engine, 60_000)
      expect(logs().some((m) => m.startsWith('resumed from step 30, epoch 1'))).toBe(true)
      expect(logs().some((m) => m.includes('keeping a fresh'))).toBe(false)
      const second = engine.state().training.summary
      expect(second?.steps).toBe(30)
      expect(second?.finalStep).toBe(60)
      expect(second?.testAccuracy).toBeGreaterThan(0.3)

      const latest = engine.state().checkpoints[0]
      if (latest === undefined) throw new Error('no checkpoint after the resumed run')
      const exported = await engine.command('checkpoints.export', { id: latest.id })
      for (const file of exported.files) expect(existsSync(file), file).toBe(true)
    }, 120_000)
  },
)
