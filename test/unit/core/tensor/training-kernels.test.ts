import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import * as tfl from '@tensorflow/tfjs-layers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isCoreError } from '../../../../core/errors.ts'
import {
  BASE_TRAINING_KERNELS,
  DEFAULT_ACTIVATIONS,
  knownActivations,
  knownLayerClasses,
  requiredTrainingKernels,
  trainingKernelsForLayers,
} from '../../../../core/tensor/training-kernels.ts'

type Sym = tfl.SymbolicTensor
const L = tfl.layers

function sym(value: Sym | Sym[] | tf.Tensor | tf.Tensor[]): Sym {
  if (!(value instanceof tfl.SymbolicTensor)) throw new Error('expected one symbolic tensor')
  return value
}

/** Input 8x8x2 -> a trainable 1x1 conv (so the layer under test gets input gradients) -> layer -> softmax head. */
function modelAround(layer: (t: Sym) => Sym): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 2] })
  const pre = sym(L.conv2d({ filters: 2, kernelSize: 1, useBias: false }).apply(input))
  const body = layer(pre)
  const flat = body.shape.length > 2 ? sym(L.flatten().apply(body)) : body
  return tfl.model({ inputs: input, outputs: sym(L.dense({ units: 3, activation: 'softmax' }).apply(flat)) })
}

/** Kernel names one profiled block runs (op scope names like "fusedMatMul__op" are not kernels). */
async function kernelsRun(block: () => Promise<void>): Promise<Set<string>> {
  const info = await tf.profile(async () => {
    await block()
    return []
  })
  // Copy now: tf.profile reuses its result object on the next call.
  return new Set(info.kernelNames.filter((name) => !name.endsWith('__op')))
}

function batch(model: tfl.LayersModel): { x: tf.Tensor; y: tf.Tensor } {
  const inputShape = model.inputs[0]?.shape.slice(1) ?? []
  const x = tf.randomNormal([4, ...inputShape.map((d) => d ?? 1)])
  const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3), 'float32')
  return { x, y }
}

/** Two fit-style steps (the first creates optimizer slots) plus a predict, all profiled. */
async function trainingKernels(
  model: tfl.LayersModel,
  optimizer: string | tf.Optimizer,
): Promise<Set<string>> {
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] })
  const { x, y } = batch(model)
  try {
    return await kernelsRun(async () => {
      await model.trainOnBatch(x, y)
      await model.trainOnBatch(x, y)
      tf.dispose(model.predict(x))
    })
  } finally {
    tf.dispose([x, y])
  }
}

function notListed(run: Set<string>, listed: readonly string[]): string[] {
  const allowed = new Set(listed)
  return [...run].filter((k) => !allowed.has(k)).sort()
}

let previousBackend: string | undefined

beforeAll(async () => {
  previousBackend = tf.engine().backendName ?? undefined
  await tf.setBackend('cpu')
})

afterAll(async () => {
  if (previousBackend !== undefined) await tf.setBackend(previousBackend)
})

describe('requiredTrainingKernels', () => {
  it('returns the sorted, de-duplicated base set when given no layers', () => {
    const kernels = requiredTrainingKernels([])
    expect(kernels).toEqual([...new Set(BASE_TRAINING_KERNELS)].sort())
  })

  it('lists forward and both backward conv kernels for Conv2D', () => {
    const kernels = requiredTrainingKernels(['Conv2D'])
    for (const k of ['FusedConv2D', 'Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput'])
      expect(kernels).toContain(k)
  })

  it('lists MaxPool and MaxPoolGrad for MaxPooling2D and no conv kernels for Dense', () => {
    expect(requiredTrainingKernels(['MaxPooling2D'])).toEqual(
      expect.arrayContaining(['MaxPool', 'MaxPoolGrad']),
    )
    const dense = requiredTrainingKernels(['Dense'])
    expect(dense).toEqual(expect.arrayContaining(['_FusedMatMul', 'BatchMatMul']))
    expect(dense.filter((k) => k.startsWith('Conv2D'))).toEqual([])
  })

  it('adds the default activations only when a layer with an activation is present', () => {
    expect(requiredTrainingKernels(['Flatten'])).not.toContain('Relu')
    const dense = requiredTrainingKernels(['Dense'])
    for (const k of ['Relu', 'Step', 'Sigmoid', 'Tanh', 'Softmax']) expect(dense).toContain(k)
    expect(DEFAULT_ACTIVATIONS).toContain('relu')
  })

  it('uses exactly the given activations when the caller lists them', () => {
    const linearOnly = requiredTrainingKernels(['Dense'], { activations: ['linear'] })
    expect(linearOnly).not.toContain('Relu')
    expect(requiredTrainingKernels(['Dense'], { activations: ['elu'] })).toEqual(
      expect.arrayContaining(['Elu', 'EluGrad']),
    )
  })

  it('throws ERR_BAD_MODEL naming the layer when the layer class is unknown', () => {
    expect(() => requiredTrainingKernels(['Dense', 'Conv3D'])).toThrow(/Conv3D/)
    try {
      requiredTrainingKernels(['Conv3D'])
    } catch (error) {
      expect(isCoreError(error, 'ERR_BAD_MODEL')).toBe(true)
    }
  })

  it('throws ERR_BAD_MODEL when the name is an Object prototype property', () => {
    expect(() => requiredTrainingKernels(['constructor'])).toThrow(/constructor/)
    expect(() => requiredTrainingKernels(['Dense'], { activations: ['toString'] })).toThrow(/toString/)
  })

  it('throws ERR_BAD_MODEL when an activation is unknown', () => {
    try {
      requiredTrainingKernels(['Dense'], { activations: ['tanhshrink'] })
      expect.unreachable('should have thrown')
    } catch (error) {
      expect(isCoreError(error, 'ERR_BAD_MODEL')).toBe(true)
      expect(String(error)).toMatch(/tanhshrink/)
    }
  })

  it('names only kernels the cpu backend registers', () => {
    const all = requiredTrainingKernels(knownLayerClasses(), { activations: knownActivations() })
    expect(all.filter((k) => tf.getKernel(k, 'cpu') === undefined)).toEqual([])
  })
})

// Each case: the layer under test, placed after a trainable conv. The profiled kernels of real
// training steps must all be in the list computed from the model's own layers.
const LAYER_CASES: [string, (t: Sym) => Sym][] = [
  ['Conv2D relu valid', (t) => sym(L.conv2d({ filters: 3, kernelSize: 3, activation: 'relu' }).apply(t))],
  [
    'Conv2D strided same',
    (t) => sym(L.conv2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'same' }).apply(t)),
  ],
  ['Dense relu on rank 4', (t) => sym(L.dense({ units: 3, activation: 'relu' }).apply(t))],
  ['Dense tanh', (t) => sym(L.dense({ units: 3, activation: 'tanh' }).apply(sym(L.flatten().apply(t))))],
  ['MaxPooling2D', (t) => sym(L.maxPooling2d({ poolSize: 2 }).apply(t))],
  ['AveragePooling2D', (t) => sym(L.averagePooling2d({ poolSize: 2 }).apply(t))],
  ['GlobalAveragePooling2D', (t) => sym(L.globalAveragePooling2d({}).apply(t))],
  ['GlobalMaxPooling2D', (t) => sym(L.globalMaxPooling2d({}).apply(t))],
  ['BatchNormalization', (t) => sym(L.batchNormalization().apply(t))],
  ['LayerNormalization', (t) => sym(L.layerNormalization().apply(t))],
  ['Dropout', (t) => sym(L.dropout({ rate: 0.5 }).apply(t))],
  ['ReLU', (t) => sym(L.reLU().apply(t))],
  ['LeakyReLU', (t) => sym(L.leakyReLU().apply(t))],
  ['Activation sigmoid', (t) => sym(L.activation({ activation: 'sigmoid' }).apply(t))],
  ['Add (residual)', (t) => sym(L.add().apply([t, sym(L.conv2d({ filters: 2, kernelSize: 1 }).apply(t))]))],
  ['Concatenate', (t) => sym(L.concatenate().apply([t, t]))],
  ['ZeroPadding2D', (t) => sym(L.zeroPadding2d({ padding: 1 }).apply(t))],
  ['DepthwiseConv2D', (t) => sym(L.depthwiseConv2d({ kernelSize: 3 }).apply(t))],
  ['SeparableConv2D', (t) => sym(L.separableConv2d({ filters: 3, kernelSize: 3 }).apply(t))],
  ['Reshape', (t) => sym(L.reshape({ targetShape: [64, 2] }).apply(t))],
]

describe('trainingKernelsForLayers', () => {
  it.each(LAYER_CASES)(
    'covers every kernel training runs on cpu when the model has %s',
    async (_name, layer) => {
      const model = modelAround(layer)
      const listed = trainingKernelsForLayers(model.layers)
      const run = await trainingKernels(model, 'adam')
      model.dispose()
      expect(run.size).toBeGreaterThan(10)
      expect(notListed(run, listed)).toEqual([])
    },
  )

  it.each([
    'linear',
    'relu',
    'relu6',
    'elu',
    'selu',
    'sigmoid',
    'hardSigmoid',
    'tanh',
    'softplus',
    'softsign',
    'swish',
    'mish',
    'gelu',
  ])('covers the kernels of Dense with activation %s', async (activation) => {
    const input = tfl.input({ shape: [5] })
    const hidden = sym(L.dense({ units: 4, activation: activation as 'relu' }).apply(input))
    const output = sym(L.dense({ units: 3, activation: 'softmax' }).apply(hidden))
    const model = tfl.model({ inputs: input, outputs: output })
    const run = await trainingKernels(model, 'sgd')
    const listed = trainingKernelsForLayers(model.layers)
    model.dispose()
    expect(notListed(run, listed)).toEqual([])
  })

  it.each(['sgd', 'momentum', 'adam', 'adamax', 'adagrad', 'adadelta', 'rmsprop'])(
    'covers the update kernels of the %s optimizer',
    async (name) => {
      const optimizer = name === 'momentum' ? tf.train.momentum(0.1, 0.9) : name
      const model = modelAround((t) => t)
      const run = await trainingKernels(model, optimizer)
      const listed = trainingKernelsForLayers(model.layers)
      model.dispose()
      expect(notListed(run, listed)).toEqual([])
    },
  )

  it('covers a custom loop with tf.losses.softmaxCrossEntropy and applyGradients', async () => {
    const model = modelAround((t) => sym(L.maxPooling2d({ poolSize: 2 }).apply(t)))
    const { x, y } = batch(model)
    const optimizer = tf.train.sgd(0.1)
    const run = await kernelsRun(() => {
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.apply(x, { training: true })
        if (Array.isArray(logits) || !(logits instanceof tf.Tensor)) throw new Error('one output expected')
        // Default reduction: the loss is a scalar.
        return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(y, logits)
      })
      optimizer.applyGradients(grads)
      tf.dispose([value, grads])
      return Promise.resolve()
    })
    const listed = trainingKernelsForLayers(model.layers)
    tf.dispose([x, y])
    optimizer.dispose()
    model.dispose()
    expect(notListed(run, listed)).toEqual([])
  })

  it('walks nested models and reads activations from layer configs', () => {
    const inner = tfl.sequential({ layers: [L.dense({ units: 4, inputShape: [5], activation: 'elu' })] })
    const outer = tfl.sequential({ layers: [inner, L.dense({ units: 2, activation: 'linear' })] })
    const listed = trainingKernelsForLayers(outer.layers)
    outer.dispose()
    expect(listed).toEqual(expect.arrayContaining(['Elu', 'EluGrad', '_FusedMatMul']))
    // Only the activations the configs name: relu is not one of them.
    expect(listed).not.toContain('Relu')
  })

  it('throws ERR_BAD_MODEL for a layer class outside the table', () => {
    const model = tfl.sequential({ layers: [L.conv1d({ filters: 2, kernelSize: 2, inputShape: [6, 1] })] })
    try {
      trainingKernelsForLayers(model.layers)
      expect.unreachable('should have thrown')
    } catch (error) {
      expect(isCoreError(error, 'ERR_BAD_MODEL')).toBe(true)
      expect(String(error)).toMatch(/Conv1D/)
    } finally {
      model.dispose()
    }
  })
})
