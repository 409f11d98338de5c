/**
 * Which tfjs kernels a model needs to TRAIN (forward pass, gradients, loss, metrics and optimizer
 * update), by layer class name. Backend selection checks these names against each backend's kernel
 * registry before training starts, so a missing kernel stops us at start-up with a clear sentence
 * instead of "Kernel 'X' not registered for backend 'Y'" in the middle of an epoch.
 *
 * The table was derived by profiling one training step per layer with `tf.profile` on the cpu backend
 * (tfjs 4.22), and test/unit/core/tensor/training-kernels.test.ts re-derives it: every kernel a real
 * training step runs must be in the list. The list may name a few kernels a given model never runs (it
 * is keyed by class, not by layer config), never the other way round.
 */
import {
  _FusedMatMul,
  Abs,
  Add,
  ArgMax,
  AvgPool,
  AvgPoolGrad,
  BatchMatMul,
  Cast,
  ClipByValue,
  Concat,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNative,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  Elu,
  EluGrad,
  Equal,
  Erf,
  Exp,
  Fill,
  Floor,
  FusedBatchNorm,
  FusedConv2D,
  FusedDepthwiseConv2D,
  Greater,
  GreaterEqual,
  Identity,
  LeakyRelu,
  LessEqual,
  Log,
  LogicalAnd,
  Max,
  Maximum,
  MaxPool,
  MaxPoolGrad,
  Mean,
  Minimum,
  Multiply,
  Neg,
  PadV2,
  RealDiv,
  Relu,
  Reshape,
  Rsqrt,
  Select,
  Selu,
  Sigmoid,
  Slice,
  Softmax,
  Softplus,
  SplitV,
  Sqrt,
  Square,
  Step,
  Sub,
  Sum,
  Tanh,
  Tile,
  Transpose,
  ZerosLike,
} from '@tensorflow/tfjs-core'
import { CoreError } from '../errors.ts'

/**
 * Kernels every training step runs whatever the layers: the categorical cross-entropy of tfjs-layers
 * (clip, log, mean) and of `tf.losses.softmaxCrossEntropy` (exp, max), the accuracy metric (argMax,
 * equal), batch slicing, and the update rules of sgd, momentum, adam, adamax, adagrad, adadelta and
 * rmsprop (sqrt, abs, maximum, fill).
 */
export const BASE_TRAINING_KERNELS: readonly string[] = [
  Add,
  Sub,
  Multiply,
  RealDiv,
  Neg,
  Square,
  Sqrt,
  Abs,
  Maximum,
  Exp,
  Log,
  Max,
  Sum,
  Mean,
  ClipByValue,
  Softmax,
  Cast,
  Identity,
  Reshape,
  Slice,
  Fill,
  ZerosLike,
  ArgMax,
  Equal,
  GreaterEqual,
  LessEqual,
  LogicalAnd,
  Select,
]

/**
 * Activation name (as in a layer config's `activation`) -> the kernels its forward and backward pass
 * run. Names follow tfjs-layers' serialised spelling. A Map, so names like 'constructor' miss.
 */
const ACTIVATION_KERNELS: ReadonlyMap<string, readonly string[]> = new Map(
  Object.entries({
    linear: [],
    relu: [Relu, Step, Multiply, Cast],
    relu6: [Relu, Step, Minimum, Greater, Select, Multiply, Cast],
    elu: [Elu, EluGrad],
    selu: [Selu, Exp, Greater, Select, Multiply],
    sigmoid: [Sigmoid, Multiply, Sub],
    hardSigmoid: [Multiply, Add, ClipByValue, GreaterEqual, LessEqual, LogicalAnd, Select, ZerosLike],
    tanh: [Tanh, Multiply, Sub, Square],
    softmax: [Softmax, Multiply, Sum, Sub, Reshape],
    softplus: [Softplus, Sigmoid, Multiply],
    softsign: [Abs, Add, RealDiv, Step, Multiply, Square],
    swish: [Sigmoid, Multiply, Sub, Add],
    mish: [Softplus, Tanh, Sigmoid, Multiply, Sub, Square, Add],
    gelu: [Erf, Exp, Multiply, Add, Square, Neg],
  }),
)

/** Activations assumed when the caller does not list the model's own: the ones our model zoo uses. */
export const DEFAULT_ACTIVATIONS: readonly string[] = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax']

/** Layers whose config carries an `activation` (their kernels are added per activation). */
const LAYERS_WITH_ACTIVATION = new Set([
  'Dense',
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'Activation',
])

const DEPTHWISE = [
  DepthwiseConv2dNative,
  FusedDepthwiseConv2D,
  DepthwiseConv2dNativeBackpropInput,
  DepthwiseConv2dNativeBackpropFilter,
]
const CONV = [FusedConv2D, Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter]
// Moments in training mode, the normalisation itself and its gradient (tile + rsqrt).
const NORMALIZATION = [FusedBatchNorm, Mean, Sub, Square, Rsqrt, Tile, Multiply, Add, Sum, Reshape]

/**
 * Layer class name (tfjs-layers `getClassName()`, as in a LayersModel JSON) -> kernels for its forward
 * pass and its gradients. Dense on a rank > 2 input transposes for its weight gradient; bias gradients
 * are sums; fused ops fall back to unfused ones while gradients are being recorded.
 */
const LAYER_KERNELS: ReadonlyMap<string, readonly string[]> = new Map(
  Object.entries({
    InputLayer: [],
    Dense: [_FusedMatMul, BatchMatMul, Transpose, Add, Sum, Reshape],
    Conv2D: [...CONV, Add, Sum, Reshape],
    DepthwiseConv2D: [...DEPTHWISE, Add, Sum, Reshape],
    SeparableConv2D: [...DEPTHWISE, ...CONV, Add, Sum, Reshape],
    MaxPooling2D: [MaxPool, MaxPoolGrad],
    AveragePooling2D: [AvgPool, AvgPoolGrad, Cast],
    GlobalAveragePooling2D: [Mean, RealDiv, Reshape, Tile, Multiply],
    GlobalMaxPooling2D: [Max, Equal, Cast, Multiply, Reshape],
    BatchNormalization: NORMALIZATION,
    LayerNormalization: NORMALIZATION,
    Flatten: [Reshape],
    Reshape: [Reshape],
    Dropout: [Floor, Add, Multiply, RealDiv],
    Activation: [],
    ReLU: [Relu, Step, Multiply, Cast],
    LeakyReLU: [LeakyRelu, Greater, Select, Multiply],
    Add: [Add, Sum, Reshape],
    Concatenate: [Concat, SplitV],
    ZeroPadding2D: [PadV2, Slice],
  }),
)

/** Layer class names {@link requiredTrainingKernels} knows, sorted. */
export function knownLayerClasses(): string[] {
  return [...LAYER_KERNELS.keys()].sort()
}

/** Activation names {@link requiredTrainingKernels} knows, sorted. */
export function knownActivations(): string[] {
  return [...ACTIVATION_KERNELS.keys()].sort()
}

/**
 * The sorted, de-duplicated kernel names a model with these layers needs to train: forward and
 * backward kernels of each layer, plus {@link BASE_TRAINING_KERNELS} (loss, metrics, optimizers).
 *
 * Activations are not visible in a class name, so the kernels of `options.activations` (default
 * {@link DEFAULT_ACTIVATIONS}) are added whenever a layer that has an activation is present; pass the
 * activations the model really uses when it uses others (e.g. 'elu', 'gelu').
 *
 * @throws CoreError ERR_BAD_MODEL naming the layer class or activation when it is not in the table,
 *   because we cannot promise such a model will train to the end on any backend.
 */
export function requiredTrainingKernels(
  layerClassNames: readonly string[],
  options: { activations?: readonly string[] } = {},
): string[] {
  const kernels = new Set<string>(BASE_TRAINING_KERNELS)
  let hasActivation = false
  for (const className of layerClassNames) {
    const layerKernels = LAYER_KERNELS.get(className)
    if (layerKernels === undefined) {
      throw new CoreError(
        'ERR_BAD_MODEL',
        `Layer class '${className}' is not in Longhaul's training kernel table, so no backend can be checked ` +
          `for it; known layers: ${knownLayerClasses().join(', ')}.`,
      )
    }
    for (const kernel of layerKernels) kernels.add(kernel)
    if (LAYERS_WITH_ACTIVATION.has(className)) hasActivation = true
  }
  if (hasActivation) {
    for (const activation of options.activations ?? DEFAULT_ACTIVATIONS) {
      const activationKernels = ACTIVATION_KERNELS.get(activation)
      if (activationKernels === undefined) {
        throw new CoreError(
          'ERR_BAD_MODEL',
          `Activation '${activation}' is not in Longhaul's training kernel table; known activations: ` +
            `${knownActivations().join(', ')}.`,
        )
      }
      for (const kernel of activationKernels) kernels.add(kernel)
    }
  }
  return [...kernels].sort()
}

/** The part of a tfjs-layers Layer (or nested model) that kernel planning reads. */
export interface LayerLike {
  getClassName(): string
  getConfig(): unknown
}

function activationOf(layer: LayerLike): string | undefined {
  const config = layer.getConfig()
  if (typeof config !== 'object' || config === null || !('activation' in config)) return undefined
  return typeof config.activation === 'string' ? config.activation : undefined
}

function nestedLayers(layer: LayerLike): readonly LayerLike[] | undefined {
  if (!('layers' in layer) || !Array.isArray(layer.layers)) return undefined
  const inner: unknown[] = layer.layers
  return inner.every(isLayerLike) ? inner : undefined
}

function isLayerLike(value: unknown): value is LayerLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    'getClassName' in value &&
    typeof value.getClassName === 'function' &&
    'getConfig' in value &&
    typeof value.getConfig === 'function'
  )
}

/**
 * {@link requiredTrainingKernels} for a built tfjs-layers model: its layers' class names (nested
 * Sequential/functional models are walked) and the activations their configs name, so nothing is
 * assumed. Pass `model.layers`.
 *
 * @throws CoreError ERR_BAD_MODEL as requiredTrainingKernels does.
 */
export function trainingKernelsForLayers(layers: readonly LayerLike[]): string[] {
  const classNames: string[] = []
  const activations = new Set<string>()
  const visit = (list: readonly LayerLike[]): void => {
    for (const layer of list) {
      const inner = nestedLayers(layer)
      if (inner !== undefined) {
        visit(inner)
        continue
      }
      classNames.push(layer.getClassName())
      const activation = activationOf(layer)
      if (activation !== undefined) activations.add(activation)
    }
  }
  visit(layers)
  return requiredTrainingKernels(classNames, { activations: [...activations] })
}
