// A UDP round-trip probe driven over stdio (one JSON object per line), for measuring what the
// emulated network really does. It speaks just enough TURN (RFC 8656: Allocate with long-term
// credentials, CreatePermission, Send/Data indications, Refresh) to take the same path relayed
// WebRTC peers take, and plain UDP for direct (routed or loopback) paths. Every probe answers
// pings it receives, so two probes measure each other. Plain .mjs: runs under `ip netns exec`.
//
// Parent -> probe:
//   { type: 'turn-allocate', server: { address, port }, username, credential }
//   { type: 'udp-bind', address }                 plain UDP on address:0 instead of TURN
//   { type: 'permit', address }                   TURN: let datagrams from this IP in
//   { type: 'ping', peer: { address, port }, count, gapMs, timeoutMs, pipelined? }
//   { type: 'sink-report' }                       bytes of blast datagrams received so far
//   { type: 'blast', peer, durationMs, offeredMbit, payloadBytes }  paced plain-UDP flood
//   { type: 'close' }                             TURN: releases the allocation first
// Probe -> parent:
//   { type: 'allocated', relayed: { address, port }, mapped: { address, port } }
//   { type: 'bound', address, port }
//   { type: 'permitted' }
//   { type: 'ping', samplesMs, lost, errors }      errors: send errors seen (e.g. ENETUNREACH)
//   { type: 'sink', packets, bytes, firstMs, lastMs }  arrival times of the first and last one
//   { type: 'blasted', packets, bytes }
//   { type: 'error', message }                     then exit status 1
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import { Buffer } from 'node:buffer'
import process from 'node:process'
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers'

const MAGIC_COOKIE = 0x2112a442
const METHOD = { allocate: 0x0003, refresh: 0x0004, createPermission: 0x0008, send: 0x0006, data: 0x0007 }
const CLASS = { request: 0x0000, indication: 0x0010, success: 0x0100, error: 0x0110 }
const ATTR = {
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  lifetime: 0x000d,
  xorPeerAddress: 0x0012,
  data: 0x0013,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedTransport: 0x0019,
  xorMappedAddress: 0x0020,
}
/** A STUN request is resent this often until answered, at most this many times (RFC 8489 §6.2.1 in spirit). */
const REQUEST_RETRY_MS = 250
const REQUEST_ATTEMPTS = 12
/** Payload: 1 byte kind, 4 bytes sequence number, 8 bytes this probe's id (ignores strays). */
const PING = 1
const PONG = 2
/** Blast datagrams start with this byte and are counted, not answered. */
const BLAST = 3
/** Receive buffer for blasts: a descheduled receiver must not drop what the shaper let through. */
const RECV_BUFFER_BYTES = 4 * 1024 * 1024
/** A blast sends whatever is due every this many ms; the shaper's queue absorbs the jitter. */
const BLAST_TICK_MS = 2

function emit(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

function fail(err) {
  emit({ type: 'error', message: err instanceof Error ? err.message : String(err) })
  process.exit(1)
}

function attribute(type, value) {
  const padded = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4)
  padded.writeUInt16BE(type, 0)
  padded.writeUInt16BE(value.length, 2)
  value.copy(padded, 4)
  return padded
}

function xorAddress({ address, port }) {
  const value = Buffer.alloc(8)
  value.writeUInt8(0x01, 1)
  value.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 2)
  const octets = address.split('.').map(Number)
  value.writeUInt32BE(
    (((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) ^ MAGIC_COOKIE) >>> 0,
    4,
  )
  return value
}

function readXorAddress(value) {
  if (value.length < 8 || value.readUInt8(1) !== 0x01)
    throw new Error('only IPv4 XOR addresses are supported')
  const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16)
  const raw = (value.readUInt32BE(4) ^ MAGIC_COOKIE) >>> 0
  return { address: [raw >>> 24, (raw >>> 16) & 255, (raw >>> 8) & 255, raw & 255].join('.'), port }
}

/** Encodes a STUN message; with `key`, appends MESSAGE-INTEGRITY over everything before it. */
function encode(type, transactionId, attributes, key) {
  const body = Buffer.concat(attributes)
  const header = Buffer.alloc(20)
  header.writeUInt16BE(type, 0)
  header.writeUInt16BE(body.length + (key === undefined ? 0 : 24), 2)
  header.writeUInt32BE(MAGIC_COOKIE, 4)
  transactionId.copy(header, 8)
  if (key === undefined) return Buffer.concat([header, body])
  const mac = createHmac('sha1', key).update(header).update(body).digest()
  return Buffer.concat([header, body, attribute(ATTR.messageIntegrity, mac)])
}

/** Decodes a STUN message, or returns undefined for anything else. */
function decode(datagram) {
  if (datagram.length < 20 || datagram.readUInt32BE(4) !== MAGIC_COOKIE) return undefined
  const length = datagram.readUInt16BE(2)
  if (20 + length > datagram.length) return undefined
  const attributes = new Map()
  for (let at = 20; at + 4 <= 20 + length;) {
    const type = datagram.readUInt16BE(at)
    const size = datagram.readUInt16BE(at + 2)
    if (at + 4 + size > datagram.length) return undefined
    if (!attributes.has(type)) attributes.set(type, datagram.subarray(at + 4, at + 4 + size))
    at += 4 + Math.ceil(size / 4) * 4
  }
  return { type: datagram.readUInt16BE(0), transactionId: datagram.subarray(8, 20), attributes }
}

const socket = createSocket('udp4')
const probeId = randomBytes(8)
/** @type {Map<string, (message: ReturnType<typeof decode>) => void>} */
const pendingRequests = new Map()
/** @type {Map<number, (arrivedAtMs: number) => void>} */
const pendingPongs = new Map()
/** @type {{ server: { address: string, port: number }, username: string, realm: string, nonce: Buffer, key: Buffer } | undefined} */
let turn
const sendErrors = new Set()

/** Sends a request until a response with its transaction id arrives. */
async function request(method, attributes, server, key) {
  const transactionId = randomBytes(12)
  const datagram = encode(method | CLASS.request, transactionId, attributes, key)
  const id = transactionId.toString('hex')
  try {
    return await new Promise((resolve, reject) => {
      let attempts = 0
      const send = () => {
        attempts += 1
        if (attempts > REQUEST_ATTEMPTS) {
          clearInterval(timer)
          reject(
            new Error(`no answer from ${server.address}:${server.port} after ${REQUEST_ATTEMPTS} attempts`),
          )
          return
        }
        socket.send(datagram, server.port, server.address)
      }
      const timer = setInterval(send, REQUEST_RETRY_MS)
      pendingRequests.set(id, (message) => {
        clearInterval(timer)
        resolve(message)
      })
      send()
    })
  } finally {
    pendingRequests.delete(id)
  }
}

function errorCode(message) {
  const value = message.attributes.get(ATTR.errorCode)
  return value === undefined ? undefined : value.readUInt8(2) * 100 + value.readUInt8(3)
}

function authAttributes() {
  if (turn === undefined) throw new Error('no TURN allocation')
  return [
    attribute(ATTR.username, Buffer.from(turn.username)),
    attribute(ATTR.realm, Buffer.from(turn.realm)),
    attribute(ATTR.nonce, turn.nonce),
  ]
}

/** An authenticated request; refreshes the nonce once on 438 (stale nonce). */
async function authenticated(method, attributes) {
  if (turn === undefined) throw new Error('no TURN allocation')
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await request(method, [...attributes, ...authAttributes()], turn.server, turn.key)
    if ((response.type & 0x0110) === CLASS.success) return response
    const nonce = response.attributes.get(ATTR.nonce)
    if (errorCode(response) !== 438 || nonce === undefined) {
      throw new Error(`TURN method 0x${method.toString(16)} failed with error ${errorCode(response)}`)
    }
    turn.nonce = Buffer.from(nonce)
  }
  throw new Error('TURN server keeps answering 438 (stale nonce)')
}

async function allocate({ server, username, credential }) {
  const transport = attribute(ATTR.requestedTransport, Buffer.from([17, 0, 0, 0]))
  const challenge = await request(METHOD.allocate, [transport], server, undefined)
  const realm = challenge.attributes.get(ATTR.realm)
  const nonce = challenge.attributes.get(ATTR.nonce)
  if (errorCode(challenge) !== 401 || realm === undefined || nonce === undefined) {
    throw new Error(`expected a 401 challenge from the TURN server, got error ${errorCode(challenge)}`)
  }
  const key = createHash('md5').update(`${username}:${realm.toString()}:${credential}`).digest()
  turn = { server, username, realm: realm.toString(), nonce: Buffer.from(nonce), key }
  const response = await authenticated(METHOD.allocate, [transport])
  const relayed = response.attributes.get(ATTR.xorRelayedAddress)
  const mapped = response.attributes.get(ATTR.xorMappedAddress)
  if (relayed === undefined) throw new Error('Allocate success without XOR-RELAYED-ADDRESS')
  emit({
    type: 'allocated',
    relayed: readXorAddress(relayed),
    mapped: mapped === undefined ? undefined : readXorAddress(mapped),
  })
}

function payload(kind, seq, id) {
  const buffer = Buffer.alloc(13)
  buffer.writeUInt8(kind, 0)
  buffer.writeUInt32BE(seq, 1)
  id.copy(buffer, 5)
  return buffer
}

/** Sends application bytes to a peer: inside a Send indication with TURN, bare otherwise. */
function sendTo(peer, bytes) {
  const datagram =
    turn === undefined
      ? bytes
      : encode(METHOD.send | CLASS.indication, randomBytes(12), [
          attribute(ATTR.xorPeerAddress, xorAddress(peer)),
          attribute(ATTR.data, bytes),
        ])
  const target = turn === undefined ? peer : turn.server
  socket.send(datagram, target.port, target.address, (err) => {
    if (err) sendErrors.add(err.code ?? err.message)
  })
}

const sink = { packets: 0, bytes: 0, firstMs: 0, lastMs: 0 }

function onApplicationBytes(bytes, from) {
  if (bytes.length > 0 && bytes.readUInt8(0) === BLAST) {
    const now = performance.now()
    if (sink.packets === 0) sink.firstMs = now
    sink.lastMs = now
    sink.packets += 1
    sink.bytes += bytes.length
    return
  }
  if (bytes.length !== 13) return
  const kind = bytes.readUInt8(0)
  const seq = bytes.readUInt32BE(1)
  if (kind === PING) sendTo(from, payload(PONG, seq, bytes.subarray(5)))
  else if (kind === PONG && bytes.subarray(5).equals(probeId)) pendingPongs.get(seq)?.(performance.now())
}

socket.on('message', (datagram, rinfo) => {
  // Our own payloads are 13 bytes, too short to parse as STUN, so the two never mix up.
  const message = decode(datagram)
  if (message === undefined) {
    onApplicationBytes(datagram, rinfo)
    return
  }
  if (message.type === (METHOD.data | CLASS.indication)) {
    const peer = message.attributes.get(ATTR.xorPeerAddress)
    const data = message.attributes.get(ATTR.data)
    if (peer !== undefined && data !== undefined) onApplicationBytes(data, readXorAddress(peer))
    return
  }
  pendingRequests.get(message.transactionId.toString('hex'))?.(message)
})
socket.on('error', fail)

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Sequential pings wait for each pong (or its timeout) before the next: clean RTT samples.
 * Pipelined pings go out every gapMs regardless, then stragglers get timeoutMs: many datagrams
 * in little time, for counting losses.
 */
async function ping({ peer, count, gapMs, timeoutMs, pipelined = false }) {
  const samplesMs = []
  let lost = 0
  const one = (seq) =>
    new Promise((resolve) => {
      const sentAt = performance.now()
      const timer = setTimeout(() => resolve(undefined), timeoutMs)
      pendingPongs.set(seq, (t) => {
        clearTimeout(timer)
        resolve(t - sentAt)
      })
      sendTo(peer, payload(PING, seq, probeId))
    }).then((rttMs) => {
      pendingPongs.delete(seq)
      if (rttMs === undefined) lost += 1
      else samplesMs.push(rttMs)
    })
  const inFlight = []
  for (let seq = 0; seq < count; seq++) {
    if (pipelined) inFlight.push(one(seq))
    else await one(seq)
    await sleep(gapMs)
  }
  await Promise.all(inFlight)
  emit({ type: 'ping', samplesMs, lost, errors: [...sendErrors] })
}

/** Sends payloadBytes-sized datagrams to peer at offeredMbit for durationMs, paced per tick. */
async function blast({ peer, durationMs, offeredMbit, payloadBytes }) {
  const datagram = Buffer.alloc(payloadBytes)
  datagram.writeUInt8(BLAST, 0)
  const packetsPerMs = (offeredMbit * 1000) / 8 / payloadBytes
  const startedAt = performance.now()
  let packets = 0
  for (;;) {
    const elapsedMs = performance.now() - startedAt
    if (elapsedMs >= durationMs) break
    const due = Math.floor(elapsedMs * packetsPerMs)
    for (; packets < due; packets++) sendTo(peer, datagram)
    await sleep(BLAST_TICK_MS)
  }
  emit({ type: 'blasted', packets, bytes: packets * payloadBytes })
}

async function handle(message) {
  switch (message.type) {
    case 'turn-allocate':
      await new Promise((resolve) => socket.bind(0, resolve))
      return allocate(message)
    case 'udp-bind':
      await new Promise((resolve) => socket.bind(0, message.address, resolve))
      socket.setRecvBufferSize(RECV_BUFFER_BYTES)
      emit({ type: 'bound', ...socket.address() })
      return undefined
    case 'permit':
      await authenticated(METHOD.createPermission, [
        attribute(ATTR.xorPeerAddress, xorAddress({ address: message.address, port: 0 })),
      ])
      emit({ type: 'permitted' })
      return undefined
    case 'ping':
      return ping(message)
    case 'blast':
      return blast(message)
    case 'sink-report':
      emit({ type: 'sink', ...sink })
      return undefined
    case 'close':
      if (turn !== undefined) {
        const lifetime = Buffer.alloc(4)
        await authenticated(METHOD.refresh, [attribute(ATTR.lifetime, lifetime)]).catch(() => undefined)
      }
      process.exit(0)
      return undefined
    default:
      throw new Error(`unknown command ${JSON.stringify(message.type)}`)
  }
}

let queue = Promise.resolve()
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === '') return
  queue = queue.then(() => handle(JSON.parse(line))).catch(fail)
})
process.stdin.on('end', () => process.exit(0))
