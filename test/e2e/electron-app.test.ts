/**
 * The desktop app end to end with Playwright's `_electron`: launch it (the packaged app when a build
 * exists, else the installed Electron on the bundled shell) with a fresh user-data folder, wait for
 * the UI served by its engine, add the built-in `shapes` dataset, open a local room, have a second
 * node (`longhaul node`, headless) join it, start training, and see both peers in the peer table.
 * The second node makes the data channels carry real binary frames both ways between its
 * @roamhq/wrtc and the app's WebRTC window (Chromium's RTCPeerConnection, driven by the engine in
 * the utility process: electron/README.md, "Peer connections in the desktop app").
 *
 * Where no Electron binary is installed and no build exists, the test reports itself skipped with
 * the reason (unless LONGHAUL_E2E_REQUIRE_APP=1). On Linux it needs a display: run it under
 * `xvfb-run -a`. Screenshots go to $LONGHAUL_E2E_SCREENSHOTS when set.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { _electron } from 'playwright-core'
import type { ElectronApplication, Page } from 'playwright-core'
import { afterEach, describe, expect, it } from 'vitest'
import { parseInvite } from '../../core/api/invite.ts'
import { findDevelopmentApp, findPackagedApp, isAppRequired, ROOT } from './electron-app-location.ts'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function appToLaunch():
  { executablePath: string; args: readonly string[]; kind: string } | { reason: string } {
  const packaged = findPackagedApp()
  if ('kind' in packaged) return { executablePath: packaged.executablePath, args: [], kind: 'packaged' }
  const development = findDevelopmentApp()
  if ('kind' in development) return { ...development }
  return { reason: `${packaged.reason}; and ${development.reason}` }
}

async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env['LONGHAUL_E2E_SCREENSHOTS']
  if (dir === undefined || dir === '') return
  mkdirSync(dir, { recursive: true })
  await page.screenshot({ path: join(dir, `${process.platform}-${name}.png`) })
}

/** Calls the engine API from inside the page, with the token the UI keeps (same origin, same token). */
async function api(page: Page, name: string, params: unknown): Promise<unknown> {
  return page.evaluate(
    async ({ name, params }) => {
      const token = sessionStorage.getItem('longhaul.token') ?? ''
      const response = await fetch(`/api/command/${name}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(params),
      })
      return (await response.json()) as unknown
    },
    { name, params },
  )
}

describe('desktop app', () => {
  it(
    'adds a dataset, trains in a local room with a second node, and shows the peer table',
    { timeout: 240_000 },
    async (context) => {
      const target = appToLaunch()
      if ('reason' in target) {
        if (isAppRequired())
          throw new Error(`LONGHAUL_E2E_REQUIRE_APP=1 but there is no app: ${target.reason}`)
        context.skip(`no Electron app to launch: ${target.reason}`)
        return
      }
      if (
        process.platform === 'linux' &&
        (process.env['DISPLAY'] ?? '') === '' &&
        (process.env['WAYLAND_DISPLAY'] ?? '') === ''
      ) {
        if (isAppRequired()) throw new Error('no display: run under `xvfb-run -a`')
        context.skip('no display (run under `xvfb-run -a`)')
        return
      }
      const userData = mkdtempSync(join(tmpdir(), 'longhaul-e2e-user-'))
      cleanups.push(() => rmSync(userData, { recursive: true, force: true }))
      const app: ElectronApplication = await _electron.launch({
        executablePath: target.executablePath,
        args: [...target.args],
        cwd: ROOT,
        env: { ...process.env, LONGHAUL_USER_DATA: userData, LONGHAUL_DISABLE_UPDATES: '1' },
        timeout: 60_000,
      })
      cleanups.push(() => app.close().catch(() => undefined))

      const page = await app.firstWindow()
      await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\//, { timeout: 90_000 })
      await expect
        .poll(() => page.evaluate(() => typeof (window as unknown as { desktop?: unknown }).desktop))
        .toBe('object')
      await screenshot(page, '1-started')

      expect(await api(page, 'datasets.add', { source: 'shapes' })).toMatchObject({ ok: true })
      await page.getByRole('heading', { name: 'Data' }).waitFor()
      await screenshot(page, '2-dataset')

      const created = (await api(page, 'room.create', {})) as { ok: boolean; result?: { invite: string } }
      expect(created.ok).toBe(true)
      const address = parseInvite(created.result?.invite ?? '')

      const second: ChildProcess = spawn(
        process.execPath,
        [
          join(ROOT, 'bin', 'longhaul.mjs'),
          'node',
          '--signal',
          address.signalUrl,
          '--room',
          address.room,
          '--secret',
          address.secret,
          '--peer-id',
          'e2e-headless',
          '--data',
          'shapes',
          '--epochs',
          '2',
        ],
        { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
      )
      cleanups.push(() => {
        if (second.exitCode === null) second.kill('SIGKILL')
      })

      const datasets = (await api(page, 'datasets.list', {})) as { result: Array<{ id: string }> }
      const datasetId = datasets.result[0]?.id ?? ''
      expect(
        await api(page, 'training.start', {
          datasetId,
          model: 'mlp',
          preset: 'long-haul',
          epochs: 2,
          batchSize: 32,
          optimizer: 'adam',
        }),
      ).toMatchObject({ ok: true })

      const peers = page.getByRole('region', { name: 'Peer table' })
      await peers.waitFor({ timeout: 60_000 })
      await expect.poll(() => peers.getByRole('row').count(), { timeout: 120_000 }).toBeGreaterThanOrEqual(3)
      await expect
        .poll(async () => (await peers.textContent()) ?? '', { timeout: 60_000 })
        .toContain('e2e-headless')
      await screenshot(page, '3-training')
    },
  )
})
