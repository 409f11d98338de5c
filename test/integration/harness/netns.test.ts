import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../../harness/commands.ts'
import { HarnessError } from '../../harness/harness-error.ts'
import { ManagedProcess, numberArrayField, stringField } from '../../harness/managed-process.ts'
import type { Topology, TopologyResources } from '../../harness/netns.ts'
import {
  chooseMode,
  createTopology,
  listNamespaces,
  namespacesAvailable,
  netemAvailable,
  sweepStaleResources,
  withTopology,
} from '../../harness/netns.ts'
import { startSignalingServer } from '../../harness/longhaul-process.ts'
import type { WrtcPair } from '../../harness/wrtc-pair.ts'
import { connectWrtcPair } from '../../harness/wrtc-pair.ts'

// The configuration the issue asks for: 25 ms each way (50 ms RTT), 20 Mbit/s, 1 % loss.
const DELAY_MS = 25
const RTT_MS = 2 * DELAY_MS
const RATE_MBIT = 20
const LOSS_PERCENT = 1
/**
 * Allowed excess of a median RTT over the configured one. Measured on the 2-core CI box under load
 * (load average 8-12): TURN-probe medians 52-57 ms, data-channel medians 52-56 ms, single samples up
 * to 69 ms. The four relay crossings each wake a timer and several processes; 40 ms leaves room
 * for a scheduler that is this busy without accepting a missing or doubled delay leg (±25 ms).
 */
const RTT_TOLERANCE_MS = 40
/**
 * Share of the shaped rate a data channel can use as payload: each SCTP packet carries ~1172
 * bytes of payload in ~1283 bytes on the wire (SCTP, DTLS, TURN ChannelData, UDP, IPv4 and
 * Ethernet headers; tbf counts from the Ethernet header). tbf's own counters showed 2 000 000
 * payload bytes costing 2 193 897 wire bytes, i.e. 0.912.
 */
const DATA_CHANNEL_EFFICIENCY = 0.912
/** UDP payload share of what tbf counts for 1200-byte datagrams: 1200 / (1200 + 8 + 20 + 14). */
const UDP_EFFICIENCY = 1200 / 1242

const CHILD_SCRIPT = path.resolve('test/harness/topology-child.ts')
/** Prints the HTTP status of a GET to argv[1] (CommonJS, for `node -e`). */
const FETCH_STATUS_SCRIPT =
  'fetch(process.argv[1]).then((r) => console.log(r.status), (e) => { console.error(String(e)); process.exit(1) })'

const namespaces = await namespacesAvailable()
const plan = await chooseMode('auto')
const netem = await netemAvailable()
if (!namespaces.ok) {
  console.warn(
    `[harness] network namespaces unavailable (${namespaces.reason}); shaped tests skipped, loopback tests run`,
  )
} else if (plan.mode !== 'turn-relay') {
  console.warn(`[harness] turn-relay mode unavailable here (${plan.notes.join('; ')}); its tests are skipped`)
}

/** True while `pid` runs; a zombie (exited, not yet reaped by whoever inherited it) counts as gone. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may contain spaces, so split after ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** Waits up to timeoutMs for every pid to be gone; returns those still alive. */
async function survivors(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs
  let alive = pids.filter(isAlive)
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    alive = alive.filter(isAlive)
  }
  return alive
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

/**
 * Asserts that nothing of `resources` is left. Processes get a moment: a process killed by an
 * exiting parent is reaped by whoever inherits it, a little later.
 */
async function expectGone(resources: TopologyResources): Promise<void> {
  const remaining = await listNamespaces()
  for (const ns of resources.namespaces) expect(remaining).not.toContain(ns)
  expect(await survivors(resources.pids, 5_000)).toEqual([])
  expect(existsSync(resources.tempDir), resources.tempDir).toBe(false)
}

describe('createTopology', () => {
  it('rejects a host count outside [1, MAX_HOSTS] when building', async () => {
    await expect(createTopology({ hosts: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    await expect(createTopology({ hosts: 2.5 })).rejects.toBeInstanceOf(HarnessError)
  })

  it('rejects loss of 100 % or more and negative delay when building', async () => {
    await expect(createTopology({ hosts: 2, lossPercent: 100 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
    await expect(createTopology({ hosts: 2, delayMs: -1 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
  })

  it.skipIf(!namespaces.ok || netem.ok)(
    'rejects mode netem with ERR_NETEM_UNAVAILABLE when the kernel has no netem',
    async () => {
      console.log(`[harness] netem probe: ${netem.reason}`)
      await expect(createTopology({ hosts: 2, delayMs: DELAY_MS, mode: 'netem' })).rejects.toMatchObject({
        code: 'ERR_NETEM_UNAVAILABLE',
      })
    },
  )
})

describe.skipIf(plan.mode !== 'turn-relay')(
  'createTopology in turn-relay mode (2 hosts, 50 ms RTT, 20 Mbit/s, 1 % loss)',
  () => {
    let topology: Topology
    let pair: WrtcPair | undefined

    beforeAll(async () => {
      topology = await createTopology({
        hosts: 2,
        delayMs: DELAY_MS,
        rateMbit: RATE_MBIT,
        lossPercent: LOSS_PERCENT,
        mode: 'turn-relay',
      })
      console.log(`[harness] ${topology.id}:\n  ${topology.notes.join('\n  ')}`)
    })

    afterAll(async () => {
      await pair?.close()
      await topology?.teardown()
    })

    it('keeps hosts from reaching each other directly while both reach the router', async () => {
      const blocked = await topology.directRtt(0, 1, { count: 3, timeoutMs: 300 })
      expect(blocked.lost).toBe(3)
      expect(blocked.errors).toContain('ENETUNREACH')
      const reverse = await topology.directRtt(1, 0, { count: 3, timeoutMs: 300 })
      expect(reverse.lost).toBe(3)
      // Positive control: the same probe does get through to the router's service address.
      const toRouter = await topology.directRtt(0, 'router', { count: 5, timeoutMs: 500 })
      expect(toRouter.samplesMs.length).toBeGreaterThanOrEqual(3)
    })

    it('does not forward between hosts even when a host adds a route through the router', async () => {
      const ns = topology.hosts[0]?.ns ?? ''
      const other = topology.hosts[1]?.address ?? ''
      await run('ip', ['-n', ns, 'route', 'add', `${other}/32`, 'via', topology.hosts[0]?.gateway ?? ''])
      try {
        const blocked = await topology.directRtt(0, 1, { count: 3, timeoutMs: 300 })
        expect(blocked.lost).toBe(3)
        expect(blocked.errors).toEqual([])
      } finally {
        await run('ip', ['-n', ns, 'route', 'del', `${other}/32`])
      }
    })

    it('adds the configured RTT when TURN probes talk through the relay', async () => {
      await topology.shape({ lossPercent: LOSS_PERCENT })
      const rtt = await topology.measureRtt(0, 1, { count: 20, gapMs: 5, timeoutMs: 500 })
      console.log(
        `[harness] TURN probe RTT (configured ${RTT_MS} ms): median ${rtt.medianMs.toFixed(1)} ms, ` +
          `min ${Math.min(...rtt.samplesMs).toFixed(1)}, max ${Math.max(...rtt.samplesMs).toFixed(1)}, lost ${rtt.lost}/20`,
      )
      expect(rtt.samplesMs.length).toBeGreaterThanOrEqual(15)
      // The relay never releases early, so no sample can beat the configured RTT.
      expect(Math.min(...rtt.samplesMs)).toBeGreaterThanOrEqual(RTT_MS)
      expect(rtt.medianMs).toBeLessThanOrEqual(RTT_MS + RTT_TOLERANCE_MS)
      expect(await topology.measuredRttMs(0, 1)).toBeGreaterThanOrEqual(RTT_MS)
    }, 30_000)

    it('selects a relay/relay candidate pair and sees the configured RTT on a data channel when policy is relay', async () => {
      await topology.shape({ lossPercent: LOSS_PERCENT })
      pair = await connectWrtcPair(topology, 0, 1, { iceTransportPolicy: 'relay' })
      const selected = await pair.selectedPair()
      expect(selected.local.candidateType).toBe('relay')
      expect(selected.remote.candidateType).toBe('relay')
      const { samplesMs, lost } = await pair.ping(20)
      console.log(
        `[harness] data-channel RTT (configured ${RTT_MS} ms): median ${median(samplesMs).toFixed(1)} ms, ` +
          `min ${Math.min(...samplesMs).toFixed(1)}, max ${Math.max(...samplesMs).toFixed(1)}; ` +
          `ICE currentRoundTripTime ${selected.currentRoundTripTimeMs ?? 'n/a'} ms`,
      )
      expect(lost).toBe(0) // reliable channel: losses become retransmissions, not missing pongs
      expect(Math.min(...samplesMs)).toBeGreaterThanOrEqual(RTT_MS)
      expect(median(samplesMs)).toBeLessThanOrEqual(RTT_MS + RTT_TOLERANCE_MS)
    }, 30_000)

    it('still ends up on relay candidates when the peers may use any candidate type', async () => {
      const open = await connectWrtcPair(topology, 1, 0, { iceTransportPolicy: 'all' })
      try {
        const selected = await open.selectedPair()
        expect([selected.local.candidateType, selected.remote.candidateType]).toEqual(['relay', 'relay'])
      } finally {
        await open.close()
      }
    }, 30_000)

    it('drops about 1 - (1 - p)^2 of round trips when loss is 1 % per datagram', async () => {
      await topology.shape({ lossPercent: LOSS_PERCENT })
      const count = 1500
      const rtt = await topology.measureRtt(0, 1, { count, gapMs: 1, timeoutMs: 1000, pipelined: true })
      const expected = count * (1 - (1 - LOSS_PERCENT / 100) ** 2) // 29.9, standard deviation 5.4
      console.log(
        `[harness] loss ${LOSS_PERCENT}%: ${rtt.lost}/${count} round trips lost (expected ${expected.toFixed(1)})`,
      )
      // About -3.3 and +4.6 standard deviations: fails on a missing or doubled rule, not on chance.
      expect(rtt.lost).toBeGreaterThanOrEqual(12)
      expect(rtt.lost).toBeLessThanOrEqual(55)
    }, 30_000)

    it('loses (almost) nothing when loss is set back to 0', async () => {
      await topology.shape({ lossPercent: 0 })
      const rtt = await topology.measureRtt(0, 1, { count: 500, gapMs: 1, timeoutMs: 1000, pipelined: true })
      console.log(`[harness] loss 0%: ${rtt.lost}/500 round trips lost`)
      expect(rtt.lost).toBeLessThanOrEqual(3)
    }, 30_000)

    it('delivers UDP at the configured rate when the link is shaped to 20 Mbit/s', async () => {
      await topology.shape({ lossPercent: 0, rateMbit: RATE_MBIT })
      const flood = await topology.udpThroughput(0, 'router', {
        durationMs: 1000,
        offeredMbit: RATE_MBIT * 1.3,
      })
      const expected = RATE_MBIT * UDP_EFFICIENCY
      console.log(
        `[harness] UDP flood at ${RATE_MBIT} Mbit/s: ${flood.payloadMbit.toFixed(2)} Mbit/s payload ` +
          `(expected ${expected.toFixed(2)}), ${flood.receivedBytes}/${flood.sentBytes} bytes over ${flood.spanMs.toFixed(0)} ms`,
      )
      // Measured within 1 % here; ±10 % covers a receiver descheduled for ~100 ms at either end.
      expect(flood.payloadMbit).toBeGreaterThan(expected * 0.9)
      expect(flood.payloadMbit).toBeLessThan(expected * 1.1)
      // The offered 26 Mbit/s did not all fit: the shaper, not the sender, set the pace.
      expect(flood.receivedBytes).toBeLessThan(flood.sentBytes)
    }, 30_000)

    it('carries 2 MB at close to the shaped 20 Mbit/s on a data channel when no delay is added', async () => {
      await topology.shape({ lossPercent: 0, rateMbit: RATE_MBIT })
      await topology.setDelay(0)
      try {
        pair ??= await connectWrtcPair(topology, 0, 1, { iceTransportPolicy: 'relay' })
        // Warm-up: a cold or idle association first pays slow start (measured 1.4-8 Mbit/s for a
        // cold 2 MB here against 9-18 warm), which says nothing about the shaper.
        await pair.bulk(500_000)
        const result = await pair.bulk(2_000_000)
        const goodputMbit = (result.bytes * 8) / result.elapsedMs / 1000
        const ceiling = RATE_MBIT * DATA_CHANNEL_EFFICIENCY
        console.log(
          `[harness] data channel, 2 MB at ${RATE_MBIT} Mbit/s, no delay: ${result.elapsedMs.toFixed(0)} ms, ` +
            `goodput ${goodputMbit.toFixed(2)} Mbit/s (ceiling ${ceiling.toFixed(2)}; unshaped it reached 45)`,
        )
        expect(result.bytes).toBe(2_000_000)
        // Never faster than the shaper allows (+5 %: tbf's 10 kB bucket and timer granularity), and
        // the shaper, not the stack, is the limit: measured 14.7-17.9 Mbit/s, i.e. 0.80-0.98 of it.
        expect(goodputMbit).toBeLessThanOrEqual(ceiling * 1.05)
        expect(goodputMbit).toBeGreaterThan(ceiling * 0.6)
      } finally {
        await topology.setDelay(DELAY_MS)
      }
    }, 30_000)

    it('never exceeds the shaped rate on a data channel when 2 MB cross at 50 ms RTT', async () => {
      await topology.shape({ lossPercent: 0, rateMbit: RATE_MBIT })
      pair ??= await connectWrtcPair(topology, 0, 1, { iceTransportPolicy: 'relay' })
      const result = await pair.bulk(2_000_000)
      // elapsedMs includes one RTT: the first byte's trip there and the receiver's ack coming back.
      const goodputMbit = (result.bytes * 8) / (result.elapsedMs - RTT_MS) / 1000
      const ceiling = RATE_MBIT * DATA_CHANNEL_EFFICIENCY
      console.log(
        `[harness] data channel, 2 MB at ${RATE_MBIT} Mbit/s, ${RTT_MS} ms RTT: ${result.elapsedMs.toFixed(0)} ms, ` +
          `goodput ${goodputMbit.toFixed(2)} Mbit/s (ceiling ${ceiling.toFixed(2)})`,
      )
      expect(result.bytes).toBe(2_000_000)
      expect(goodputMbit).toBeLessThanOrEqual(ceiling * 1.05)
      // Only a floor that says "it moved": at 50 ms RTT SCTP in this wrtc build does not fill
      // 20 Mbit/s on this shared 2-core box (measured 1.4-15 Mbit/s, 9-12 typical when warm).
      expect(goodputMbit).toBeGreaterThan(1)
    }, 30_000)

    it('follows a new delay when setDelay() changes it at run time', async () => {
      await topology.shape({ lossPercent: 0 })
      await topology.setDelay(50)
      try {
        const rtt = await topology.measureRtt(0, 1, { count: 10, gapMs: 5, timeoutMs: 500 })
        console.log(`[harness] after setDelay(50): median RTT ${rtt.medianMs.toFixed(1)} ms (configured 100)`)
        expect(Math.min(...rtt.samplesMs)).toBeGreaterThanOrEqual(100)
        expect(rtt.medianMs).toBeLessThanOrEqual(100 + RTT_TOLERANCE_MS)
      } finally {
        await topology.setDelay(DELAY_MS)
      }
    }, 30_000)
  },
)

describe.skipIf(!namespaces.ok)('topology teardown', () => {
  it('removes every namespace, process and temp file when the body throws', async () => {
    let captured: TopologyResources | undefined
    await expect(
      withTopology({ hosts: 2, delayMs: 5 }, async (topology) => {
        topology.exec(0, 'sleep', ['600'], { stdio: 'ignore' })
        topology.exec(1, 'sleep', ['600'], { stdio: 'ignore' })
        captured = await topology.resources()
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    if (captured === undefined) throw new Error('the body did not run')
    expect(captured.namespaces).toHaveLength(plan.mode === 'loopback' ? 0 : 3)
    expect(captured.pids.length).toBeGreaterThanOrEqual(2)
    expect(existsSync(captured.tempDir)).toBe(false)
    await expectGone(captured)
  }, 30_000)

  it('kills processes that ignore SIGTERM and is idempotent when teardown() is called twice', async () => {
    const topology = await createTopology({ hosts: 1 })
    const stubborn = topology.spawn(0, 'sh', ['-c', 'trap "" TERM; echo ready; while :; do sleep 0.1; done'])
    await stubborn.waitForLine((line) => line === 'ready', 5_000)
    const resources = await topology.resources()
    await Promise.all([topology.teardown(), topology.teardown()])
    await topology.teardown()
    await expectGone(resources)
    expect(stubborn.hasExited).toBe(true)
    expect(() => topology.exec(0, 'true', [])).toThrow(HarnessError)
  }, 30_000)

  const startChild = async (
    how: 'wait' | 'exit',
  ): Promise<{ child: ManagedProcess; resources: TopologyResources }> => {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', CHILD_SCRIPT, how, JSON.stringify({ hosts: 2, delayMs: 5 })],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    )
    const child = new ManagedProcess(proc, `topology-child ${how}`)
    const ready = await child.next('ready', 20_000)
    const pids = numberArrayField(ready, 'pids')
    const listed = ready['namespaces']
    const names = Array.isArray(listed) ? listed.filter((n): n is string => typeof n === 'string') : []
    return { child, resources: { namespaces: names, pids, tempDir: stringField(ready, 'tempDir') } }
  }

  it('cleans up when the process that built the topology gets SIGTERM', async () => {
    const { child, resources } = await startChild('wait')
    expect(resources.namespaces.length).toBeGreaterThan(0)
    child.child.kill('SIGTERM')
    await child.waitForLine(() => false, 10_000).catch(() => undefined)
    expect(child.hasExited).toBe(true)
    await expectGone(resources)
  }, 30_000)

  it('cleans up when the process that built the topology exits without teardown()', async () => {
    const { child, resources } = await startChild('exit')
    await child.waitForLine(() => false, 10_000).catch(() => undefined)
    expect(child.hasExited).toBe(true)
    await expectGone(resources)
  }, 30_000)

  it('sweeps what a SIGKILLed process left behind when sweepStaleResources() runs', async () => {
    const { child, resources } = await startChild('wait')
    child.child.kill('SIGKILL')
    await child.waitForLine(() => false, 10_000).catch(() => undefined)
    // SIGKILL leaves no chance to clean up: the namespaces and the sleeper inside outlive it.
    expect(await listNamespaces()).toEqual(expect.arrayContaining([...resources.namespaces]))
    const removed = sweepStaleResources()
    expect(removed.sort()).toEqual([...resources.namespaces].sort())
    await expectGone(resources)
  }, 30_000)
})

describe.runIf(namespaces.ok && netem.ok)('createTopology in netem mode', () => {
  it('adds the configured RTT between directly routed hosts when netem shapes the access links', async () => {
    await withTopology(
      { hosts: 2, delayMs: DELAY_MS, rateMbit: RATE_MBIT, mode: 'netem' },
      async (topology) => {
        expect(topology.turn).toBeUndefined()
        const rtt = await topology.measureRtt(0, 1, { count: 20, gapMs: 5, timeoutMs: 500 })
        console.log(`[harness] netem RTT (configured ${RTT_MS} ms): median ${rtt.medianMs.toFixed(1)} ms`)
        // netem's clock may round each of the four half-delays down by a fraction of a millisecond.
        expect(Math.min(...rtt.samplesMs)).toBeGreaterThanOrEqual(RTT_MS - 1)
        expect(rtt.medianMs).toBeLessThanOrEqual(RTT_MS + RTT_TOLERANCE_MS)
        const direct = await connectWrtcPair(topology, 0, 1)
        try {
          expect((await direct.selectedPair()).local.candidateType).toBe('host')
          const { samplesMs } = await direct.ping(10)
          expect(Math.min(...samplesMs)).toBeGreaterThanOrEqual(RTT_MS - 1)
          expect(median(samplesMs)).toBeLessThanOrEqual(RTT_MS + RTT_TOLERANCE_MS)
        } finally {
          await direct.close()
        }
      },
    )
  }, 30_000)
})

describe('a 4-host topology', () => {
  it('lets every host reach the real signaling server started in the router', async () => {
    await withTopology({ hosts: 4, delayMs: 5 }, async (topology) => {
      const server = await startSignalingServer(topology)
      expect(server.url).toBe(`ws://${topology.serviceAddress}:${server.port}`)
      const statuses = await Promise.all(
        topology.hosts.map(async (host) => {
          const client = topology.spawn(host.index, process.execPath, [
            '-e',
            FETCH_STATUS_SCRIPT,
            `${server.httpUrl}/healthz`,
          ])
          return Number(await client.waitForLine((line) => /^\d{3}$/.test(line), 15_000, 'HTTP status'))
        }),
      )
      expect(statuses).toEqual([200, 200, 200, 200])
    })
  }, 40_000)
})

describe('createTopology in loopback mode', () => {
  it('puts every host on 127.0.0.1 and notes that nothing is shaped when delay is requested', async () => {
    await withTopology(
      { hosts: 3, delayMs: DELAY_MS, rateMbit: RATE_MBIT, mode: 'loopback' },
      async (topology) => {
        expect(topology.mode).toBe('loopback')
        expect(topology.hosts.map((h) => h.address)).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1'])
        expect(topology.turn).toBeUndefined()
        expect(topology.notes.join('\n')).toMatch(/NOT applied/)
        const rtt = await topology.measureRtt(0, 2, { count: 5 })
        expect(rtt.samplesMs.length).toBe(5)
        expect(rtt.medianMs).toBeLessThan(RTT_MS)
      },
    )
  }, 30_000)

  it('connects wrtc peers over host candidates when there is no TURN server', async () => {
    await withTopology({ hosts: 2, mode: 'loopback' }, async (topology) => {
      const pair = await connectWrtcPair(topology, 0, 1)
      try {
        const selected = await pair.selectedPair()
        expect(selected.local.candidateType).toBe('host')
        const { samplesMs } = await pair.ping(5, 5)
        expect(samplesMs).toHaveLength(5)
      } finally {
        await pair.close()
      }
    })
  }, 30_000)
})
