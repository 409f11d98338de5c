/**
 * Reads the path a WebRTC connection uses out of `RTCPeerConnection.getStats()` reports.
 *
 * The selected candidate pair is found, in order of preference, through the 'transport'
 * report's `selectedCandidatePairId` (the spec; Chromium, libwebrtc in Node), a pair flagged
 * `selected` (Firefox), or a pair that is 'succeeded' and `nominated`. Its local and remote
 * candidates give the connection type; its `currentRoundTripTime` (seconds) gives the RTT,
 * with `totalRoundTripTime / responsesReceived` as the fallback.
 *
 * Reports come from the WebRTC implementation and differ between browsers and versions, so
 * every field is checked for its type; a report that does not fit is ignored.
 */
import type { CandidateInfo, IceCandidateType } from './peer-transport.ts'

export interface IceSummary {
  readonly connectionType?: IceCandidateType
  readonly localCandidate?: CandidateInfo
  readonly remoteCandidate?: CandidateInfo
  readonly rttMs?: number
}

type Report = Readonly<Record<string, unknown>>

const CANDIDATE_TYPES: readonly IceCandidateType[] = ['host', 'srflx', 'prflx', 'relay']

/** How far a path is from direct: the connection type is the worse end. */
const TYPE_RANK: Readonly<Record<IceCandidateType, number>> = { host: 0, prflx: 1, srflx: 1, relay: 2 }

function isReport(value: unknown): value is Report {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isCandidateType(value: unknown): value is IceCandidateType {
  return typeof value === 'string' && (CANDIDATE_TYPES as readonly string[]).includes(value)
}

function str(report: Report, key: string): string | undefined {
  const value = report[key]
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

function num(report: Report, key: string): number | undefined {
  const value = report[key]
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

function typeOf(report: Report): string | undefined {
  return str(report, 'type')
}

function candidateInfo(report: Report | undefined): CandidateInfo | undefined {
  if (report === undefined) return undefined
  const type = report.candidateType
  if (!isCandidateType(type)) return undefined
  const address = str(report, 'address') ?? str(report, 'ip')
  const port = num(report, 'port')
  const protocol = str(report, 'protocol')
  const relayProtocol = str(report, 'relayProtocol')
  return {
    type,
    ...(address !== undefined && { address }),
    ...(port !== undefined && { port }),
    ...(protocol !== undefined && { protocol }),
    ...(relayProtocol !== undefined && { relayProtocol }),
  }
}

function selectPair(reports: readonly Report[], byId: ReadonlyMap<string, Report>): Report | undefined {
  for (const report of reports) {
    if (typeOf(report) !== 'transport') continue
    const id = str(report, 'selectedCandidatePairId')
    const pair = id === undefined ? undefined : byId.get(id)
    if (pair !== undefined && typeOf(pair) === 'candidate-pair') return pair
  }
  const pairs = reports.filter((r) => typeOf(r) === 'candidate-pair')
  const flagged = pairs.find((r) => r.selected === true)
  if (flagged !== undefined) return flagged
  // Several nominated pairs can exist briefly; the one that carried the most data is in use.
  let best: Report | undefined
  for (const pair of pairs) {
    if (pair.state !== 'succeeded' || pair.nominated !== true) continue
    if (best === undefined || (num(pair, 'bytesSent') ?? 0) > (num(best, 'bytesSent') ?? 0)) best = pair
  }
  return best
}

function rttMsOf(pair: Report): number | undefined {
  const current = num(pair, 'currentRoundTripTime')
  if (current !== undefined && current >= 0) return current * 1000
  const total = num(pair, 'totalRoundTripTime')
  const responses = num(pair, 'responsesReceived')
  if (total !== undefined && total >= 0 && responses !== undefined && responses > 0) {
    return (total / responses) * 1000
  }
  return undefined
}

/** The path in use, from a getStats() report list; empty when no pair is selected yet. */
export function summarizeIceStats(reports: readonly unknown[]): IceSummary {
  const valid = reports.filter(isReport)
  const byId = new Map<string, Report>()
  for (const report of valid) {
    const id = str(report, 'id')
    if (id !== undefined) byId.set(id, report)
  }
  const pair = selectPair(valid, byId)
  if (pair === undefined) return {}
  const localId = str(pair, 'localCandidateId')
  const remoteId = str(pair, 'remoteCandidateId')
  const localCandidate = candidateInfo(localId === undefined ? undefined : byId.get(localId))
  const remoteCandidate = candidateInfo(remoteId === undefined ? undefined : byId.get(remoteId))
  const connectionType = worseType(localCandidate?.type, remoteCandidate?.type)
  const rttMs = rttMsOf(pair)
  return {
    ...(connectionType !== undefined && { connectionType }),
    ...(localCandidate !== undefined && { localCandidate }),
    ...(remoteCandidate !== undefined && { remoteCandidate }),
    ...(rttMs !== undefined && { rttMs }),
  }
}

function worseType(
  local: IceCandidateType | undefined,
  remote: IceCandidateType | undefined,
): IceCandidateType | undefined {
  if (local === undefined) return remote
  if (remote === undefined) return local
  return TYPE_RANK[remote] > TYPE_RANK[local] ? remote : local
}
