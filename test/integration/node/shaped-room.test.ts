/**
 * `longhaul node` on an emulated wide-area network: real node processes, each in its own network
 * namespace (test/harness), with 25 ms one-way delay (50 ms round trip), 20 Mbit/s per direction
 * and 1 % datagram loss on every access link. The signaling server runs in the router namespace.
 * In the harness's turn-relay mode the hosts cannot reach each other at all, only the router, so
 * the nodes must meet through the harness's TURN server: the path they report must be 'relay',
 * and its round trip must show the configured delay.
 *
 * The cases are room-cases.ts's, the same code room.test.ts runs on loopback. Skipped, with the
 * reason printed, where namespaces or coturn are unavailable (not root, no iproute2,
 * LONGHAUL_HARNESS_NO_NETNS=1): the loopback run of the same cases still runs there, unshaped.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { chooseMode } from '../../harness/netns.ts'
import { killAllNodes } from '../../harness/node-process.ts'
import { openRoomEnvironment, type RoomEnvironment, type RoomSettings } from './helpers.ts'
import { rejectsBadInput, survivesKillThenCatchesUpLateJoiner, trainsOneModel } from './room-cases.ts'

const SHAPED: RoomSettings = {
  mode: 'turn-relay',
  delayMs: 25,
  rateMbit: 20,
  lossPercent: 1,
  /**
   * Longer than loopback's 4 s: a round's deltas cross two relay hops and are retransmitted after
   * a loss (SCTP's minimum RTO is about a second), and up to four tfjs processes share this
   * machine's two cores. Observed: joiners waited at most ~3 s for a round. The founder's first
   * rounds run out this timeout while the joiners still fetch its snapshot over the cold 50 ms
   * link, so a larger value only makes the tests slower.
   */
  peerTimeoutMs: 8000,
  roundTimeoutMs: 5000,
  /** A training step can hold a survivor's event loop for seconds on the loaded machine. */
  noticeSlackMs: 5000,
  survivorEpochs: 6,
  roomExitMs: 180_000,
}

let plan: { mode: string; reason?: string }
try {
  plan = await chooseMode('turn-relay')
} catch (err) {
  plan = { mode: 'unavailable', reason: err instanceof Error ? err.message : String(err) }
  console.warn(
    `[shaped-room] turn-relay mode unavailable here (${plan.reason}); the shaped node cases are skipped, ` +
      'and run only on loopback, NOT shaped, in room.test.ts',
  )
}
const isShaped = plan.mode === 'turn-relay'

let env: RoomEnvironment | undefined
beforeAll(async () => {
  if (!isShaped) return
  env = await openRoomEnvironment(SHAPED, 4)
  console.log(`[turn-relay] ${env.topology.notes.join('; ')}; data: ${env.data.description}`)
}, 60_000)
afterAll(async () => {
  await env?.close()
})
afterEach(() => killAllNodes())

function shaped(): RoomEnvironment {
  if (env === undefined) throw new Error('the shaped environment was not built')
  return env
}

describe
  .skipIf(!isShaped)
  .sequential('longhaul node in network namespaces (50 ms RTT, 20 Mbit/s, 1 % loss, TURN only)', () => {
    it(
      'trains one model across three shaped hosts through TURN: relay paths, RTT of the configured delay',
      () => trainsOneModel(shaped()),
      200_000,
    )

    // Chromium's SCTP sometimes stops sending on this lossy relay path under CPU load (the page's
    // bufferedAmount freezes while the other direction works): the transports' drain watchdog
    // and the peers' timeout give the connection up, and the swarm makes a fresh one. The founder
    // trains 4 epochs so that a joiner whose first snapshot transfer broke still finds it there.
    // Opt-in (LONGHAUL_TEST_CHROMIUM_TURN=1): alone, even beside three CPU hogs, it passed 9 of 9
    // runs (3 through replaced channels), but inside the full suite on 2 cores a recovery (10 s of
    // stall, a new connection, a second transfer) can last as long as a joiner's whole 2-epoch run,
    // and then no round has both joiners in it (1 of 3 full-suite runs). The loopback Chromium case
    // in room.test.ts always runs; electron/README.md tells the rest.
    it.skipIf(process.env['LONGHAUL_TEST_CHROMIUM_TURN'] !== '1')(
      "trains through TURN with the founder's connections in a Chromium page (--webrtc chromium): TURN credentials reach the page",
      async () => {
        const [founder] = await trainsOneModel(shaped(), ['--webrtc', 'chromium'], 4)
        expect(founder?.stderr.join('\n')).toMatch(/^webrtc: Chromium .* page: the browser's own WebRTC$/m)
      },
      200_000,
    )

    it(
      'goes on without a node killed mid-training, then a late joiner catches up from the survivors',
      () => survivesKillThenCatchesUpLateJoiner(shaped()),
      240_000,
    )

    it(
      'answers malformed and oversized signaling from a host with errors and keeps serving, refuses a wrong secret, rejects NaN and wrong-layout deltas',
      () => rejectsBadInput(shaped()),
      260_000,
    )
  })
