/**
 * A training node's state (`NodeTrainingState`) as a Longhaul checkpoint (core/training/
 * checkpoint.ts), so node runs are saved with the same atomic, checksummed files as
 * `longhaul train`:
 *
 * - block `params`: the model parameters (what `longhaul train --resume` reads too);
 * - blocks `optimizer:<name>`: the optimizer slots, named as `longhaul train` names them;
 * - block `algorithm-state`: the algorithm's `exportState()` in the snapshot codec's byte
 *   format (snapshot-codec.ts, with no params and no optimizer tensors), carried bit for bit
 *   in a float32 block (the checkpoint copies bytes, never converts values); `meta.extra`
 *   says how many of its bytes are the state.
 *
 * `meta.extra.kind` is 'longhaul-node'; decoding refuses other checkpoints with a sentence.
 */
import { CoreError } from '../errors.ts'
import type { Checkpoint, CheckpointMeta } from '../training/checkpoint.ts'
import { decodeSnapshot, encodeSnapshot } from './snapshot-codec.ts'
import type { NodeTrainingState } from './training-node.ts'

export const NODE_CHECKPOINT_KIND = 'longhaul-node'
const STATE_BLOCK = 'algorithm-state'
const OPTIMIZER_PREFIX = 'optimizer:'

/** What a node checkpoint records beside the state. */
export interface NodeCheckpointContext {
  readonly modelName: string
  readonly datasetName: string
  readonly datasetHash: string
  /** JSON-able extras (the run's config, shapes) kept in `meta.extra`. */
  readonly extra: Record<string, unknown>
}

export function encodeNodeCheckpoint(state: NodeTrainingState, context: NodeCheckpointContext): Checkpoint {
  const stateBytes = encodeSnapshot({
    step: state.step,
    params: new Float32Array(0),
    state: state.algorithm,
    optimizer: { kind: state.optimizer.kind, tensors: [] },
  })
  const padded = new Uint8Array(Math.ceil(stateBytes.length / 4) * 4)
  padded.set(stateBytes)
  const meta: CheckpointMeta = {
    layoutFingerprint: state.algorithm.layoutFingerprint,
    modelName: context.modelName,
    datasetName: context.datasetName,
    datasetHash: context.datasetHash,
    epoch: state.epoch,
    step: state.step,
    createdAtMs: Date.now(),
    extra: {
      ...context.extra,
      kind: NODE_CHECKPOINT_KIND,
      batchInEpoch: state.batchInEpoch,
      optimizerKind: state.optimizer.kind,
      stateBytes: stateBytes.length,
      ...(state.testAccuracy !== undefined && { testAccuracy: state.testAccuracy }),
    },
  }
  return {
    meta,
    params: state.params,
    blocks: [
      ...state.optimizer.tensors.map((t) => ({
        name: `${OPTIMIZER_PREFIX}${t.name}`,
        shape: [...t.shape],
        values: t.values,
      })),
      { name: STATE_BLOCK, shape: [padded.length / 4], values: new Float32Array(padded.buffer) },
    ],
  }
}

/** Reads a node checkpoint back; ERR_BAD_CHECKPOINT when it is not one or is inconsistent. */
export function decodeNodeCheckpoint(checkpoint: Checkpoint, source: string): NodeTrainingState {
  const { meta } = checkpoint
  const bad = (what: string): CoreError => new CoreError('ERR_BAD_CHECKPOINT', `${source}: ${what}`)
  if (meta.extra['kind'] !== NODE_CHECKPOINT_KIND) throw bad('not a training-node checkpoint')
  const stateBytes = meta.extra['stateBytes']
  const batchInEpoch = meta.extra['batchInEpoch']
  const optimizerKind = meta.extra['optimizerKind']
  const block = checkpoint.blocks.find((b) => b.name === STATE_BLOCK)
  if (
    block === undefined ||
    typeof stateBytes !== 'number' ||
    !Number.isInteger(stateBytes) ||
    stateBytes < 0 ||
    stateBytes > block.values.byteLength
  ) {
    throw bad('the algorithm state is missing or its length is wrong')
  }
  if (typeof batchInEpoch !== 'number' || !Number.isInteger(batchInEpoch) || batchInEpoch < 0)
    throw bad('batchInEpoch is missing')
  if (typeof optimizerKind !== 'string') throw bad('optimizerKind is missing')
  const snapshot = decodeSnapshot(new Uint8Array(block.values.buffer, block.values.byteOffset, stateBytes), 0)
  if (snapshot.step !== meta.step)
    throw bad(`the algorithm state is of step ${snapshot.step}, the checkpoint of ${meta.step}`)
  if (snapshot.state.layoutFingerprint !== meta.layoutFingerprint)
    throw bad('the algorithm state belongs to another model layout')
  const testAccuracy = meta.extra['testAccuracy']
  return {
    step: meta.step,
    epoch: meta.epoch,
    batchInEpoch,
    params: checkpoint.params,
    algorithm: snapshot.state,
    optimizer: {
      kind: optimizerKind,
      tensors: checkpoint.blocks
        .filter((b) => b.name.startsWith(OPTIMIZER_PREFIX))
        .map((b) => ({ name: b.name.slice(OPTIMIZER_PREFIX.length), shape: b.shape, values: b.values })),
    },
    ...(typeof testAccuracy === 'number' && { testAccuracy }),
  }
}
