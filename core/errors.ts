/**
 * Every failure Longhaul expects carries a stable `code` so callers (CLI, UI, peers) can
 * react without parsing messages. One line per code says when it is raised.
 */
export const ERROR_CODES = {
  ERR_INVALID_ARGUMENT: 'A caller passed a value outside what the function accepts.',
  ERR_NOT_FOUND: 'A file, dataset, model or checkpoint that was asked for does not exist.',
  ERR_BAD_DATASET: 'A dataset file is truncated, corrupt or inconsistent; the message names the file.',
  ERR_BAD_MODEL: 'A model file is unreadable or does not fit the dataset (input shape, class count).',
  ERR_BAD_CHECKPOINT: 'A checkpoint is corrupt or belongs to another model layout.',
  ERR_SHAPE_MISMATCH: 'A flat parameter vector or tensor has the wrong size for the layout.',
  ERR_NON_FINITE: 'A vector that must be finite holds NaN or Infinity.',
  ERR_BACKEND_UNAVAILABLE: 'No tensor backend that can train the chosen model could be started.',
  ERR_BAD_SPEC: 'A spec string (compressor, algorithm, network preset) is unknown or out of range.',
  ERR_BAD_MESSAGE: 'A wire frame or signaling message failed validation.',
  ERR_WRONG_ROOM: 'A frame belongs to another room.',
  ERR_SCHEMA_MISMATCH: 'A peer runs another model layout, protocol version or run manifest.',
  ERR_FRAME_TOO_LARGE: 'A frame or message exceeds the configured size limit.',
  ERR_TOO_MANY_IN_FLIGHT: 'A peer has more incomplete frames in flight than allowed.',
  ERR_TIMEOUT: 'A wait ran past its configured timeout.',
  ERR_PEER_TIMEOUT: 'A peer stopped sending heartbeats within the failure-detection timeout.',
  ERR_UNKNOWN_PEER: 'A message names a peer that is not a member of the room.',
  ERR_AUTH_FAILED: 'A room secret or peer authentication did not verify.',
  ERR_RATE_LIMITED: 'A connection sent more messages per second than allowed.',
  ERR_ROOM_FULL: 'A room or the server reached its configured capacity.',
  ERR_DESTROYED: 'A method was called on an object after close().',
  ERR_ABORTED: 'An operation was cancelled through its AbortSignal.',
  ERR_DUPLICATE_PEER: 'A peer id is already taken by another member of the room.',
  ERR_SLOW_CONSUMER: 'A connection did not read its messages fast enough and its send buffer overflowed.',
  ERR_CONNECTION_FAILED:
    'A network connection (e.g. the signaling WebSocket) could not open or closed unexpectedly.',
  ERR_LATE_MESSAGE: 'A message arrived for a round that this worker already completed or gave up on.',
  ERR_DUPLICATE_MESSAGE: 'A peer sent a second message for the same round and kind.',
  ERR_NO_PEERS: 'A round had no other peer present to average with, so it stayed local.',
  ERR_DOWNLOAD_FAILED:
    'A dataset download failed (HTTP error, network error or idle timeout) on every mirror.',
  ERR_WEBRTC_UNAVAILABLE:
    'No WebRTC implementation could be loaded (in Node: @roamhq/wrtc); the message says why.',
  ERR_LISTENER_FAILED: 'An event listener threw; the object that called it closed with this error.',
  ERR_SIM_STALLED: 'A simulation ran out of events while workers still waited for messages that never come.',
  ERR_REMOTE_TRAINER:
    'A trainer hosted in another context (a browser page) failed, closed, or answered out of protocol.',
  ERR_NOT_READY: 'A peer asked this node for something it cannot give yet (a snapshot before it trains).',
  ERR_INVALID_STATE:
    'A command cannot run in the current state (e.g. pause while nothing trains, join while in a room).',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export class CoreError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CoreError'
    this.code = code
  }
}

export function isCoreError(value: unknown, code?: ErrorCode): value is CoreError {
  return value instanceof CoreError && (code === undefined || value.code === code)
}

/** Programmer-mistake check: throws at once with the values in the message (tfjs style). */
export function assert(condition: unknown, message: () => string): asserts condition {
  if (!condition) throw new Error(`Assertion failed: ${message()}`)
}
