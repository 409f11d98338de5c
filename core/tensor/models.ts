/**
 * The model zoo. Every model ends in a linear layer producing logits (the trainer applies
 * softmax cross-entropy), takes its input shape and class count from the dataset, and names
 * its layers explicitly so weight names, and therefore layout fingerprints, are stable.
 */
import * as tfl from '@tensorflow/tfjs-layers'
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-layers'
import { CoreError } from '../errors.ts'

export interface ModelShape {
  /** Per-example input shape, e.g. [28, 28, 1]. */
  readonly inputShape: readonly number[]
  readonly classCount: number
}

export interface ZooModel {
  readonly name: string
  readonly summary: string
  /** Whether it uses conv layers: conv training needs backprop kernels wasm lacks. */
  readonly usesConvolutions: boolean
  /**
   * tfjs layer class names the model is made of: known before building, because a model can
   * only be built once a backend is chosen, and choosing needs the kernels these imply.
   */
  readonly layerClasses: readonly string[]
  build(shape: ModelShape): LayersModel
}

function mlp({ inputShape, classCount }: ModelShape): LayersModel {
  // tfjs's Flatten needs at least 2 dims per example; tabular (CSV) input is already flat.
  const isFlat = inputShape.length === 1
  return tfl.sequential({
    name: 'mlp',
    layers: [
      ...(isFlat ? [] : [tfl.layers.flatten({ inputShape: [...inputShape], name: 'flatten' })]),
      tfl.layers.dense({
        units: 256,
        activation: 'relu',
        name: 'fc1',
        kernelInitializer: 'heNormal',
        ...(isFlat ? { inputShape: [...inputShape] } : {}),
      }),
      tfl.layers.dense({ units: 128, activation: 'relu', name: 'fc2', kernelInitializer: 'heNormal' }),
      tfl.layers.dense({ units: classCount, name: 'logits' }),
    ],
  })
}

function cnn({ inputShape, classCount }: ModelShape): LayersModel {
  requireImage(inputShape, 'cnn')
  return tfl.sequential({
    name: 'cnn',
    layers: [
      tfl.layers.conv2d({
        inputShape: [...inputShape],
        filters: 16,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        name: 'conv1',
      }),
      tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2' }),
      tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
      tfl.layers.flatten({ name: 'flatten' }),
      tfl.layers.dense({ units: 128, activation: 'relu', name: 'fc1', kernelInitializer: 'heNormal' }),
      tfl.layers.dense({ units: classCount, name: 'logits' }),
    ],
  })
}

/** A small ResNet for 32x32x3 (CIFAR-sized) images: 3 stages of 2 basic blocks, 16/32/64 channels. */
function resnet({ inputShape, classCount }: ModelShape): LayersModel {
  requireImage(inputShape, 'resnet')
  const input = tfl.input({ shape: [...inputShape], name: 'image' })
  let x = convBn(input, 16, 1, 'stem')
  x = tfl.layers.activation({ activation: 'relu', name: 'stem_relu' }).apply(x) as SymbolicTensor
  const stages = [16, 32, 64]
  stages.forEach((filters, stage) => {
    for (let block = 0; block < 2; block++) {
      const stride = stage > 0 && block === 0 ? 2 : 1
      x = basicBlock(x, filters, stride, `s${stage}b${block}`)
    }
  })
  x = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as SymbolicTensor
  const logits = tfl.layers.dense({ units: classCount, name: 'logits' }).apply(x) as SymbolicTensor
  return tfl.model({ inputs: input, outputs: logits, name: 'resnet' })
}

function convBn(x: SymbolicTensor, filters: number, strides: number, name: string): SymbolicTensor {
  const conv = tfl.layers
    .conv2d({
      filters,
      kernelSize: 3,
      strides,
      padding: 'same',
      useBias: false,
      name: `${name}_conv`,
      kernelInitializer: 'heNormal',
    })
    .apply(x) as SymbolicTensor
  return tfl.layers.batchNormalization({ name: `${name}_bn` }).apply(conv) as SymbolicTensor
}

function basicBlock(x: SymbolicTensor, filters: number, strides: number, name: string): SymbolicTensor {
  let y = convBn(x, filters, strides, `${name}_a`)
  y = tfl.layers.activation({ activation: 'relu', name: `${name}_relu_a` }).apply(y) as SymbolicTensor
  y = convBn(y, filters, 1, `${name}_b`)
  const inChannels = x.shape[x.shape.length - 1]
  let shortcut = x
  if (strides !== 1 || inChannels !== filters) {
    const projected = tfl.layers
      .conv2d({
        filters,
        kernelSize: 1,
        strides,
        useBias: false,
        name: `${name}_proj`,
        kernelInitializer: 'heNormal',
      })
      .apply(x) as SymbolicTensor
    shortcut = tfl.layers.batchNormalization({ name: `${name}_proj_bn` }).apply(projected) as SymbolicTensor
  }
  const sum = tfl.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as SymbolicTensor
  return tfl.layers.activation({ activation: 'relu', name: `${name}_relu` }).apply(sum) as SymbolicTensor
}

function requireImage(inputShape: readonly number[], model: string): void {
  if (inputShape.length !== 3) {
    throw new CoreError(
      'ERR_BAD_MODEL',
      `model ${model} needs image input [height, width, channels], but the dataset's input shape is [${inputShape.join(', ')}]; use --model mlp for tabular data`,
    )
  }
}

export const MODEL_ZOO: Readonly<Record<string, ZooModel>> = {
  mlp: {
    name: 'mlp',
    summary: 'flatten -> 256 -> 128 -> classes (ReLU); the default on CPU backends',
    usesConvolutions: false,
    layerClasses: ['Flatten', 'Dense'],
    build: mlp,
  },
  cnn: {
    name: 'cnn',
    summary: 'two 3x3 conv+pool blocks (16, 32) -> 128 -> classes; for 28x28 images',
    usesConvolutions: true,
    layerClasses: ['Conv2D', 'MaxPooling2D', 'Flatten', 'Dense'],
    build: cnn,
  },
  resnet: {
    name: 'resnet',
    summary: 'small ResNet (3 stages x 2 basic blocks, batch norm); for 32x32x3 images',
    usesConvolutions: true,
    layerClasses: [
      'InputLayer',
      'Conv2D',
      'BatchNormalization',
      'Activation',
      'Add',
      'GlobalAveragePooling2D',
      'Dense',
    ],
    build: resnet,
  },
}

export function zooModel(name: string): ZooModel {
  const model = MODEL_ZOO[name]
  if (!model) {
    throw new CoreError(
      'ERR_INVALID_ARGUMENT',
      `unknown model "${name}": choose one of ${Object.keys(MODEL_ZOO).join(', ')}, or a path to a tfjs model.json`,
    )
  }
  return model
}

/** Checks that a model (zoo or user-supplied) fits the dataset; a mismatch is a clear error. */
export function checkModelFitsData(model: LayersModel, shape: ModelShape, modelLabel: string): void {
  const inputs = model.inputs
  if (inputs.length !== 1)
    throw new CoreError(
      'ERR_BAD_MODEL',
      `${modelLabel} has ${inputs.length} inputs; Longhaul trains single-input classifiers`,
    )
  const modelInput = inputs[0]!.shape.slice(1)
  const same =
    modelInput.length === shape.inputShape.length &&
    modelInput.every((d, i) => d === null || d === shape.inputShape[i])
  if (!same) {
    throw new CoreError(
      'ERR_BAD_MODEL',
      `${modelLabel} expects input [${modelInput.map((d) => d ?? '?').join(', ')}] but the dataset's examples are [${shape.inputShape.join(', ')}]`,
    )
  }
  const outputs = model.outputs
  const units = outputs.length === 1 ? outputs[0]!.shape[outputs[0]!.shape.length - 1] : undefined
  if (units !== shape.classCount) {
    throw new CoreError(
      'ERR_BAD_MODEL',
      `${modelLabel} outputs ${units ?? 'several tensors'} classes but the dataset has ${shape.classCount}`,
    )
  }
}

/** Whether the model's last layer already applies softmax (user models often do). */
export function endsWithSoftmax(model: LayersModel): boolean {
  const last = model.layers[model.layers.length - 1]
  if (!last) return false
  const config = last.getConfig()
  return config['activation'] === 'softmax' || last.getClassName() === 'Softmax'
}
