import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../signaling-server/logger.ts'

function capture(level: Parameters<typeof createLogger>[0]['level']) {
  const lines: string[] = []
  const log = createLogger({ level, write: (l) => lines.push(l), now: () => Date.UTC(2030, 0, 2, 3, 4, 5) })
  return { log, lines }
}

describe('logger', () => {
  it('writes one JSON object per line with time, level, message and fields', () => {
    const { log, lines } = capture('info')
    log.info('listening', { port: 8787, tls: false })
    expect(lines).toHaveLength(1)
    expect(lines[0]?.endsWith('\n')).toBe(true)
    expect(lines[0]?.slice(0, -1)).not.toContain('\n')
    expect(JSON.parse(lines[0] ?? '')).toEqual({
      time: '2030-01-02T03:04:05.000Z',
      level: 'info',
      msg: 'listening',
      port: 8787,
      tls: false,
    })
  })

  it('drops messages below the configured level', () => {
    const { log, lines } = capture('warn')
    log.debug('d')
    log.info('i')
    log.warn('w')
    log.error('e')
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['w', 'e'])
  })

  it('writes nothing at level silent', () => {
    const { log, lines } = capture('silent')
    log.error('e')
    expect(lines).toEqual([])
  })

  it('keeps a field from overriding the reserved keys and escapes newlines in values', () => {
    const { log, lines } = capture('debug')
    log.info('real', { msg: 'forged', level: 'error', detail: 'a\nb' })
    const parsed = JSON.parse(lines[0] ?? '') as Record<string, unknown>
    expect(parsed).toMatchObject({ msg: 'real', level: 'info', detail: 'a\nb' })
    expect(lines[0]?.split('\n')).toHaveLength(2)
  })
})
