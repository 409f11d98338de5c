/**
 * The two things Longhaul reads from a simple-peer instance beyond its typed API, in one place for
 * both holders of simple-peer connections (SimplePeerTransport in the engine, PeerHostService in a
 * page): the RTCDataChannel's drain notification and `getStats`; and the one private timer that
 * must be cleared by hand in Node.
 */

/** The parts of an RTCDataChannel the drain notification uses. */
export interface DrainableChannel {
  bufferedAmountLowThreshold: number
  addEventListener(type: 'bufferedamountlow', listener: () => void): void
  removeEventListener(type: 'bufferedamountlow', listener: () => void): void
}

function isDrainableChannel(value: unknown): value is DrainableChannel {
  return (
    typeof value === 'object' &&
    value !== null &&
    'bufferedAmountLowThreshold' in value &&
    typeof value.bufferedAmountLowThreshold === 'number' &&
    'addEventListener' in value &&
    typeof value.addEventListener === 'function' &&
    'removeEventListener' in value &&
    typeof value.removeEventListener === 'function'
  )
}

/**
 * The peer's data channel where it supports 'bufferedamountlow' (browsers do; @roamhq/wrtc 0.10
 * has neither the event nor the threshold), else undefined and the caller polls.
 */
export function drainableChannelOf(peer: object): DrainableChannel | undefined {
  // HACK: simple-peer keeps the RTCDataChannel private (`_channel`) and sets its own 64 KiB
  // threshold for its stream API, which Longhaul does not use. It is read only to set our
  // low-water mark and listen for 'bufferedamountlow'.
  const channel: unknown = Reflect.get(peer, '_channel')
  return isDrainableChannel(channel) ? channel : undefined
}

/** simple-peer's getStats (standard reports, flattened into a list); its typings omit it. */
export interface StatsSource {
  getStats(callback: (error: Error | null, reports: unknown) => void): void
}

export function hasGetStats(peer: object): peer is StatsSource {
  return 'getStats' in peer && typeof peer.getStats === 'function'
}

/**
 * Clears simple-peer's ICE-complete timer (5 s), which it never clears on destroy and which keeps
 * a Node process alive after every connection is closed (same class of leak as
 * webtorrent/webtorrent#1605). Call after the peer is destroyed; harmless when there is none.
 */
export function clearIceCompleteTimer(peer: object): void {
  // HACK: a private field of simple-peer 9 (`_iceCompleteTimer`).
  const timer: unknown = Reflect.get(peer, '_iceCompleteTimer')
  if (timer !== null && timer !== undefined) {
    Reflect.apply(clearTimeout, undefined, [timer])
    Reflect.set(peer, '_iceCompleteTimer', null)
  }
}
