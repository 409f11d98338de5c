/**
 * The Svelte UI in a real browser (Debian's Chromium) against a real headless engine
 * (`longhaul node --ui`) and two more real `longhaul node` processes that join the room the UI
 * created, over real WebRTC on loopback. Screens are saved as PNGs in test/e2e/artifacts/ in
 * light and dark, and axe-core scans each one.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import * as path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { parseInvite } from '../../core/api/invite.ts'
import { LONGHAUL_BIN } from '../harness/longhaul-process.ts'
import { NODE_ENV, exitOf, killAllNodes, trackNode, type NodeProcess } from '../harness/node-process.ts'
import {
  NODE_TIMEOUT_FLAGS,
  axeViolations,
  buildUi,
  launchChromium,
  removeTree,
  screenshot,
  seriousOf,
  startUiNode,
  type UiNode,
} from './ui-harness.ts'

/** Small and quick: shapes (10 classes), 1,200 samples per node, 3 epochs, mlp. */
const EPOCHS = 3
const SAMPLES_PER_NODE = 1200
const CHANCE_ACCURACY = 0.1
const LONG_HAUL_ALGO = 'olco3:H=4,staleness=1,compressor=topk:0.1'
const SCREENS = ['Data', 'Room', 'Training', 'Checkpoints'] as const

let ui: UiNode
let browser: Browser
let page: Page
const peers: NodeProcess[] = []
/** Uncaught page errors and Content-Security-Policy refusals seen in the main page. */
const pageProblems: string[] = []

function startPeer(name: string, invite: string, partition: string): NodeProcess {
  const room = parseInvite(invite)
  const child = spawn(
    process.execPath,
    [
      LONGHAUL_BIN,
      'node',
      '--signal',
      room.signalUrl,
      '--room',
      room.room,
      '--secret',
      room.secret,
      '--peer-id',
      name,
      '--data',
      'shapes',
      '--model',
      'mlp',
      '--algo',
      LONG_HAUL_ALGO,
      '--partition',
      partition,
      '--max-train-samples',
      String(SAMPLES_PER_NODE),
      '--epochs',
      String(EPOCHS),
      ...NODE_TIMEOUT_FLAGS,
      '--events-jsonl',
      '-',
      '--json',
    ],
    { env: { ...process.env, ...NODE_ENV }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const node = trackNode(name, child)
  peers.push(node)
  return node
}

async function showScreen(name: (typeof SCREENS)[number]): Promise<void> {
  await page.getByRole('navigation', { name: 'Screens' }).getByRole('button', { name, exact: true }).click()
  await page
    .getByRole('heading', { level: 2, name: name === 'Checkpoints' ? 'Checkpoints and export' : name })
    .waitFor()
}

function failureContext(): string {
  const tails = [
    `ui: ${ui.stderr.slice(-12).join(' / ')}`,
    ...peers.map((p) => `${p.name}: ${p.stderr.slice(-8).join(' / ')}`),
  ]
  return tails.join('\n')
}

describe('the UI in Chromium against longhaul node --ui', () => {
  beforeAll(async () => {
    await buildUi()
    ui = await startUiNode()
    browser = await launchChromium()
    page = await browser.newPage({ colorScheme: 'light', viewport: { width: 1280, height: 900 } })
    page.on('pageerror', (error) => pageProblems.push(`page error: ${error.message}`))
    page.on('console', (message) => {
      if (message.type() === 'error' && message.text().includes('Content Security Policy')) {
        pageProblems.push(`CSP: ${message.text()}`)
      }
    })
  }, 240_000)

  afterAll(async () => {
    killAllNodes()
    await browser?.close()
    await ui?.stop()
  }, 60_000)

  it('refuses API requests without the token', async () => {
    expect((await fetch(`${ui.origin}/api/state`)).status).toBe(401)
    const wrong = await fetch(`${ui.origin}/api/state`, {
      headers: { Authorization: 'Bearer not-the-token' },
    })
    expect(wrong.status).toBe(401)
    const command = await fetch(`${ui.origin}/api/command/datasets.list`, { method: 'POST', body: '{}' })
    expect(command.status).toBe(401)
    const socketRefusal = await new Promise<string>((resolve) => {
      const socket = new WebSocket(`${ui.origin.replace('http', 'ws')}/api/events`)
      socket.on('open', () => resolve('opened'))
      socket.on('unexpected-response', (_req, res) => resolve(`HTTP ${res.statusCode}`))
      socket.on('error', (error) => resolve(error.message))
    })
    expect(socketRefusal).toBe('HTTP 401')
    expect(
      (await fetch(`${ui.origin}/api/state`, { headers: { Authorization: `Bearer ${ui.token}` } })).status,
    ).toBe(200)

    // The page opened without its token says what to do instead of failing silently.
    const bare = await browser.newPage({ colorScheme: 'light', viewport: { width: 1280, height: 700 } })
    await bare.goto(`${ui.origin}/`)
    await expect
      .poll(() => bare.getByRole('alert').first().textContent(), { timeout: 10_000 })
      .toContain('open the URL the engine printed')
    // Nothing that needs the engine is offered; the page says how to get in.
    await bare.getByRole('heading', { name: "This page needs the engine's access token" }).waitFor()
    expect(await bare.getByRole('navigation', { name: 'Screens' }).count()).toBe(0)
    await screenshot(bare, 'no-token-light')
    await bare.close()
  }, 60_000)

  it('shows a clear error for a bad dataset path, then the manifest, samples and histogram', async () => {
    await page.goto(ui.url)
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: 'Connected to engine' }).count())
      .toBe(1)
    // The token left the address bar once read.
    expect(page.url()).not.toContain('token=')

    const source = page.getByLabel('Built-in name or absolute path')
    await source.fill('/nonexistent/longhaul-e2e-data')
    await source.press('Enter')
    const error = page.locator('#data-notice').getByRole('alert')
    await error.waitFor({ timeout: 30_000 })
    expect(await error.textContent()).toContain('/nonexistent/longhaul-e2e-data')
    expect(await source.getAttribute('aria-invalid')).toBe('true')
    await screenshot(page, 'data-error-light')

    await source.fill('shapes')
    await page.getByRole('button', { name: 'Add dataset' }).click()
    await page.getByRole('heading', { name: 'Manifest: shapes' }).waitFor({ timeout: 60_000 })
    await expect.poll(() => page.locator('ul.grid img').count(), { timeout: 30_000 }).toBe(24)
    const labels = await page.locator('ul.grid figcaption').allTextContents()
    expect(labels.every((l) => l.trim().length > 0)).toBe(true)
    // The histogram has one row per class, with train and test counts.
    expect(await page.locator('table.histogram tbody tr').count()).toBe(10)
    expect(await page.locator('#data-notice').textContent()).toContain('Added shapes')
    // The thumbnails are real pictures: decoded, 64 px wide on screen.
    const widths = await page
      .locator('ul.grid img')
      .evaluateAll((imgs) => imgs.map((img) => (img as HTMLImageElement).naturalWidth))
    expect(widths.every((w) => w > 0)).toBe(true)
    await screenshot(page, 'data-light')
  }, 120_000)

  it('creates a room and shows its invite', async () => {
    await showScreen('Room')
    await page.getByRole('button', { name: 'Create room' }).click()
    // The room's invite (not the join form's empty "Invite" field, gone once a room exists).
    const invite = page.getByLabel(/^Invite \(share it/)
    await invite.waitFor({ timeout: 30_000 })
    const text = await invite.inputValue()
    const room = parseInvite(text)
    expect(room.signalUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+/)
    expect(room.secret.length).toBeGreaterThanOrEqual(16)
    expect(await page.getByLabel('Join from a headless machine').inputValue()).toContain(room.room)
    await screenshot(page, 'room-light')
  }, 60_000)

  it('trains Long-haul with two CLI peers: the peer table fills, staleness changes, accuracy rises', async () => {
    const invite = await page.getByLabel(/^Invite \(share it/).inputValue()
    await showScreen('Training')
    await page.getByLabel('Long-haul').check()
    await page.getByLabel('Epochs').fill(String(EPOCHS))
    await page.getByLabel('Training samples (max)').fill(String(SAMPLES_PER_NODE))
    await page.getByLabel('Wait for peers').fill('2')
    await page.getByRole('button', { name: 'Start training' }).click()
    // The UI's node founds the room and waits for two peers; they join it from the invite.
    startPeer('peer-a', invite, '1/3')
    startPeer('peer-b', invite, '2/3')

    const rows = page.locator('table.peers tbody tr[data-peer]')
    await expect.poll(() => rows.count(), { timeout: 120_000, message: failureContext() }).toBe(2)

    // Sample the table while training runs: staleness per peer, the round, the accuracy shown.
    const staleness = new Map<string, string[]>()
    const rounds: number[] = []
    let hasRunningShot = false
    for (;;) {
      const phase = (await page.locator('.phase').textContent())?.trim()
      const cells = await rows.evaluateAll((trs) =>
        trs.map((tr) => [
          (tr as HTMLElement).dataset['peer'] ?? '',
          tr.querySelector('td.staleness')?.textContent?.trim() ?? '',
        ]),
      )
      for (const [peer, value] of cells) {
        if (peer === undefined || value === undefined) continue
        const seen = staleness.get(peer) ?? []
        if (seen.at(-1) !== value) seen.push(value)
        staleness.set(peer, seen)
      }
      const caption = (await page.locator('table.peers caption').textContent()) ?? ''
      const round = Number(/round (\d+)/.exec(caption)?.[1])
      if (Number.isFinite(round)) rounds.push(round)
      if (!hasRunningShot && rounds.length > 10 && phase === 'running') {
        await screenshot(page, 'training-running-light')
        hasRunningShot = true
      }
      if (phase === 'finished' || phase === 'failed') break
      await page.waitForTimeout(250)
    }
    expect((await page.locator('.phase').textContent())?.trim(), failureContext()).toBe('finished')
    await screenshot(page, 'training-finished-light')

    // Both peers were listed with host (direct) connections and both round-trip times.
    const table = await page.locator('table.peers').textContent()
    expect(table).toContain('host (direct)')
    for (const cell of ['td.rtt', 'td.ice-rtt']) {
      const values = await page.locator(`table.peers tbody tr[data-peer] ${cell}`).allTextContents()
      expect(
        values.every((v) => / ms$| s$/.test(v.trim())),
        `${cell}: ${values.join(', ')}`,
      ).toBe(true)
    }
    // top-k 10 % sends a tenth of the values plus their indices: a ratio well above 1.
    const ratios = await page.locator('table.peers tbody tr[data-peer] td.compression').allTextContents()
    expect(
      ratios.every((r) => Number(/([\d.]+)×/.exec(r)?.[1]) > 2),
      `compression column: ${ratios.join(', ')}`,
    ).toBe(true)
    expect(staleness.size).toBe(2)
    // Staleness changed while training: some peer showed at least two different round counts.
    const distinctCounts = [...staleness.values()].map(
      (values) => new Set(values.filter((v) => /^\d+$/.test(v))).size,
    )
    expect(
      Math.max(...distinctCounts),
      `staleness per peer over time: ${JSON.stringify([...staleness])}`,
    ).toBeGreaterThanOrEqual(2)
    expect(Math.max(...rounds)).toBeGreaterThan(Math.min(...rounds))

    // The run says what carries its peer connections (this engine: the Node binding).
    expect(await page.getByTestId('connections').textContent()).toBe(
      '@roamhq/wrtc (libwebrtc in this process)',
    )
    const accuracyText = (await page.getByTestId('accuracy').textContent()) ?? ''
    const accuracy = Number(/([\d.]+) %/.exec(accuracyText)?.[1]) / 100
    expect(accuracy, `accuracy shown: ${accuracyText}`).toBeGreaterThan(Math.max(0.5, 3 * CHANCE_ACCURACY))
    // The accuracy chart has one point per epoch.
    const chartLabel = await page.getByRole('img', { name: /^Accuracy\./ }).getAttribute('aria-label')
    expect(chartLabel).toContain(`(${EPOCHS} points)`)

    for (const peer of peers) {
      expect(await exitOf(peer, 120_000), `${peer.name}: ${peer.stderr.slice(-10).join(' / ')}`).toBe(0)
      expect(Number(peer.summary?.['testAccuracy'])).toBeGreaterThan(0.5)
    }
  }, 420_000)

  it('lists checkpoints and exports the trained model', async () => {
    await showScreen('Checkpoints')
    const rows = page
      .locator('table tbody tr')
      .filter({ has: page.getByRole('button', { name: /^Export model of epoch/ }) })
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(1)
    await rows.first().getByRole('button').click()
    const notice = page.locator('#checkpoints-notice')
    await expect.poll(() => notice.textContent(), { timeout: 60_000 }).toContain('Exported to')
    const directory = (await page.locator('.exported p.mono').textContent())?.trim() ?? ''
    expect(existsSync(path.join(directory, 'model.json'))).toBe(true)
    expect(readdirSync(directory).some((f) => f.endsWith('.bin'))).toBe(true)
    await screenshot(page, 'checkpoints-light')
    if (!directory.startsWith(ui.home)) removeTree(directory)
  }, 120_000)

  it('has no serious accessibility violation on any screen, in light and in dark', async () => {
    const findings: string[] = []
    for (const theme of ['Light', 'Dark'] as const) {
      await page.getByLabel('Theme').selectOption({ label: theme })
      expect(await page.evaluate(() => document.documentElement.dataset['theme'])).toBe(theme.toLowerCase())
      for (const name of SCREENS) {
        await showScreen(name)
        // Let the charts draw with the theme's colours before the picture.
        await page.waitForTimeout(300)
        await screenshot(page, `${name.toLowerCase()}-${theme.toLowerCase()}`)
        for (const f of seriousOf(await axeViolations(page))) {
          findings.push(
            `${theme} ${name}: ${f.impact} ${f.id} (${f.help}) at ${f.targets.slice(0, 3).join(', ')}`,
          )
        }
      }
    }
    expect(findings).toEqual([])
    // Dark really is dark: the page background is near black.
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor)
    expect(background).toBe('rgb(21, 23, 28)')
  }, 120_000)

  it('is usable from the keyboard: Tab reaches the screens and the focus ring shows', async () => {
    await page.getByLabel('Theme').selectOption({ label: 'Light' })
    // A reload starts keyboard focus at the top of the document (the token stays in the tab's session).
    await page.reload()
    await page.keyboard.press('Tab') // skip link
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Skip to the content')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Enter') // the third screen button: Training
    await page.getByRole('heading', { level: 2, name: 'Training' }).waitFor()
    const outline = await page.evaluate(
      () => getComputedStyle(document.activeElement ?? document.body).outlineStyle,
    )
    expect(outline).toBe('solid')
    await screenshot(page, 'keyboard-focus-light')
  }, 60_000)

  it('ran without page errors or Content-Security-Policy refusals', () => {
    expect(pageProblems).toEqual([])
  })
})
