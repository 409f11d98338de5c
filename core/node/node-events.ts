/**
 * The training node's event stream: one typed union of plain, JSON-serialisable objects
 * (numbers, strings, booleans, arrays, nested objects; no typed arrays, no class instances,
 * no NaN where a UI expects a number), so an API server can forward them as they are and a
 * UI can switch on `type`. Every event carries `t`: milliseconds since the node started.
 *
 * "step" is the algorithm's global step (identical on every worker); "epoch" and "batch"
 * are this node's local epoch over its own data.
 */
import type { RoundOutcome } from '../algorithms/algorithm.ts'
import type { ErrorCode } from '../errors.ts'
import type { IceCandidateType } from '../transport/peer-transport.ts'

/** One peer as this node sees it, refreshed every stats interval. */
export interface PeerMetrics {
  readonly peer: string
  /** 'connecting' | 'handshake' | 'admitted' | 'refused' | 'failed' | 'left'. */
  readonly state: string
  readonly slot: number | null
  /** Rounds between our current round and the newest round we got from this peer (algorithm view). */
  readonly stalenessRounds?: number
  /** The round the peer announced in its last heartbeat. */
  readonly peerRound?: number
  /** Milliseconds since the last whole frame from this peer. */
  readonly lastMessageAgeMs?: number
  /** Heartbeat round trip through the data channel, ms. */
  readonly rttMs?: number
  /** ICE candidate-pair RTT, ms. */
  readonly iceRttMs?: number
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly sendRateBytesPerSec: number
  readonly receiveRateBytesPerSec: number
  /** 'host' (direct), 'srflx'/'prflx' (through NAT), 'relay' (TURN). */
  readonly connectionType?: IceCandidateType
  /**
   * Raw float32 bytes / payload bytes of this node's last algorithm message, the compression
   * its messages to this member get (1 when uncompressed); absent before the first message.
   */
  readonly compressionRatio?: number
  readonly protocolErrors: number
  /** Algorithm messages this node refused from the peer (non-finite, malformed, ...). */
  readonly rejectedMessages: number
  /** Messages that arrived after their round was closed (late or duplicate). */
  readonly lateMessages: number
}

export type NodeEvent = { readonly t: number } & (
  | { readonly type: 'log'; readonly level: 'debug' | 'info' | 'warn'; readonly message: string }
  | {
      readonly type: 'joined'
      readonly room: string
      readonly peerId: string
      /** Members already in the room; 0 makes this node the room's founder. */
      readonly members: number
      readonly role: 'founder' | 'joiner'
    }
  | { readonly type: 'peer-connected'; readonly peer: string }
  | { readonly type: 'peer-admitted'; readonly peer: string }
  | {
      readonly type: 'peer-member'
      readonly peer: string
      readonly slot: number | null
      readonly startStep: number | null
    }
  | {
      readonly type: 'peer-refused'
      readonly peer: string
      readonly code: ErrorCode
      readonly reason: string
      /** 'self': we found the mismatch; 'peer': the peer refused us. */
      readonly by: 'self' | 'peer'
    }
  | {
      readonly type: 'peer-left'
      readonly peer: string
      readonly slot: number | null
      readonly reason: string
      readonly code?: ErrorCode
      readonly message: string
    }
  | {
      readonly type: 'peer-failed'
      readonly peer: string
      readonly attempts: number
      readonly reason: string
    }
  | {
      readonly type: 'protocol-error'
      readonly peer: string
      readonly code: ErrorCode
      readonly message: string
    }
  | {
      readonly type: 'message-rejected'
      readonly peer: string
      readonly slot: number | null
      readonly kind: string
      readonly round: number
      readonly code: ErrorCode
      readonly message: string
    }
  | {
      readonly type: 'training-started'
      readonly slot: number
      readonly step: number
      readonly workerSlots: number
    }
  | {
      readonly type: 'catch-up'
      readonly from: string
      readonly slot: number
      readonly step: number
      readonly bytes: number
      /** From the snapshot request to the imported model. */
      readonly ms: number
      /** Test accuracy of the imported model, before any local step. */
      readonly testAccuracy: number
      readonly testLoss: number
    }
  | {
      readonly type: 'snapshot-served'
      readonly peer: string
      readonly slot: number
      readonly step: number
      readonly bytes: number
    }
  | {
      readonly type: 'step'
      readonly step: number
      readonly epoch: number
      readonly batch: number
      readonly batchesPerEpoch: number
      /** Mean training loss since the previous step event. */
      readonly loss: number
      readonly examplesPerSec: number
      readonly round: number
      readonly present: readonly number[]
    }
  | {
      readonly type: 'round'
      readonly outcome: RoundOutcome
      /** Time the node waited for this round's messages. */
      readonly waitedMs: number
      readonly present: readonly number[]
    }
  | { readonly type: 'peers'; readonly round: number; readonly peers: readonly PeerMetrics[] }
  | {
      /**
       * This node's part of the communication graph in one round, for the topology view:
       * the slots it sent its contribution to and the slots whose contribution it used.
       */
      readonly type: 'topology'
      readonly round: number
      readonly slot: number
      readonly sentTo: readonly number[]
      readonly receivedFrom: readonly number[]
    }
  | {
      readonly type: 'epoch'
      readonly epoch: number
      readonly epochs: number
      readonly step: number
      readonly trainLoss: number
      readonly testLoss: number
      readonly testAccuracy: number
      readonly seconds: number
    }
  | { readonly type: 'slot-conflict'; readonly peer: string; readonly slot: number }
  | { readonly type: 'finished'; readonly summary: NodeSummary }
)

/** What `TrainingNode.run` resolves to; the CLI prints it as JSON with --json. */
export interface NodeSummary {
  readonly testAccuracy: number
  readonly testLoss: number
  /** Communication rounds this node completed (averaged or local-only). */
  readonly rounds: number
  /** Rounds that averaged at least one peer's contribution. */
  readonly averagedRounds: number
  readonly localOnlyRounds: number
  /** Local optimizer steps this node ran, and the global step it ended at. */
  readonly steps: number
  readonly finalStep: number
  readonly epochs: number
  readonly bytesSent: number
  readonly bytesReceived: number
  /** Distinct peers admitted during the run. */
  readonly peersSeen: number
  readonly role: 'founder' | 'joiner'
  readonly slot: number
  readonly seconds: number
  /** Set when this node joined late: accuracy of the imported model before its first step. */
  readonly catchUpAccuracy?: number
  /** Messages refused from peers (non-finite, malformed), and frames that failed validation. */
  readonly rejectedMessages: number
  readonly protocolErrors: number
  /** True when the run was stopped early (AbortSignal). */
  readonly isStopped: boolean
}

/** Events without the timestamp, as the node builds them. */
export type NodeEventBody = NodeEvent extends infer E ? (E extends unknown ? Omit<E, 't'> : never) : never
