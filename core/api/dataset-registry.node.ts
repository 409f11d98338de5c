/**
 * The datasets an engine knows, persisted as `datasets.json` in its data folder:
 * `{ "version": 1, "datasets": [DatasetEntry, ...] }`. Adding a dataset loads it completely
 * through loadDataset (so a bad folder is refused with the reader's own sentence before it is
 * listed) and records its manifest. Loaded datasets stay in a small cache, so previews and a
 * training start right after adding do not read the files again.
 */
import * as path from 'node:path'
import type { Dataset, DatasetManifest } from '../data/dataset.ts'
import { loadDataset, type LoadDatasetOptions } from '../data/resolve-dataset.node.ts'
import { isCount, isRecord, isStringArray } from '../guards.ts'
import { fnv1a64Hex } from '../hash.ts'
import type { DatasetEntry, SamplePreview } from './contract.ts'
import type { DatasetStore } from './engine.ts'
import { readJsonFile, writeJsonAtomic } from './json-file.node.ts'
import { previewSamples } from './sample-preview.ts'

export const DATASETS_FILE = 'datasets.json'
/** Seed of generated data (shapes) and generated test splits when nothing else is asked: the CLI's default. */
export const REGISTRY_SEED = 1
/** Loaded datasets kept in memory. */
const CACHE_SIZE = 2
/** Least time between two download progress lines. */
const PROGRESS_INTERVAL_MS = 1000

interface RegistryFile {
  readonly version: 1
  readonly datasets: DatasetEntry[]
}

function isManifest(value: unknown): value is DatasetManifest {
  if (!isRecord(value) || !isRecord(value['counts'])) return false
  const counts = value['counts']
  const isCounts = (v: unknown): boolean => Array.isArray(v) && v.every(isCount)
  return (
    typeof value['name'] === 'string' &&
    typeof value['source'] === 'string' &&
    Array.isArray(value['inputShape']) &&
    value['inputShape'].every(isCount) &&
    isStringArray(value['classes']) &&
    isCounts(counts['train']) &&
    isCounts(counts['test']) &&
    isCount(value['trainCount']) &&
    isCount(value['testCount']) &&
    (value['split'] === 'given' || value['split'] === 'generated') &&
    typeof value['contentHash'] === 'string'
  )
}

function isEntry(value: unknown): value is DatasetEntry {
  return (
    isRecord(value) &&
    typeof value['id'] === 'string' &&
    typeof value['source'] === 'string' &&
    typeof value['addedAt'] === 'string' &&
    isManifest(value['manifest'])
  )
}

function isRegistryFile(value: unknown): value is RegistryFile {
  return (
    isRecord(value) &&
    value['version'] === 1 &&
    Array.isArray(value['datasets']) &&
    value['datasets'].every(isEntry)
  )
}

/** A stable id: a readable slug of the source's last part plus a hash of the whole source. */
export function datasetIdOf(source: string): string {
  const slug =
    path
      .basename(source)
      .replace(/\.[A-Za-z0-9]+$/, '')
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .slice(0, 40) || 'data'
  return `${slug}-${fnv1a64Hex(`longhaul/dataset\0${source}`).slice(0, 8)}`
}

export class DatasetRegistry implements DatasetStore {
  private readonly file: string
  private readonly cache = new Map<string, Dataset>()

  /**
   * @param dir the engine's data folder
   * @param warn told when the registry file was malformed and set aside
   * @param loadOptions passed to loadDataset (tests: download off, mirrors)
   */
  constructor(
    dir: string,
    private readonly warn: (message: string) => void,
    private readonly loadOptions: Omit<LoadDatasetOptions, 'seed' | 'onProgress'> = {},
  ) {
    this.file = path.join(dir, DATASETS_FILE)
  }

  async list(): Promise<DatasetEntry[]> {
    const data = await readJsonFile(this.file, isRegistryFile, this.warn)
    return data?.datasets ?? []
  }

  async add(source: string, log: (message: string) => void): Promise<DatasetEntry> {
    const id = datasetIdOf(source)
    const known = (await this.list()).find((d) => d.id === id)
    if (known !== undefined) return known
    const dataset = await this.load({ id, source }, REGISTRY_SEED, log)
    const entry: DatasetEntry = { id, source, manifest: dataset.manifest, addedAt: new Date().toISOString() }
    // Read again: another add may have finished while this one loaded.
    const entries = (await this.list()).filter((d) => d.id !== id)
    await writeJsonAtomic(this.file, { version: 1, datasets: [...entries, entry] })
    return entry
  }

  async remove(id: string): Promise<boolean> {
    const entries = await this.list()
    const rest = entries.filter((d) => d.id !== id)
    if (rest.length === entries.length) return false
    await writeJsonAtomic(this.file, { version: 1, datasets: rest })
    for (const key of [...this.cache.keys()]) if (key.startsWith(`${id}\0`)) this.cache.delete(key)
    return true
  }

  async preview(
    entry: DatasetEntry,
    split: 'train' | 'test',
    offset: number,
    count: number,
  ): Promise<{ total: number; samples: SamplePreview[] }> {
    return previewSamples(await this.load(entry, REGISTRY_SEED, () => {}), split, offset, count)
  }

  /** The dataset of `entry`, loaded with `seed` (generated data and test splits depend on it). */
  async load(
    entry: Pick<DatasetEntry, 'id' | 'source'>,
    seed: number,
    log: (message: string) => void,
  ): Promise<Dataset> {
    const key = `${entry.id}\0${seed}`
    const cached = this.cache.get(key)
    if (cached !== undefined) {
      // Most recently used last.
      this.cache.delete(key)
      this.cache.set(key, cached)
      return cached
    }
    let lastProgressMs = 0
    const dataset = await loadDataset(entry.source, {
      ...this.loadOptions,
      seed,
      onProgress: (line) => {
        const now = Date.now()
        if (now - lastProgressMs < PROGRESS_INTERVAL_MS) return
        lastProgressMs = now
        log(line)
      },
    })
    this.cache.set(key, dataset)
    while (this.cache.size > CACHE_SIZE) {
      const oldest = this.cache.keys().next().value
      if (oldest === undefined) break
      this.cache.delete(oldest)
    }
    return dataset
  }
}
