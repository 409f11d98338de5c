import { describe, expect, it } from 'vitest'
import type { ChannelMessage } from '../../../../core/browser/channel.ts'
import {
  decodeNamedTensors,
  decodeTrainerReply,
  decodeTrainerRequest,
  encodeErrorReply,
  encodeOkReply,
  encodeTrainerRequest,
  isBrowserRouteFacts,
  isTrainerSpec,
  requestIdOf,
  TRAINER_PROTOCOL_VERSION,
} from '../../../../core/browser/trainer-protocol.ts'
import type { TrainerSpec } from '../../../../core/browser/trainer-protocol.ts'
import { isCoreError } from '../../../../core/errors.ts'

const SPEC: TrainerSpec = {
  backend: 'webgl',
  model: 'cnn',
  inputShape: [28, 28, 1],
  classCount: 10,
  optimizer: { kind: 'sgd', learningRate: 0.05 },
}

function decodeError(message: ChannelMessage): string {
  try {
    decodeTrainerRequest(message)
  } catch (error) {
    expect(isCoreError(error, 'ERR_BAD_MESSAGE')).toBe(true)
    return String(error)
  }
  throw new Error('expected ERR_BAD_MESSAGE')
}

describe('encodeTrainerRequest / decodeTrainerRequest', () => {
  it('round-trips a train-steps request with its vectors as buffers, not JSON', () => {
    const x = Float32Array.from([0.5, 0.25, 1, 0])
    const y = Int32Array.from([3, 9])
    const message = encodeTrainerRequest(4, { type: 'trainer.train-steps', batchSize: 1, x, y })
    expect(JSON.stringify(message.head)).not.toContain('0.25')
    expect(message.head).toEqual({
      v: TRAINER_PROTOCOL_VERSION,
      id: 4,
      type: 'trainer.train-steps',
      batchSize: 1,
    })
    const decoded = decodeTrainerRequest(message)
    if (decoded.type !== 'trainer.train-steps') throw new Error(`decoded ${decoded.type}`)
    expect([...decoded.x]).toEqual([...x])
    expect([...decoded.y]).toEqual([3, 9])
    expect(decoded.batchSize).toBe(1)
  })

  it('copies the caller vectors, so a transfer cannot detach them', () => {
    const params = Float32Array.from([1, 2, 3])
    const message = encodeTrainerRequest(1, { type: 'trainer.write-params', params })
    expect(message.buffers[0]).not.toBe(params.buffer)
    structuredClone(message.buffers[0], { transfer: [...message.buffers] })
    expect([...params]).toEqual([1, 2, 3])
  })

  it('copies only the viewed part of a subarray', () => {
    const whole = Float32Array.from([9, 1, 2, 9])
    const message = encodeTrainerRequest(1, {
      type: 'trainer.apply-gradients',
      gradient: whole.subarray(1, 3),
    })
    expect(message.buffers[0]?.byteLength).toBe(8)
  })

  it('round-trips open, probe with backends, and the bodiless requests', () => {
    expect(decodeTrainerRequest(encodeTrainerRequest(2, { type: 'trainer.open', spec: SPEC }))).toEqual({
      id: 2,
      type: 'trainer.open',
      spec: SPEC,
    })
    expect(
      decodeTrainerRequest(encodeTrainerRequest(3, { type: 'trainer.probe', backends: ['webgl'] })),
    ).toEqual({
      id: 3,
      type: 'trainer.probe',
      backends: ['webgl'],
    })
    for (const type of ['trainer.probe', 'trainer.read-params', 'trainer.close'] as const) {
      expect(decodeTrainerRequest(encodeTrainerRequest(5, { type }))).toEqual({ id: 5, type })
    }
  })

  it('round-trips optimizer state as names and shapes in the head and ONE buffer of values', () => {
    // 17 tensors: Adam on the zoo cnn. A buffer per tensor would exceed a channel's 16-buffer limit.
    const tensors = Array.from({ length: 17 }, (_, i) => ({
      name: `t${i}`,
      shape: i === 16 ? [] : [2, i + 1],
      values: Float32Array.from({ length: i === 16 ? 1 : 2 * (i + 1) }, (_, j) => i + j / 100),
    }))
    const message = encodeTrainerRequest(8, { type: 'trainer.import-optimizer', tensors })
    expect(message.buffers).toHaveLength(1)
    expect(JSON.stringify(message.head)).not.toContain('0.01')
    const decoded = decodeTrainerRequest(message)
    expect(decoded).toMatchObject({ id: 8, type: 'trainer.import-optimizer' })
    if (decoded.type !== 'trainer.import-optimizer') throw new Error('wrong type')
    expect(decoded.tensors.map((t) => ({ ...t, values: [...t.values] }))).toEqual(
      tensors.map((t) => ({ ...t, values: [...t.values] })),
    )
    expect(decodeTrainerRequest(encodeTrainerRequest(9, { type: 'trainer.export-optimizer' }))).toEqual({
      id: 9,
      type: 'trainer.export-optimizer',
    })
  })

  it('rejects optimizer state whose values do not fill its shapes, or malformed heads', () => {
    const heads = [{ name: 'm', shape: [2, 2] }]
    expect(() => decodeNamedTensors(heads, new Float32Array(3).buffer, 'state')).toThrow(
      'state carries 3 values, but its tensor shapes need 4',
    )
    expect(() => decodeNamedTensors([{ name: '', shape: [1] }], new ArrayBuffer(4), 'state')).toThrow(
      'malformed tensor heads',
    )
    expect(() => decodeNamedTensors([{ name: 'm', shape: [-1] }], new ArrayBuffer(4), 'state')).toThrow(
      'malformed tensor heads',
    )
    expect(
      decodeError({ head: { v: 1, id: 1, type: 'trainer.import-optimizer', tensors: heads }, buffers: [] }),
    ).toContain('carries 0 buffers, expected 1')
  })

  it('rejects another protocol version, a missing id and an unknown type', () => {
    expect(decodeError({ head: { v: 2, id: 1, type: 'trainer.close' }, buffers: [] })).toContain(
      'protocol version 2',
    )
    expect(decodeError({ head: { v: 1, type: 'trainer.close' }, buffers: [] })).toContain('id')
    expect(decodeError({ head: { v: 1, id: 1, type: 'trainer.explode' }, buffers: [] })).toContain(
      "unknown request type 'trainer.explode'",
    )
    expect(decodeError({ head: [1, 2], buffers: [] })).toContain('not a record')
    // A value that refuses to become a string is described by its type, not thrown through.
    expect(
      decodeError({ head: { v: { toString: false }, id: 1, type: 'trainer.close' }, buffers: [] }),
    ).toContain('protocol version object')
  })

  it('rejects wrong buffer counts and buffers that are not whole 32-bit values', () => {
    expect(decodeError({ head: { v: 1, id: 1, type: 'trainer.write-params' }, buffers: [] })).toContain(
      'carries 0 buffers, expected 1',
    )
    expect(
      decodeError({ head: { v: 1, id: 1, type: 'trainer.write-params' }, buffers: [new ArrayBuffer(6)] }),
    ).toContain('6 bytes, not whole float32s')
    expect(
      decodeError({
        head: { v: 1, id: 1, type: 'trainer.compute-gradients' },
        buffers: [new ArrayBuffer(8), new ArrayBuffer(3)],
      }),
    ).toContain('not whole int32s')
  })

  it('rejects a train-steps request without a positive integer batch size', () => {
    const buffers = [new ArrayBuffer(4), new ArrayBuffer(4)]
    for (const batchSize of [0, -1, 1.5, '8', undefined]) {
      expect(
        decodeError({ head: { v: 1, id: 1, type: 'trainer.train-steps', batchSize }, buffers }),
      ).toContain('no positive batchSize')
    }
  })

  it('rejects an open request with an invalid spec', () => {
    const bad = { ...SPEC, optimizer: { kind: 'lbfgs', learningRate: 1 } }
    expect(decodeError({ head: { v: 1, id: 1, type: 'trainer.open', spec: bad }, buffers: [] })).toContain(
      'invalid spec',
    )
  })
})

describe('isTrainerSpec', () => {
  it('accepts a full spec', () => {
    expect(isTrainerSpec(SPEC)).toBe(true)
  })

  it.each([
    ['an empty backend', { ...SPEC, backend: '' }],
    ['a zero dimension', { ...SPEC, inputShape: [28, 0, 1] }],
    ['a rank-5 input', { ...SPEC, inputShape: [1, 1, 1, 1, 1] }],
    ['a fractional class count', { ...SPEC, classCount: 2.5 }],
    ['a negative learning rate', { ...SPEC, optimizer: { kind: 'adam', learningRate: -1 } }],
    ['an infinite learning rate', { ...SPEC, optimizer: { kind: 'adam', learningRate: Infinity } }],
    [
      'a momentum that is not a number',
      { ...SPEC, optimizer: { kind: 'momentum', learningRate: 1, momentum: '0.9' } },
    ],
  ])('rejects %s', (_, value) => {
    expect(isTrainerSpec(value)).toBe(false)
  })
})

describe('replies', () => {
  it('round-trips ok replies with buffers and error replies with their code', () => {
    const ok = decodeTrainerReply(encodeOkReply(3, { loss: 0.5 }, [new ArrayBuffer(4)]))
    expect(ok).toMatchObject({ id: 3, ok: true, result: { loss: 0.5 } })
    const failed = decodeTrainerReply(encodeErrorReply(4, 'ERR_BACKEND_UNAVAILABLE', 'no webgl'))
    expect(failed).toEqual({ id: 4, ok: false, code: 'ERR_BACKEND_UNAVAILABLE', message: 'no webgl' })
  })

  it('rejects an error reply with a code Longhaul does not define', () => {
    const message = {
      head: { v: 1, id: 1, type: 'trainer.error', code: 'ERR_MADE_UP', message: 'x' },
      buffers: [],
    }
    expect(() => decodeTrainerReply(message)).toThrow(/unknown code "ERR_MADE_UP"/)
  })

  it('rejects an ok reply without a result record', () => {
    expect(() =>
      decodeTrainerReply({ head: { v: 1, id: 1, type: 'trainer.ok', result: 3 }, buffers: [] }),
    ).toThrow(/no result record/)
  })

  it('reads the id of a head whose body is invalid, and nothing from a non-record', () => {
    expect(requestIdOf({ v: 1, id: 12, type: 'trainer.nope' })).toBe(12)
    expect(requestIdOf('junk')).toBeUndefined()
  })
})

describe('isBrowserRouteFacts', () => {
  const facts = {
    backendName: 'webgl',
    kind: 'webgl',
    available: true,
    reason: 'loaded',
    isHardware: false,
    softwareRenderer: 'SwiftShader',
    adapter: 'ANGLE (SwiftShader)',
    kernels: ['Conv2D'],
  }

  it('accepts what a page sends', () => {
    expect(isBrowserRouteFacts(facts)).toBe(true)
  })

  it('rejects unknown kinds, missing labels and non-string kernels', () => {
    expect(isBrowserRouteFacts({ ...facts, kind: 'quantum' })).toBe(false)
    expect(isBrowserRouteFacts({ ...facts, isHardware: undefined })).toBe(false)
    expect(isBrowserRouteFacts({ ...facts, kernels: [1] })).toBe(false)
  })
})
