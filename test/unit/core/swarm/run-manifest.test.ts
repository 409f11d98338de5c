import { describe, expect, it } from 'vitest'
import { isCoreError } from '../../../../core/errors.ts'
import {
  canonicalManifestJson,
  diffManifests,
  isRunManifest,
  jsonObjectOf,
  manifestHash,
  parseRunManifest,
  type RunManifest,
} from '../../../../core/swarm/run-manifest.ts'

const BASE: RunManifest = {
  protocolVersion: 1,
  model: { name: 'mlp', layoutFingerprint: '60a9c1f85fec9cd7', parameterCount: 235146 },
  algorithm: { kind: 'olco3', H: 8, staleness: 1, compressor: 'topk:0.1' },
  dataset: { inputShape: [28, 28, 1], classes: ['a', 'b', 'c'] },
  workerSlots: 8,
}

describe('run manifest', () => {
  it('hashes equal manifests alike whatever their key order', () => {
    const reordered: RunManifest = {
      workerSlots: 8,
      dataset: { classes: ['a', 'b', 'c'], inputShape: [28, 28, 1] },
      algorithm: { compressor: 'topk:0.1', staleness: 1, H: 8, kind: 'olco3' },
      model: { parameterCount: 235146, layoutFingerprint: '60a9c1f85fec9cd7', name: 'mlp' },
      protocolVersion: 1,
    }
    expect(canonicalManifestJson(reordered)).toBe(canonicalManifestJson(BASE))
    expect(manifestHash(reordered)).toBe(manifestHash(BASE))
    expect(manifestHash(BASE)).toMatch(/^[0-9a-f]{16}$/)
  })

  it('changes the hash when any field that must match changes', () => {
    const variants: RunManifest[] = [
      { ...BASE, protocolVersion: 2 },
      { ...BASE, model: { ...BASE.model, layoutFingerprint: '0000000000000000' } },
      { ...BASE, algorithm: { ...BASE.algorithm, H: 4 } },
      { ...BASE, dataset: { ...BASE.dataset, classes: ['a', 'c', 'b'] } },
      { ...BASE, workerSlots: 4 },
    ]
    const hashes = new Set([manifestHash(BASE), ...variants.map(manifestHash)])
    expect(hashes.size).toBe(variants.length + 1)
  })

  it('names every differing field and nothing else', () => {
    expect(diffManifests(BASE, BASE)).toEqual([])
    const other: RunManifest = {
      ...BASE,
      algorithm: { kind: 'sgp', peers: 1, overlapDelay: 0 },
      dataset: { ...BASE.dataset, inputShape: [32, 32, 3] },
    }
    const diff = diffManifests(BASE, other)
    expect(diff).toHaveLength(2)
    expect(diff[0]).toMatch(/^algorithm: ours .*olco3.*theirs .*sgp/)
    expect(diff[1]).toMatch(/^dataset input shape: ours \[28,28,1\], theirs \[32,32,3\]/)
    const model = diffManifests(BASE, {
      ...BASE,
      model: { name: 'cnn', layoutFingerprint: 'ffffffffffffffff', parameterCount: 9 },
    })
    expect(model).toEqual([
      expect.stringMatching(
        /^model: ours mlp \(layout 60a9c1f85fec9cd7.*theirs cnn \(layout ffffffffffffffff/,
      ),
    ])
  })

  it('does not compare the informative model name', () => {
    expect(diffManifests(BASE, { ...BASE, model: { ...BASE.model, name: 'custom' } })).toEqual([])
  })

  it('accepts a well-formed manifest from a peer', () => {
    expect(parseRunManifest(JSON.parse(JSON.stringify(BASE)))).toEqual(BASE)
  })

  it.each([
    ['a missing field', { ...BASE, workerSlots: undefined }],
    ['an extra field', { ...BASE, extra: 1 }],
    ['a malformed fingerprint', { ...BASE, model: { ...BASE.model, layoutFingerprint: 'XYZ' } }],
    ['a non-integer shape', { ...BASE, dataset: { ...BASE.dataset, inputShape: [1.5] } }],
    ['a non-string class', { ...BASE, dataset: { ...BASE.dataset, classes: [1] } }],
    ['a non-JSON algorithm value', { ...BASE, algorithm: { kind: 'olco3', H: Number.NaN } }],
    ['not an object', 'olco3'],
  ])('refuses %s', (_what, value) => {
    expect(isRunManifest(value)).toBe(false)
    expect(() => parseRunManifest(value)).toThrow(expect.objectContaining({ code: 'ERR_BAD_MESSAGE' }))
  })

  it('refuses an oversized manifest', () => {
    const big = {
      ...BASE,
      dataset: { ...BASE.dataset, classes: Array.from({ length: 5000 }, (_, i) => `class-${i}`) },
    }
    const error: unknown = (() => {
      try {
        parseRunManifest(big)
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(isCoreError(error, 'ERR_BAD_MESSAGE')).toBe(true)
  })

  it('copies a config into plain JSON', () => {
    const config = { kind: 'local', H: 4, nested: { a: [1, 2] } }
    const copy = jsonObjectOf(config)
    expect(copy).toEqual(config)
    expect(copy.nested).not.toBe(config.nested)
  })

  it('refuses to copy what is not a JSON object', () => {
    expect(() => jsonObjectOf([1, 2])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
  })
})
