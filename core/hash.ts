/**
 * Small non-cryptographic hashes used for fingerprints (parameter layouts, run manifests,
 * dataset contents). 64-bit FNV-1a: stable across runtimes, no dependencies, fast enough
 * for layouts and streamed dataset bytes. Not for security: use HMAC for that.
 */
const FNV_OFFSET = 0xcbf29ce484222325n
const FNV_PRIME = 0x100000001b3n
const MASK_64 = 0xffffffffffffffffn

export class Fnv1a64 {
  private state = FNV_OFFSET

  update(bytes: Uint8Array): this {
    // Work on two 32-bit halves: BigInt per byte is too slow for dataset-sized inputs.
    let hi = Number(this.state >> 32n) >>> 0
    let lo = Number(this.state & 0xffffffffn) >>> 0
    for (let i = 0; i < bytes.length; i++) {
      lo = (lo ^ bytes[i]!) >>> 0
      // (hi:lo) * 0x100000001b3 = (hi:lo) * 0x1b3 + (lo << 40)
      const loMul = lo * 0x1b3
      const newLo = loMul >>> 0
      const carry = Math.floor(loMul / 0x100000000)
      const newHi = (Math.imul(hi, 0x1b3) + carry + ((lo << 8) >>> 0)) >>> 0
      hi = newHi
      lo = newLo
    }
    this.state = ((BigInt(hi) << 32n) | BigInt(lo)) & MASK_64
    return this
  }

  updateString(text: string): this {
    return this.update(new TextEncoder().encode(text))
  }

  digestHex(): string {
    return this.state.toString(16).padStart(16, '0')
  }

  digestBigInt(): bigint {
    return this.state
  }
}

export function fnv1a64Hex(input: string | Uint8Array): string {
  const h = new Fnv1a64()
  return (typeof input === 'string' ? h.updateString(input) : h.update(input)).digestHex()
}

// Reference used by the unit test to check the split-halves arithmetic.
export function fnv1a64Reference(bytes: Uint8Array): bigint {
  let h = FNV_OFFSET
  for (const b of bytes) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK_64
  return h
}
