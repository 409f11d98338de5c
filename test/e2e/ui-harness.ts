/**
 * The pieces of the browser tests: the UI build, a real `longhaul node --ui` process with its
 * own data folder, real `longhaul node` CLI peers, Debian's Chromium through playwright-core,
 * screenshots under test/e2e/artifacts/, and an axe-core scan injected into the page.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { LONGHAUL_BIN } from '../harness/longhaul-process.ts'
import { NODE_ENV } from '../harness/node-process.ts'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const ARTIFACTS_DIR = path.join(REPO_ROOT, 'test', 'e2e', 'artifacts')
const VITE_BIN = path.join(REPO_ROOT, 'node_modules', 'vite', 'bin', 'vite.js')
const AXE_SCRIPT = path.join(REPO_ROOT, 'node_modules', 'axe-core', 'axe.min.js')
/** Debian's Chromium; playwright's own browser downloads are not used. */
export const CHROMIUM_PATH = '/usr/bin/chromium'

/** Timeouts of the nodes in these tests: snappy peer metrics, tolerant of a loaded 2-core machine. */
export const NODE_TIMEOUT_FLAGS = [
  '--heartbeat-ms',
  '500',
  '--peer-timeout-ms',
  '15000',
  '--round-timeout-ms',
  '6000',
]

function run(command: string, args: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else
        reject(
          new Error(
            `${path.basename(command)} ${args.join(' ')} exited with ${code}: ${stderr.slice(-2000)}`,
          ),
        )
    })
  })
}

/** Builds renderer/ into renderer/dist, which `longhaul node --ui` serves. */
export async function buildUi(): Promise<void> {
  await run(
    process.execPath,
    [VITE_BIN, 'build', '--config', 'renderer/vite.config.ts', '--logLevel', 'warn'],
    180_000,
  )
}

export interface UiNode {
  readonly child: ChildProcess
  /** The printed URL, with `#token=...`. */
  readonly url: string
  readonly origin: string
  readonly token: string
  readonly home: string
  readonly stderr: string[]
  /** SIGTERM (a graceful stop), then SIGKILL if it hangs; removes its data folder. */
  stop(): Promise<void>
}

/** Starts `longhaul node --ui` on a free port with a fresh data folder; resolves once it printed its URL. */
export async function startUiNode(extraArgs: readonly string[] = [], timeoutMs = 90_000): Promise<UiNode> {
  const home = mkdtempSync(path.join(tmpdir(), 'longhaul-e2e-'))
  const child = spawn(
    process.execPath,
    [LONGHAUL_BIN, 'node', '--ui', '--ui-port', '0', '--home', home, ...NODE_TIMEOUT_FLAGS, ...extraArgs],
    { cwd: REPO_ROOT, env: { ...process.env, ...NODE_ENV }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const stderr: string[] = []
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no UI URL within ${timeoutMs} ms: ${stderr.join(' / ')}`)),
      timeoutMs,
    )
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^UI: (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)$/.exec(line.trim())
      if (m?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    void exited.then((code) =>
      reject(new Error(`longhaul node --ui exited (${code}): ${stderr.join(' / ')}`)),
    )
  })
  const parsed = new URL(url)
  const token = new URLSearchParams(parsed.hash.slice(1)).get('token') ?? ''
  return {
    child,
    url,
    origin: parsed.origin,
    token,
    home,
    stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(home, { recursive: true, force: true })
    },
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH })
}

/** Saves a full-page screenshot as test/e2e/artifacts/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true })
  const file = path.join(ARTIFACTS_DIR, `${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  return file
}

export interface AxeFinding {
  readonly id: string
  readonly impact: string | null
  readonly help: string
  readonly targets: string[]
}

interface AxeResultsInPage {
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[]
}

/** Runs axe-core (WCAG 2 A/AA rules and best practices) on the page as it is; returns its violations. */
export async function axeViolations(page: Page): Promise<AxeFinding[]> {
  const hasAxe = await page.evaluate(() => 'axe' in window)
  // The engine's Content-Security-Policy (script-src 'self') refuses an injected <script>
  // (page.addScriptTag): evaluate the source through the DevTools protocol instead, which the
  // page's policy does not govern, so the app itself still runs under its real policy.
  if (!hasAxe) await page.evaluate(readFileSync(AXE_SCRIPT, 'utf8'))
  const results = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(): Promise<AxeResultsInPage> } }).axe
    return axe.run()
  })
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map((n) => n.target.map(String).join(' ')),
  }))
}

/** The violations that must not ship: 'serious' and 'critical'. */
export function seriousOf(findings: readonly AxeFinding[]): AxeFinding[] {
  return findings.filter((f) => f.impact === 'serious' || f.impact === 'critical')
}

/** Removes a directory tree (a data folder, an export). */
export function removeTree(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}
