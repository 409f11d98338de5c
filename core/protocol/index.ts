/**
 * Public entry of the peer-to-peer wire protocol, for code outside core/protocol (the
 * swarm, transports, the signaling server). Modules inside import their siblings directly.
 */
export { crc32c } from './crc32c.ts'
export { ID_BYTES, isWireId, roomIdFromName, senderIdFromPeerId } from './ids.ts'
export { MESSAGE_TYPES, MESSAGE_WIRE_CODES, isMessageType, messageTypeFromCode } from './message-types.ts'
export type { MessageType } from './message-types.ts'
export {
  DEFAULT_MAX_FRAME_BYTES,
  FINGERPRINT_BYTES,
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  MAX_FRAME_BYTES_LIMIT,
  MAX_ROUND,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
} from './frame.ts'
export type { Frame, FrameExpectations, FrameFields, FrameHeader } from './frame.ts'
export {
  MAX_LIST_ITEMS,
  MAX_NAME_BYTES,
  MAX_TEXT_BYTES,
  decodeMessage,
  decodePayload,
  encodeMessage,
} from './messages.ts'
export type {
  ByeMessage,
  DecodedMessage,
  DeltaMessage,
  ErrorMessage,
  FrameContext,
  HeartbeatMessage,
  HelloCapabilities,
  HelloMessage,
  Message,
  PushSumShareMessage,
  SnapshotChunkMessage,
} from './messages.ts'
export {
  CHUNK_HEADER_BYTES,
  Chunker,
  DEFAULT_CHUNK_BYTES,
  DEFAULT_REASSEMBLER_OPTIONS,
  MAX_CHUNK_BYTES,
  MIN_CHUNK_BYTES,
  Reassembler,
  chunkFrame,
  negotiateChunkBytes,
} from './chunker.ts'
export type { ChunkerOptions, ReassemblerOptions } from './chunker.ts'
export { MIN_PIECE_BYTES, expectedPieceLength, planSplit } from './split.ts'
export type { SplitPlan } from './split.ts'
export {
  DEFAULT_MAX_SNAPSHOT_BYTES,
  DEFAULT_SNAPSHOT_CHUNK_BYTES,
  SnapshotAssembler,
  splitSnapshot,
} from './snapshot.ts'
export type { CompletedSnapshot, SnapshotAssemblerOptions, SplitSnapshotOptions } from './snapshot.ts'
