/**
 * `longhaul node` for real on loopback: separate processes, real WebRTC over host candidates,
 * the signaling server as its own process (the harness topology in loopback mode: every host is
 * this machine, and NOTHING is shaped). The same cases run shaped, in network namespaces, in
 * shaped-room.test.ts where namespaces and coturn exist; here they run everywhere, so a failure
 * that shows up in both is the node's, not the network's. The cases run one after another: each
 * starts up to four tfjs processes, which is all this machine's cores can take at once.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { killAllNodes } from '../../harness/node-process.ts'
import { openRoomEnvironment, type RoomEnvironment, type RoomSettings } from './helpers.ts'
import {
  refusesOtherModel,
  rejectsBadInput,
  survivesKillThenCatchesUpLateJoiner,
  trainsOneModel,
} from './room-cases.ts'

const LOOPBACK: RoomSettings = {
  mode: 'loopback',
  peerTimeoutMs: 4000,
  roundTimeoutMs: 4000,
  noticeSlackMs: 2000,
  survivorEpochs: 8,
  roomExitMs: 120_000,
}

let env: RoomEnvironment
beforeAll(async () => {
  env = await openRoomEnvironment(LOOPBACK, 4)
  console.log(
    `[loopback] links are NOT shaped; ${env.topology.notes.join('; ')}; data: ${env.data.description}`,
  )
}, 60_000)
afterAll(async () => {
  await env.close()
})
afterEach(() => killAllNodes())

describe.sequential('longhaul node on loopback (real processes, real WebRTC, NOT shaped)', () => {
  it(
    'trains one model in a room of three processes: all finish accurate after averaging with both peers',
    () => trainsOneModel(env),
    120_000,
  )

  it("trains with the founder's connections in a Chromium page (--webrtc chromium) and the others on @roamhq/wrtc", async () => {
    const [founder, ...joiners] = await trainsOneModel(env, ['--webrtc', 'chromium'])
    // Each node says at start-up what carries its connections.
    expect(founder?.stderr.join('\n')).toMatch(
      /^webrtc: Chromium [\d.]+ \(.+\) page: the browser's own WebRTC$/m,
    )
    for (const joiner of joiners) {
      expect(joiner.stderr.join('\n')).toMatch(/^webrtc: @roamhq\/wrtc \(libwebrtc in this process\)$/m)
    }
  }, 150_000)

  it(
    'goes on without a process killed mid-training, then a late joiner catches up from the survivors',
    () => survivesKillThenCatchesUpLateJoiner(env),
    180_000,
  )

  it('refuses a node that trains another model, on both sides', () => refusesOtherModel(env), 120_000)

  it(
    'answers malformed and oversized signaling with errors and keeps serving, refuses a wrong secret, rejects NaN and wrong-layout deltas',
    () => rejectsBadInput(env),
    180_000,
  )
})
