import { describe, expect, it } from 'vitest'
import { Emitter } from '../../../../core/transport/emitter.ts'

interface Events {
  data: (value: number, label: string) => void
  done: () => void
}

describe('Emitter', () => {
  it('calls listeners in subscription order with the emitted arguments', () => {
    const emitter = new Emitter<Events>()
    const calls: string[] = []
    emitter.on('data', (v, l) => calls.push(`first ${v} ${l}`))
    emitter.on('data', (v, l) => calls.push(`second ${v} ${l}`))
    emitter.emit('data', 7, 'x')
    expect(calls).toEqual(['first 7 x', 'second 7 x'])
  })

  it('treats the same function subscribed twice as two subscriptions', () => {
    const emitter = new Emitter<Events>()
    let count = 0
    const fn = (): void => void count++
    const offFirst = emitter.on('done', fn)
    emitter.on('done', fn)
    offFirst()
    emitter.emit('done')
    expect(count).toBe(1)
  })

  it('keeps calling the other listeners when one throws and reports the error to its owner', () => {
    const failures: [string, unknown][] = []
    const emitter = new Emitter<Events>((event, error) => failures.push([event, error]))
    const boom = new Error('boom')
    const calls: number[] = []
    emitter.on('data', () => {
      throw boom
    })
    emitter.on('data', (v) => calls.push(v))
    emitter.emit('data', 1, '')
    expect(calls).toEqual([1])
    expect(failures).toEqual([['data', boom]])
  })

  it('does not call a listener added during an emit until the next emit', () => {
    const emitter = new Emitter<Events>()
    const calls: string[] = []
    emitter.on('done', () => {
      calls.push('outer')
      emitter.on('done', () => calls.push('inner'))
    })
    emitter.emit('done')
    expect(calls).toEqual(['outer'])
  })

  it('drops every listener on clear', () => {
    const emitter = new Emitter<Events>()
    let count = 0
    emitter.on('done', () => void count++)
    emitter.clear()
    emitter.emit('done')
    expect(count).toBe(0)
    expect(emitter.listenerCount('done')).toBe(0)
  })
})
