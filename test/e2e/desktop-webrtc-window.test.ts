/**
 * The desktop app's WebRTC window without Electron: the page bundle the app ships
 * (build/scripts/bundle-electron.mjs → trainer/) runs in Debian's Chromium under the Content-
 * Security-Policy the app sets on it (electron/csp.ts), receives its MessagePort exactly as the
 * trainer preload hands it over (window.postMessage of TRAINER_PORT_MESSAGE), and serves the
 * peer-host protocol on it. The engine side is the real PeerHostClient and hosted WebRTC stack;
 * the remote peer is an ordinary @roamhq/wrtc transport in this process, so real WebRTC runs
 * between Chromium and Node.
 *
 * The same page bundle's trainer service is checked the same way (a request sent the moment the
 * port arrives is answered).
 *
 * What only an Electron binary can show (main's MessageChannelMain, the preload itself, the
 * app:// scheme) is left to test/e2e/electron-app.test.ts; the port in between is bridged here
 * through Playwright (base64 over a binding), which stands in for Electron's IPC.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bundleElectron } from '../../build/scripts/bundle-electron.mjs'
import type { ChannelMessage, TrainerChannel } from '../../core/browser/channel.ts'
import { TrainerClient } from '../../core/browser/remote-trainer.ts'
import { CoreError } from '../../core/errors.ts'
import { WEBRTC_PAGE_ARGS } from '../../core/platform/chromium-peer-host.node.ts'
import { hostedWebRtcStack } from '../../core/platform/webrtc-stack.node.ts'
import { loadNodeWrtc } from '../../core/platform/wrtc.node.ts'
import { PeerHostClient } from '../../core/transport/hosted-peer-transport.ts'
import { SimplePeerTransport } from '../../core/transport/simple-peer-transport.ts'
import { createAppProtocolHandler } from '../../electron/app-protocol.ts'
import { trainerContentSecurityPolicy } from '../../electron/csp.ts'
import { TRAINER_PORT_MESSAGE } from '../../electron/ipc-contract.ts'

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const CHROMIUM = '/usr/bin/chromium'
const skipReason = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed`

let outDir: string
let server: Server
let origin: string
let browser: Browser
const loadedBytes = new Map<string, number>()
const policies: string[] = []

/** Serves the bundled page as the app:// handler would, with the policy re-issued for this origin. */
function startServer(root: string): Promise<string> {
  const handle = createAppProtocolHandler(root)
  server = createServer((request, response) => {
    void (async () => {
      const reply = await handle(new Request(`app://trainer${request.url ?? '/'}`))
      const body = Buffer.from(await reply.arrayBuffer())
      const headers = Object.fromEntries(reply.headers)
      if (headers['content-security-policy'] !== undefined) {
        // The same policy function, for the origin the page really has here.
        headers['content-security-policy'] = trainerContentSecurityPolicy(origin)
        policies.push(headers['content-security-policy'])
      }
      loadedBytes.set(request.url ?? '/', body.byteLength)
      response.writeHead(reply.status, headers).end(body)
    })()
  })
  return new Promise((resolvePort) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      resolvePort(typeof address === 'object' && address !== null ? `http://127.0.0.1:${address.port}` : '')
    })
  })
}

/** A TrainerChannel to the page's port, bridged through Playwright (standing in for Electron's IPC). */
async function bridgeToPage(page: Page): Promise<TrainerChannel> {
  const messageListeners = new Set<(message: ChannelMessage) => void>()
  const closeListeners = new Set<(error?: CoreError) => void>()
  let isClosed = false
  const toBuffer = (text: string): ArrayBuffer => {
    const bytes = Buffer.from(text, 'base64')
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  }
  await page.exposeFunction('longhaulFromPage', (head: unknown, buffers: string[]) => {
    const message: ChannelMessage = { head, buffers: buffers.map(toBuffer) }
    for (const listener of messageListeners) listener(message)
  })
  await page.evaluate((portMessage) => {
    const encode = (buffer: ArrayBuffer): string => {
      let text = ''
      const bytes = new Uint8Array(buffer)
      for (let i = 0; i < bytes.length; i += 0x8000) {
        text += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
      }
      return btoa(text)
    }
    const decode = (text: string): ArrayBuffer => Uint8Array.from(atob(text), (c) => c.charCodeAt(0)).buffer
    const { port1, port2 } = new MessageChannel()
    const page = window as unknown as {
      longhaulFromPage(head: unknown, buffers: string[]): void
      longhaulToPage?: (head: unknown, buffers: string[]) => void
    }
    port1.onmessage = (event: MessageEvent<{ head: unknown; buffers: ArrayBuffer[] }>) =>
      page.longhaulFromPage(event.data.head, event.data.buffers.map(encode))
    page.longhaulToPage = (head, buffers) => {
      const decoded = buffers.map(decode)
      port1.postMessage({ head, buffers: decoded }, decoded)
    }
    // Exactly what electron/trainer-preload.ts does with the port main sends it.
    window.postMessage(portMessage, window.location.origin, [port2])
  }, TRAINER_PORT_MESSAGE)
  return {
    get isClosed() {
      return isClosed
    },
    send: (message) => {
      if (isClosed) throw new CoreError('ERR_DESTROYED', 'the bridge is closed')
      const buffers = message.buffers.map((b) => Buffer.from(b).toString('base64'))
      void page
        .evaluate(
          ([head, list]) => {
            const page = window as unknown as { longhaulToPage(head: unknown, buffers: string[]): void }
            page.longhaulToPage(head, list)
          },
          [message.head, buffers] as const,
        )
        .catch(() => undefined)
    },
    onMessage: (listener) => {
      messageListeners.add(listener)
      return () => messageListeners.delete(listener)
    },
    onClose: (listener) => {
      closeListeners.add(listener)
      return () => closeListeners.delete(listener)
    },
    close: (error) => {
      if (isClosed) return
      isClosed = true
      for (const listener of closeListeners) listener(error)
    },
  }
}

beforeAll(async () => {
  if (skipReason !== undefined) return
  outDir = mkdtempSync(join(tmpdir(), 'longhaul-desktop-bundle-'))
  await bundleElectron(ROOT, { outDir })
  origin = await startServer(join(outDir, 'trainer'))
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', ...WEBRTC_PAGE_ARGS],
  })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await new Promise<void>((done) => (server === undefined ? done() : server.close(() => done())))
  if (outDir !== undefined) rmSync(outDir, { recursive: true, force: true })
})

describe.skipIf(skipReason !== undefined)("the desktop app's WebRTC window page, in Chromium", () => {
  it('serves the peer-host protocol on the port the preload hands it, under the app CSP, without loading tfjs', async () => {
    const page = await browser.newPage()
    const violations: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error') violations.push(message.text())
    })
    await page.goto(`${origin}/index.html#service=webrtc`)
    const channel = await bridgeToPage(page)
    const client = await PeerHostClient.connect({ channel, description: 'the bundled window page' })
    expect(client.userAgent).toMatch(/Chrome\/\d+/)
    const stack = hostedWebRtcStack({ name: 'electron-window', description: client.description, client })

    const wrtc = await loadNodeWrtc()
    const hosted = stack.createTransport({
      peerId: 'node',
      initiator: true,
      iceServers: [],
      connectTimeoutMs: 20_000,
    })
    const remote = new SimplePeerTransport({ peerId: 'desktop', initiator: false, wrtc })
    hosted.on('signal', (data) => remote.signal(data))
    remote.on('signal', (data) => hosted.signal(data))
    await Promise.all([
      new Promise<void>((done) => hosted.on('connect', done)),
      new Promise<void>((done) => remote.on('connect', done)),
    ])
    const atRemote = new Promise<Uint8Array>((done) => remote.on('frame', done))
    const atHosted = new Promise<Uint8Array>((done) => hosted.on('frame', done))
    const outbound = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff)
    const inbound = new Uint8Array(50_000).map((_, i) => (i * 11) & 0xff)
    await Promise.all([hosted.send(outbound), remote.send(inbound)])
    expect(Buffer.from(await atRemote).equals(Buffer.from(outbound))).toBe(true)
    expect(Buffer.from(await atHosted).equals(Buffer.from(inbound))).toBe(true)
    const stats = await hosted.refreshStats()
    expect(stats.connectionType).toBe('host')

    await hosted.close()
    await new Promise<void>((done) => (remote.isClosed ? done() : remote.on('close', done)))
    await stack.close()
    await page.close()

    // The policy was on the page, and nothing it needed was refused.
    expect(policies.length).toBeGreaterThan(0)
    expect(violations.filter((v) => /Content Security Policy/i.test(v))).toEqual([])
    // The WebRTC service loads its own chunks only: tfjs (megabytes) stays unloaded.
    const total = [...loadedBytes.values()].reduce((sum, n) => sum + n, 0)
    expect(total).toBeLessThan(400_000)
  }, 60_000)

  it('serves the trainer protocol in a trainer window, answering a request sent the moment the port arrives', async () => {
    const page = await browser.newPage()
    await page.goto(`${origin}/index.html#service=trainer`)
    const channel = await bridgeToPage(page)
    // Sent at once: the page is still loading its service chunk, and the port must hold this.
    const client = new TrainerClient({ channel, requestTimeoutMs: 60_000 })
    const routes = await client.probe(['cpu'])
    expect(routes.find((r) => r.backendName === 'cpu')).toMatchObject({ available: true })
    client.close()
    await page.close()
  }, 90_000)
})
