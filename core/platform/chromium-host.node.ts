/**
 * Hosts a service in a headless Chromium page, driven from Node: a trainer (the engine-side half
 * of the browser routes when no Electron renderer exists: tests, benchmarks, `longhaul doctor`,
 * opt-in `--backend webgl` runs) or the WebRTC connections of `--webrtc chromium`
 * (chromium-peer-host.node.ts).
 *
 * Machinery, all bound to 127.0.0.1 and torn down by close():
 * - an HTTP server that serves one page and the Vite bundle of core/browser/page-entry.ts. The
 *   origin http://127.0.0.1 is a secure context, which WebGPU requires;
 * - a WebSocket on the same port at /channel, admitted only with this launch's random token, that
 *   carries the service's protocol as binary frames (core/browser/channel.ts);
 * - Chromium launched by playwright-core with a fresh profile and the flags below.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { join } from 'node:path'
import type * as PlaywrightNamespace from 'playwright-core'
import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'
import { createSocketChannel } from '../browser/channel.ts'
import type { PageService, TrainerChannel, WebSocketLike } from '../browser/channel.ts'
import { TrainerClient } from '../browser/remote-trainer.ts'
import { CoreError } from '../errors.ts'
import { firstLine } from '../tensor/backend-select.ts'
import { browserTrainerBundle, PAGE_SCRIPT } from './browser-trainer-bundle.node.ts'

/** Environment variable naming the Chromium (or Chrome) executable to use. */
export const CHROMIUM_ENV_VAR = 'LONGHAUL_CHROMIUM'

/** Where Chromium-family browsers usually live, per platform, in the order tried. */
export const CHROMIUM_CANDIDATES: Readonly<Record<string, readonly string[]>> = {
  linux: [
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
    '/usr/bin/google-chrome-stable',
    '/snap/bin/chromium',
  ],
  darwin: [
    '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
    '/Applications/Chromium.app/Contents/MacOS/Chromium',
  ],
  win32: [
    'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe',
    'C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe',
  ],
}

/**
 * Flags for a private, quiet, headless page. Not --disable-gpu: it would take WebGL and WebGPU away.
 * --enable-unsafe-webgpu turns WebGPU on where Chromium still ships it behind a flag (Linux); the
 * page only ever runs our own bundle, so the "unsafe" (exposure to arbitrary sites) does not apply.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
]

/** Default limit for launching Chromium and for the page to connect back. */
export const DEFAULT_LAUNCH_TIMEOUT_MS = 30_000

export interface ChromiumHostOptions {
  /** Chromium executable; default: $LONGHAUL_CHROMIUM, then CHROMIUM_CANDIDATES, then Playwright's own. */
  readonly executablePath?: string
  /** Milliseconds to launch, load the page and get its connection (default DEFAULT_LAUNCH_TIMEOUT_MS). */
  readonly launchTimeoutMs?: number
  /** Milliseconds one trainer request may take (default: TrainerClient's). */
  readonly requestTimeoutMs?: number
  /** More Chromium flags (e.g. --use-angle=vulkan). */
  readonly extraArgs?: readonly string[]
  /** Environment to read LONGHAUL_CHROMIUM from; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

export interface ChromiumTrainerHost {
  readonly client: TrainerClient
  /** "Chromium 156.0.8078.79 (/usr/bin/chromium)". */
  readonly description: string
  /** Milliseconds from the call to a connected page (bundle + launch + load). */
  readonly startMs: number
  /** Closes the client, the browser and the server. Safe to call twice. */
  close(): Promise<void>
}

/** The Chromium executable to use, or why there is none. */
export function findChromium(
  options: {
    env?: Readonly<Record<string, string | undefined>>
    playwrightPath?: string
    /** Where to look; default CHROMIUM_CANDIDATES for this platform. */
    candidates?: readonly string[]
  } = {},
): { path: string } | { reason: string } {
  const fromEnv = options.env?.[CHROMIUM_ENV_VAR]?.trim()
  if (fromEnv !== undefined && fromEnv !== '') {
    return existsSync(fromEnv)
      ? { path: fromEnv }
      : { reason: `${CHROMIUM_ENV_VAR}=${fromEnv} does not exist` }
  }
  const candidates = [...(options.candidates ?? CHROMIUM_CANDIDATES[process.platform] ?? [])]
  if (options.playwrightPath !== undefined) candidates.push(options.playwrightPath)
  const found = candidates.find((p) => existsSync(p))
  if (found !== undefined) return { path: found }
  return {
    reason: `no Chromium found (looked for ${candidates.join(', ') || 'nothing on this platform'}); set ${CHROMIUM_ENV_VAR}`,
  }
}

type PlaywrightChromium = typeof PlaywrightNamespace.chromium
type PlaywrightBrowser = Awaited<ReturnType<PlaywrightChromium['launch']>>

async function loadPlaywright(): Promise<PlaywrightChromium> {
  try {
    // Imported on demand: playwright-core is a devDependency, absent from a production install.
    const { chromium } = await import('playwright-core')
    return chromium
  } catch (error) {
    throw new CoreError(
      'ERR_BACKEND_UNAVAILABLE',
      `playwright-core is not installed, so Node cannot drive Chromium (${firstLine(error)})`,
    )
  }
}

const PAGE_HTML =
  '<!doctype html><html><head><meta charset="utf-8"><title>Longhaul trainer</title>' +
  `<script type="module" src="/${PAGE_SCRIPT}"></script></head><body></body></html>`

function serveFiles(dir: string, files: readonly string[]) {
  const allowed = new Set(files)
  return (request: IncomingMessage, response: ServerResponse): void => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname
    if (request.method !== 'GET') {
      response.writeHead(405).end()
      return
    }
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      response.end(PAGE_HTML)
      return
    }
    const name = path.slice(1)
    // Only the bundle's own file names, never a path: nothing else on disk is reachable.
    if (!allowed.has(name) || name.includes('/') || name.includes('\\')) {
      response.writeHead(404).end()
      return
    }
    response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' })
    response.end(readFileSync(join(dir, name)))
  }
}

/** ws's WebSocket as the channel's WebSocketLike (its addEventListener is generic over event names). */
function socketLike(socket: WebSocket): WebSocketLike {
  const wrapped = new Map<(event: { data?: unknown }) => void, (event: object) => void>()
  return {
    get binaryType() {
      return socket.binaryType
    },
    set binaryType(value: string) {
      if (value === 'arraybuffer' || value === 'nodebuffer' || value === 'fragments')
        socket.binaryType = value
    },
    send: (data) => socket.send(data),
    addEventListener: (type, listener) => {
      const handler = (event: object): void => listener({ data: 'data' in event ? event.data : undefined })
      wrapped.set(listener, handler)
      socket.addEventListener(type, handler)
    },
    removeEventListener: (type, listener) => {
      const handler = wrapped.get(listener)
      if (handler !== undefined) socket.removeEventListener(type, handler)
    },
    close: () => socket.close(),
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      if (typeof address === 'object' && address !== null) resolve(address.port)
      else reject(new Error('the page server has no port'))
    })
  })
}

/** A connected page: the channel to it, and how to shut it all down. */
export interface ChromiumPage {
  readonly channel: TrainerChannel
  /** "Chromium 156.0.8078.79 (/usr/bin/chromium)". */
  readonly description: string
  /** Milliseconds from the call to a connected page (bundle + launch + load). */
  readonly startMs: number
  /** Closes the channel, the browser and the server. Safe to call twice. */
  close(): Promise<void>
}

/**
 * Bundles the page, serves it, launches Chromium on it (serving `service`) and waits for the page
 * to connect its channel.
 *
 * @throws CoreError ERR_BACKEND_UNAVAILABLE when no Chromium, playwright-core or vite is available,
 *   or Chromium fails to launch; ERR_TIMEOUT when the page does not connect in time (the message
 *   quotes the page's own errors).
 */
export async function launchChromiumPage(
  options: ChromiumHostOptions & { readonly service: PageService },
): Promise<ChromiumPage> {
  const started = performance.now()
  const timeoutMs = options.launchTimeoutMs ?? DEFAULT_LAUNCH_TIMEOUT_MS
  const chromium = await loadPlaywright()
  let playwrightPath: string | undefined
  try {
    playwrightPath = chromium.executablePath()
  } catch {
    playwrightPath = undefined
  }
  const found =
    options.executablePath !== undefined
      ? existsSync(options.executablePath)
        ? { path: options.executablePath }
        : { reason: `${options.executablePath} does not exist` }
      : findChromium({
          env: options.env ?? process.env,
          ...(playwrightPath !== undefined ? { playwrightPath } : {}),
        })
  if ('reason' in found) throw new CoreError('ERR_BACKEND_UNAVAILABLE', found.reason)
  const bundle = await browserTrainerBundle()

  const token = randomBytes(24).toString('hex')
  const server = createServer(serveFiles(bundle.dir, bundle.files))
  const sockets = new WebSocketServer({ noServer: true, maxPayload: 1 << 30 })
  let browser: PlaywrightBrowser | undefined
  let channel: TrainerChannel | undefined
  let isClosed = false
  const close = async (): Promise<void> => {
    if (isClosed) return
    isClosed = true
    channel?.close()
    for (const socket of sockets.clients) socket.terminate()
    await Promise.allSettled([
      browser?.close(),
      new Promise<void>((resolve) => sockets.close(() => resolve())),
      new Promise<void>((resolve) => server.close(() => resolve())),
    ])
  }

  try {
    const connected = new Promise<WebSocket>((resolve) => {
      server.on('upgrade', (request, stream, head) => {
        const url = new URL(request.url ?? '/', 'http://127.0.0.1')
        if (
          url.pathname !== '/channel' ||
          url.searchParams.get('token') !== token ||
          sockets.clients.size > 0
        ) {
          stream.destroy()
          return
        }
        sockets.handleUpgrade(request, stream, head, (socket) => resolve(socket))
      })
    })
    const port = await listen(server)
    const pageErrors: string[] = []
    try {
      browser = await chromium.launch({
        executablePath: found.path,
        headless: true,
        args: [...CHROMIUM_ARGS, ...(options.extraArgs ?? [])],
        timeout: timeoutMs,
      })
    } catch (error) {
      throw new CoreError(
        'ERR_BACKEND_UNAVAILABLE',
        `Chromium (${found.path}) failed to launch: ${firstLine(error)}`,
      )
    }
    const page = await browser.newPage()
    page.on('pageerror', (error) => pageErrors.push(firstLine(error)))
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text())
    })
    const channelUrl = `ws://127.0.0.1:${port}/channel?token=${token}`
    const fragment = new URLSearchParams({ channel: channelUrl, service: options.service })
    await page.goto(`http://127.0.0.1:${port}/#${fragment.toString()}`, { timeout: timeoutMs })
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const errors = pageErrors.length > 0 ? `; the page said: ${pageErrors.slice(0, 3).join(' | ')}` : ''
        reject(
          new CoreError(
            'ERR_TIMEOUT',
            `the ${options.service} page did not connect within ${timeoutMs} ms${errors}`,
          ),
        )
      }, timeoutMs)
    })
    const socket = await Promise.race([connected, timedOut]).finally(() => clearTimeout(timer))
    channel = createSocketChannel(socketLike(socket))
    return {
      channel,
      description: `Chromium ${browser.version()} (${found.path})`,
      startMs: performance.now() - started,
      close,
    }
  } catch (error) {
    await close()
    throw error
  }
}

/**
 * A trainer in a Chromium page: launchChromiumPage serving the trainer protocol.
 *
 * @throws as launchChromiumPage.
 */
export async function launchChromiumTrainerHost(
  options: ChromiumHostOptions = {},
): Promise<ChromiumTrainerHost> {
  const page = await launchChromiumPage({ ...options, service: 'trainer' })
  const client = new TrainerClient({
    channel: page.channel,
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
  })
  return {
    client,
    description: page.description,
    startMs: page.startMs,
    close: async () => {
      client.close()
      await page.close()
    },
  }
}
