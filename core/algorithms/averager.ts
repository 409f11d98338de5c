/**
 * Averages one round's payloads. Every worker decodes the same payloads (its own included, as
 * its peers see it) and adds them in ascending worker order into a Float64 accumulator, so
 * workers that average the same set of contributions get bit-identical results.
 */
import type { DeltaChannel } from './delta-channel.ts'
import { accumulate, scaleInto } from './vector-ops.ts'

export class Averager {
  private readonly acc: Float64Array
  private readonly scratch: Float32Array

  constructor(size: number) {
    this.acc = new Float64Array(size)
    this.scratch = new Float32Array(size)
  }

  /**
   * out = (1 / (1 + received.length)) · (decode(own) + Σ decode(received)), in ascending worker
   * order. `received` must be sorted by worker and must not contain `selfIndex`. The payloads
   * were validated on arrival; decoding is deterministic, so this does not fail for them.
   */
  average(
    channel: DeltaChannel,
    round: number,
    selfIndex: number,
    ownPayload: Uint8Array,
    received: ReadonlyArray<readonly [number, Uint8Array]>,
    out: Float32Array,
  ): void {
    this.acc.fill(0)
    let ownDone = false
    for (const [peer, payload] of received) {
      if (!ownDone && selfIndex < peer) {
        channel.decode(ownPayload, round, selfIndex, this.scratch)
        accumulate(this.acc, this.scratch)
        ownDone = true
      }
      channel.decode(payload, round, peer, this.scratch)
      accumulate(this.acc, this.scratch)
    }
    if (!ownDone) {
      channel.decode(ownPayload, round, selfIndex, this.scratch)
      accumulate(this.acc, this.scratch)
    }
    scaleInto(out, this.acc, 1 / (received.length + 1))
  }
}
