/**
 * The seam between the swarm and the network: one `PeerTransport` per remote peer.
 *
 * A transport carries whole encoded frames (core/protocol/frame.ts). Below the interface each
 * frame is cut into data-channel messages by the protocol's `Chunker` and put back together by
 * a per-peer `Reassembler`, so every implementation (WebRTC, in-memory) behaves the same on
 * the wire: ordered, reliable, frames delivered whole and in the order they were sent.
 *
 * Lifecycle: 'connecting' → 'connected' → 'closed' | 'failed'. Both last states are final;
 * 'failed' means the transport closed with an error (connect timeout, ICE failure, a broken
 * channel, a local `close(err)`). Every transport emits 'close' exactly once, preceded by
 * 'error' when it failed; after that every method throws or rejects with ERR_DESTROYED.
 *
 * Backpressure invariant: bytes handed to the channel but not yet on the wire (its
 * `bufferedAmount`) never exceed `highWaterMarkBytes`; `send` waits for the channel to drain
 * to `lowWaterMarkBytes` instead. Frames waiting for room are bounded by `maxQueuedBytes`.
 */
import type { CoreError } from '../errors.ts'
import type { SignalData } from '../protocol/signaling.ts'

/** Where a transport is in its life; 'closed' and 'failed' are final. */
export type TransportState = 'connecting' | 'connected' | 'failed' | 'closed'

/** ICE candidate types, as WebRTC stats name them. */
export type IceCandidateType = 'host' | 'srflx' | 'prflx' | 'relay'

/** One end of the candidate pair a WebRTC connection is using. */
export interface CandidateInfo {
  readonly type: IceCandidateType
  readonly address?: string
  readonly port?: number
  /** 'udp' or 'tcp'. */
  readonly protocol?: string
  /** For relay candidates: how this side reaches the TURN server ('udp', 'tcp', 'tls'). */
  readonly relayProtocol?: string
}

/**
 * A snapshot of one transport's counters. Byte counts are data-channel bytes (chunk headers
 * included, frame headers included, SCTP/DTLS overhead excluded); message counts are whole
 * frames. Rates are averaged over the interval between the last two stats refreshes.
 */
export interface TransportStats {
  readonly state: TransportState
  /**
   * Round-trip time in milliseconds: the ICE candidate pair's current RTT for WebRTC, the
   * link model's propagation RTT in memory. Undefined until measured. On loopback it is
   * often 0 (libwebrtc measures STUN round trips in whole milliseconds).
   */
  readonly rttMs?: number
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly messagesSent: number
  readonly messagesReceived: number
  readonly sendRateBytesPerSec: number
  readonly receiveRateBytesPerSec: number
  /**
   * The ICE type of the path in use: 'host' (direct, same network), 'srflx'/'prflx' (direct
   * through a NAT), 'relay' (through TURN). The worse of the two ends, so 'relay' whenever
   * either side relays. Undefined for in-memory transports and before the first refresh.
   */
  readonly connectionType?: IceCandidateType
  readonly localCandidate?: CandidateInfo
  readonly remoteCandidate?: CandidateInfo
  /** Bytes handed to the channel and not yet on the wire. */
  readonly bufferedAmountBytes: number
  /** Bytes of frames waiting in `send` for the channel to drain. */
  readonly queuedBytes: number
  /** Chunks from the peer the reassembler refused (each also emitted as 'protocol-error'). */
  readonly protocolErrors: number
  /** Milliseconds from construction to 'connected'; undefined before. */
  readonly connectMs?: number
}

/** Events of every transport. Subscribe with `on`, which returns the unsubscribe function. */
export interface TransportEvents {
  /** The state changed; 'connected', 'closed' and 'failed' each come once at most. */
  state: (state: TransportState, previous: TransportState) => void
  /** The channel is open: frames sent now go straight to the wire. */
  connect: () => void
  /** A whole frame from the peer, in send order. The bytes are the listener's to keep. */
  frame: (frame: Uint8Array) => void
  /**
   * The peer sent a chunk the reassembler refused (ERR_BAD_MESSAGE, ERR_FRAME_TOO_LARGE,
   * ERR_TOO_MANY_IN_FLIGHT). The transport stays open; the swarm decides whether to drop it.
   */
  'protocol-error': (error: CoreError) => void
  /** Fresh counters, after each periodic refresh. */
  stats: (stats: TransportStats) => void
  /** Connection data for the remote side; relay it through signaling (WebRTC only). */
  signal: (data: SignalData) => void
  /** Why the transport failed; 'close' follows at once. */
  error: (error: CoreError) => void
  /** The transport is closed; the last event. */
  close: () => void
}

/**
 * A connection to one remote peer that carries whole frames. Implementations:
 * `SimplePeerTransport` (WebRTC), `InMemoryTransport` (tests, simulator).
 */
export interface PeerTransport {
  /** The remote peer this transport talks to. */
  readonly peerId: string
  readonly state: TransportState
  /** Bytes handed to the channel and not yet on the wire (0 before connect). */
  readonly bufferedAmount: number
  /** Largest data-channel message this side sends, chunk header included. */
  readonly maxChunkBytes: number

  /**
   * Queues one encoded frame. Resolves once its last chunk is handed to the channel, which
   * happens only while the channel holds at most `highWaterMarkBytes`; a caller that awaits
   * each send therefore never builds a queue. Frames sent before 'connect' wait for it.
   * Rejects with ERR_DESTROYED after (or on) close, ERR_SLOW_CONSUMER when `maxQueuedBytes`
   * of earlier frames are still waiting, ERR_INVALID_ARGUMENT for an empty frame.
   */
  send(frame: Uint8Array): Promise<void>
  /**
   * Sends one frame at once if it fits under the high-water mark with nothing queued before
   * it, else returns false and sends nothing (for heartbeats: skip one rather than queue it).
   * Throws ERR_DESTROYED after close.
   */
  trySend(frame: Uint8Array): boolean
  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void
  /** Current counters (rates and ICE data as of the last refresh). Works after close too. */
  getStats(): TransportStats
  /** Reads fresh link data (ICE pair, RTT) and recomputes rates. */
  refreshStats(): Promise<TransportStats>
  /**
   * Switches to a chunk size both peers agreed on (`negotiateChunkBytes`); frames already
   * queued keep their chunks. Throws ERR_INVALID_ARGUMENT when it would not fit between the
   * low- and high-water marks.
   */
  setMaxChunkBytes(maxChunkBytes: number): void
  /**
   * Closes the transport and releases the connection. Idempotent: every call returns the same
   * promise. Emits 'error' (when `error` is given) and then 'close', once. Pending sends
   * reject with ERR_DESTROYED.
   */
  close(error?: CoreError): Promise<void>
}

/** A transport that needs connection data relayed through signaling (WebRTC). */
export interface SignaledPeerTransport extends PeerTransport {
  /** True on the side that makes the offer. */
  readonly isInitiator: boolean
  /** Feeds connection data the remote side emitted as 'signal'. Throws ERR_DESTROYED after close. */
  signal(data: SignalData): void
}

/**
 * Time and timers, injectable so unit tests and the simulator run on virtual time.
 * `setTimeout` returns the function that cancels the timer.
 */
export interface TransportClock {
  /** Milliseconds; only differences are used. */
  now(): number
  setTimeout(fn: () => void, ms: number): () => void
}

/** Wall-clock time and the runtime's own timers. */
export const systemClock: TransportClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const handle = globalThis.setTimeout(fn, ms)
    return () => globalThis.clearTimeout(handle)
  },
}

/**
 * Default cap on bytes a channel holds before `send` waits: 1 MiB. Increase it if one peer's
 * throughput stays well below the link's on long, fast paths (it must cover the time between
 * drain notifications at full rate); lower it to bound memory per peer.
 */
export const DEFAULT_HIGH_WATER_MARK_BYTES = 1024 * 1024

/** Default level the channel must drain to before `send` resumes: 256 KiB. */
export const DEFAULT_LOW_WATER_MARK_BYTES = 256 * 1024

/**
 * Default cap on bytes of frames waiting in `send` (64 MiB, one maximum-size frame). Further
 * sends reject with ERR_SLOW_CONSUMER until the queue drains; a frame is always accepted when
 * nothing else is waiting.
 */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024
