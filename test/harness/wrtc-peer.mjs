// One WebRTC peer (@roamhq/wrtc) driven by its parent over stdio, one JSON object per line.
// The harness starts two of these, one per emulated host (inside that host's network namespace),
// and relays their session descriptions, so the peers meet exactly as real nodes would, minus the
// signaling server. Plain .mjs on purpose: it runs under `ip netns exec … node` without tsx.
//
// Parent -> peer:
//   { type: 'start', role: 'offerer' | 'answerer', iceServers, iceTransportPolicy }
//   { type: 'description', description: { type, sdp } }   the other peer's offer or answer
//   { type: 'candidate', candidate }                       the other peer's ICE candidate
//   { type: 'ping', count, gapMs, timeoutMs }              offerer only: timestamp ping-pong
//   { type: 'bulk', bytes, chunkBytes, timeoutMs }         offerer only: one-way bulk transfer
//   { type: 'stats' }                                      the selected ICE candidate pair
//   { type: 'close' }
// Peer -> parent:
//   { type: 'description', description }  the local offer or answer (trickle ICE)
//   { type: 'candidate', candidate }      each local ICE candidate, for the other peer
//   { type: 'open' }                      both data channels are open
//   { type: 'ping', samplesMs, lost }     round trips seen by the application, in order
//   { type: 'bulk', bytes, elapsedMs }    first byte sent -> receiver's "all received" arrives
//   { type: 'stats', local, remote, currentRoundTripTimeMs }
//   { type: 'error', message }            then the process exits with status 1
import wrtc from '@roamhq/wrtc'
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import process from 'node:process'
import { clearTimeout, setTimeout } from 'node:timers'

const { RTCPeerConnection } = wrtc

/** @param {Record<string, unknown>} message */
function emit(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

/** @param {unknown} err */
function fail(err) {
  emit({ type: 'error', message: err instanceof Error ? err.message : String(err) })
  process.exit(1)
}

/** @type {RTCPeerConnection | undefined} */
let pc
/** @type {RTCDataChannel | undefined} */
let probe
/** @type {RTCDataChannel | undefined} */
let bulk
let openCount = 0
/** @type {Map<number, (t: number) => void>} */
const pendingPongs = new Map()
/** @type {((message: Record<string, unknown>) => void) | undefined} */
let onBulkDone
let bulkExpectedBytes = 0
let bulkReceivedBytes = 0

function onChannelOpen() {
  openCount += 1
  if (openCount === 2) emit({ type: 'open' })
}

/** @param {RTCDataChannel} channel */
function setupChannel(channel) {
  channel.binaryType = 'arraybuffer'
  if (channel.label === 'probe') probe = channel
  if (channel.label === 'bulk') bulk = channel
  if (channel.readyState === 'open') onChannelOpen()
  else channel.addEventListener('open', onChannelOpen)
  channel.addEventListener('message', (event) => {
    try {
      onChannelMessage(channel, event.data)
    } catch (err) {
      fail(err)
    }
  })
}

function onChannelMessage(channel, data) {
  if (channel.label === 'bulk') {
    bulkReceivedBytes += data.byteLength
    if (bulkExpectedBytes > 0 && bulkReceivedBytes >= bulkExpectedBytes) {
      probe?.send(JSON.stringify({ type: 'bulk-done', bytes: bulkReceivedBytes }))
      bulkExpectedBytes = 0
      bulkReceivedBytes = 0
    }
    return
  }
  const message = JSON.parse(String(data))
  if (message.type === 'ping') {
    channel.send(JSON.stringify({ type: 'pong', seq: message.seq }))
  } else if (message.type === 'pong') {
    pendingPongs.get(message.seq)?.(performance.now())
  } else if (message.type === 'bulk-start') {
    bulkExpectedBytes = message.bytes
    bulkReceivedBytes = 0
  } else if (message.type === 'bulk-done') {
    onBulkDone?.(message)
  }
}

/** Remote candidates that arrived before the remote description; added right after it. */
const pendingCandidates = []

async function start(message) {
  pc = new RTCPeerConnection({
    iceServers: message.iceServers ?? [],
    iceTransportPolicy: message.iceTransportPolicy ?? 'all',
  })
  // Trickle ICE: waiting for gathering to complete is not an option, because libwebrtc also
  // gathers on the loopback interface, whose TURN allocation attempt only ends after ~40 s.
  pc.addEventListener('icecandidate', (event) => {
    const c = event.candidate
    if (c)
      emit({
        type: 'candidate',
        candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex },
      })
  })
  pc.addEventListener('connectionstatechange', () => {
    if (pc?.connectionState !== 'failed') return
    // Say which candidate pairs ICE tried and how each ended: the only clue to a blocked path.
    pairSummary(pc)
      .catch((err) => `no stats: ${err instanceof Error ? err.message : String(err)}`)
      .then((summary) => fail(new Error(`peer connection failed; candidate pairs: ${summary}`)))
  })
  if (message.role === 'offerer') {
    setupChannel(pc.createDataChannel('probe'))
    setupChannel(pc.createDataChannel('bulk'))
    await pc.setLocalDescription(await pc.createOffer())
    emit({ type: 'description', description: pc.localDescription })
  } else {
    pc.addEventListener('datachannel', (event) => setupChannel(event.channel))
  }
}

async function onDescription(description) {
  if (pc === undefined) throw new Error('description before start')
  await pc.setRemoteDescription(description)
  for (const candidate of pendingCandidates.splice(0)) await pc.addIceCandidate(candidate)
  if (description.type === 'offer') {
    await pc.setLocalDescription(await pc.createAnswer())
    emit({ type: 'description', description: pc.localDescription })
  }
}

async function onCandidate(candidate) {
  if (pc === undefined) throw new Error('candidate before start')
  if (pc.remoteDescription === null) pendingCandidates.push(candidate)
  else await pc.addIceCandidate(candidate)
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function ping({ count, gapMs, timeoutMs }) {
  if (probe === undefined) throw new Error('ping before the channel opened')
  const samplesMs = []
  let lost = 0
  for (let seq = 0; seq < count; seq++) {
    const sentAt = performance.now()
    const arrivedAt = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs)
      pendingPongs.set(seq, (t) => {
        clearTimeout(timer)
        resolve(t)
      })
      probe.send(JSON.stringify({ type: 'ping', seq }))
    })
    pendingPongs.delete(seq)
    if (arrivedAt === undefined) lost += 1
    else samplesMs.push(arrivedAt - sentAt)
    await sleep(gapMs)
  }
  emit({ type: 'ping', samplesMs, lost })
}

async function sendBulk({ bytes, chunkBytes, timeoutMs }) {
  if (probe === undefined || bulk === undefined) throw new Error('bulk before the channels opened')
  const channel = bulk
  const chunk = new Uint8Array(chunkBytes)
  // Keep a few chunks queued in the SCTP stack and no more: the shaped link, not our own send
  // buffer, must set the pace, and an unbounded queue would hide nothing but memory growth.
  const highWaterBytes = 16 * chunkBytes
  channel.bufferedAmountLowThreshold = 4 * chunkBytes
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`bulk transfer not acknowledged after ${timeoutMs} ms`)),
      timeoutMs,
    )
    onBulkDone = (message) => {
      clearTimeout(timer)
      resolve(message)
    }
  })
  probe.send(JSON.stringify({ type: 'bulk-start', bytes }))
  const startedAt = performance.now()
  let sent = 0
  while (sent < bytes) {
    if (channel.bufferedAmount > highWaterBytes) {
      await new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true }))
      continue
    }
    const size = Math.min(chunkBytes, bytes - sent)
    channel.send(size === chunkBytes ? chunk : chunk.subarray(0, size))
    sent += size
  }
  const ack = await done
  emit({ type: 'bulk', bytes: ack.bytes, elapsedMs: performance.now() - startedAt })
}

/** "local-type address -> remote-type address: state" for every candidate pair getStats() knows. */
async function pairSummary(peer) {
  const report = await peer.getStats()
  const byId = new Map()
  report.forEach((entry) => byId.set(entry.id, entry))
  const name = (id) => {
    const c = byId.get(id)
    return c === undefined ? '?' : `${c.candidateType} ${c.address ?? c.ip}:${c.port}`
  }
  const pairs = []
  for (const entry of byId.values()) {
    if (entry.type === 'candidate-pair') {
      pairs.push(`${name(entry.localCandidateId)} -> ${name(entry.remoteCandidateId)}: ${entry.state}`)
    }
  }
  return pairs.length === 0 ? 'none' : pairs.join('; ')
}

async function stats() {
  if (pc === undefined) throw new Error('stats before start')
  const report = await pc.getStats()
  const byId = new Map()
  report.forEach((entry) => byId.set(entry.id, entry))
  let pair
  for (const entry of byId.values()) {
    if (entry.type === 'transport' && entry.selectedCandidatePairId)
      pair = byId.get(entry.selectedCandidatePairId)
  }
  if (pair === undefined) {
    for (const entry of byId.values()) {
      if (entry.type === 'candidate-pair' && entry.state === 'succeeded' && entry.nominated) pair = entry
    }
  }
  if (pair === undefined) throw new Error('no selected candidate pair in getStats()')
  const describe = (candidate) =>
    candidate === undefined
      ? undefined
      : {
          candidateType: candidate.candidateType,
          address: candidate.address ?? candidate.ip,
          port: candidate.port,
          protocol: candidate.protocol,
          relayProtocol: candidate.relayProtocol,
        }
  emit({
    type: 'stats',
    local: describe(byId.get(pair.localCandidateId)),
    remote: describe(byId.get(pair.remoteCandidateId)),
    currentRoundTripTimeMs:
      typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : undefined,
  })
}

async function handle(message) {
  switch (message.type) {
    case 'start':
      return start(message)
    case 'description':
      return onDescription(message.description)
    case 'candidate':
      return onCandidate(message.candidate)
    case 'ping':
      return ping(message)
    case 'bulk':
      return sendBulk(message)
    case 'stats':
      return stats()
    case 'close':
      pc?.close()
      process.exit(0)
      return undefined
    default:
      throw new Error(`unknown command ${JSON.stringify(message.type)}`)
  }
}

// Commands run one after another, in the order the parent sent them.
let queue = Promise.resolve()
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === '') return
  queue = queue.then(() => handle(JSON.parse(line))).catch(fail)
})
// The parent going away (stdin closed) ends the peer too: no orphans inside a namespace.
process.stdin.on('end', () => {
  pc?.close()
  process.exit(0)
})
