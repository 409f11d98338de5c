/**
 * Transport benchmark: what it costs to hold the WebRTC connection in a browser context
 * (`--webrtc chromium`, and the desktop app's hidden window) instead of in the Node process.
 * Both rows connect to an ordinary @roamhq/wrtc peer in this process over loopback; only the
 * sending side differs:
 * - `wrtc`: SimplePeerTransport, libwebrtc in this process;
 * - `chromium page`: HostedPeerTransport, the connection in a headless Chromium page, every
 *   data-channel message crossing the page's loopback WebSocket (the desktop window crosses a
 *   MessagePort instead, which is cheaper than a socket).
 *
 * Measured, side by side in one run: bulk throughput (frames of 4 MB, as a model delta or
 * snapshot would be) in each direction, and the round-trip time of a small frame (ping-pong,
 * median), with the ratio of each to the wrtc row. Loopback has no propagation delay, so the
 * latency row isolates the hop's own cost; on a real link of tens of milliseconds it is noise.
 *
 * Usage: npm run bench -- transport [--quick]
 */
import { loadavg } from 'node:os'
import { launchChromiumPeerHost } from '../core/platform/chromium-peer-host.node.ts'
import { loadNodeWrtc } from '../core/platform/wrtc.node.ts'
import type { SignaledPeerTransport } from '../core/transport/peer-transport.ts'
import { SimplePeerTransport } from '../core/transport/simple-peer-transport.ts'
import type { WebRtcImplementation } from '../core/transport/simple-peer-transport.ts'
import { markdownTable, median } from './table.ts'

const FRAME_BYTES = 4 * 1024 * 1024

interface Row {
  readonly name: string
  readonly sendMBps: number
  readonly receiveMBps: number
  readonly rttMs: number
}

function connect(a: SignaledPeerTransport, b: SignaledPeerTransport): Promise<void> {
  a.on('signal', (data) => b.signal(data))
  b.on('signal', (data) => a.signal(data))
  return Promise.all([
    new Promise<void>((done) => a.on('connect', done)),
    new Promise<void>((done) => b.on('connect', done)),
  ]).then(() => undefined)
}

/** MB/s from `from` to `to`: `frames` frames sent back to back, timed to the last one's arrival. */
async function throughput(
  from: SignaledPeerTransport,
  to: SignaledPeerTransport,
  frames: number,
): Promise<number> {
  const frame = new Uint8Array(FRAME_BYTES).map((_, i) => i & 0xff)
  let received = 0
  const done = new Promise<void>((resolve) => {
    const off = to.on('frame', () => {
      received += 1
      if (received === frames) {
        off()
        resolve()
      }
    })
  })
  const started = performance.now()
  for (let i = 0; i < frames; i++) await from.send(frame)
  await done
  return (frames * FRAME_BYTES) / 1e6 / ((performance.now() - started) / 1000)
}

/** Median round trip of a 64-byte frame, `from` → `to` → `from`. */
async function roundTrip(
  from: SignaledPeerTransport,
  to: SignaledPeerTransport,
  count: number,
): Promise<number> {
  const offEcho = to.on('frame', (frame) => void to.send(frame))
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    const back = new Promise<void>((resolve) => {
      const off = from.on('frame', () => {
        off()
        resolve()
      })
    })
    const started = performance.now()
    await from.send(new Uint8Array(64).fill(i & 0xff))
    await back
    times.push(performance.now() - started)
  }
  offEcho()
  return median(times)
}

async function measure(
  name: string,
  local: SignaledPeerTransport,
  wrtc: WebRtcImplementation,
  quick: boolean,
): Promise<Row> {
  const remote = new SimplePeerTransport({ peerId: 'local', initiator: false, wrtc })
  try {
    await connect(local, remote)
    const frames = quick ? 4 : 16
    // One warm-up frame each way: SCTP's congestion window opens on the first megabytes.
    await throughput(local, remote, 1)
    await throughput(remote, local, 1)
    const sendMBps = await throughput(local, remote, frames)
    const receiveMBps = await throughput(remote, local, frames)
    const rttMs = await roundTrip(local, remote, quick ? 50 : 200)
    return { name, sendMBps, receiveMBps, rttMs }
  } finally {
    await Promise.all([local.close(), remote.close()])
  }
}

export async function benchTransport(args: string[]): Promise<void> {
  const quick = args.includes('--quick')
  const wrtc = await loadNodeWrtc()
  const rows: Row[] = []
  rows.push(
    await measure(
      'wrtc (libwebrtc in this process)',
      new SimplePeerTransport({ peerId: 'remote', initiator: true, wrtc }),
      wrtc,
      quick,
    ),
  )
  const host = await launchChromiumPeerHost()
  try {
    rows.push(
      await measure(
        `chromium page (${host.client.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? 'Chromium'})`,
        host.client.createTransport({ peerId: 'remote', initiator: true }),
        wrtc,
        quick,
      ),
    )
  } finally {
    await host.close()
  }
  const base = rows[0]
  if (base === undefined) return
  const ratio = (value: number, reference: number): string => `${(value / reference).toFixed(2)}x`
  console.log(
    markdownTable(
      ['connection held by', 'send MB/s', 'ratio', 'receive MB/s', 'ratio', 'RTT 64 B (median ms)', 'ratio'],
      rows.map((r) => [
        r.name,
        r.sendMBps.toFixed(1),
        ratio(r.sendMBps, base.sendMBps),
        r.receiveMBps.toFixed(1),
        ratio(r.receiveMBps, base.receiveMBps),
        r.rttMs.toFixed(2),
        ratio(r.rttMs, base.rttMs),
      ]),
    ),
  )
  console.log(
    `\nloopback, frames of ${FRAME_BYTES / 1024 / 1024} MB, 16 KiB chunks; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
}
