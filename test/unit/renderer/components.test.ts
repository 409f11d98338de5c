/**
 * Checks on the Svelte components that neither tsc nor eslint can make (no Svelte parser for
 * them is installed): each one compiles with no compiler warning (Svelte's warnings include its
 * accessibility checks: labels, alt text, roles, keyboard handlers), and every import in
 * renderer/src stays inside the renderer, the UI libraries, or core/api/contract.ts.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compile } from 'svelte/compiler'
import { describe, expect, it } from 'vitest'

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SRC = join(REPO_ROOT, 'renderer', 'src')
const CONTRACT = join(REPO_ROOT, 'core', 'api', 'contract.ts')
const PACKAGES = new Set(['svelte', 'svelte/store', 'chart.js'])

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  )
}

const sources = filesUnder(SRC).filter((f) => f.endsWith('.svelte') || f.endsWith('.ts'))
const components = sources.filter((f) => f.endsWith('.svelte'))

function importsOf(text: string): string[] {
  const specifiers: string[] = []
  for (const m of text.matchAll(/\bimport\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/g)) {
    if (m[1] !== undefined) specifiers.push(m[1])
  }
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    if (m[1] !== undefined) specifiers.push(m[1])
  }
  return specifiers
}

describe('renderer components', () => {
  it('finds the components', () => {
    expect(components.length).toBeGreaterThanOrEqual(10)
  })

  it.each(components.map((f) => [relative(SRC, f), f]))('%s compiles without warnings', (_name, file) => {
    const result = compile(readFileSync(file, 'utf8'), { filename: file, generate: 'client' })
    expect(result.warnings.map((w) => `${w.code}: ${w.message}`)).toEqual([])
  })

  it.each(sources.map((f) => [relative(SRC, f), f]))(
    '%s imports only what the renderer may',
    (_name, file) => {
      for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
        if (PACKAGES.has(specifier)) continue
        expect(specifier, `${file}: "${specifier}" is neither relative nor an allowed package`).toMatch(
          /^\.\.?\//,
        )
        const target = resolve(dirname(file), specifier)
        const isInside = !relative(SRC, target).startsWith('..')
        expect(
          isInside || target === CONTRACT,
          `${file}: "${specifier}" leaves renderer/src for something other than core/api/contract.ts`,
        ).toBe(true)
      }
    },
  )
})
