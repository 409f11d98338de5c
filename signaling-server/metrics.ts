/**
 * Prometheus metrics in the text exposition format (version 0.0.4), without a client
 * library: a few counters kept here, gauges read at scrape time. Process memory is
 * included so a load test can measure memory per connection on the server process.
 */

/** Why a message or connection was refused; one label value of longhaul_signal_rejections_total. */
export const REJECTION_REASONS = [
  'bad_message',
  'auth_failed',
  'duplicate_peer',
  'too_large',
  'rate_limited',
  'room_full',
  'too_many_rooms',
  'too_many_connections',
  'idle_timeout',
  'unknown_peer',
  'slow_consumer',
] as const

export type RejectionReason = (typeof REJECTION_REASONS)[number]

/** Values read when /metrics is scraped. */
export interface GaugeSnapshot {
  readonly connections: number
  readonly peers: number
  readonly rooms: number
  readonly draining: boolean
}

/** What `process.memoryUsage()` returns (the fields exported). */
export interface MemorySnapshot {
  readonly rss: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
}

/** The server's counters; monotonic for the life of the process. */
export class SignalMetrics {
  connectionsTotal = 0
  joinsTotal = 0
  messagesReceivedTotal = 0
  messagesRelayedTotal = 0
  readonly rejections = new Map<RejectionReason, number>(REJECTION_REASONS.map((r) => [r, 0]))

  reject(reason: RejectionReason): void {
    this.rejections.set(reason, (this.rejections.get(reason) ?? 0) + 1)
  }

  /** The exposition text for one scrape. */
  render(gauges: GaugeSnapshot, memory: MemorySnapshot, uptimeSeconds: number): string {
    const out: string[] = []
    const metric = (
      name: string,
      type: 'gauge' | 'counter',
      help: string,
      samples: [string, number][],
    ): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`)
    }
    metric('longhaul_signal_connections', 'gauge', 'Open WebSocket connections.', [['', gauges.connections]])
    metric('longhaul_signal_peers', 'gauge', 'Connections that completed a join.', [['', gauges.peers]])
    metric('longhaul_signal_rooms', 'gauge', 'Rooms with at least one member.', [['', gauges.rooms]])
    metric('longhaul_signal_draining', 'gauge', '1 while shutting down, else 0.', [
      ['', gauges.draining ? 1 : 0],
    ])
    metric('longhaul_signal_connections_total', 'counter', 'WebSocket connections accepted.', [
      ['', this.connectionsTotal],
    ])
    metric('longhaul_signal_joins_total', 'counter', 'Successful joins.', [['', this.joinsTotal]])
    metric('longhaul_signal_messages_received_total', 'counter', 'Messages received from clients.', [
      ['', this.messagesReceivedTotal],
    ])
    metric('longhaul_signal_messages_relayed_total', 'counter', 'Signal messages relayed between peers.', [
      ['', this.messagesRelayedTotal],
    ])
    metric(
      'longhaul_signal_rejections_total',
      'counter',
      'Messages or connections refused, by reason.',
      [...this.rejections].map(([reason, n]) => [`{reason="${reason}"}`, n]),
    )
    metric('process_resident_memory_bytes', 'gauge', 'Resident set size of the server process.', [
      ['', memory.rss],
    ])
    metric('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use.', [['', memory.heapUsed]])
    metric('nodejs_heap_total_bytes', 'gauge', 'V8 heap reserved.', [['', memory.heapTotal]])
    metric('nodejs_external_memory_bytes', 'gauge', 'Memory of C++ objects bound to JS (buffers).', [
      ['', memory.external],
    ])
    metric('process_uptime_seconds', 'gauge', 'Seconds since the server started.', [['', uptimeSeconds]])
    return `${out.join('\n')}\n`
  }
}
