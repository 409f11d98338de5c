/**
 * Two real WebRTC peers (@roamhq/wrtc, one wrtc-peer.mjs process per emulated host) connected
 * through a topology, for checking what WebRTC itself sees on the emulated links: which candidate
 * pair ICE selects, the round trip over a data channel, and bulk throughput.
 */
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { HarnessError } from './harness-error.ts'
import type { JsonLine, ManagedProcess } from './managed-process.ts'
import { isRecord, numberArrayField, numberField } from './managed-process.ts'
import type { Topology } from './netns.ts'

const PEER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wrtc-peer.mjs')
/** Allocating a relay candidate takes two RTTs through the delay relay; ICE checks a few more. */
const CONNECT_TIMEOUT_MS = 20_000
const STATS_TIMEOUT_MS = 5_000

/** One end of the selected ICE candidate pair. */
export interface CandidateInfo {
  readonly candidateType: string
  readonly address: string | undefined
  readonly port: number | undefined
}

/** The candidate pair ICE selected, as getStats() reports it on the offerer. */
export interface SelectedPair {
  readonly local: CandidateInfo
  readonly remote: CandidateInfo
  /** ICE's own STUN round trip on that pair, in ms, when the stack reports it. */
  readonly currentRoundTripTimeMs: number | undefined
}

/** Options of connectWrtcPair(). */
export interface WrtcPairOptions {
  /** 'relay' forbids host/srflx candidates; default 'all'. */
  readonly iceTransportPolicy?: 'all' | 'relay'
}

/** A connected pair; close() ends both processes. */
export interface WrtcPair {
  /** Sequential ping-pongs over a reliable ordered data channel; RTTs in ms, in order. */
  ping(count: number, gapMs?: number): Promise<{ samplesMs: number[]; lost: number }>
  /** Sends `bytes` from offerer to answerer; elapsedMs runs from the first send to the receiver's ack. */
  bulk(bytes: number, chunkBytes?: number): Promise<{ bytes: number; elapsedMs: number }>
  selectedPair(): Promise<SelectedPair>
  close(): Promise<void>
}

function candidateInfo(value: unknown): CandidateInfo {
  if (!isRecord(value) || typeof value['candidateType'] !== 'string') {
    throw new HarnessError('ERR_PROCESS', `not a candidate: ${JSON.stringify(value)}`)
  }
  const address = value['address']
  const port = value['port']
  return {
    candidateType: value['candidateType'],
    address: typeof address === 'string' ? address : undefined,
    port: typeof port === 'number' ? port : undefined,
  }
}

function descriptionOf(line: JsonLine): Record<string, unknown> {
  const description = line['description']
  if (
    !isRecord(description) ||
    typeof description['sdp'] !== 'string' ||
    typeof description['type'] !== 'string'
  ) {
    throw new HarnessError('ERR_PROCESS', `not a session description: ${JSON.stringify(line)}`)
  }
  return { type: description['type'], sdp: description['sdp'] }
}

/**
 * Starts one peer on host `offererHost` and one on `answererHost`, relays offer, answer and
 * trickled ICE candidates between them, and resolves once both data channels are open. Uses the topology's TURN
 * server when it has one. Rejects with HarnessError (ERR_PROCESS, ERR_TIMEOUT) and stops both
 * processes if the connection does not come up.
 */
export async function connectWrtcPair(
  topology: Topology,
  offererHost: number,
  answererHost: number,
  options: WrtcPairOptions = {},
): Promise<WrtcPair> {
  const iceServers = topology.turn === undefined ? [] : [topology.turn]
  const start = (role: string): Record<string, unknown> => ({
    type: 'start',
    role,
    iceServers,
    iceTransportPolicy: options.iceTransportPolicy ?? 'all',
  })
  const offerer = topology.spawn(offererHost, process.execPath, [PEER_SCRIPT])
  const answerer = topology.spawn(answererHost, process.execPath, [PEER_SCRIPT])
  const close = async (): Promise<void> => {
    for (const peer of [offerer, answerer]) if (!peer.hasExited) peer.send({ type: 'close' })
    await Promise.all([offerer.close(), answerer.close()])
  }
  // Trickled candidates go straight across; each peer holds them until it has the remote description.
  const forward = (to: ManagedProcess) => (line: JsonLine) => {
    if (!to.hasExited) to.send({ type: 'candidate', candidate: line['candidate'] })
  }
  offerer.onJson('candidate', forward(answerer))
  answerer.onJson('candidate', forward(offerer))
  try {
    answerer.send(start('answerer'))
    const offer = descriptionOf(await offerer.call(start('offerer'), 'description', CONNECT_TIMEOUT_MS))
    const answer = descriptionOf(
      await answerer.call({ type: 'description', description: offer }, 'description', CONNECT_TIMEOUT_MS),
    )
    offerer.send({ type: 'description', description: answer })
    await offerer.next('open', CONNECT_TIMEOUT_MS)
  } catch (err) {
    await close()
    throw err
  }
  return pairOf(offerer, close)
}

function pairOf(offerer: ManagedProcess, close: () => Promise<void>): WrtcPair {
  return {
    async ping(count, gapMs = 20) {
      const timeoutMs = 5_000
      const reply = await offerer.call(
        { type: 'ping', count, gapMs, timeoutMs },
        'ping',
        count * (gapMs + timeoutMs) + 5_000,
      )
      return { samplesMs: numberArrayField(reply, 'samplesMs'), lost: numberField(reply, 'lost') }
    },
    async bulk(bytes, chunkBytes = 16 * 1024) {
      const timeoutMs = 60_000
      const reply = await offerer.call(
        { type: 'bulk', bytes, chunkBytes, timeoutMs },
        'bulk',
        timeoutMs + 5_000,
      )
      return { bytes: numberField(reply, 'bytes'), elapsedMs: numberField(reply, 'elapsedMs') }
    },
    async selectedPair() {
      const reply = await offerer.call({ type: 'stats' }, 'stats', STATS_TIMEOUT_MS)
      const rtt = reply['currentRoundTripTimeMs']
      return {
        local: candidateInfo(reply['local']),
        remote: candidateInfo(reply['remote']),
        currentRoundTripTimeMs: typeof rtt === 'number' ? rtt : undefined,
      }
    },
    close,
  }
}
