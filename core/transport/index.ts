/**
 * Public entry of the peer transports, for code outside core/transport (the swarm, the
 * simulator, the CLI). Modules inside import their siblings directly.
 */
export {
  DEFAULT_HIGH_WATER_MARK_BYTES,
  DEFAULT_LOW_WATER_MARK_BYTES,
  DEFAULT_MAX_QUEUED_BYTES,
  systemClock,
} from './peer-transport.ts'
export type {
  CandidateInfo,
  IceCandidateType,
  PeerTransport,
  SignaledPeerTransport,
  TransportClock,
  TransportEvents,
  TransportState,
  TransportStats,
} from './peer-transport.ts'
export { ChunkedTransport, DEFAULT_CONNECT_TIMEOUT_MS } from './chunked-transport.ts'
export type { ChunkedTransportOptions } from './chunked-transport.ts'
export {
  DEFAULT_DRAIN_POLL_MS,
  DEFAULT_STATS_INTERVAL_MS,
  SimplePeerTransport,
} from './simple-peer-transport.ts'
export type { SimplePeerTransportOptions, WebRtcImplementation } from './simple-peer-transport.ts'
export { InMemoryTransport, createInMemoryPair } from './in-memory-transport.ts'
export type { InMemoryPair, InMemoryPairOptions, LinkModel } from './in-memory-transport.ts'
export { summarizeIceStats } from './ice-stats.ts'
export type { IceSummary } from './ice-stats.ts'
