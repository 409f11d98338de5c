/**
 * What every way of training on this machine shares before the first step (`longhaul train`,
 * `longhaul node`, the engine API, `longhaul sim`): pick the tensor backend from the kernels the
 * model's layers need (before the model is built, so its weights live on that backend from the
 * start), build the zoo or file model, check it fits the data, and wrap it in a trainer.
 *
 * Two shapes of caller share one backend choice (`initBackend` in core/platform/backends.node.ts):
 * - asynchronous (`setupRouteTrainer`): `longhaul train`, `longhaul node` and the engine get an
 *   `AsyncTrainer` on any route: in this process (the Trainer itself is handed out too, so a
 *   synchronous route keeps its synchronous fast path), on async-only routes (WebGPU through Dawn,
 *   which reads with data()), or in a Chromium page (`webgl`, `webgpu-browser`, through
 *   openRouteTrainer).
 * - synchronous (`setupBackend`): the simulator steps models it builds itself with dataSync()
 *   reads on a virtual clock, so it gets the in-process routes that read synchronously; a browser
 *   or async-only route named for it fails with a sentence saying which commands can use it.
 *
 * `exportParams` writes a flat parameter vector as a tfjs model (a page's weights, a checkpoint).
 */
import type { LayersModel } from '@tensorflow/tfjs-layers'
import { localAsyncTrainer } from '../browser/async-trainer.ts'
import type { AsyncTrainer } from '../browser/async-trainer.ts'
import type { Split } from '../data/dataset.ts'
import { CoreError } from '../errors.ts'
import {
  closeBrowserHosts,
  initBackend,
  listRoutes,
  openRouteTrainer,
  resolvePreferredBackend,
} from '../platform/backends.node.ts'
import type { BackendChoice, BackendRoute } from '../tensor/backend-select.ts'
import { FlatParams } from '../tensor/flat-params.ts'
import { exportModel, importModel, readModelLayerClasses } from '../tensor/model-files.node.ts'
import { checkModelFitsData, MODEL_ZOO, zooModel, type ModelShape } from '../tensor/models.ts'
import { checkFlatSize, type ParamLayout } from '../tensor/param-layout.ts'
import { requiredTrainingKernels } from '../tensor/training-kernels.ts'
import { Trainer, type OptimizerConfig } from './trainer.ts'

export interface RouteTrainerSetupOptions {
  /** A zoo name or a tfjs model.json path (browser routes: zoo names only). */
  readonly modelSpec: string
  readonly shape: ModelShape
  readonly optimizer: OptimizerConfig
  /** Route from `--backend` or the engine's setting; else LONGHAUL_BACKEND; else the first that works. */
  readonly backend?: string
  /** Where `backend` came from, for the sentences (e.g. "the engine's backend setting"); default "--backend <name>". */
  readonly backendSource?: string
  /** Route table; default this runtime's (core/platform/backends.node.ts). A seam for tests. */
  readonly routes?: readonly BackendRoute[]
  readonly log: (line: string) => void
  /** Environment to read LONGHAUL_BACKEND from; default process.env. A seam for tests. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** A trainer on any route, local or in a browser context, behind the asynchronous interface. */
export interface RouteTrainerSetup {
  readonly trainer: AsyncTrainer
  /**
   * The in-process Trainer behind `trainer` on a local route; undefined on a browser route. On a
   * 'sync' route callers that step synchronously may use it directly (no promise per call).
   */
  readonly localTrainer: Trainer | undefined
  /** The flat parameter layout (the same in every context that builds this architecture). */
  readonly layout: ParamLayout
  /** The route in use (webgl, wasm, ...). */
  readonly backend: string
  readonly choice: BackendChoice
  /** Writes the current model in tfjs format into `dir`; returns the model.json path. */
  exportModel(dir: string): Promise<string>
  /** Frees the trainer and, for a browser route, closes its Chromium page. Safe to call twice. */
  close(): Promise<void>
}

/** Route names for `--help` texts, in priority order. */
export function routeNames(): string[] {
  return listRoutes().map((r) => r.name)
}

/**
 * The `--backend` line of `longhaul train --help` and `longhaul node --help` (the same routes, so
 * the same text): every route, and what the browser routes do.
 */
export function backendHelpLines(): string {
  return `  --backend <name>         force a tensor backend (env LONGHAUL_BACKEND), one of
                           ${routeNames().join(', ')};
                           webgpu-browser and webgl train in a headless Chromium page
                           (zoo models only); see longhaul doctor for what works here`
}

async function layerClassesOf(modelSpec: string): Promise<readonly string[]> {
  return MODEL_ZOO[modelSpec] !== undefined
    ? zooModel(modelSpec).layerClasses
    : readModelLayerClasses(modelSpec)
}

/** The zoo or file model for `shape`, on the current backend; fails when it does not fit the data. */
async function buildModel(modelSpec: string, shape: ModelShape): Promise<LayersModel> {
  const model =
    MODEL_ZOO[modelSpec] !== undefined ? zooModel(modelSpec).build(shape) : await importModel(modelSpec)
  checkModelFitsData(model, shape, `model ${modelSpec}`)
  return model
}

/**
 * Chooses and starts the in-process backend for a synchronous caller that builds its own models
 * (the simulator's workers). Fails with ERR_BACKEND_UNAVAILABLE, naming why, for a browser or
 * async-only route.
 */
export async function setupBackend(options: {
  readonly modelSpec: string
  readonly backend?: string
  readonly log: (line: string) => void
}): Promise<BackendChoice> {
  return initBackend({
    preferred: options.backend,
    requiredKernels: requiredTrainingKernels(await layerClassesOf(options.modelSpec)),
    log: options.log,
  })
}

/**
 * A trainer on any route. A browser route (named only: it starts a Chromium page) trains a zoo
 * model in that page through openRouteTrainer; every other route trains in this process,
 * async-only ones (WebGPU through Dawn) included, with the Trainer's reads matching the route.
 *
 * @throws CoreError ERR_INVALID_ARGUMENT for an unknown route or a model file on a browser route;
 *   ERR_BACKEND_UNAVAILABLE (the sentence says why), ERR_BAD_MODEL, ERR_NOT_FOUND.
 */
export async function setupRouteTrainer(options: RouteTrainerSetupOptions): Promise<RouteTrainerSetup> {
  const { modelSpec, shape, optimizer } = options
  const routes = options.routes ?? listRoutes()
  const { preferred } = resolvePreferredBackend(options.backend, options.env ?? process.env)
  const route = routes.find((r) => r.name === preferred)
  if (route?.placement === 'browser') {
    if (MODEL_ZOO[modelSpec] === undefined) {
      throw new CoreError(
        'ERR_INVALID_ARGUMENT',
        `--backend ${route.name} trains in a browser page, which builds zoo models by name ` +
          `(${Object.keys(MODEL_ZOO).join(', ')}); train the model file ${modelSpec} on an in-process backend`,
      )
    }
    return openBrowserRoute(route.name, routes, options)
  }
  const choice = await initBackend({
    preferred: options.backend,
    ...(options.backendSource !== undefined && { preferredSource: options.backendSource }),
    requiredKernels: requiredTrainingKernels(await layerClassesOf(modelSpec)),
    log: options.log,
    routes,
    allowAsyncOnly: true,
    ...(options.env !== undefined ? { env: options.env } : {}),
  })
  const model = await buildModel(modelSpec, shape)
  const trainer = new Trainer({ model, classCount: shape.classCount, optimizer })
  const wrapped = localAsyncTrainer(trainer, `local ${choice.backendName}`, choice.readback)
  return {
    trainer: wrapped,
    localTrainer: trainer,
    layout: trainer.params.layout,
    backend: choice.name,
    choice,
    exportModel: (dir) => exportModel(model, dir),
    close: () => wrapped.close(),
  }
}

async function openBrowserRoute(
  routeName: string,
  routes: readonly BackendRoute[],
  options: RouteTrainerSetupOptions,
): Promise<RouteTrainerSetup> {
  const { modelSpec, shape, optimizer } = options
  let isClosed = false
  const close = async (trainer?: AsyncTrainer): Promise<void> => {
    if (isClosed) return
    isClosed = true
    try {
      await trainer?.close()
    } finally {
      await closeBrowserHosts()
    }
  }
  try {
    const { trainer, choice } = await openRouteTrainer(
      routeName,
      { model: modelSpec, inputShape: shape.inputShape, classCount: shape.classCount, optimizer },
      {
        routes,
        log: options.log,
        ...(options.backendSource !== undefined && { preferredSource: options.backendSource }),
      },
    )
    try {
      options.log(`trainer: ${trainer.description}; batches and parameters travel as binary buffers`)
      // The weights live in the page; the layout is read from the same architecture built here
      // (the plain cpu backend: no other tensors live in this process) and must match the page's.
      const layout = await withLocalModel(modelSpec, shape, undefined, routes, (params) => params.layout)
      if (layout.fingerprint !== trainer.fingerprint || layout.totalSize !== trainer.totalSize) {
        throw new CoreError(
          'ERR_SHAPE_MISMATCH',
          `the page's model layout ${trainer.fingerprint} (${trainer.totalSize} parameters) differs from this process's ${layout.fingerprint} (${layout.totalSize})`,
        )
      }
      return {
        trainer,
        localTrainer: undefined,
        layout,
        backend: choice.name,
        choice,
        exportModel: async (dir) =>
          exportParams({ modelSpec, shape, params: await trainer.readParams(), dir, routes }),
        close: () => close(trainer),
      }
    } catch (error) {
      await close(trainer)
      throw error
    }
  } catch (error) {
    // A page that started but could not open the trainer is closed too.
    await close()
    throw error
  }
}

/**
 * Builds `modelSpec` in this process on `backend` (a browser route or none: the plain cpu
 * backend, since the weights are only written and read back, never trained here), hands its
 * parameters to `use`, and frees it.
 */
async function withLocalModel<T>(
  modelSpec: string,
  shape: ModelShape,
  backend: string | undefined,
  routes: readonly BackendRoute[],
  use: (params: FlatParams, model: LayersModel) => T | Promise<T>,
): Promise<T> {
  const isBrowser = routes.find((r) => r.name === backend)?.placement === 'browser'
  const inProcess = backend === undefined || isBrowser ? 'cpu' : backend
  await initBackend({
    preferred: inProcess,
    requiredKernels: requiredTrainingKernels(await layerClassesOf(modelSpec)),
    routes,
    env: {},
    // Weights are written and then saved (an asynchronous read), never read synchronously here.
    allowAsyncOnly: true,
  })
  const model = await buildModel(modelSpec, shape)
  try {
    return await use(new FlatParams(model), model)
  } finally {
    model.dispose()
  }
}

/**
 * Writes `params` into a fresh build of `modelSpec` and exports it in the tfjs LayersModel format
 * into `dir`; returns the model.json path. Built in this process on `backend` (default, and for a
 * browser route: the cpu backend; pass the running trainer's route while one trains here, since
 * switching tfjs's global backend would move its tensors).
 *
 * @throws CoreError ERR_SHAPE_MISMATCH when `params` is not this model's vector; ERR_NON_FINITE.
 */
export async function exportParams(options: {
  readonly modelSpec: string
  readonly shape: ModelShape
  readonly params: Float32Array
  readonly dir: string
  readonly backend?: string
  readonly routes?: readonly BackendRoute[]
}): Promise<string> {
  const routes = options.routes ?? listRoutes()
  return withLocalModel(options.modelSpec, options.shape, options.backend, routes, (flat, model) => {
    checkFlatSize(flat.layout, options.params, `the parameter vector of ${options.modelSpec}`)
    flat.write(options.params)
    return exportModel(model, options.dir)
  })
}

/** The first `max` samples of a split (views, no copy); the split itself when it is smaller. */
export function limitSamples(split: Split, max: number): Split {
  if (max >= split.count) return split
  const size = split.x.length / split.count
  return { x: split.x.subarray(0, max * size), y: split.y.subarray(0, max), count: max }
}
