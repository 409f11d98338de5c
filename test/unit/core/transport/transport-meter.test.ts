import { describe, expect, it } from 'vitest'
import { TransportMeter } from '../../../../core/transport/transport-meter.ts'

describe('TransportMeter', () => {
  it('reports zero rates before the first sample', () => {
    const meter = new TransportMeter(0)
    meter.bytesSent = 1000
    expect(meter.sendRateBytesPerSec).toBe(0)
  })

  it('averages each direction over the interval since the previous sample', () => {
    const meter = new TransportMeter(1000)
    meter.bytesSent += 5000
    meter.bytesReceived += 250
    meter.sample(1500)
    expect(meter.sendRateBytesPerSec).toBe(10_000)
    expect(meter.receiveRateBytesPerSec).toBe(500)
    meter.bytesSent += 1000
    meter.sample(3500)
    expect(meter.sendRateBytesPerSec).toBe(500)
    expect(meter.receiveRateBytesPerSec).toBe(0)
  })

  it('keeps the previous rates when no time has passed or the clock stepped back', () => {
    const meter = new TransportMeter(0)
    meter.bytesSent = 100
    meter.sample(100)
    meter.bytesSent = 1_000_000
    meter.sample(100)
    meter.sample(50)
    expect(meter.sendRateBytesPerSec).toBe(1000)
  })
})
