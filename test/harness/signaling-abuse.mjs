// Sends malformed and oversized messages to a signaling server, one fresh WebSocket per probe,
// and reports what the server answered: run inside an emulated host (`topology.exec`), so the
// frames cross the same shaped access link as the nodes' signaling traffic.
//
//   node signaling-abuse.mjs <ws-url> <http-url> <max-message-bytes>
//
// Prints one JSON line per probe: {"probe", "errors": [{code, message, fatal}], "closeCode",
// "closeReason"}, then {"probe": "healthz", "status", "body"}: the server's /healthz after
// every probe, to show it still serves. Exits 0 when every probe got a close (whatever its
// code: the test judges the codes), 1 on a probe that got no close within the timeout.
// Plain .mjs (no tsx) so it starts fast inside a namespace.
import { Buffer } from 'node:buffer'
import { get } from 'node:http'
import { clearTimeout, setTimeout } from 'node:timers'
import { WebSocket } from 'ws'

const [url, httpUrl, maxBytesArg] = process.argv.slice(2)
const maxBytes = Number(maxBytesArg)
if (url === undefined || httpUrl === undefined || !(maxBytes > 0)) {
  console.error('usage: signaling-abuse.mjs <ws-url> <http-url> <max-message-bytes>')
  process.exit(2)
}
const PROBE_TIMEOUT_MS = 15_000

/** A join message padded (in the room name's place) to exactly `bytes` bytes of JSON. */
function paddedJoin(bytes) {
  const bare = JSON.stringify({ type: 'join', v: 1, room: '', peerId: 'abuser' })
  return JSON.stringify({ type: 'join', v: 1, room: 'r'.repeat(bytes - bare.length), peerId: 'abuser' })
}

const PROBES = [
  ['malformed-json', '{"type":"join","v":1,'],
  ['unknown-type', JSON.stringify({ type: 'hello', v: 1 })],
  ['unknown-field', JSON.stringify({ type: 'join', v: 1, room: 'r', peerId: 'abuser', admin: true })],
  ['binary-frame', Buffer.from([0xde, 0xad, 0xbe, 0xef])],
  [
    'signal-before-join',
    JSON.stringify({ type: 'signal', v: 1, to: 'someone', data: { type: 'renegotiate', renegotiate: true } }),
  ],
  // Above the limit but below ws's hard cap (2x): the server reads it and answers.
  ['over-limit', paddedJoin(maxBytes + 1)],
  // Above the hard cap: ws cuts the connection before buffering the frame (1009, no message).
  ['over-hard-cap', paddedJoin(2 * maxBytes + 1)],
]

function probe(name, payload) {
  return new Promise((resolve) => {
    const socket = new WebSocket(url)
    const errors = []
    const timer = setTimeout(() => {
      socket.terminate()
      resolve({ probe: name, errors, closeCode: null, closeReason: 'no close within the timeout' })
    }, PROBE_TIMEOUT_MS)
    socket.on('open', () => socket.send(payload))
    socket.on('message', (data) => {
      try {
        const message = JSON.parse(data.toString('utf8'))
        if (message.type === 'error')
          errors.push({ code: message.code, message: message.message, fatal: message.fatal })
      } catch {
        errors.push({ code: 'UNPARSEABLE', message: data.toString('utf8').slice(0, 200), fatal: null })
      }
    })
    socket.on('error', () => {
      // 'close' follows.
    })
    socket.on('close', (code, reason) => {
      clearTimeout(timer)
      resolve({ probe: name, errors, closeCode: code, closeReason: reason.toString() })
    })
  })
}

let allClosed = true
for (const [name, payload] of PROBES) {
  const result = await probe(name, payload)
  if (result.closeCode === null) allClosed = false
  console.log(JSON.stringify(result))
}
const health = await new Promise((resolve) => {
  get(`${httpUrl}/healthz`, (res) => {
    let body = ''
    res.on('data', (chunk) => (body += chunk.toString('utf8')))
    res.on('end', () => resolve({ status: res.statusCode, body }))
  }).on('error', (err) => resolve({ status: null, body: String(err) }))
})
console.log(JSON.stringify({ probe: 'healthz', ...health }))
process.exit(allClosed ? 0 : 1)
