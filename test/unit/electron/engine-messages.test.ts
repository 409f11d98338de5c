import { describe, expect, it } from 'vitest'
import { parseEngineToMain, parseMainToEngine } from '../../../electron/engine-messages.ts'

const CONFIG = {
  dataDir: '/u/engine',
  staticDir: '/app/renderer/dist',
  appVersion: '0.1.0',
  allowedOrigins: [],
  hasTrainerWindows: true,
}

describe('parseMainToEngine', () => {
  it('accepts every message main sends', () => {
    expect(parseMainToEngine({ type: 'engine.start', config: CONFIG })).toEqual({
      type: 'engine.start',
      config: CONFIG,
    })
    expect(parseMainToEngine({ type: 'engine.shutdown' })).toEqual({ type: 'engine.shutdown' })
    expect(
      parseMainToEngine({ type: 'trainer-window.opened', id: 1, description: 'Electron' }),
    ).toMatchObject({ id: 1 })
    expect(parseMainToEngine({ type: 'trainer-window.failed', id: 2, message: 'no GPU' })).toEqual({
      type: 'trainer-window.failed',
      id: 2,
      message: 'no GPU',
    })
    expect(parseMainToEngine({ type: 'trainer-window.gone', id: 2, reason: 'crashed' })).toEqual({
      type: 'trainer-window.gone',
      id: 2,
      reason: 'crashed',
    })
  })

  it('refuses malformed messages', () => {
    for (const value of [
      null,
      'engine.shutdown',
      { type: 'engine.start', config: { ...CONFIG, dataDir: '' } },
      { type: 'engine.start', config: { ...CONFIG, allowedOrigins: [1] } },
      { type: 'trainer-window.opened', id: 0, description: 'x' },
      { type: 'trainer-window.gone', id: 1, message: 'wrong field' },
      { type: 'engine.ready' },
    ]) {
      expect(parseMainToEngine(value)).toBeUndefined()
    }
  })
})

describe('parseEngineToMain', () => {
  it('accepts a ready message only with loopback URLs and a token', () => {
    const ready = {
      type: 'engine.ready',
      url: 'http://127.0.0.1:4100',
      token: 'abc',
      uiUrl: 'http://127.0.0.1:4100/#token=abc',
    }
    expect(parseEngineToMain(ready)).toEqual(ready)
    expect(parseEngineToMain({ ...ready, url: 'http://192.168.1.5:4100' })).toBeUndefined()
    expect(parseEngineToMain({ ...ready, uiUrl: 'https://evil.example/' })).toBeUndefined()
    expect(parseEngineToMain({ ...ready, token: '' })).toBeUndefined()
  })

  it('accepts trainer-window requests with a bounded backend list and a known service', () => {
    expect(parseEngineToMain({ type: 'trainer-window.open', id: 3, backends: ['webgl'] })).toEqual({
      type: 'trainer-window.open',
      id: 3,
      backends: ['webgl'],
      service: 'trainer',
    })
    expect(
      parseEngineToMain({ type: 'trainer-window.open', id: 4, backends: [], service: 'webrtc' }),
    ).toEqual({ type: 'trainer-window.open', id: 4, backends: [], service: 'webrtc' })
    expect(
      parseEngineToMain({ type: 'trainer-window.open', id: 4, backends: [], service: 'shell' }),
    ).toBeUndefined()
    expect(
      parseEngineToMain({ type: 'trainer-window.open', id: 3, backends: Array(9).fill('x') }),
    ).toBeUndefined()
    expect(parseEngineToMain({ type: 'trainer-window.close', id: -1 })).toBeUndefined()
    expect(parseEngineToMain({ type: 'engine.failed', message: 'x'.repeat(5000) })).toBeUndefined()
  })
})
