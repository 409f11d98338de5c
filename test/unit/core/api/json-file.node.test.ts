import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  readJsonFile,
  readJsonFileSync,
  writeJsonAtomic,
  writeJsonAtomicSync,
} from '../../../../core/api/json-file.node.ts'
import { isRecord } from '../../../../core/guards.ts'

const folders: string[] = []
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'longhaul-json-file-'))
  folders.push(dir)
  return dir
}

afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('JSON files, synchronous and asynchronous alike', () => {
  it('round-trips a value and leaves no temporary file behind', async () => {
    const dir = folder()
    writeJsonAtomicSync(join(dir, 'a', 'sync.json'), { n: 1 }, 0o600)
    await writeJsonAtomic(join(dir, 'async.json'), { n: 2 })
    expect(readJsonFileSync(join(dir, 'a', 'sync.json'), isRecord)).toEqual({ value: { n: 1 } })
    expect(await readJsonFile(join(dir, 'async.json'), isRecord, () => {})).toEqual({ n: 2 })
    expect(statSync(join(dir, 'a', 'sync.json')).mode & 0o777).toBe(0o600)
    expect(readdirSync(dir).sort()).toEqual(['a', 'async.json'])
    expect(readdirSync(join(dir, 'a'))).toEqual(['sync.json'])
  })

  it('says nothing of a missing file', async () => {
    const dir = folder()
    expect(readJsonFileSync(join(dir, 'none.json'), isRecord)).toEqual({})
    expect(await readJsonFile(join(dir, 'none.json'), isRecord, () => {})).toBeUndefined()
  })

  it('moves an unparsable or invalid file aside, keeping its bytes, and says where', async () => {
    const dir = folder()
    writeFileSync(join(dir, 'bad.json'), '{ half')
    expect(readJsonFileSync(join(dir, 'bad.json'), isRecord, () => 7)).toEqual({
      movedAsideTo: join(dir, 'bad.json.corrupt-7'),
    })
    expect(readFileSync(join(dir, 'bad.json.corrupt-7'), 'utf8')).toBe('{ half')
    writeFileSync(join(dir, 'list.json'), '[1, 2]')
    const told: string[] = []
    expect(await readJsonFile(join(dir, 'list.json'), isRecord, (m) => told.push(m))).toBeUndefined()
    expect(told).toHaveLength(1)
    expect(told[0]).toContain('list.json.corrupt-')
    expect(readdirSync(dir).filter((f) => f.startsWith('list.json.corrupt-'))).toHaveLength(1)
  })
})
