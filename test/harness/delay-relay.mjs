// A UDP relay that holds every datagram for a fixed time before passing it on: the latency half of
// the network emulation on kernels without `netem`. It runs in the router namespace in front of the
// TURN server (coturn), so every packet between two relayed WebRTC peers crosses it twice:
//
//   host A --(+legDelayMs)--> coturn (A's allocation -> B's allocation) --(+legDelayMs)--> host B
//
// Each client address gets its own upstream socket, so coturn sees one distinct 5-tuple per client
// and keeps one allocation per client, exactly as without the relay.
//
// Usage: node delay-relay.mjs --listen IP:PORT --upstream IP:PORT --bind IP --leg-delay-ms N
// Prints {"type":"ready"} once it listens and coturn answered a STUN Binding request through it,
// and {"type":"error","message"} before exiting with status 1. A line {"legDelayMs": N} on stdin
// changes the delay for datagrams that arrive afterwards. Closing stdin stops the relay.
import { createSocket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import { Buffer } from 'node:buffer'
import process from 'node:process'
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers'

/** Upstream sockets are per client; this caps them so a runaway client cannot exhaust ports. */
const MAX_CLIENTS = 1024
/** How long to wait for coturn to answer the start-up STUN Binding request, and how often to ask. */
const READY_TIMEOUT_MS = 10_000
const READY_RETRY_MS = 100
/**
 * Socket buffers: on a busy machine the relay is descheduled for tens of ms at a time, and the
 * default ~200 KB would overflow at 20 Mbit/s and show up as loss nobody configured. The kernel
 * caps this at net.core.rmem_max / wmem_max.
 */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

function emit(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

function fail(err) {
  emit({ type: 'error', message: err instanceof Error ? err.message : String(err) })
  process.exit(1)
}

function parseArgs(argv) {
  const options = new Map()
  for (let i = 0; i < argv.length; i += 2) options.set(argv[i], argv[i + 1])
  const endpoint = (flag) => {
    const value = options.get(flag)
    const match = /^([0-9.]+):(\d+)$/.exec(value ?? '')
    if (match === null) throw new Error(`${flag} must be IPv4:PORT, got ${JSON.stringify(value)}`)
    return { address: match[1], port: Number(match[2]) }
  }
  const legDelayMs = Number(options.get('--leg-delay-ms'))
  if (!Number.isFinite(legDelayMs) || legDelayMs < 0) throw new Error('--leg-delay-ms must be a number >= 0')
  const bind = options.get('--bind')
  if (bind === undefined) throw new Error('--bind is required')
  return { listen: endpoint('--listen'), upstream: endpoint('--upstream'), bind, legDelayMs }
}

/**
 * Datagrams waiting for their release time, ordered by it. With a constant delay arrivals are
 * already in order, so insertion scans from the tail and is O(1) in practice; a delay change at
 * run time can reorder, which the scan handles.
 */
class DelayQueue {
  /** @type {Array<{ dueMs: number, run: () => void }>} */
  items = []
  /** @type {NodeJS.Timeout | undefined} */
  timer

  push(dueMs, run) {
    let i = this.items.length
    while (i > 0 && this.items[i - 1].dueMs > dueMs) i -= 1
    this.items.splice(i, 0, { dueMs, run })
    if (i === 0) this.arm()
  }

  arm() {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    const head = this.items[0]
    if (head === undefined) return
    this.timer = setTimeout(() => this.flush(), Math.max(0, head.dueMs - performance.now()))
  }

  flush() {
    this.timer = undefined
    // Never early: libuv timers count whole milliseconds of a cached loop clock and may fire a
    // fraction of a millisecond before the due time; such items wait for the next arm().
    const now = performance.now()
    while (this.items.length > 0 && this.items[0].dueMs <= now) this.items.shift().run()
    this.arm()
  }
}

function setBuffers(socket) {
  socket.setRecvBufferSize(SOCKET_BUFFER_BYTES)
  socket.setSendBufferSize(SOCKET_BUFFER_BYTES)
}

function stunBindingRequest() {
  const message = Buffer.alloc(20)
  message.writeUInt16BE(0x0001, 0)
  message.writeUInt16BE(0, 2)
  message.writeUInt32BE(0x2112a442, 4)
  randomBytes(12).copy(message, 8)
  return message
}

async function main() {
  const { listen, upstream, bind, legDelayMs: initialDelayMs } = parseArgs(process.argv.slice(2))
  let legDelayMs = initialDelayMs
  const queue = new DelayQueue()
  const downstream = createSocket('udp4')
  /** @type {Map<string, import('node:dgram').Socket>} */
  const upstreamByClient = new Map()

  downstream.on('error', fail)
  downstream.on('message', (datagram, from) => {
    const key = `${from.address}:${from.port}`
    let socket = upstreamByClient.get(key)
    if (socket === undefined) {
      if (upstreamByClient.size >= MAX_CLIENTS) return
      socket = createSocket('udp4')
      socket.on('error', (err) => emit({ type: 'warning', message: `upstream ${key}: ${err.message}` }))
      socket.on('message', (reply) => {
        queue.push(performance.now() + legDelayMs, () => downstream.send(reply, from.port, from.address))
      })
      socket.bind(0, bind, () => setBuffers(socket))
      upstreamByClient.set(key, socket)
    }
    const out = socket
    queue.push(performance.now() + legDelayMs, () => out.send(datagram, upstream.port, upstream.address))
  })
  await new Promise((resolve) => downstream.bind(listen.port, listen.address, resolve))
  setBuffers(downstream)

  // Ready means the whole chain answers: our socket, the delay queue and coturn behind it.
  const probe = createSocket('udp4')
  await new Promise((resolve, reject) => {
    const deadline = setTimeout(
      () =>
        reject(
          new Error(`no STUN answer from ${upstream.address}:${upstream.port} in ${READY_TIMEOUT_MS} ms`),
        ),
      READY_TIMEOUT_MS,
    )
    const retry = setInterval(
      () => probe.send(stunBindingRequest(), listen.port, listen.address),
      READY_RETRY_MS,
    )
    probe.on('message', () => {
      clearTimeout(deadline)
      clearInterval(retry)
      resolve(undefined)
    })
    probe.bind(0, listen.address, () => probe.send(stunBindingRequest(), listen.port, listen.address))
  })
  probe.close()
  emit({ type: 'ready', listen, upstream, legDelayMs })

  createInterface({ input: process.stdin }).on('line', (line) => {
    try {
      const message = JSON.parse(line)
      if (typeof message.legDelayMs === 'number' && message.legDelayMs >= 0) {
        legDelayMs = message.legDelayMs
        emit({ type: 'delay', legDelayMs })
      }
    } catch (err) {
      emit({
        type: 'warning',
        message: `bad control line: ${err instanceof Error ? err.message : String(err)}`,
      })
    }
  })
  process.stdin.on('end', () => process.exit(0))
}

main().catch(fail)
