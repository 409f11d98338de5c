import { describe, expect, it } from 'vitest'
import {
  CHANNEL_FRAME_MAGIC,
  MAX_CHANNEL_BUFFERS,
  MAX_CHANNEL_HEAD_BYTES,
  channelAddress,
  createPortChannel,
  createSocketChannel,
  decodeChannelFrame,
  encodeChannelFrame,
} from '../../../../core/browser/channel.ts'
import type { ChannelMessage, WebSocketLike } from '../../../../core/browser/channel.ts'
import { isCoreError } from '../../../../core/errors.ts'
import type { CoreError } from '../../../../core/errors.ts'

function floats(...values: number[]): ArrayBuffer {
  return Float32Array.from(values).buffer
}

function thrown(work: () => unknown): unknown {
  try {
    work()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

/** A frame with one field overwritten, to build malformed inputs. */
function patched(frame: ArrayBuffer, offset: number, value: number): ArrayBuffer {
  const copy = frame.slice(0)
  new DataView(copy).setUint32(offset, value, true)
  return copy
}

describe('encodeChannelFrame / decodeChannelFrame', () => {
  it('round-trips the head and every buffer byte for byte', () => {
    const message: ChannelMessage = {
      head: { v: 1, id: 7, type: 'trainer.train-steps', note: 'ünïcødé' },
      buffers: [floats(1.5, -2, Math.PI), new Int32Array([3, 1, 4]).buffer, new ArrayBuffer(0)],
    }
    const decoded = decodeChannelFrame(encodeChannelFrame(message))
    expect(decoded.head).toEqual(message.head)
    expect(decoded.buffers.map((b) => b.byteLength)).toEqual([12, 12, 0])
    expect([...new Float32Array(decoded.buffers[0] ?? new ArrayBuffer(0))]).toEqual([
      1.5,
      -2,
      Math.fround(Math.PI),
    ])
    expect([...new Int32Array(decoded.buffers[1] ?? new ArrayBuffer(0))]).toEqual([3, 1, 4])
  })

  it('puts the head and every buffer on an 8-byte boundary', () => {
    const frame = encodeChannelFrame({ head: { a: 1 }, buffers: [new ArrayBuffer(3), new ArrayBuffer(5)] })
    expect(frame.byteLength % 8).toBe(0)
    const view = new DataView(frame)
    expect(view.getUint32(0, true)).toBe(CHANNEL_FRAME_MAGIC)
    // 16 header + 2 lengths = 24, head {"a":1} = 7 bytes -> 32, buffer 3 -> 40, buffer 5 -> 48.
    expect(frame.byteLength).toBe(48)
  })

  it('returns fresh buffers that do not alias the frame', () => {
    const frame = encodeChannelFrame({ head: null, buffers: [floats(1, 2)] })
    const decoded = decodeChannelFrame(frame)
    new Uint8Array(frame).fill(0)
    expect([...new Float32Array(decoded.buffers[0] ?? new ArrayBuffer(0))]).toEqual([1, 2])
  })

  it('rejects a frame shorter than the header', () => {
    expect(
      isCoreError(
        thrown(() => decodeChannelFrame(new ArrayBuffer(8))),
        'ERR_BAD_MESSAGE',
      ),
    ).toBe(true)
  })

  it('rejects a wrong magic and a wrong version', () => {
    const frame = encodeChannelFrame({ head: 1, buffers: [] })
    expect(String(thrown(() => decodeChannelFrame(patched(frame, 0, 0x1234))))).toContain('wrong magic')
    const badVersion = frame.slice(0)
    new DataView(badVersion).setUint8(4, 9)
    expect(String(thrown(() => decodeChannelFrame(badVersion)))).toContain('version 9, expected 1')
  })

  it('rejects buffer counts and head sizes over the limits before allocating', () => {
    const frame = encodeChannelFrame({ head: 1, buffers: [] })
    expect(String(thrown(() => decodeChannelFrame(patched(frame, 12, MAX_CHANNEL_BUFFERS + 1))))).toContain(
      'buffers is over the limit',
    )
    expect(String(thrown(() => decodeChannelFrame(patched(frame, 8, MAX_CHANNEL_HEAD_BYTES + 1))))).toContain(
      'is over the limit',
    )
  })

  it('rejects a buffer length that runs past the end of the frame', () => {
    const frame = encodeChannelFrame({ head: 1, buffers: [new ArrayBuffer(8)] })
    expect(String(thrown(() => decodeChannelFrame(patched(frame, 16, 0x7fffffff))))).toContain(
      'buffer 0 runs past the end',
    )
  })

  it('rejects trailing bytes and a head that is not JSON', () => {
    const frame = encodeChannelFrame({ head: 1, buffers: [] })
    const longer = new Uint8Array(frame.byteLength + 8)
    longer.set(new Uint8Array(frame))
    expect(String(thrown(() => decodeChannelFrame(longer.buffer)))).toContain('8 trailing bytes')
    const garbled = frame.slice(0)
    new Uint8Array(garbled)[16] = 0x7b // '{' where '1' was: not JSON any more
    expect(String(thrown(() => decodeChannelFrame(garbled)))).toContain('not UTF-8 JSON')
  })

  it('refuses to encode more buffers than a frame may carry', () => {
    const buffers = Array.from({ length: MAX_CHANNEL_BUFFERS + 1 }, () => new ArrayBuffer(0))
    expect(
      isCoreError(
        thrown(() => encodeChannelFrame({ head: 1, buffers })),
        'ERR_FRAME_TOO_LARGE',
      ),
    ).toBe(true)
  })
})

describe('createPortChannel', () => {
  it('delivers messages and transfers (detaches) the sent buffers', async () => {
    const { port1, port2 } = new MessageChannel()
    const a = createPortChannel(port1)
    const b = createPortChannel(port2)
    const received = new Promise<ChannelMessage>((resolve) => b.onMessage(resolve))
    const payload = floats(4, 5, 6)
    a.send({ head: { type: 'x' }, buffers: [payload] })
    // Transferred, not copied: the sender's buffer is gone.
    expect(payload.byteLength).toBe(0)
    const message = await received
    expect(message.head).toEqual({ type: 'x' })
    expect([...new Float32Array(message.buffers[0] ?? new ArrayBuffer(0))]).toEqual([4, 5, 6])
    a.close()
    b.close()
  })

  it('closes with ERR_BAD_MESSAGE when the port delivers something else', async () => {
    const { port1, port2 } = new MessageChannel()
    const channel = createPortChannel(port2)
    const closed = new Promise<CoreError | undefined>((resolve) => channel.onClose(resolve))
    port1.postMessage({ not: 'a channel message' })
    const error = await closed
    expect(error?.code).toBe('ERR_BAD_MESSAGE')
    expect(channel.isClosed).toBe(true)
    port1.close()
  })

  it('throws ERR_DESTROYED on send after close and closes only once', () => {
    const { port1, port2 } = new MessageChannel()
    const channel = createPortChannel(port1)
    let closes = 0
    channel.onClose(() => (closes += 1))
    channel.close()
    channel.close()
    expect(closes).toBe(1)
    expect(
      isCoreError(
        thrown(() => channel.send({ head: 1, buffers: [] })),
        'ERR_DESTROYED',
      ),
    ).toBe(true)
    port2.close()
  })

  it('closes with ERR_LISTENER_FAILED when a listener throws', async () => {
    const { port1, port2 } = new MessageChannel()
    const sender = createPortChannel(port1)
    const channel = createPortChannel(port2)
    channel.onMessage(() => {
      throw new Error('listener bug')
    })
    const closed = new Promise<CoreError | undefined>((resolve) => channel.onClose(resolve))
    sender.send({ head: 1, buffers: [] })
    const error = await closed
    expect(error?.code).toBe('ERR_LISTENER_FAILED')
    expect(error?.message).toContain('listener bug')
    sender.close()
  })
})

/** An in-memory WebSocket pair with the browser's event API, for the socket channel. */
class FakeSocket implements WebSocketLike {
  binaryType = 'blob'
  peer: FakeSocket | undefined
  isClosed = false
  private readonly listeners = new Map<string, Set<(event: { data?: unknown }) => void>>()

  send(data: ArrayBuffer): void {
    this.peer?.emit('message', { data })
  }

  sendText(text: string): void {
    this.peer?.emit('message', { data: text })
  }

  addEventListener(type: string, listener: (event: { data?: unknown }) => void): void {
    const set = this.listeners.get(type) ?? new Set()
    set.add(listener)
    this.listeners.set(type, set)
  }

  removeEventListener(type: string, listener: (event: { data?: unknown }) => void): void {
    this.listeners.get(type)?.delete(listener)
  }

  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    this.peer?.remoteClosed()
  }

  remoteClosed(): void {
    this.isClosed = true
    this.emit('close', {})
  }

  emit(type: string, event: { data?: unknown }): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event)
  }

  listenerCount(): number {
    return [...this.listeners.values()].reduce((n, s) => n + s.size, 0)
  }
}

function socketPair(): [FakeSocket, FakeSocket] {
  const a = new FakeSocket()
  const b = new FakeSocket()
  a.peer = b
  b.peer = a
  return [a, b]
}

describe('createSocketChannel', () => {
  it('sets binaryType to arraybuffer and carries messages as frames', () => {
    const [socketA, socketB] = socketPair()
    const a = createSocketChannel(socketA)
    const b = createSocketChannel(socketB)
    expect(socketA.binaryType).toBe('arraybuffer')
    const received: ChannelMessage[] = []
    b.onMessage((m) => received.push(m))
    const payload = floats(7, 8)
    a.send({ head: { id: 1 }, buffers: [payload] })
    // A socket copies into its frame; the caller's buffer stays intact.
    expect(payload.byteLength).toBe(8)
    expect(received).toHaveLength(1)
    expect(received[0]?.head).toEqual({ id: 1 })
    expect([...new Float32Array(received[0]?.buffers[0] ?? new ArrayBuffer(0))]).toEqual([7, 8])
  })

  it('closes with ERR_BAD_MESSAGE on a text frame or a corrupt frame', () => {
    const [socketA, socketB] = socketPair()
    const channel = createSocketChannel(socketB)
    const errors: Array<CoreError | undefined> = []
    channel.onClose((e) => errors.push(e))
    socketA.sendText('hello')
    expect(errors[0]?.code).toBe('ERR_BAD_MESSAGE')

    const [socketC, socketD] = socketPair()
    const other = createSocketChannel(socketD)
    other.onClose((e) => errors.push(e))
    socketC.send(new ArrayBuffer(20))
    expect(errors[1]?.code).toBe('ERR_BAD_MESSAGE')
    expect(errors[1]?.message).toContain('wrong magic')
  })

  it('closes with ERR_CONNECTION_FAILED when the socket closes, and detaches its listeners', () => {
    const [socketA, socketB] = socketPair()
    const channel = createSocketChannel(socketB)
    const errors: Array<CoreError | undefined> = []
    channel.onClose((e) => errors.push(e))
    socketA.close()
    expect(errors).toHaveLength(1)
    expect(errors[0]?.code).toBe('ERR_CONNECTION_FAILED')
    expect(socketB.listenerCount()).toBe(0)
  })
})

describe('channelAddress', () => {
  it('reads a ws or wss address from the fragment', () => {
    const url = 'ws://127.0.0.1:4000/channel?token=abc'
    expect(channelAddress(`#channel=${encodeURIComponent(url)}`)).toBe(url)
    expect(channelAddress('channel=wss%3A%2F%2Fhost%2Fc')).toBe('wss://host/c')
  })

  it('returns undefined without a channel or for another scheme', () => {
    expect(channelAddress('')).toBeUndefined()
    expect(channelAddress('#other=1')).toBeUndefined()
    expect(channelAddress('#channel=http%3A%2F%2Fevil')).toBeUndefined()
  })
})
