/**
 * Node-level checkpoints in the engine's data folder: `checkpoints/<id>/` holds the run's
 * `latest.ckpt` and `previous.ckpt` (checkpoint-files.node.ts: atomic, checksummed, the
 * previous one kept when the latest is replaced) and `info.json`, the `CheckpointInfo` the UI
 * lists plus what an export needs (the model's input shape and classes). One folder per
 * training run; every save replaces that run's latest.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import type { AlgorithmConfig } from '../algorithms/config.ts'
import { CoreError, isCoreError } from '../errors.ts'
import { isCount, isRecord, isStringArray } from '../guards.ts'
import { decodeNodeCheckpoint, encodeNodeCheckpoint } from '../node/node-checkpoint.ts'
import type { NodeTrainingState } from '../node/training-node.ts'
import type { BackendRoute } from '../tensor/backend-select.ts'
import {
  LATEST_CHECKPOINT,
  isErrno,
  loadLatestCheckpoint,
  saveCheckpoint,
} from '../training/checkpoint-files.node.ts'
import { exportParams } from '../training/trainer-setup.node.ts'
import type { CheckpointInfo, TrainingConfig } from './contract.ts'
import type { CheckpointStore } from './engine.ts'
import { readJsonFile, writeJsonAtomic } from './json-file.node.ts'

export const CHECKPOINTS_DIR = 'checkpoints'
export const EXPORTS_DIR = 'exports'
const INFO_FILE = 'info.json'
const ID_PATTERN = /^[A-Za-z0-9_-]{1,200}$/

/** `info.json`: what the UI lists, and the shape an export rebuilds the model for. */
interface InfoFile {
  readonly info: CheckpointInfo
  readonly inputShape: number[]
  readonly classes: string[]
}

function isInfoFile(value: unknown): value is InfoFile {
  if (!isRecord(value) || !isRecord(value['info'])) return false
  const info = value['info']
  return (
    typeof info['id'] === 'string' &&
    typeof info['createdAt'] === 'string' &&
    typeof info['datasetId'] === 'string' &&
    typeof info['model'] === 'string' &&
    isRecord(info['algorithm']) &&
    isCount(info['step']) &&
    isCount(info['epoch']) &&
    isCount(info['epochs']) &&
    isCount(info['bytes']) &&
    (info['reason'] === 'epoch' || info['reason'] === 'stopped') &&
    (info['testAccuracy'] === undefined || typeof info['testAccuracy'] === 'number') &&
    Array.isArray(value['inputShape']) &&
    value['inputShape'].every(isCount) &&
    isStringArray(value['classes'])
  )
}

/** What a save records beside the node's state. */
export interface CheckpointRun {
  readonly id: string
  readonly config: TrainingConfig
  readonly algorithm: AlgorithmConfig
  readonly datasetName: string
  readonly datasetHash: string
  readonly inputShape: readonly number[]
  readonly classes: readonly string[]
}

export class NodeCheckpointStore implements CheckpointStore {
  private readonly root: string
  private readonly exportsRoot: string

  constructor(
    dataDir: string,
    private readonly options: {
      readonly warn: (message: string) => void
      readonly routes?: readonly BackendRoute[]
    },
  ) {
    this.root = path.join(dataDir, CHECKPOINTS_DIR)
    this.exportsRoot = path.join(dataDir, EXPORTS_DIR)
  }

  private dirOf(id: string): string {
    if (!ID_PATTERN.test(id)) throw new CoreError('ERR_INVALID_ARGUMENT', `"${id}" is not a checkpoint id`)
    return path.join(this.root, id)
  }

  /** Writes the state as the run's latest checkpoint (atomically), then its info. */
  async save(
    run: CheckpointRun,
    state: NodeTrainingState,
    reason: 'epoch' | 'stopped',
  ): Promise<CheckpointInfo> {
    const dir = this.dirOf(run.id)
    const file = await saveCheckpoint(
      dir,
      encodeNodeCheckpoint(state, {
        modelName: run.config.model,
        datasetName: run.datasetName,
        datasetHash: run.datasetHash,
        extra: { config: run.config, algorithm: run.algorithm },
      }),
    )
    const info: CheckpointInfo = {
      id: run.id,
      createdAt: new Date().toISOString(),
      datasetId: run.config.datasetId,
      model: run.config.model,
      algorithm: run.algorithm,
      step: state.step,
      epoch: state.epoch,
      epochs: run.config.epochs,
      reason,
      ...(state.testAccuracy !== undefined && { testAccuracy: state.testAccuracy }),
      bytes: (await fs.stat(file)).size,
    }
    await writeJsonAtomic(path.join(dir, INFO_FILE), {
      info,
      inputShape: [...run.inputShape],
      classes: [...run.classes],
    } satisfies InfoFile)
    return info
  }

  /** Every checkpoint with a readable info file, newest first. */
  async list(): Promise<CheckpointInfo[]> {
    let names: string[]
    try {
      names = await fs.readdir(this.root)
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return []
      throw error
    }
    const infos: CheckpointInfo[] = []
    for (const name of names.filter((n) => ID_PATTERN.test(n))) {
      const file = await readJsonFile(path.join(this.root, name, INFO_FILE), isInfoFile, this.options.warn)
      if (file !== undefined && file.info.id === name) infos.push(file.info)
    }
    return infos.sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  }

  /** The newest valid state of checkpoint `id` (latest, else previous) and its dataset hash. */
  async load(id: string): Promise<{ state: NodeTrainingState; datasetHash: string; file: string }> {
    const loaded = await loadLatestCheckpoint(this.dirOf(id))
    if (loaded === undefined)
      throw new CoreError('ERR_NOT_FOUND', `checkpoint ${id} has no ${LATEST_CHECKPOINT}`)
    if (loaded.fallbackReason !== undefined)
      this.options.warn(`${loaded.fallbackReason}; using ${loaded.file}`)
    return {
      state: decodeNodeCheckpoint(loaded.checkpoint, loaded.file),
      datasetHash: loaded.checkpoint.meta.datasetHash,
      file: loaded.file,
    }
  }

  /**
   * Rebuilds the model with the checkpoint's parameters and writes it in the tfjs LayersModel
   * format (model.json + weights.bin) into `directory` (default `exports/<id>` in the data folder).
   */
  async export(
    info: CheckpointInfo,
    directory: string | undefined,
    backend: string | undefined,
  ): Promise<{ directory: string; files: string[] }> {
    const dir = this.dirOf(info.id)
    const shape = await readJsonFile(path.join(dir, INFO_FILE), isInfoFile, this.options.warn)
    if (shape === undefined)
      throw new CoreError('ERR_NOT_FOUND', `checkpoint ${info.id} has no readable ${INFO_FILE}`)
    const { state } = await this.load(info.id)
    const target = directory ?? path.join(this.exportsRoot, info.id)
    try {
      const modelJson = await exportParams({
        modelSpec: info.model,
        shape: { inputShape: shape.inputShape, classCount: shape.classes.length },
        params: state.params,
        dir: target,
        ...(backend !== undefined && { backend }),
        ...(this.options.routes !== undefined && { routes: this.options.routes }),
      })
      return { directory: target, files: [modelJson, path.join(target, 'weights.bin')] }
    } catch (error) {
      if (!isCoreError(error, 'ERR_SHAPE_MISMATCH')) throw error
      throw new CoreError(
        'ERR_BAD_CHECKPOINT',
        `checkpoint ${info.id} does not fit model ${info.model}: ${error.message}`,
      )
    }
  }
}
