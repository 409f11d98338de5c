// Shared test fixtures for the protocol tests: one room, two senders, one layout.
import { expect } from 'vitest'
import { CoreError } from '../../../../core/errors.ts'
import type { ErrorCode } from '../../../../core/errors.ts'
import { crc32cReference } from '../../../../core/protocol/crc32c.ts'
import { roomIdFromName, senderIdFromPeerId } from '../../../../core/protocol/ids.ts'
import type { FrameExpectations } from '../../../../core/protocol/frame.ts'
import type { FrameContext } from '../../../../core/protocol/messages.ts'

export const ROOM = roomIdFromName('mnist-run-7')
export const OTHER_ROOM = roomIdFromName('cifar-run-1')
export const ALICE = senderIdFromPeerId('alice')
export const BOB = senderIdFromPeerId('bob')
export const LAYOUT = '0123456789abcdef'
export const OTHER_LAYOUT = 'fedcba9876543210'

export const CONTEXT: FrameContext = { roomId: ROOM, senderId: ALICE, layoutFingerprint: LAYOUT }
export const EXPECT: FrameExpectations = { roomId: ROOM, layoutFingerprint: LAYOUT, maxFrameBytes: 1 << 20 }

/** Recomputes a frame's checksum after a test edited it, so later checks are reached. */
export function reseal(frame: Uint8Array): Uint8Array {
  const copy = frame.slice()
  const view = new DataView(copy.buffer)
  const payloadBytes = Math.min(view.getUint32(56, true), Math.max(0, copy.length - 64))
  const covered = new Uint8Array(60 + payloadBytes)
  covered.set(copy.subarray(0, 60))
  covered.set(copy.subarray(64, 64 + payloadBytes), 60)
  view.setUint32(60, crc32cReference(covered), true)
  return copy
}

/** Runs `fn` and returns the CoreError it threw; fails the test if it returned or threw anything else. */
export function coreErrorOf(fn: () => unknown): CoreError {
  try {
    fn()
  } catch (err) {
    if (err instanceof CoreError) return err
    throw new Error(`expected a CoreError, got ${String(err)}`, { cause: err })
  }
  throw new Error('expected a CoreError, but the call returned')
}

export function expectCode(fn: () => unknown, code: ErrorCode): void {
  expect(coreErrorOf(fn).code).toBe(code)
}
