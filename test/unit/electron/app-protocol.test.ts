import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAppProtocolHandler, resolveAppFile, TRAINER_ORIGIN } from '../../../electron/app-protocol.ts'

let root: string
let outside: string
beforeAll(() => {
  const base = mkdtempSync(join(tmpdir(), 'longhaul-app-protocol-'))
  root = join(base, 'trainer')
  outside = base
  mkdirSync(root)
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>')
  writeFileSync(join(root, 'trainer.js'), 'export {}')
  writeFileSync(join(base, 'secret.txt'), 'not for the page')
})
afterAll(() => rmSync(outside, { recursive: true, force: true }))

describe('createAppProtocolHandler', () => {
  it('serves the page and its scripts with the trainer policy', async () => {
    const handle = createAppProtocolHandler(root)
    const page = await handle(new Request(`${TRAINER_ORIGIN}/index.html`))
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(page.headers.get('content-security-policy')).toContain('script-src app://trainer')
    expect(await page.text()).toContain('<title>t</title>')
    const script = await handle(new Request(`${TRAINER_ORIGIN}/trainer.js`))
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect((await handle(new Request(`${TRAINER_ORIGIN}/`))).status).toBe(200)
  })

  it('never serves a file outside its folder, a missing file, or another host', async () => {
    const handle = createAppProtocolHandler(root)
    for (const url of [
      `${TRAINER_ORIGIN}/../secret.txt`,
      `${TRAINER_ORIGIN}/%2e%2e/secret.txt`,
      `${TRAINER_ORIGIN}/..%2fsecret.txt`,
      `${TRAINER_ORIGIN}/%5c..%5csecret.txt`,
      `${TRAINER_ORIGIN}/missing.js`,
      'app://other/index.html',
    ]) {
      expect((await handle(new Request(url))).status, url).toBe(404)
    }
    expect((await handle(new Request(`${TRAINER_ORIGIN}/index.html`, { method: 'POST' }))).status).toBe(405)
  })

  it('resolves only paths below the root', () => {
    expect(resolveAppFile(`${TRAINER_ORIGIN}/a/b.js`, root)).toBe(join(root, 'a', 'b.js'))
    // The URL parser already folds dot segments, so they can only land inside the root.
    expect(resolveAppFile(`${TRAINER_ORIGIN}/a/../../secret.txt`, root)).toBe(join(root, 'secret.txt'))
    expect(resolveAppFile('https://trainer/index.html', root)).toBeUndefined()
  })
})
