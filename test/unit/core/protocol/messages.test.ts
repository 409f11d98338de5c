import { describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION, encodeFrame } from '../../../../core/protocol/frame.ts'
import type { FrameFields } from '../../../../core/protocol/frame.ts'
import { MESSAGE_TYPES, MESSAGE_WIRE_CODES } from '../../../../core/protocol/message-types.ts'
import {
  MAX_LIST_ITEMS,
  MAX_TEXT_BYTES,
  decodeMessage,
  encodeMessage,
} from '../../../../core/protocol/messages.ts'
import type { HelloMessage, Message } from '../../../../core/protocol/messages.ts'
import { CONTEXT, EXPECT, LAYOUT, expectCode } from './fixtures.ts'

const HELLO: HelloMessage = {
  type: 'hello',
  round: 12,
  protocolVersion: PROTOCOL_VERSION,
  softwareVersion: 'longhaul 0.1.0',
  capabilities: { compressors: ['topk:0.01', 'int8'], maxChunkBytes: 65536, algorithms: ['olco3', 'sgp'] },
  layoutFingerprint: LAYOUT,
  manifestHash: '00ff00ff00ff00ff',
}

const EXAMPLES: Message[] = [
  HELLO,
  { ...HELLO, capabilities: { compressors: [], maxChunkBytes: 64, algorithms: [] }, softwareVersion: '' },
  { type: 'delta', round: 41, compressorWireId: 2, payload: Uint8Array.from([1, 2, 3]) },
  { type: 'delta', round: 0, compressorWireId: 0, payload: new Uint8Array(0), sampleCount: 4096 },
  {
    type: 'pushsum.share',
    step: 2 ** 40,
    weight: 1 / 3,
    compressorWireId: 5,
    values: Uint8Array.from([7, 7]),
  },
  {
    type: 'snapshot.chunk',
    round: 9,
    snapshotId: 0xffffffff,
    chunkIndex: 1,
    chunkCount: 2,
    totalBytes: 101,
    snapshotHash: 'aaaaaaaabbbbbbbb',
    bytes: new Uint8Array(50).fill(3),
  },
  { type: 'heartbeat', round: 3, sentAtMs: 1_700_000_000_123.5 },
  { type: 'heartbeat', round: 3, sentAtMs: 5, echoOfMs: 0 },
  { type: 'bye', reason: 'user closed the app — à bientôt 👋' },
  { type: 'error', code: 'ERR_SCHEMA_MISMATCH', message: 'your layout differs' },
]

/** A frame with a hand-made payload, so decoders see bytes our encoder would never write. */
function rawFrame(
  fields: Partial<FrameFields> & Pick<FrameFields, 'type'>,
  payload: number[] | Uint8Array,
): Uint8Array {
  return encodeFrame({ ...CONTEXT, ...fields }, Uint8Array.from(payload))
}

function helloPayload(edit: (bytes: number[]) => void = () => {}): number[] {
  const frame = encodeMessage(HELLO, CONTEXT)
  const bytes = [...frame.subarray(64)]
  edit(bytes)
  return bytes
}

const f64 = (v: number): number[] => [...new Uint8Array(new Float64Array([v]).buffer)]

describe('MESSAGE_WIRE_CODES', () => {
  it('gives every type a distinct u8 code', () => {
    const codes = MESSAGE_TYPES.map((t) => MESSAGE_WIRE_CODES[t])
    expect(new Set(codes).size).toBe(codes.length)
    expect(codes.every((c) => Number.isInteger(c) && c > 0 && c < 256)).toBe(true)
    expect(MESSAGE_TYPES).toEqual([
      'hello',
      'delta',
      'pushsum.share',
      'snapshot.chunk',
      'heartbeat',
      'bye',
      'error',
    ])
  })
})

describe('encodeMessage / decodeMessage', () => {
  it.each(EXAMPLES.map((m) => [m.type, m] as const))('round-trips a %s message', (_type, message) => {
    const frame = encodeMessage(message, CONTEXT)
    const { header, message: decoded } = decodeMessage(frame, EXPECT)
    expect(decoded).toEqual(message)
    expect(header.type).toBe(message.type)
    expect(header.senderId).toBe(CONTEXT.senderId)
    expect(encodeMessage(decoded, CONTEXT)).toEqual(frame)
  })

  it('puts the round, step and compressor id into the header', () => {
    const delta = decodeMessage(encodeMessage(EXAMPLES[2]!, CONTEXT), EXPECT).header
    expect([delta.round, delta.compressorId]).toEqual([41, 2])
    const share = decodeMessage(encodeMessage(EXAMPLES[4]!, CONTEXT), EXPECT).header
    expect([share.round, share.compressorId]).toEqual([2 ** 40, 5])
  })

  it('returns byte fields as views into the frame, not copies', () => {
    const frame = encodeMessage(EXAMPLES[2]!, CONTEXT)
    const decoded = decodeMessage(frame, EXPECT).message
    if (decoded.type !== 'delta') throw new Error('expected a delta')
    expect(decoded.payload.buffer).toBe(frame.buffer)
  })
})

describe('decodeMessage refusals', () => {
  it('refuses a compressor id on a type that is never compressed', () => {
    expectCode(
      () => decodeMessage(rawFrame({ type: 'bye', compressorId: 1 }, [0, 0]), EXPECT),
      'ERR_BAD_MESSAGE',
    )
  })

  it('refuses a non-zero round on bye and error frames', () => {
    expectCode(() => decodeMessage(rawFrame({ type: 'bye', round: 1 }, [0, 0]), EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses trailing bytes after a complete message', () => {
    expectCode(() => decodeMessage(rawFrame({ type: 'bye' }, [0, 0, 0]), EXPECT), 'ERR_BAD_MESSAGE')
    expectCode(
      () => decodeMessage(rawFrame({ type: 'hello' }, [...helloPayload(), 0]), EXPECT),
      'ERR_BAD_MESSAGE',
    )
  })

  it('refuses an empty payload for every type that needs fields', () => {
    for (const type of MESSAGE_TYPES) {
      if (type === 'delta') continue // one flags byte is its minimum; covered below
      expectCode(() => decodeMessage(rawFrame({ type }, []), EXPECT), 'ERR_BAD_MESSAGE')
    }
    expectCode(() => decodeMessage(rawFrame({ type: 'delta' }, []), EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses a hello whose announced version differs from its frame', () => {
    expectCode(
      () =>
        decodeMessage(
          rawFrame(
            { type: 'hello' },
            helloPayload((b) => (b[0] = PROTOCOL_VERSION + 1)),
          ),
          EXPECT,
        ),
      'ERR_BAD_MESSAGE',
    )
  })

  it('refuses a hello with a control character in a name', () => {
    // Byte 3 is the first character of softwareVersion (after u16 version and u8 length).
    expectCode(
      () =>
        decodeMessage(
          rawFrame(
            { type: 'hello' },
            helloPayload((b) => (b[3] = 0x07)),
          ),
          EXPECT,
        ),
      'ERR_BAD_MESSAGE',
    )
  })

  it('refuses a hello whose name length runs past the payload', () => {
    expectCode(
      () =>
        decodeMessage(
          rawFrame(
            { type: 'hello' },
            helloPayload((b) => (b[2] = 200)),
          ),
          EXPECT,
        ),
      'ERR_BAD_MESSAGE',
    )
  })

  it('refuses a hello advertising a chunk size below the minimum', () => {
    const at = 3 + HELLO.softwareVersion.length
    const payload = helloPayload((b) => b.splice(at, 4, 63, 0, 0, 0))
    expectCode(() => decodeMessage(rawFrame({ type: 'hello' }, payload), EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses a hello list count above the limit or beyond the bytes present', () => {
    const at = 3 + HELLO.softwareVersion.length + 4
    for (const count of [MAX_LIST_ITEMS + 1, 30, 255]) {
      const payload = helloPayload((b) => (b[at] = count))
      expectCode(() => decodeMessage(rawFrame({ type: 'hello' }, payload), EXPECT), 'ERR_BAD_MESSAGE')
    }
  })

  it('refuses a hello whose payload fingerprint differs from its header', () => {
    const payload = helloPayload((b) => (b[b.length - 16] = b[b.length - 16]! ^ 1))
    expectCode(() => decodeMessage(rawFrame({ type: 'hello' }, payload), EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses reserved delta flag bits', () => {
    expectCode(() => decodeMessage(rawFrame({ type: 'delta' }, [2, 1, 2, 3]), EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses a delta that announces a sample count it does not carry', () => {
    expectCode(() => decodeMessage(rawFrame({ type: 'delta' }, [1, 0, 0]), EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses a negative, NaN or infinite push-sum weight', () => {
    for (const w of [-1, NaN, Infinity]) {
      expectCode(() => decodeMessage(rawFrame({ type: 'pushsum.share' }, f64(w)), EXPECT), 'ERR_BAD_MESSAGE')
    }
  })

  it('refuses a snapshot chunk whose length breaks the split rule', () => {
    const header = (index: number, count: number, total: number): number[] => [
      ...new Uint8Array(new Uint32Array([7, index, count, total]).buffer),
      ...new Array<number>(8).fill(0),
    ]
    expectCode(
      () =>
        decodeMessage(
          rawFrame({ type: 'snapshot.chunk' }, [...header(0, 2, 101), ...new Array<number>(50).fill(0)]),
          EXPECT,
        ),
      'ERR_BAD_MESSAGE',
    )
    expectCode(
      () =>
        decodeMessage(
          rawFrame({ type: 'snapshot.chunk' }, [...header(2, 2, 101), ...new Array<number>(50).fill(0)]),
          EXPECT,
        ),
      'ERR_BAD_MESSAGE',
    )
    expectCode(
      () => decodeMessage(rawFrame({ type: 'snapshot.chunk' }, [...header(0, 0, 0)]), EXPECT),
      'ERR_BAD_MESSAGE',
    )
    expect(
      decodeMessage(
        rawFrame({ type: 'snapshot.chunk' }, [...header(0, 2, 101), ...new Array<number>(51).fill(0)]),
        EXPECT,
      ).message.type,
    ).toBe('snapshot.chunk')
  })

  it('refuses a heartbeat without echo flag that still carries an echo time', () => {
    expectCode(
      () => decodeMessage(rawFrame({ type: 'heartbeat' }, [0, ...f64(1), ...f64(2)]), EXPECT),
      'ERR_BAD_MESSAGE',
    )
    expectCode(
      () => decodeMessage(rawFrame({ type: 'heartbeat' }, [0, ...f64(1), ...f64(-0)]), EXPECT),
      'ERR_BAD_MESSAGE',
    )
  })

  it('refuses a heartbeat with negative or non-finite times', () => {
    expectCode(
      () => decodeMessage(rawFrame({ type: 'heartbeat' }, [1, ...f64(-5), ...f64(2)]), EXPECT),
      'ERR_BAD_MESSAGE',
    )
    expectCode(
      () => decodeMessage(rawFrame({ type: 'heartbeat' }, [1, ...f64(5), ...f64(NaN)]), EXPECT),
      'ERR_BAD_MESSAGE',
    )
  })

  it('refuses a bye reason longer than the limit or not valid UTF-8', () => {
    const long = MAX_TEXT_BYTES + 1
    expectCode(
      () =>
        decodeMessage(
          rawFrame({ type: 'bye' }, [long & 0xff, long >> 8, ...new Array<number>(long).fill(0x61)]),
          EXPECT,
        ),
      'ERR_BAD_MESSAGE',
    )
    expectCode(() => decodeMessage(rawFrame({ type: 'bye' }, [2, 0, 0xc3, 0x28]), EXPECT), 'ERR_BAD_MESSAGE')
  })

  it('refuses an error code outside [A-Z0-9_]', () => {
    expectCode(
      () => decodeMessage(rawFrame({ type: 'error' }, [3, 0x45, 0x52, 0x72, 0, 0]), EXPECT),
      'ERR_BAD_MESSAGE',
    )
    expectCode(() => decodeMessage(rawFrame({ type: 'error' }, [0, 0, 0]), EXPECT), 'ERR_BAD_MESSAGE')
  })
})

describe('encodeMessage refusals', () => {
  it('refuses a hello for another protocol version or layout', () => {
    expectCode(
      () => encodeMessage({ ...HELLO, protocolVersion: PROTOCOL_VERSION + 1 }, CONTEXT),
      'ERR_INVALID_ARGUMENT',
    )
    expectCode(
      () => encodeMessage({ ...HELLO, layoutFingerprint: 'fedcba9876543210' }, CONTEXT),
      'ERR_INVALID_ARGUMENT',
    )
  })

  it('refuses hello names that are empty, too long, non-ASCII or too many', () => {
    const caps = HELLO.capabilities
    expectCode(
      () => encodeMessage({ ...HELLO, capabilities: { ...caps, compressors: [''] } }, CONTEXT),
      'ERR_INVALID_ARGUMENT',
    )
    expectCode(
      () => encodeMessage({ ...HELLO, softwareVersion: 'x'.repeat(65) }, CONTEXT),
      'ERR_INVALID_ARGUMENT',
    )
    expectCode(() => encodeMessage({ ...HELLO, softwareVersion: 'versión' }, CONTEXT), 'ERR_INVALID_ARGUMENT')
    const many = Array.from({ length: MAX_LIST_ITEMS + 1 }, (_, i) => `c${i}`)
    expectCode(
      () => encodeMessage({ ...HELLO, capabilities: { ...caps, algorithms: many } }, CONTEXT),
      'ERR_INVALID_ARGUMENT',
    )
    expectCode(
      () => encodeMessage({ ...HELLO, capabilities: { ...caps, maxChunkBytes: 63 } }, CONTEXT),
      'ERR_INVALID_ARGUMENT',
    )
  })

  it('refuses out-of-range numbers', () => {
    expectCode(
      () =>
        encodeMessage(
          { type: 'delta', round: 1, compressorWireId: 1, payload: new Uint8Array(0), sampleCount: -1 },
          CONTEXT,
        ),
      'ERR_INVALID_ARGUMENT',
    )
    expectCode(
      () =>
        encodeMessage(
          { type: 'pushsum.share', step: 1, weight: NaN, compressorWireId: 1, values: new Uint8Array(0) },
          CONTEXT,
        ),
      'ERR_INVALID_ARGUMENT',
    )
    expectCode(
      () => encodeMessage({ type: 'heartbeat', round: 1, sentAtMs: -1 }, CONTEXT),
      'ERR_INVALID_ARGUMENT',
    )
    expectCode(
      () =>
        encodeMessage(
          { type: 'delta', round: 1, compressorWireId: 300, payload: new Uint8Array(0) },
          CONTEXT,
        ),
      'ERR_INVALID_ARGUMENT',
    )
  })

  it('refuses a snapshot chunk that breaks the split rule', () => {
    const chunk = EXAMPLES[5]!
    if (chunk.type !== 'snapshot.chunk') throw new Error('fixture order changed')
    expectCode(() => encodeMessage({ ...chunk, bytes: new Uint8Array(51) }, CONTEXT), 'ERR_INVALID_ARGUMENT')
  })

  it('refuses texts over the limit, with lone surrogates, and malformed error codes', () => {
    expectCode(() => encodeMessage({ type: 'bye', reason: 'é'.repeat(513) }, CONTEXT), 'ERR_INVALID_ARGUMENT')
    expectCode(() => encodeMessage({ type: 'bye', reason: 'a\ud800b' }, CONTEXT), 'ERR_INVALID_ARGUMENT')
    expectCode(
      () => encodeMessage({ type: 'error', code: 'err_lower', message: '' }, CONTEXT),
      'ERR_INVALID_ARGUMENT',
    )
  })
})
