import { describe, expect, it } from 'vitest'
import type { NodeEvent, PeerMetrics } from '../../../../core/api/contract.ts'
import {
  MAX_SERIES_POINTS,
  applyNodeEvent,
  emptyRunView,
  rosterRows,
} from '../../../../renderer/src/lib/run-view.ts'

function peer(id: string, slot: number, bytesSent: number, extra: Partial<PeerMetrics> = {}): PeerMetrics {
  return {
    peer: id,
    state: 'admitted',
    slot,
    bytesSent,
    bytesReceived: bytesSent / 2,
    sendRateBytesPerSec: 0,
    receiveRateBytesPerSec: 0,
    protocolErrors: 0,
    rejectedMessages: 0,
    lateMessages: 0,
    ...extra,
  }
}

const fold = (events: NodeEvent[]) => events.reduce(applyNodeEvent, emptyRunView())

describe('applyNodeEvent', () => {
  it('plots loss against time and against the bytes sent so far', () => {
    const view = fold([
      { t: 0, type: 'joined', room: 'r', peerId: 'me', members: 0, role: 'founder' },
      // Waiting for peers before this is not drawn: time counts from here.
      { t: 500, type: 'training-started', slot: 0, step: 0, workerSlots: 8 },
      { t: 1000, type: 'peers', round: 1, peers: [peer('a', 1, 4096), peer('b', 2, 1024)] },
      {
        t: 2000,
        type: 'step',
        step: 8,
        epoch: 0,
        batch: 8,
        batchesPerEpoch: 20,
        loss: 0.9,
        examplesPerSec: 100,
        round: 2,
        present: [1, 2],
      },
    ])
    expect(view.loss).toEqual([{ seconds: 1.5, bytesSent: 5120, value: 0.9 }])
    expect(view.epoch).toBe(1)
    expect(view.round).toBe(2)
  })

  it('keeps bytes sent monotone when a peer leaves the peers list', () => {
    const view = fold([
      { t: 0, type: 'peers', round: 1, peers: [peer('a', 1, 3000), peer('b', 2, 2000)] },
      { t: 1, type: 'peers', round: 2, peers: [peer('a', 1, 3500)] },
    ])
    expect(view.bytesSent).toBe(5500)
    expect(view.peers.map((p) => p.peer)).toEqual(['a'])
  })

  it('keeps a peer that left in the peer table, marked left, with its last numbers and no rates', () => {
    const moving = { sendRateBytesPerSec: 500, receiveRateBytesPerSec: 700 }
    const view = fold([
      { t: 0, type: 'peers', round: 1, peers: [peer('a', 1, 3000), peer('b', 2, 2000, moving)] },
      { t: 1, type: 'peers', round: 2, peers: [peer('a', 1, 3500)] },
      { t: 2, type: 'peers', round: 3, peers: [peer('a', 1, 3600)] },
    ])
    expect(view.peerTable.map((p) => [p.peer, p.state])).toEqual([
      ['a', 'admitted'],
      ['b', 'left'],
    ])
    const b = view.peerTable.find((p) => p.peer === 'b')
    expect(b).toMatchObject({ bytesSent: 2000, sendRateBytesPerSec: 0, receiveRateBytesPerSec: 0 })
    // It comes back: the table shows it present again, once.
    const back = fold([
      { t: 0, type: 'peers', round: 1, peers: [peer('a', 1, 3000), peer('b', 2, 2000)] },
      { t: 1, type: 'peers', round: 2, peers: [peer('a', 1, 3500)] },
      { t: 2, type: 'peers', round: 3, peers: [peer('a', 1, 3600), peer('b', 2, 2100)] },
    ])
    expect(back.peerTable.map((p) => [p.peer, p.state])).toEqual([
      ['a', 'admitted'],
      ['b', 'admitted'],
    ])
  })

  it('adds an accuracy point per epoch and per catch-up (at time zero)', () => {
    const view = fold([
      {
        t: 500,
        type: 'catch-up',
        from: 'a',
        slot: 1,
        step: 10,
        bytes: 100,
        ms: 20,
        testAccuracy: 0.4,
        testLoss: 1,
      },
      { t: 1000, type: 'training-started', slot: 1, step: 10, workerSlots: 8 },
      {
        t: 3000,
        type: 'epoch',
        epoch: 1,
        epochs: 2,
        step: 40,
        trainLoss: 0.5,
        testLoss: 0.6,
        testAccuracy: 0.8,
        seconds: 2,
      },
    ])
    expect(view.accuracy.map((p) => [p.seconds, p.value])).toEqual([
      [0, 0.4],
      [2, 0.8],
    ])
    expect(view.epochs).toBe(2)
  })

  it('starts over when a new node joins (its clock restarts)', () => {
    const before = fold([
      { t: 0, type: 'peers', round: 1, peers: [peer('a', 1, 3000)] },
      {
        t: 10,
        type: 'epoch',
        epoch: 1,
        epochs: 1,
        step: 1,
        trainLoss: 1,
        testLoss: 1,
        testAccuracy: 0.5,
        seconds: 1,
      },
    ])
    const after = applyNodeEvent(before, {
      t: 0,
      type: 'joined',
      room: 'r2',
      peerId: 'me',
      members: 1,
      role: 'joiner',
    })
    expect(after.accuracy).toEqual([])
    expect(after.bytesSent).toBe(0)
    expect(after.room).toBe('r2')
  })

  it('thins a series instead of growing past its budget', () => {
    let view = emptyRunView()
    for (let i = 0; i < MAX_SERIES_POINTS + 10; i++) {
      view = applyNodeEvent(view, {
        t: i,
        type: 'step',
        step: i,
        epoch: 0,
        batch: i,
        batchesPerEpoch: 1e6,
        loss: i,
        examplesPerSec: 1,
        round: i,
        present: [],
      })
    }
    expect(view.loss.length).toBeLessThanOrEqual(MAX_SERIES_POINTS)
    expect(view.loss.at(-1)?.value).toBe(MAX_SERIES_POINTS + 9)
    expect(view.loss[0]?.value).toBe(0)
  })

  it('skips a non-finite loss rather than drawing it', () => {
    const view = applyNodeEvent(emptyRunView(), {
      t: 1,
      type: 'step',
      step: 1,
      epoch: 0,
      batch: 1,
      batchesPerEpoch: 2,
      loss: Number.NaN,
      examplesPerSec: 1,
      round: 0,
      present: [],
    })
    expect(view.loss).toEqual([])
  })

  it('tracks each peer’s state in the roster, members first', () => {
    const view = fold([
      { t: 0, type: 'peer-connected', peer: 'b' },
      { t: 1, type: 'peer-member', peer: 'a', slot: 1, startStep: 0 },
      { t: 2, type: 'peer-left', peer: 'c', slot: 2, reason: 'timeout', message: 'silent for 4 s' },
    ])
    expect(rosterRows(view.roster).map((r) => [r.peer, r.state])).toEqual([
      ['a', 'admitted'],
      ['b', 'handshake'],
      ['c', 'left'],
    ])
    expect(view.activity.at(-1)?.text).toContain('silent for 4 s')
  })

  it('keeps the newest topology and counts round outcomes', () => {
    const view = fold([
      { t: 0, type: 'topology', round: 3, slot: 0, sentTo: [1, 2], receivedFrom: [1] },
      {
        t: 1,
        type: 'round',
        outcome: { kind: 'local-only', messageKind: 'delta', round: 3, reason: 'ERR_TIMEOUT' },
        waitedMs: 4000,
        present: [],
      },
    ])
    expect(view.topology).toEqual({ round: 3, slot: 0, sentTo: [1, 2], receivedFrom: [1] })
    expect(view.localOnlyRounds).toBe(1)
    expect(view.averagedRounds).toBe(0)
  })
})
