/**
 * The release workflow cannot run here (no Electron download), so `npm test` checks it instead:
 * it must pass action-validator (the schema of GitHub workflow files), and every command it runs
 * must be one the README documents, so the two never drift apart.
 */
import { readFileSync } from 'node:fs'
import { validateWorkflow } from '@action-validator/core'
import { describe, expect, it } from 'vitest'

const WORKFLOW = readFileSync(new URL('../../../.github/workflows/release.yml', import.meta.url), 'utf8')
const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')

/** The `run:` commands of the workflow (single-line form, which is all it uses). */
function runCommands(workflow: string): string[] {
  return [...workflow.matchAll(/^\s*run:\s*(.+)$/gm)].map((match) => (match[1] ?? '').trim())
}

describe('.github/workflows/release.yml', () => {
  it('is a valid GitHub Actions workflow', () => {
    const state = validateWorkflow(WORKFLOW)
    expect(state.errors).toEqual([])
  })

  it('is refused by the validator when broken, so the check above means something', () => {
    const broken = WORKFLOW.replace('runs-on: ${{ matrix.os }}', 'runs_on: ${{ matrix.os }}')
    expect(validateWorkflow(broken).errors.length).toBeGreaterThan(0)
  })

  it('runs on Linux, macOS and Windows and uploads installers and screenshots', () => {
    expect(WORKFLOW).toContain('os: [ubuntu-latest, macos-latest, windows-latest]')
    expect(WORKFLOW).toMatch(/name: installers-\$\{\{ matrix\.os \}\}/)
    expect(WORKFLOW).toMatch(/name: screenshots-\$\{\{ matrix\.os \}\}/)
  })

  it('runs only commands the README documents', () => {
    const commands = runCommands(WORKFLOW)
    expect(commands.length).toBeGreaterThanOrEqual(6)
    for (const command of commands) expect(README, `README lacks: ${command}`).toContain(command)
  })
})
