/**
 * The engine-side (utility process) half of the desktop's hidden windows. The engine asks main for
 * a window over the process's parent port (engine-messages.ts) and gets back one end of a
 * MessageChannelMain whose other end main gave to the window's page; a protocol then runs over that
 * port exactly as it runs over the WebSocket to a Chromium page:
 * - `createWindowHostProvider`: a BrowserHostProvider (core/platform/browser-hosted-route.node.ts)
 *   for the WebGPU/WebGL routes, the trainer protocol;
 * - `createWindowWebRtc`: the engine's WebRTC stack, the peer-host protocol, so the peer
 *   connections use Chromium's RTCPeerConnection instead of @roamhq/wrtc (README.md, "Native
 *   modules": Electron's V8 refuses the buffers wrtc hands over for received messages).
 *
 * One window per provider, started on first use and kept until closed; the engine gives WebGPU
 * and WebGL a provider each, like the Chromium hosts (see README.md for why that isolates less in
 * Electron, where windows share one GPU process).
 */
import { createPortChannel } from '../core/browser/channel.ts'
import type { PageService, TrainerChannel } from '../core/browser/channel.ts'
import { TrainerClient } from '../core/browser/remote-trainer.ts'
import { CoreError } from '../core/errors.ts'
import { createLazyHostProvider } from '../core/platform/browser-hosted-route.node.ts'
import type { BrowserHost, BrowserHostProvider } from '../core/platform/browser-hosted-route.node.ts'
import { hostedWebRtcStack } from '../core/platform/webrtc-stack.node.ts'
import type { WebRtcStack } from '../core/platform/webrtc-stack.node.ts'
import { PeerHostClient } from '../core/transport/hosted-peer-transport.ts'
import type { EngineToMain, MainToEngine } from './engine-messages.ts'
import { adaptMessagePortMain } from './port-adapter.ts'
import type { MessagePortMainLike } from './port-adapter.ts'

export const DEFAULT_WINDOW_OPEN_TIMEOUT_MS = 30_000

/** The engine's link to main: post requests, and hear answers (with the ports they carry). */
export interface MainLink {
  post(message: EngineToMain): void
  /** Subscribes to trainer-window answers; returns an unsubscribe function. */
  onTrainerWindowMessage(
    listener: (
      message: Extract<MainToEngine, { type: `trainer-window.${string}` }>,
      ports: readonly MessagePortMainLike[],
    ) => void,
  ): () => void
}

/** An open hidden window: the channel to its page. */
export interface HiddenWindow {
  readonly channel: TrainerChannel
  /** "Electron 45.3.4 hidden window (Chromium 140.0...)". */
  readonly description: string
  /** Asks main to close the window and closes the channel. Idempotent. */
  close(): void
}

let nextWindowId = 1

/**
 * Asks main for a hidden window serving `service` and resolves with the channel to its page. When
 * the window goes away later, the channel closes with an ERR_REMOTE_TRAINER saying why, and
 * `onGone` runs.
 *
 * @throws CoreError ERR_TIMEOUT (main did not answer), ERR_BACKEND_UNAVAILABLE (main could not open
 *   it), ERR_REMOTE_TRAINER (it went away before it opened, or came without a port).
 */
export function openHiddenWindow(options: {
  readonly link: MainLink
  readonly service: PageService
  /** Backends a trainer page probes. */
  readonly backends?: readonly string[]
  readonly openTimeoutMs?: number
  readonly onGone?: () => void
}): Promise<HiddenWindow> {
  const { link } = options
  const id = nextWindowId++
  const timeoutMs = options.openTimeoutMs ?? DEFAULT_WINDOW_OPEN_TIMEOUT_MS
  return new Promise<HiddenWindow>((resolve, reject) => {
    let channel: TrainerChannel | undefined
    let isClosed = false
    const close = (): void => {
      if (isClosed) return
      isClosed = true
      unsubscribe()
      channel?.close()
      link.post({ type: 'trainer-window.close', id })
    }
    const timer = setTimeout(() => {
      close()
      reject(
        new CoreError(
          'ERR_TIMEOUT',
          `the hidden ${options.service} window did not open within ${timeoutMs} ms`,
        ),
      )
    }, timeoutMs)
    const unsubscribe = link.onTrainerWindowMessage((message, ports) => {
      if (message.id !== id) return
      switch (message.type) {
        case 'trainer-window.opened': {
          clearTimeout(timer)
          const port = ports[0]
          if (port === undefined) {
            close()
            reject(new CoreError('ERR_REMOTE_TRAINER', 'main opened a hidden window but sent no port'))
            return
          }
          const opened = createPortChannel(
            adaptMessagePortMain(port, {
              onClose: () =>
                opened.close(
                  new CoreError('ERR_REMOTE_TRAINER', `the hidden ${options.service} window closed its port`),
                ),
            }),
          )
          channel = opened
          resolve({ channel: opened, description: message.description, close })
          return
        }
        case 'trainer-window.failed':
          clearTimeout(timer)
          close()
          reject(
            new CoreError(
              'ERR_BACKEND_UNAVAILABLE',
              `the hidden ${options.service} window could not open: ${message.message}`,
            ),
          )
          return
        case 'trainer-window.gone': {
          clearTimeout(timer)
          const error = new CoreError(
            'ERR_REMOTE_TRAINER',
            `the hidden ${options.service} window went away: ${message.reason}`,
          )
          channel?.close(error)
          reject(error)
          close()
          options.onGone?.()
          return
        }
      }
    })
    link.post({
      type: 'trainer-window.open',
      id,
      backends: options.backends ?? [],
      service: options.service,
    })
  })
}

/** The WebGPU/WebGL routes' host: a trainer window, opened on first use, reopened after it went away. */
export function createWindowHostProvider(options: {
  readonly link: MainLink
  /** Backends the window's page probes (a page per GPU API). */
  readonly backends: readonly string[]
  readonly openTimeoutMs?: number
  readonly requestTimeoutMs?: number
}): BrowserHostProvider {
  const launch = async (forget: () => void): Promise<BrowserHost> => {
    const window = await openHiddenWindow({
      link: options.link,
      service: 'trainer',
      backends: options.backends,
      ...(options.openTimeoutMs !== undefined && { openTimeoutMs: options.openTimeoutMs }),
      // The next acquire() opens a fresh window.
      onGone: forget,
    })
    const client = new TrainerClient({
      channel: window.channel,
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    })
    return {
      client,
      description: window.description,
      close: () => {
        client.close()
        window.close()
        return Promise.resolve()
      },
    }
  }
  return createLazyHostProvider({ onDemand: 'opens a hidden window', backends: options.backends, launch })
}

/**
 * The desktop engine's WebRTC: one hidden window for the engine's life. If it goes away, every
 * transport on it fails, and a fresh window opens at once in the background: until it is up, new
 * transports fail with ERR_WEBRTC_UNAVAILABLE (the swarm counts a failed attempt, and the peers'
 * own retries reconnect once it is back), so a long run outlives a crashed window.
 */
export interface WindowWebRtc {
  /** A stack for one training session (it follows the window across reopenings); closing it leaves the window open. */
  open(): Promise<WebRtcStack>
  /** Closes the window (every transport still on it fails) and stops reopening. Idempotent. */
  close(): Promise<void>
}

interface OpenWindow {
  readonly window: HiddenWindow
  readonly client: PeerHostClient
}

export function createWindowWebRtc(options: {
  readonly link: MainLink
  readonly openTimeoutMs?: number
}): WindowWebRtc {
  let running: Promise<OpenWindow> | undefined
  let current: OpenWindow | undefined
  let isClosed = false
  const start = (): Promise<OpenWindow> => {
    const attempt = (async () => {
      const window = await openHiddenWindow({
        link: options.link,
        service: 'webrtc',
        ...(options.openTimeoutMs !== undefined && { openTimeoutMs: options.openTimeoutMs }),
      })
      try {
        const client = await PeerHostClient.connect({
          channel: window.channel,
          description: window.description,
        })
        const opened = { window, client }
        client.onClose(() => {
          if (running !== attempt) return
          running = undefined
          current = undefined
          // Replace it at once; a failure here is retried by the next open() or transport.
          if (!isClosed) void ensure().catch(() => undefined)
        })
        if (isClosed) {
          client.close()
          window.close()
        } else current = opened
        return opened
      } catch (error) {
        window.close()
        throw error
      }
    })()
    running = attempt
    attempt.catch(() => {
      if (running === attempt) running = undefined
    })
    return attempt
  }
  const ensure = (): Promise<OpenWindow> => running ?? start()
  const liveClient = (): PeerHostClient => {
    if (current !== undefined && !current.client.isClosed) return current.client
    if (!isClosed) void ensure().catch(() => undefined)
    throw new CoreError('ERR_WEBRTC_UNAVAILABLE', 'the hidden WebRTC window is reopening after it went away')
  }
  return {
    open: async () => {
      const { window } = await ensure()
      return hostedWebRtcStack({
        name: 'electron-window',
        description: window.description,
        client: liveClient,
        close: () => Promise.resolve(),
      })
    },
    close: async () => {
      isClosed = true
      const pending = running
      running = undefined
      current = undefined
      if (pending === undefined) return
      try {
        const { window, client } = await pending
        client.close()
        window.close()
      } catch {
        // It never opened; nothing to close.
      }
    },
  }
}
