import { describe, expect, it } from 'vitest'
import { REJECTION_REASONS, SignalMetrics } from '../../../signaling-server/metrics.ts'

const GAUGES = { connections: 3, peers: 2, rooms: 1, draining: false }
const MEMORY = { rss: 50_000_000, heapUsed: 10_000_000, heapTotal: 20_000_000, external: 1_000_000 }

function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

describe('metrics', () => {
  it('renders gauges, counters and memory in the Prometheus text format', () => {
    const m = new SignalMetrics()
    m.connectionsTotal = 4
    m.messagesRelayedTotal = 9
    m.reject('auth_failed')
    m.reject('auth_failed')
    const text = m.render(GAUGES, MEMORY, 12.5)
    expect(text.endsWith('\n')).toBe(true)
    const s = samples(text)
    expect(s.get('longhaul_signal_connections')).toBe(3)
    expect(s.get('longhaul_signal_peers')).toBe(2)
    expect(s.get('longhaul_signal_rooms')).toBe(1)
    expect(s.get('longhaul_signal_draining')).toBe(0)
    expect(s.get('longhaul_signal_connections_total')).toBe(4)
    expect(s.get('longhaul_signal_messages_relayed_total')).toBe(9)
    expect(s.get('longhaul_signal_rejections_total{reason="auth_failed"}')).toBe(2)
    expect(s.get('process_resident_memory_bytes')).toBe(50_000_000)
    expect(s.get('nodejs_heap_used_bytes')).toBe(10_000_000)
    expect(s.get('process_uptime_seconds')).toBe(12.5)
  })

  it('exports every rejection reason from the start, at zero', () => {
    const s = samples(new SignalMetrics().render(GAUGES, MEMORY, 0))
    for (const r of REJECTION_REASONS)
      expect(s.get(`longhaul_signal_rejections_total{reason="${r}"}`)).toBe(0)
  })

  it('declares HELP and TYPE once per metric family, before its samples', () => {
    const lines = new SignalMetrics()
      .render({ ...GAUGES, draining: true }, MEMORY, 0)
      .trim()
      .split('\n')
    const typed = new Set<string>()
    for (const line of lines) {
      const t = /^# TYPE (\S+) (gauge|counter)$/.exec(line)
      if (t?.[1] !== undefined) {
        expect(typed.has(t[1])).toBe(false)
        typed.add(t[1])
        continue
      }
      if (line.startsWith('#')) continue
      const name = line.split(/[{ ]/)[0] ?? ''
      expect(typed.has(name), name).toBe(true)
    }
    expect(samples(lines.join('\n')).get('longhaul_signal_draining')).toBe(1)
  })
})
