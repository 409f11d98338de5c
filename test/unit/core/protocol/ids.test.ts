import { describe, expect, it } from 'vitest'
import { isWireId, roomIdFromName, senderIdFromPeerId } from '../../../../core/protocol/ids.ts'
import { expectCode } from './fixtures.ts'

describe('roomIdFromName', () => {
  it('gives 32 lower-case hex digits, the same for the same name', () => {
    const id = roomIdFromName('mnist-run-7')
    expect(isWireId(id)).toBe(true)
    expect(roomIdFromName('mnist-run-7')).toBe(id)
  })

  it('gives different ids to different names and to a peer of the same name', () => {
    expect(roomIdFromName('a')).not.toBe(roomIdFromName('b'))
    expect(roomIdFromName('alice')).not.toBe(senderIdFromPeerId('alice'))
  })

  it('uses two independent halves', () => {
    const id = roomIdFromName('x')
    expect(id.slice(0, 16)).not.toBe(id.slice(16))
  })

  it('refuses an empty name', () => {
    expectCode(() => roomIdFromName(''), 'ERR_INVALID_ARGUMENT')
    expectCode(() => senderIdFromPeerId(''), 'ERR_INVALID_ARGUMENT')
  })
})

describe('isWireId', () => {
  it('refuses upper case, wrong lengths and non-strings', () => {
    expect(isWireId('A'.repeat(32))).toBe(false)
    expect(isWireId('a'.repeat(31))).toBe(false)
    expect(isWireId(42)).toBe(false)
  })
})
