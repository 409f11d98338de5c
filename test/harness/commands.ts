/**
 * Runs the system tools the harness configures namespaces with (ip, tc, iptables-restore, sysctl),
 * with their stderr in the error when they fail.
 */
import { execFile, execFileSync } from 'node:child_process'
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import * as path from 'node:path'
import { HarnessError } from './harness-error.ts'

/** Setup commands finish in milliseconds; anything slower is stuck. */
const COMMAND_TIMEOUT_MS = 10_000

/** Runs `cmd args`, optionally feeding `input` on stdin; rejects with ERR_COMMAND_FAILED. */
export function run(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const detail = stderr.trim() === '' ? err.message : stderr.trim()
          reject(
            new HarnessError('ERR_COMMAND_FAILED', `${cmd} ${args.join(' ')}: ${detail}`, { cause: err }),
          )
        } else {
          resolve(stdout)
        }
      },
    )
    if (input !== undefined) child.stdin?.end(input)
  })
}

/**
 * Synchronous variant for the process-exit path, where nothing asynchronous runs any more.
 * Never throws: cleanup on exit must try every step.
 */
export function runSync(cmd: string, args: readonly string[]): { ok: boolean; stdout: string } {
  try {
    const stdout = execFileSync(cmd, args, {
      timeout: COMMAND_TIMEOUT_MS,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    return { ok: true, stdout }
  } catch {
    return { ok: false, stdout: '' }
  }
}

/** The absolute path of an executable found on PATH, or undefined. */
export async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = (process.env['PATH'] ?? '').split(path.delimiter).filter((dir) => dir !== '')
  for (const dir of [...dirs, '/usr/sbin', '/sbin', '/usr/bin']) {
    const candidate = path.join(dir, name)
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}
