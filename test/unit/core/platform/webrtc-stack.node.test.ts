import { describe, expect, it } from 'vitest'
import { isCoreError } from '../../../../core/errors.ts'
import type { ModuleLoader } from '../../../../core/platform/module-loader.node.ts'
import { openWebRtcStack, parseWebRtcStackName } from '../../../../core/platform/webrtc-stack.node.ts'

const missingWrtc: ModuleLoader = {
  isInstalled: () => false,
  packageDir: () => undefined,
  load: () => Promise.reject(new Error('not installed')),
}

describe('WebRTC stacks', () => {
  it('parses --webrtc, naming the choices when the value is unknown', () => {
    expect(parseWebRtcStackName('wrtc')).toBe('wrtc')
    expect(parseWebRtcStackName('chromium')).toBe('chromium')
    expect(() => parseWebRtcStackName('firefox')).toThrow('--webrtc: "firefox" is not one of wrtc, chromium')
  })

  it('says what carries the connections with the Node binding', async () => {
    const stack = await openWebRtcStack('wrtc')
    expect(stack.name).toBe('wrtc')
    expect(stack.description).toBe('@roamhq/wrtc (libwebrtc in this process)')
    await stack.close()
  })

  it('points at --webrtc chromium when the Node binding is missing', async () => {
    const error: unknown = await openWebRtcStack('wrtc', { loader: missingWrtc }).catch((e: unknown) => e)
    expect(isCoreError(error, 'ERR_WEBRTC_UNAVAILABLE')).toBe(true)
    expect(String(error)).toMatch(
      /is not installed.*; --webrtc chromium runs the connections in a Chromium page instead/,
    )
  })

  it('refuses the Chromium stack with a sentence when there is no Chromium', async () => {
    const error: unknown = await openWebRtcStack('chromium', {
      chromium: { executablePath: '/nonexistent/chromium' },
    }).catch((e: unknown) => e)
    expect(isCoreError(error, 'ERR_BACKEND_UNAVAILABLE')).toBe(true)
    expect(String(error)).toMatch(/\/nonexistent\/chromium does not exist/)
  })
})
