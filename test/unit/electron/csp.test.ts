import { describe, expect, it } from 'vitest'
import {
  isLoopbackOrigin,
  trainerContentSecurityPolicy,
  uiContentSecurityPolicy,
  withContentSecurityPolicy,
} from '../../../electron/csp.ts'

function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy.split('; ').map((part) => {
      const [name = '', ...sources] = part.split(' ')
      return [name, sources]
    }),
  )
}

describe('uiContentSecurityPolicy', () => {
  it('lets the page connect only to the engine origin, over http and ws', () => {
    const policy = directives(uiContentSecurityPolicy('http://127.0.0.1:41234'))
    expect(policy.get('connect-src')).toEqual(['http://127.0.0.1:41234', 'ws://127.0.0.1:41234'])
    expect(policy.get('default-src')).toEqual(["'none'"])
    expect(policy.get('script-src')).toEqual(['http://127.0.0.1:41234'])
    expect(policy.get('object-src')).toEqual(["'none'"])
    expect(policy.get('frame-ancestors')).toEqual(["'none'"])
  })

  it('never allows inline or evaluated script', () => {
    const text = uiContentSecurityPolicy('http://127.0.0.1:1')
    expect(directives(text).get('script-src')).not.toContain("'unsafe-inline'")
    expect(text).not.toContain('unsafe-eval')
  })

  it('refuses origins that are not bare loopback origins', () => {
    for (const origin of [
      'http://example.com:80',
      'http://127.0.0.1:1/path',
      'file://',
      'http://localhost:3000',
    ]) {
      expect(isLoopbackOrigin(origin)).toBe(false)
      expect(() => uiContentSecurityPolicy(origin)).toThrow(/loopback/)
    }
    expect(isLoopbackOrigin('http://[::1]:8080')).toBe(true)
  })
})

describe('trainerContentSecurityPolicy', () => {
  it('allows scripts from the page itself and no connections', () => {
    const policy = directives(trainerContentSecurityPolicy('app://trainer'))
    expect(policy.get('script-src')).toEqual(['app://trainer'])
    expect(policy.get('connect-src')).toEqual(["'none'"])
  })
})

describe('withContentSecurityPolicy', () => {
  it('replaces a server policy under any casing and keeps the other headers', () => {
    const headers = withContentSecurityPolicy(
      { 'content-security-policy': ['default-src *'], 'Content-Type': 'text/html', 'X-A': ['1', '2'] },
      "default-src 'none'",
    )
    expect(headers).toEqual({
      'Content-Type': ['text/html'],
      'X-A': ['1', '2'],
      'Content-Security-Policy': ["default-src 'none'"],
    })
  })

  it('adds the policy when there were no headers', () => {
    expect(withContentSecurityPolicy(undefined, 'x')).toEqual({ 'Content-Security-Policy': ['x'] })
  })
})
