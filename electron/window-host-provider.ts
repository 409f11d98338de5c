/**
 * The engine-side (utility process) half of the desktop GPU routes: a BrowserHostProvider
 * (core/platform/browser-hosted-route.node.ts) whose browser context is a hidden Electron window
 * instead of a Playwright-driven Chromium. It asks main for a trainer window over the process's
 * parent port (engine-messages.ts) and gets back one end of a MessageChannelMain whose other end
 * main gave to the window; the trainer protocol then runs over that port, exactly as it runs over
 * the WebSocket to a Chromium page.
 *
 * One window per provider, started on first use and kept until closeHost(); the engine gives
 * WebGPU and WebGL a provider each, like the Chromium hosts (see README.md for why that isolates
 * less in Electron, where windows share one GPU process).
 */
import { createPortChannel } from '../core/browser/channel.ts'
import { TrainerClient } from '../core/browser/remote-trainer.ts'
import { CoreError } from '../core/errors.ts'
import { createLazyHostProvider } from '../core/platform/browser-hosted-route.node.ts'
import type { BrowserHost, BrowserHostProvider } from '../core/platform/browser-hosted-route.node.ts'
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

let nextWindowId = 1

export function createWindowHostProvider(options: {
  readonly link: MainLink
  /** Backends the window's page probes (a page per GPU API). */
  readonly backends: readonly string[]
  readonly openTimeoutMs?: number
  readonly requestTimeoutMs?: number
}): BrowserHostProvider {
  const { link } = options
  const launch = (forget: () => void): Promise<BrowserHost> => {
    const id = nextWindowId++
    const timeoutMs = options.openTimeoutMs ?? DEFAULT_WINDOW_OPEN_TIMEOUT_MS
    return new Promise<BrowserHost>((resolve, reject) => {
      let client: TrainerClient | undefined
      let isClosed = false
      const close = (): Promise<void> => {
        if (!isClosed) {
          isClosed = true
          unsubscribe()
          client?.close()
          link.post({ type: 'trainer-window.close', id })
        }
        return Promise.resolve()
      }
      const timer = setTimeout(() => {
        void close()
        reject(new CoreError('ERR_TIMEOUT', `the hidden trainer window did not open within ${timeoutMs} ms`))
      }, timeoutMs)
      const unsubscribe = link.onTrainerWindowMessage((message, ports) => {
        if (message.id !== id) return
        switch (message.type) {
          case 'trainer-window.opened': {
            clearTimeout(timer)
            const port = ports[0]
            if (port === undefined) {
              void close()
              reject(new CoreError('ERR_REMOTE_TRAINER', 'main opened a trainer window but sent no port'))
              return
            }
            const channel = createPortChannel(
              adaptMessagePortMain(port, {
                onClose: () =>
                  channel.close(new CoreError('ERR_REMOTE_TRAINER', 'the trainer window closed its port')),
              }),
            )
            client = new TrainerClient({
              channel,
              ...(options.requestTimeoutMs !== undefined
                ? { requestTimeoutMs: options.requestTimeoutMs }
                : {}),
            })
            resolve({ client, description: message.description, close })
            return
          }
          case 'trainer-window.failed':
            clearTimeout(timer)
            void close()
            reject(
              new CoreError(
                'ERR_BACKEND_UNAVAILABLE',
                `the hidden trainer window could not open: ${message.message}`,
              ),
            )
            return
          case 'trainer-window.gone':
            clearTimeout(timer)
            client?.close(
              new CoreError('ERR_REMOTE_TRAINER', `the hidden trainer window went away: ${message.reason}`),
            )
            reject(
              new CoreError('ERR_REMOTE_TRAINER', `the hidden trainer window went away: ${message.reason}`),
            )
            void close()
            // The next acquire() opens a fresh window.
            forget()
            return
        }
      })
      link.post({ type: 'trainer-window.open', id, backends: options.backends })
    })
  }

  return createLazyHostProvider({ onDemand: 'opens a hidden window', backends: options.backends, launch })
}
