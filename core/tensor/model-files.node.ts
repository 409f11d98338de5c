/**
 * Reading and writing models in the TensorFlow.js LayersModel format (`model.json` plus
 * binary weight files), without tfjs-node's `file://` handler, which is absent when the
 * native backend is not installed.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import type { LayersModel } from '@tensorflow/tfjs-layers'
import { CoreError } from '../errors.ts'
import { isCount, isRecord, isStringArray } from '../guards.ts'
import { isErrno } from '../training/checkpoint-files.node.ts'

const WEIGHTS_FILE = 'weights.bin'

/** Writes `model.json` and `weights.bin` into `dir` (created if needed), each atomically. */
export async function exportModel(model: LayersModel, dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true })
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData
      if (!weightData || !artifacts.weightSpecs) throw new Error('tfjs produced a model without weights')
      const buffers = Array.isArray(weightData) ? weightData : [weightData]
      const bytes = Buffer.concat(buffers.map((b) => new Uint8Array(b)))
      const modelJson = {
        format: 'layers-model',
        generatedBy: 'Longhaul',
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs }],
      }
      await writeAtomic(path.join(dir, WEIGHTS_FILE), bytes)
      await writeAtomic(path.join(dir, 'model.json'), Buffer.from(JSON.stringify(modelJson)))
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          weightDataBytes: bytes.length,
        },
      }
    }),
  )
  return path.join(dir, 'model.json')
}

/** Loads a user's tfjs LayersModel from a `model.json` path (or a folder containing one). */
export async function importModel(location: string): Promise<LayersModel> {
  const { parsed, modelJsonPath } = await readModelJson(location)
  const dir = path.dirname(modelJsonPath)
  const weightSpecs: tf.io.WeightsManifestEntry[] = []
  const parts: Buffer[] = []
  for (const group of parsed.weightsManifest) {
    for (const relative of group.paths) {
      const file = path.resolve(dir, relative)
      if (path.relative(dir, file).startsWith('..'))
        throw new CoreError('ERR_BAD_MODEL', `${modelJsonPath} points outside its folder: ${relative}`)
      try {
        parts.push(await fs.readFile(file))
      } catch (error) {
        if (isErrno(error, 'ENOENT'))
          throw new CoreError(
            'ERR_NOT_FOUND',
            `weight file ${file} (listed in ${modelJsonPath}) does not exist`,
          )
        throw error
      }
    }
    weightSpecs.push(...group.weights)
  }
  const weightData = Buffer.concat(parts)
  const expectedBytes = weightSpecs.reduce(
    (sum, w) => sum + w.shape.reduce((a, b) => a * b, 1) * bytesPerElement(w.dtype),
    0,
  )
  if (expectedBytes !== weightData.length) {
    throw new CoreError(
      'ERR_BAD_MODEL',
      `${modelJsonPath}: weights manifest needs ${expectedBytes} bytes but the weight files hold ${weightData.length}`,
    )
  }
  try {
    return await tfl.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: parsed.modelTopology,
        weightSpecs,
        weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.length),
      }),
    )
  } catch (error) {
    throw new CoreError(
      'ERR_BAD_MODEL',
      `${modelJsonPath}: tfjs could not build the model: ${error instanceof Error ? error.message : String(error)}`,
    )
  }
}

/**
 * The layer class names a model.json describes, read from its topology without building the
 * model (building needs a backend, and the backend choice needs these names).
 */
export async function readModelLayerClasses(location: string): Promise<string[]> {
  const { parsed } = await readModelJson(location)
  const names = new Set<string>()
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit)
      return
    }
    if (!isRecord(node)) return
    if (typeof node['class_name'] === 'string' && isRecord(node['config'])) {
      const config = node['config']
      if (Array.isArray(config['layers'])) {
        // A nested Sequential/functional model: its own class is a container, not a layer with kernels.
        visit(config['layers'])
        return
      }
      names.add(node['class_name'])
      return
    }
    for (const value of Object.values(node)) visit(value)
  }
  visit(parsed.modelTopology)
  return [...names]
}

async function readModelJson(location: string): Promise<{ parsed: ModelJson; modelJsonPath: string }> {
  let modelJsonPath = location
  try {
    if ((await fs.stat(location)).isDirectory()) modelJsonPath = path.join(location, 'model.json')
  } catch (error) {
    if (isErrno(error, 'ENOENT')) throw new CoreError('ERR_NOT_FOUND', `model ${location} does not exist`)
    throw error
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(await fs.readFile(modelJsonPath, 'utf8'))
  } catch (error) {
    if (isErrno(error, 'ENOENT')) throw new CoreError('ERR_NOT_FOUND', `${modelJsonPath} does not exist`)
    throw new CoreError('ERR_BAD_MODEL', `${modelJsonPath} is not valid JSON`)
  }
  if (!isModelJson(parsed))
    throw new CoreError(
      'ERR_BAD_MODEL',
      `${modelJsonPath} is not a tfjs LayersModel (no modelTopology/weightsManifest)`,
    )
  return { parsed, modelJsonPath }
}

function bytesPerElement(dtype: string | undefined): number {
  // Quantized weights are not supported here: the manifest check above would catch them.
  return dtype === 'bool' || dtype === 'uint8' ? 1 : dtype === 'uint16' || dtype === 'float16' ? 2 : 4
}

interface ModelJson {
  modelTopology: object
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>
}

function isModelJson(value: unknown): value is ModelJson {
  if (!isRecord(value) || !isRecord(value['modelTopology']) || !Array.isArray(value['weightsManifest']))
    return false
  return value['weightsManifest'].every(
    (group: unknown) =>
      isRecord(group) &&
      isStringArray(group['paths']) &&
      Array.isArray(group['weights']) &&
      group['weights'].every(
        (w: unknown) =>
          isRecord(w) &&
          typeof w['name'] === 'string' &&
          Array.isArray(w['shape']) &&
          w['shape'].every(isCount),
      ),
  )
}

async function writeAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`
  await fs.writeFile(temp, bytes)
  await fs.rename(temp, file)
}
