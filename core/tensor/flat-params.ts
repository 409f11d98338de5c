/**
 * A tfjs LayersModel's weights seen as one flat Float32Array, in a fixed layout.
 *
 * Layout order is `model.weights` order (trainable and non-trainable: batch-norm statistics
 * travel with the model so averaged models stay consistent). Names are the weights'
 * original names (`fc1/kernel`), not tfjs's uniquified ones (`fc1/kernel_3`), so the layout
 * fingerprint is the same in every process that builds the same architecture.
 *
 * Reading copies each tensor's values into the caller's vector once; writing replaces each
 * variable's value with a tensor built from a slice of the vector. tfjs cannot update a
 * variable in place, so a write allocates backend storage per tensor and frees the old one
 * (tensor count stays constant, which a test checks over 1,000 rounds).
 */
import * as tf from '@tensorflow/tfjs-core'
import type { LayersModel } from '@tensorflow/tfjs-layers'
import { CoreError } from '../errors.ts'
import { buildLayout, checkFlatSize, type ParamLayout } from './param-layout.ts'

interface WeightVariable {
  readonly originalName: string
  readonly shape: readonly (number | null)[]
  readonly trainable: boolean
  read(): tf.Tensor
  write(value: tf.Tensor): unknown
}

export class FlatParams {
  readonly layout: ParamLayout
  private readonly variables: readonly WeightVariable[]

  constructor(model: LayersModel) {
    this.variables = model.weights
    const shapes = this.variables.map((v) => {
      const shape = v.shape.map((d) => {
        if (d === null)
          throw new CoreError('ERR_BAD_MODEL', `weight ${v.originalName} has an undefined dimension`)
        return d
      })
      return { name: v.originalName, shape }
    })
    this.layout = buildLayout(shapes)
  }

  /** A new zeroed vector of this layout's size: allocate once, reuse every round. */
  allocate(): Float32Array {
    return new Float32Array(this.layout.totalSize)
  }

  /** Copies the model's current weights into `out` (length = layout.totalSize) and returns it. */
  read(out: Float32Array = this.allocate()): Float32Array {
    checkFlatSize(this.layout, out, 'the output vector')
    this.variables.forEach((variable, i) => {
      const entry = this.layout.entries[i]!
      // dataSync on a variable's tensor returns the backend's values without a tfjs copy on
      // CPU backends; `set` is the one copy into the flat vector.
      out.set(variable.read().dataSync(), entry.offset)
    })
    return out
  }

  /**
   * `read` with asynchronous reads (all weights requested at once, then copied in layout order): the
   * form for backends whose synchronous readback is broken (tfjs-backend-webgpu 4.22).
   */
  async readAsync(out: Float32Array = this.allocate()): Promise<Float32Array> {
    checkFlatSize(this.layout, out, 'the output vector')
    const values = await Promise.all(this.variables.map((variable) => variable.read().data()))
    values.forEach((value, i) => out.set(value, this.layout.entries[i]!.offset))
    return out
  }

  /**
   * Replaces the model's weights with `values`. Rejects NaN/Inf and wrong sizes before
   * touching the model, so a bad vector never half-writes it.
   */
  write(values: Float32Array): void {
    checkFlatSize(this.layout, values, 'the parameter vector')
    assertFinite(values, 'parameter vector')
    tf.tidy(() => {
      this.variables.forEach((variable, i) => {
        const entry = this.layout.entries[i]!
        // slice, not subarray: the cpu backend keeps the array it is given as the tensor's
        // storage, and aliasing the caller's vector would let later edits leak into the model.
        variable.write(
          tf.tensor(values.slice(entry.offset, entry.offset + entry.size), [...entry.shape], 'float32'),
        )
      })
    })
  }

  /** Indices (into layout.entries) of the trainable weights, in order. */
  trainableEntryIndices(): number[] {
    return this.variables.flatMap((v, i) => (v.trainable ? [i] : []))
  }
}

/** Throws ERR_NON_FINITE naming the first bad index. */
export function assertFinite(values: Float32Array, what: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    // v - v is NaN for both NaN and ±Infinity: one comparison per element.
    if (v - v !== 0) throw new CoreError('ERR_NON_FINITE', `${what} holds ${v} at index ${i}`)
  }
}
