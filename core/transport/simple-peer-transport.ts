/**
 * `PeerTransport` over one WebRTC data channel, through simple-peer (v9).
 *
 * Runtime-agnostic: the WebRTC implementation comes in as `wrtc` (in Node, from
 * core/platform/wrtc.node.ts); in a browser it is left out and simple-peer uses the page's
 * own RTCPeerConnection. No ICE servers by default: on a LAN host candidates suffice, and a
 * swarm across NATs passes its STUN/TURN list.
 *
 * Signaling: the transport emits 'signal' with simple-peer's own offer/answer/candidate
 * objects (validated against core/protocol/signaling.ts) and takes the remote side's through
 * `signal()`. The initiator makes the offer; exactly one side of a pair must be initiator.
 *
 * Backpressure: `bufferedAmount` is the data channel's. Browsers fire 'bufferedamountlow' at
 * our low-water mark (a poll every 100 ms backs it up); @roamhq/wrtc has neither the event
 * nor `bufferedAmountLowThreshold` (checked for 0.10.0), so there the transport polls
 * `bufferedAmount` every `drainPollMs` while a send is waiting, and only then. Note that libwebrtc moves messages into its own
 * SCTP send buffer on its network thread and counts only what waits above it, so on a fast
 * link `bufferedAmount` can stay near 0 for the first megabytes; that buffer is bounded by
 * libwebrtc itself, ours by the high-water mark.
 *
 * Failure mapping: simple-peer's errors (ERR_ICE_CONNECTION_FAILURE, ERR_CONNECTION_FAILURE,
 * ERR_DATA_CHANNEL, ERR_SET_REMOTE_DESCRIPTION, ...) close the transport with
 * CoreError('ERR_CONNECTION_FAILED'), the original code in the message and as `cause`. The
 * remote side closing is a plain close (state 'closed', no 'error').
 */
import SimplePeer from 'simple-peer'
import { CoreError } from '../errors.ts'
import { parseSignalData } from '../protocol/signaling.ts'
import type { SignalData } from '../protocol/signaling.ts'
import { ChunkedTransport, describeError } from './chunked-transport.ts'
import type { ChunkedTransportOptions } from './chunked-transport.ts'
import { summarizeIceStats } from './ice-stats.ts'
import type { IceSummary } from './ice-stats.ts'
import type { SignaledPeerTransport } from './peer-transport.ts'
import { clearIceCompleteTimer, drainableChannelOf, hasGetStats } from './simple-peer-internals.ts'
import type { DrainableChannel } from './simple-peer-internals.ts'

/** The WebRTC classes simple-peer needs (what `@roamhq/wrtc` exports; a browser's globals). */
export interface WebRtcImplementation {
  readonly RTCPeerConnection: typeof RTCPeerConnection
  readonly RTCSessionDescription: typeof RTCSessionDescription
  readonly RTCIceCandidate: typeof RTCIceCandidate
}

/** Default period of the stats refresh (ICE pair, RTT, rates). */
export const DEFAULT_STATS_INTERVAL_MS = 1000

/** Default poll period for `bufferedAmount` where 'bufferedamountlow' is missing. */
export const DEFAULT_DRAIN_POLL_MS = 5

export interface SimplePeerTransportOptions extends ChunkedTransportOptions {
  /** True on the side that makes the offer. */
  readonly initiator: boolean
  /** The WebRTC implementation; omit in a browser. */
  readonly wrtc?: WebRtcImplementation
  /** STUN/TURN servers (default none: host candidates only, enough on a LAN). */
  readonly iceServers?: readonly RTCIceServer[]
  /** Data channel settings (default `{ ordered: true }`: ordered and reliable). */
  readonly channelConfig?: RTCDataChannelInit
  /** Poll period while waiting for the channel to drain without 'bufferedamountlow' (default 5). */
  readonly drainPollMs?: number
}

export class SimplePeerTransport extends ChunkedTransport implements SignaledPeerTransport {
  readonly isInitiator: boolean
  private readonly peer: SimplePeer.Instance
  private readonly drainPollMs: number
  private channel: DrainableChannel | undefined
  private releasePromise: Promise<void> | undefined
  private readonly onBufferedAmountLow = (): void => this.notifyDrain()

  /**
   * Creates the RTCPeerConnection at once; the initiator starts emitting 'signal'. Throws
   * ERR_INVALID_ARGUMENT for bad options and ERR_WEBRTC_UNAVAILABLE when no WebRTC
   * implementation is present (Node without `wrtc`).
   */
  constructor(options: SimplePeerTransportOptions) {
    super(options, DEFAULT_STATS_INTERVAL_MS)
    const drainPollMs = options.drainPollMs ?? DEFAULT_DRAIN_POLL_MS
    if (!(drainPollMs > 0)) {
      throw new CoreError('ERR_INVALID_ARGUMENT', `drainPollMs must be positive, got ${drainPollMs}`)
    }
    this.isInitiator = options.initiator
    this.drainPollMs = drainPollMs
    let peer: SimplePeer.Instance
    try {
      peer = new SimplePeer({
        initiator: options.initiator,
        trickle: true,
        config: { iceServers: [...(options.iceServers ?? [])] },
        channelConfig: options.channelConfig ?? { ordered: true },
        ...(options.wrtc !== undefined && { wrtc: options.wrtc }),
      })
    } catch (error) {
      void this.close()
      throw new CoreError(
        'ERR_WEBRTC_UNAVAILABLE',
        `cannot create a WebRTC connection: ${describeError(error)}`,
        {
          cause: error,
        },
      )
    }
    this.peer = peer
    peer.on('signal', (data: unknown) => this.onPeerSignal(data))
    peer.on('connect', () => this.onPeerConnect())
    peer.on('data', (data: unknown) => this.receiveChunk(data))
    peer.on('error', (error: Error) => this.onPeerError(error))
    peer.on('close', () => {
      void this.close()
    })
    this.startConnectTimer()
  }

  signal(data: SignalData): void {
    if (this.isClosed) throw this.destroyedError()
    // simple-peer parses strings itself; passing JSON keeps our validated SignalData type
    // from having to match its looser RTCIceCandidate-based one.
    this.peer.signal(JSON.stringify(data))
  }

  protected override drainPollPeriodMs(): number {
    // With 'bufferedamountlow' the poll is only a slow safety net against a missed event.
    return this.channel === undefined ? this.drainPollMs : Math.max(100, 20 * this.drainPollMs)
  }

  protected override pollDrain(): void {
    this.notifyDrain()
  }

  protected override async readLink(): Promise<IceSummary> {
    const reports = await new Promise<unknown[]>((resolve, reject) => {
      try {
        const peer = this.peer
        if (!hasGetStats(peer)) {
          resolve([])
          return
        }
        peer.getStats((error, items) => {
          if (error) reject(error)
          else resolve(Array.isArray(items) ? items : [])
        })
      } catch (error) {
        // simple-peer dereferences its RTCPeerConnection, which is gone once it is destroyed.
        reject(error instanceof Error ? error : new Error(String(error)))
      }
    })
    return summarizeIceStats(reports)
  }

  protected override releaseChannel(): Promise<void> {
    if (this.releasePromise === undefined) this.releasePromise = this.destroyPeer()
    return this.releasePromise
  }

  private onPeerSignal(data: unknown): void {
    let signal: SignalData
    try {
      signal = parseSignalData(data)
    } catch (error) {
      // A signal type we do not relay (simple-peer's transceiver requests: media only).
      void this.close(
        new CoreError(
          'ERR_CONNECTION_FAILED',
          `WebRTC produced signal data we cannot relay: ${describeError(error)}`,
          {
            cause: error,
          },
        ),
      )
      return
    }
    this.emitSignal(signal)
  }

  private onPeerConnect(): void {
    if (this.isClosed) return
    this.channel = drainableChannelOf(this.peer)
    if (this.channel !== undefined) {
      this.channel.bufferedAmountLowThreshold = this.lowWaterMarkBytes
      this.channel.addEventListener('bufferedamountlow', this.onBufferedAmountLow)
    }
    const peer = this.peer
    this.markConnected({
      get bufferedAmount() {
        return peer.bufferSize
      },
      send: (chunk) => peer.send(chunk),
    })
  }

  private onPeerError(error: Error): void {
    const code = 'code' in error && typeof error.code === 'string' ? error.code : 'ERR_WEBRTC'
    void this.close(
      new CoreError(
        'ERR_CONNECTION_FAILED',
        `WebRTC connection to ${this.peerId} failed (${code}): ${error.message}`,
        {
          cause: error,
        },
      ),
    )
  }

  private async destroyPeer(): Promise<void> {
    this.channel?.removeEventListener('bufferedamountlow', this.onBufferedAmountLow)
    this.channel = undefined
    // The constructor may have failed before the peer existed.
    const peer: SimplePeer.Instance | undefined = this.peer
    if (peer === undefined) return
    if (!peer.destroyed) {
      await new Promise<void>((resolve) => {
        peer.once('close', () => resolve())
        peer.destroy()
      })
    }
    clearIceCompleteTimer(peer)
  }
}
