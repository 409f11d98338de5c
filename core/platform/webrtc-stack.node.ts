/**
 * Which WebRTC implementation carries a node's peer connections:
 * - `wrtc`: @roamhq/wrtc, libwebrtc inside this process (the default for `longhaul node`);
 * - `chromium`: a headless Chromium page's own RTCPeerConnection, driven over the peer-host
 *   protocol (for platforms where the binding will not load);
 * - a hosted stack over any PeerHostClient: the desktop app's hidden window (electron/), because
 *   Electron's V8 refuses the external buffers @roamhq/wrtc hands over for received messages.
 * Above this seam every stack is the same ChunkedTransport, so framing, backpressure and stats
 * behave identically.
 */
import { CoreError } from '../errors.ts'
import type { HostedPeerTransportOptions, PeerHostClient } from '../transport/hosted-peer-transport.ts'
import type { SignaledPeerTransport } from '../transport/peer-transport.ts'
import { SimplePeerTransport } from '../transport/simple-peer-transport.ts'
import { launchChromiumPeerHost } from './chromium-peer-host.node.ts'
import type { ChromiumHostOptions } from './chromium-host.node.ts'
import type { ModuleLoader } from './module-loader.node.ts'
import { loadNodeWrtc, WRTC_PACKAGE } from './wrtc.node.ts'

/** Stacks a user can name (`--webrtc`). */
export const WEBRTC_STACK_NAMES = ['wrtc', 'chromium'] as const
export type WebRtcStackName = (typeof WEBRTC_STACK_NAMES)[number]

export interface PeerTransportRequest {
  readonly peerId: string
  readonly initiator: boolean
  readonly iceServers: readonly RTCIceServer[]
  readonly connectTimeoutMs: number
}

export interface WebRtcStack {
  /** 'wrtc', 'chromium', 'electron-window'. */
  readonly name: string
  /** What carries the connections, for the start-up lines ("@roamhq/wrtc in this process"). */
  readonly description: string
  createTransport(request: PeerTransportRequest): SignaledPeerTransport
  /** Releases the stack (a page it launched); call after every transport closed. Idempotent. */
  close(): Promise<void>
}

/** Parses a `--webrtc` value. @throws CoreError ERR_INVALID_ARGUMENT naming the choices. */
export function parseWebRtcStackName(value: string): WebRtcStackName {
  const name = WEBRTC_STACK_NAMES.find((n) => n === value)
  if (name === undefined) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `--webrtc: "${value}" is not one of ${WEBRTC_STACK_NAMES.join(', ')}`,
    )
  }
  return name
}

/** A transport request as the peer-host protocol takes it (its own ICE server type). */
function hostedRequest(request: PeerTransportRequest): HostedPeerTransportOptions {
  return {
    peerId: request.peerId,
    initiator: request.initiator,
    iceServers: request.iceServers.map((server) => ({
      urls: typeof server.urls === 'string' ? server.urls : [...server.urls],
      ...(server.username !== undefined && { username: server.username }),
      ...(server.credential !== undefined && { credential: server.credential }),
    })),
    connectTimeoutMs: request.connectTimeoutMs,
  }
}

/**
 * The stack over the connections of a page (or window) that serves the peer-host protocol.
 * `client` is read at every new transport, so a holder that replaces a page that went away
 * (electron/window-host-provider.ts) passes a function returning the current one; it throws
 * when there is none yet, and the swarm counts that as a failed attempt.
 */
export function hostedWebRtcStack(options: {
  readonly name: string
  readonly description: string
  readonly client: PeerHostClient | (() => PeerHostClient)
  /** Releases what holds the page; default: close the client. */
  readonly close?: () => Promise<void>
}): WebRtcStack {
  const { client } = options
  const current = typeof client === 'function' ? client : () => client
  let closing: Promise<void> | undefined
  return {
    name: options.name,
    description: `${options.description}: the browser's own WebRTC`,
    createTransport: (request) => current().createTransport(hostedRequest(request)),
    close: () => {
      closing ??= options.close?.() ?? Promise.resolve(current().close())
      return closing
    },
  }
}

/**
 * Opens the named stack.
 * @throws CoreError ERR_WEBRTC_UNAVAILABLE (wrtc will not load: the message suggests
 *   `--webrtc chromium`), ERR_BACKEND_UNAVAILABLE or ERR_TIMEOUT (no Chromium, or its page failed).
 */
export async function openWebRtcStack(
  name: WebRtcStackName,
  options: { readonly chromium?: ChromiumHostOptions; readonly loader?: ModuleLoader } = {},
): Promise<WebRtcStack> {
  if (name === 'chromium') {
    const host = await launchChromiumPeerHost(options.chromium)
    return hostedWebRtcStack({
      name,
      description: host.description,
      client: host.client,
      close: () => host.close(),
    })
  }
  let wrtc: Awaited<ReturnType<typeof loadNodeWrtc>>
  try {
    wrtc = await loadNodeWrtc(options.loader)
  } catch (error) {
    if (error instanceof CoreError) {
      throw new CoreError(
        error.code,
        `${error.message}; --webrtc chromium runs the connections in a Chromium page instead`,
        { cause: error },
      )
    }
    throw error
  }
  return {
    name,
    description: `${WRTC_PACKAGE} (libwebrtc in this process)`,
    createTransport: (request) =>
      new SimplePeerTransport({
        peerId: request.peerId,
        initiator: request.initiator,
        wrtc,
        iceServers: request.iceServers,
        connectTimeoutMs: request.connectTimeoutMs,
      }),
    close: () => Promise.resolve(),
  }
}
