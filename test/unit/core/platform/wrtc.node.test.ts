import { describe, expect, it } from 'vitest'
import { isCoreError } from '../../../../core/errors.ts'
import { loadNodeWrtc } from '../../../../core/platform/wrtc.node.ts'
import type { ModuleLoader } from '../../../../core/platform/module-loader.node.ts'

function fakeLoader(isInstalled: boolean, load: () => Promise<unknown>): ModuleLoader {
  return { isInstalled: () => isInstalled, packageDir: () => undefined, load }
}

const fakeClasses = {
  RTCPeerConnection: class {},
  RTCSessionDescription: class {},
  RTCIceCandidate: class {},
}

describe('loadNodeWrtc', () => {
  it('loads the real @roamhq/wrtc with the three classes simple-peer needs', async () => {
    const wrtc = await loadNodeWrtc()
    const pc = new wrtc.RTCPeerConnection({ iceServers: [] })
    expect(pc.connectionState).toBe('new')
    pc.close()
    expect(typeof wrtc.RTCSessionDescription).toBe('function')
    expect(typeof wrtc.RTCIceCandidate).toBe('function')
  })

  it('takes the classes from a CommonJS default export', async () => {
    const wrtc = await loadNodeWrtc(fakeLoader(true, () => Promise.resolve({ default: fakeClasses })))
    expect(wrtc.RTCPeerConnection).toBe(fakeClasses.RTCPeerConnection)
  })

  it('fails with ERR_WEBRTC_UNAVAILABLE saying so when the package is not installed', async () => {
    const error: unknown = await loadNodeWrtc(fakeLoader(false, () => Promise.resolve({}))).catch(
      (e: unknown) => e,
    )
    expect(isCoreError(error, 'ERR_WEBRTC_UNAVAILABLE')).toBe(true)
    expect(String(error)).toContain('not installed')
  })

  it('fails with ERR_WEBRTC_UNAVAILABLE carrying the loader reason when the binding does not load', async () => {
    const reason = new Error('libwebrtc.so: cannot open shared object file')
    const error: unknown = await loadNodeWrtc(fakeLoader(true, () => Promise.reject(reason))).catch(
      (e: unknown) => e,
    )
    expect(isCoreError(error, 'ERR_WEBRTC_UNAVAILABLE')).toBe(true)
    expect(String(error)).toContain('cannot open shared object file')
    expect(error instanceof Error && error.cause).toBe(reason)
  })

  it('fails with ERR_WEBRTC_UNAVAILABLE when the module lacks a class', async () => {
    const partial = { RTCPeerConnection: class {}, RTCSessionDescription: class {} }
    const error: unknown = await loadNodeWrtc(fakeLoader(true, () => Promise.resolve(partial))).catch(
      (e: unknown) => e,
    )
    expect(isCoreError(error, 'ERR_WEBRTC_UNAVAILABLE')).toBe(true)
  })
})
