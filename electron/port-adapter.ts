/**
 * Electron's MessagePortMain (what the engine's utility process receives) seen as the
 * MessagePortLike that core/browser/channel.ts's port channel expects.
 *
 * Two differences are bridged here:
 * - MessagePortMain emits Node-style 'message' events with `{ data, ports }`; the channel listens
 *   with addEventListener for DOM MessageEvents.
 * - MessagePortMain.postMessage transfers only other ports, not ArrayBuffers, so the buffers are
 *   sent by structured clone (a copy) instead of moved. The trainer page's side still transfers.
 */
import type { MessagePortLike } from '../core/browser/channel.ts'

/** The part of Electron's MessagePortMain used here. */
export interface MessagePortMainLike {
  postMessage(message: unknown): void
  on(event: 'message', listener: (event: { readonly data: unknown }) => void): unknown
  on(event: 'close', listener: () => void): unknown
  off(event: 'message', listener: (event: { readonly data: unknown }) => void): unknown
  start(): void
  close(): void
}

export function adaptMessagePortMain(
  port: MessagePortMainLike,
  options: { readonly onClose?: () => void } = {},
): MessagePortLike {
  const wrapped = new Map<(event: MessageEvent) => void, (event: { readonly data: unknown }) => void>()
  if (options.onClose !== undefined) port.on('close', options.onClose)
  return {
    postMessage: (message) => port.postMessage(message),
    addEventListener: (_type, listener) => {
      const handler = (event: { readonly data: unknown }): void =>
        listener(new MessageEvent('message', { data: event.data }))
      wrapped.set(listener, handler)
      port.on('message', handler)
    },
    removeEventListener: (_type, listener) => {
      const handler = wrapped.get(listener)
      if (handler === undefined) return
      wrapped.delete(listener)
      port.off('message', handler)
    },
    start: () => port.start(),
    close: () => port.close(),
  }
}
