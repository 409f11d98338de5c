/**
 * WebRTC between two separate Node processes: each runs fixtures/peer-process.ts, and this
 * test relays their signals over stdio, as a signaling server would.
 */
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { crc32c } from '../../../core/protocol/crc32c.ts'
import { FRAME_SIZES, frameOf } from './fixtures/peer-process.ts'

const SCRIPT = fileURLToPath(new URL('./fixtures/peer-process.ts', import.meta.url))
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

type Message = Record<string, unknown> & { type: string }

interface Child {
  readonly process: ChildProcessWithoutNullStreams
  readonly messages: Message[]
  readonly exited: Promise<number | null>
  readonly stderr: string[]
}

const children: Child[] = []

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL')
  }
})

function start(role: 'initiator' | 'responder', onMessage: (m: Message) => void): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', SCRIPT, role], { cwd: REPO_ROOT, stdio: 'pipe' })
  const messages: Message[] = []
  const stderr: string[] = []
  createInterface({ input: proc.stdout }).on('line', (line) => {
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      return
    }
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      !('type' in parsed) ||
      typeof parsed.type !== 'string'
    )
      return
    const message: Message = { ...parsed, type: parsed.type }
    messages.push(message)
    onMessage(message)
  })
  proc.stderr.on('data', (d: Buffer) => stderr.push(d.toString()))
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  const child = { process: proc, messages, exited, stderr }
  children.push(child)
  return child
}

function send(child: Child, message: Record<string, unknown>): void {
  if (child.process.stdin.writable) child.process.stdin.write(`${JSON.stringify(message)}\n`)
}

function waitFor(
  condition: () => boolean,
  what: string,
  children: Child[],
  timeoutMs = 25_000,
): Promise<void> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (condition()) resolve()
      else if (Date.now() - started > timeoutMs) {
        reject(
          new Error(
            `timed out waiting for ${what}; stderr: ${children.map((c) => c.stderr.join('')).join(' | ')}`,
          ),
        )
      } else setTimeout(check, 10)
    }
    check()
  })
}

describe('SimplePeerTransport across processes', () => {
  it('connects two Node processes, carries frames both ways, and both exit on their own after close', async () => {
    // Each side relays its signals to the other, which may not have started yet.
    const peers: { initiator?: Child; responder?: Child } = {}
    const relay = (to: 'initiator' | 'responder') => (m: Message) => {
      const target = peers[to]
      if (m.type === 'signal' && target !== undefined) send(target, { type: 'signal', data: m.data })
    }
    const responder = start('responder', relay('initiator'))
    peers.responder = responder
    const initiator = start('initiator', relay('responder'))
    peers.initiator = initiator
    const both = [initiator, responder]
    const has = (child: Child, type: string, count = 1): boolean =>
      child.messages.filter((m) => m.type === type).length >= count

    await waitFor(() => has(initiator, 'echo', FRAME_SIZES.length), 'all echoes', both)

    for (const child of both) {
      const connected = child.messages.find((m) => m.type === 'connected')
      expect(connected?.connectionType).toBe('host')
      expect(typeof connected?.connectMs).toBe('number')
    }
    const frames = responder.messages.filter((m) => m.type === 'frame')
    expect(frames).toEqual(
      FRAME_SIZES.map((size, index) => ({
        type: 'frame',
        index,
        length: size,
        crc: crc32c(frameOf(size, index)),
      })),
    )
    const echoes = initiator.messages.filter((m) => m.type === 'echo')
    expect(echoes).toEqual(FRAME_SIZES.map((_, index) => ({ type: 'echo', index, isEqual: true })))
    expect(both.flatMap((c) => c.messages.filter((m) => m.type === 'error' || m.type === 'fatal'))).toEqual(
      [],
    )

    send(initiator, { type: 'close' })
    const codes = await Promise.race([
      Promise.all([initiator.exited, responder.exited]),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000)),
    ])
    expect(codes).toEqual([0, 0])
    expect(initiator.messages.find((m) => m.type === 'closed')).toEqual({ type: 'closed', state: 'closed' })
    expect(responder.messages.find((m) => m.type === 'closed')).toEqual({ type: 'closed', state: 'closed' })
  })
})
