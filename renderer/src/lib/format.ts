/** Number formatting for the UI: one place, units always shown. */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—'
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024
    unit++
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit]}`
}

export function formatRate(bytesPerSec: number): string {
  return Number.isFinite(bytesPerSec) && bytesPerSec >= 0 ? `${formatBytes(bytesPerSec)}/s` : '—'
}

/** Milliseconds: `0.4 ms` (loopback and LAN round trips), `12 ms`, or seconds from 10 s. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '—'
  if (ms < 10) return `${ms.toFixed(1)} ms`
  if (ms < 10_000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(1)} s`
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—'
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`
  const minutes = Math.floor(seconds / 60)
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`
}

/** A fraction in [0, 1] as a percentage. */
export function formatPercent(fraction: number | undefined): string {
  if (fraction === undefined || !Number.isFinite(fraction)) return '—'
  return `${(fraction * 100).toFixed(1)} %`
}

export function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined || !Number.isFinite(ratio) || ratio <= 0) return '—'
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1)}×`
}

export function formatNumber(value: number | undefined, digits = 3): string {
  if (value === undefined || !Number.isFinite(value)) return '—'
  return value.toFixed(digits)
}

/** The ICE candidate type in words: how the bytes travel to this peer. */
export function connectionLabel(type: string | undefined): string {
  switch (type) {
    case 'host':
      return 'host (direct)'
    case 'srflx':
    case 'prflx':
      return 'reflexive (through NAT)'
    case 'relay':
      return 'relay (TURN)'
    default:
      return '—'
  }
}

/** Peer ids are long random strings; the first characters tell them apart. */
export function shortPeerId(peer: string): string {
  return peer.length > 12 ? `${peer.slice(0, 10)}…` : peer
}

export function formatDateTime(iso: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString()
}
