import { describe, expect, it } from 'vitest'
import { summarizeIceStats } from '../../../../core/transport/ice-stats.ts'

// Trimmed from a real @roamhq/wrtc 0.10 getStats() on loopback (simple-peer flattens reports).
const LIBWEBRTC_REPORTS = [
  { id: 'T01', type: 'transport', selectedCandidatePairId: 'CP_used', dtlsState: 'connected' },
  {
    id: 'CP_other',
    type: 'candidate-pair',
    localCandidateId: 'L2',
    remoteCandidateId: 'R2',
    state: 'succeeded',
    nominated: true,
    bytesSent: 10,
    currentRoundTripTime: 0.5,
  },
  {
    id: 'CP_used',
    type: 'candidate-pair',
    localCandidateId: 'L1',
    remoteCandidateId: 'R1',
    state: 'succeeded',
    nominated: true,
    bytesSent: 3473505,
    currentRoundTripTime: 0.004,
    totalRoundTripTime: 0.02,
    responsesReceived: 3,
  },
  {
    id: 'L1',
    type: 'local-candidate',
    address: 'fd00::2',
    port: 35079,
    protocol: 'udp',
    candidateType: 'host',
  },
  {
    id: 'R1',
    type: 'remote-candidate',
    ip: '192.0.2.2',
    port: 42708,
    protocol: 'udp',
    candidateType: 'host',
  },
  { id: 'L2', type: 'local-candidate', address: '::1', port: 1, protocol: 'udp', candidateType: 'relay' },
  { id: 'R2', type: 'remote-candidate', address: '::1', port: 2, protocol: 'udp', candidateType: 'relay' },
]

describe('summarizeIceStats', () => {
  it('follows the transport report to the selected pair and reads its candidates and RTT', () => {
    expect(summarizeIceStats(LIBWEBRTC_REPORTS)).toEqual({
      connectionType: 'host',
      localCandidate: { type: 'host', address: 'fd00::2', port: 35079, protocol: 'udp' },
      remoteCandidate: { type: 'host', address: '192.0.2.2', port: 42708, protocol: 'udp' },
      rttMs: 4,
    })
  })

  it('uses a pair flagged selected when there is no transport report (Firefox)', () => {
    const reports = [
      { id: 'P', type: 'candidate-pair', selected: true, localCandidateId: 'L', remoteCandidateId: 'R' },
      { id: 'L', type: 'local-candidate', candidateType: 'srflx', address: '203.0.113.5', port: 5000 },
      { id: 'R', type: 'remote-candidate', candidateType: 'host', address: '10.0.0.2', port: 6000 },
    ]
    expect(summarizeIceStats(reports).connectionType).toBe('srflx')
  })

  it('falls back to the nominated succeeded pair that carried the most data', () => {
    const reports = LIBWEBRTC_REPORTS.filter((r) => r.type !== 'transport')
    expect(summarizeIceStats(reports).localCandidate?.address).toBe('fd00::2')
  })

  it('reports relay when either end relays, with the relay protocol', () => {
    const reports = [
      { id: 'T', type: 'transport', selectedCandidatePairId: 'P' },
      { id: 'P', type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R', state: 'succeeded' },
      { id: 'L', type: 'local-candidate', candidateType: 'host', address: '10.0.0.1', port: 1 },
      {
        id: 'R',
        type: 'remote-candidate',
        candidateType: 'relay',
        address: '198.51.100.1',
        port: 3478,
        relayProtocol: 'tls',
      },
    ]
    const summary = summarizeIceStats(reports)
    expect(summary.connectionType).toBe('relay')
    expect(summary.remoteCandidate?.relayProtocol).toBe('tls')
  })

  it('derives RTT from total round trip time over responses when the current one is missing', () => {
    const reports = [
      { id: 'T', type: 'transport', selectedCandidatePairId: 'P' },
      { id: 'P', type: 'candidate-pair', totalRoundTripTime: 0.09, responsesReceived: 3 },
    ]
    expect(summarizeIceStats(reports).rttMs).toBeCloseTo(30, 9)
  })

  it('returns nothing when no pair is selected yet', () => {
    const reports = [
      { id: 'P', type: 'candidate-pair', state: 'in-progress', nominated: false },
      { id: 'L', type: 'local-candidate', candidateType: 'host' },
    ]
    expect(summarizeIceStats(reports)).toEqual({})
  })

  it('ignores reports and fields of the wrong shape instead of throwing', () => {
    const reports: unknown[] = [
      null,
      42,
      'transport',
      [],
      { id: 'T', type: 'transport', selectedCandidatePairId: 'L' }, // points at a non-pair
      {
        id: 'P',
        type: 'candidate-pair',
        state: 'succeeded',
        nominated: true,
        localCandidateId: 'L',
        currentRoundTripTime: 'fast',
      },
      { id: 'L', type: 'local-candidate', candidateType: 'wormhole', port: '80' },
    ]
    expect(summarizeIceStats(reports)).toEqual({})
  })
})
