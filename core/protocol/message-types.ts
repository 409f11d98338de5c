/**
 * The one table that maps message type names to their u8 wire codes. Names are string
 * literals in TypeScript; the numbers exist only on the wire. Never reuse or renumber a
 * code: a peer running an older build would read another meaning into it. Add new types
 * at the end with the next free code (and bump PROTOCOL_VERSION if old peers must refuse
 * them rather than fail with ERR_BAD_MESSAGE).
 */
export const MESSAGE_WIRE_CODES = {
  /** First frame on a connection: versions, capabilities, layout and manifest fingerprints. */
  hello: 1,
  /** A compressed round delta (OLCO3, Local SGD, all-reduce bases). */
  delta: 2,
  /** A push-sum share for SGP: compressed values plus the push-sum weight. */
  'pushsum.share': 3,
  /** One piece of a model snapshot sent to a late joiner for catch-up. */
  'snapshot.chunk': 4,
  /** Liveness and RTT probe. */
  heartbeat: 5,
  /** A peer leaves on purpose. */
  bye: 6,
  /** A peer reports a failure it saw in our traffic before it drops us. */
  error: 7,
} as const satisfies Record<string, number>

export type MessageType = keyof typeof MESSAGE_WIRE_CODES

export function isMessageType(value: unknown): value is MessageType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(MESSAGE_WIRE_CODES, value)
}

/** Every message type, in table order (derived from the table, never listed twice). */
export const MESSAGE_TYPES: readonly MessageType[] = Object.keys(MESSAGE_WIRE_CODES).filter(isMessageType)

const TYPE_BY_CODE: ReadonlyMap<number, MessageType> = new Map(
  MESSAGE_TYPES.map((t) => [MESSAGE_WIRE_CODES[t], t]),
)

/** The message type for a wire code, or undefined for a code this build does not know. */
export function messageTypeFromCode(code: number): MessageType | undefined {
  return TYPE_BY_CODE.get(code)
}
