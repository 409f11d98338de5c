/**
 * Public entry of the dataset code for code outside core/data (trainer, simulator, engine,
 * UI types). Runtime-agnostic only: Node callers load files through
 * `./resolve-dataset.node.ts` (`loadDataset`), which this entry deliberately does not
 * re-export so a browser bundle never pulls in node:fs or sharp.
 */
export type { Dataset, DatasetManifest, DatasetSource, Split } from './dataset.ts'
export { DEFAULT_TEST_FRACTION, featureSize, subsetSplit } from './dataset.ts'
export type { Batch, BatcherOptions } from './batching.ts'
export { Batcher, batchCount, epochBatches, epochOrder, splitTrainValidation } from './batching.ts'
export type { DirichletOptions } from './partition.ts'
export { partitionDirichlet, partitionIid } from './partition.ts'
export type { ShapesOptions } from './shapes.ts'
export { generateShapes, SHAPES_CLASSES, SHAPES_NAME } from './shapes.ts'
export { FASHION_MNIST_CLASSES, FASHION_MNIST_NAME } from './fashion-mnist.ts'
export { datasetFromIdx } from './idx.ts'
export { datasetFromCsv } from './csv.ts'
