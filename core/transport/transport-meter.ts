/**
 * Per-transport traffic counters. Rates are averaged over the interval between two `sample`
 * calls (the stats refresh period), which is what a per-peer bandwidth display wants: stable
 * for a second, not a spike per chunk.
 */
export class TransportMeter {
  bytesSent = 0
  bytesReceived = 0
  messagesSent = 0
  messagesReceived = 0
  private sendRate = 0
  private receiveRate = 0
  private lastSampleMs: number
  private lastBytesSent = 0
  private lastBytesReceived = 0

  constructor(nowMs: number) {
    this.lastSampleMs = nowMs
  }

  get sendRateBytesPerSec(): number {
    return this.sendRate
  }

  get receiveRateBytesPerSec(): number {
    return this.receiveRate
  }

  /**
   * Recomputes both rates from the bytes counted since the previous sample. A sample taken
   * with no time elapsed (or a clock that stepped back) keeps the previous rates.
   */
  sample(nowMs: number): void {
    const elapsedMs = nowMs - this.lastSampleMs
    if (!(elapsedMs > 0)) return
    this.sendRate = ((this.bytesSent - this.lastBytesSent) * 1000) / elapsedMs
    this.receiveRate = ((this.bytesReceived - this.lastBytesReceived) * 1000) / elapsedMs
    this.lastSampleMs = nowMs
    this.lastBytesSent = this.bytesSent
    this.lastBytesReceived = this.bytesReceived
  }
}
