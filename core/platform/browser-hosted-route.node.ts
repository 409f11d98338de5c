/**
 * Routes whose trainer runs in a browser context the engine drives: in plain Node, a headless
 * Chromium page (chromium-host.node.ts). The page probes its own backends (WebGPU adapter info,
 * unmasked WebGL renderer, registered kernels, a readback check) and these routes report exactly
 * that, so the kernel check and the hardware/software label come from where the kernels run.
 *
 * Starting Chromium costs seconds, so the routes are on-demand: probed only when asked for by name
 * or by `longhaul doctor`. A provider's page starts on the first probe or acquire and stays until
 * closeHost(); backends.node.ts gives WebGPU and WebGL a page (and a Chromium) each.
 */
import type { BrowserRouteFacts } from '../browser/trainer-protocol.ts'
import type { TrainerClient } from '../browser/remote-trainer.ts'
import { CoreError, isCoreError } from '../errors.ts'
import { firstLine } from '../tensor/backend-select.ts'
import type { BackendRoute, RouteKind, RouteProbe } from '../tensor/backend-select.ts'
import { launchChromiumTrainerHost } from './chromium-host.node.ts'
import type { ChromiumHostOptions, ChromiumTrainerHost } from './chromium-host.node.ts'

/** A started browser context and the client that talks to it. */
export interface BrowserHost {
  readonly client: TrainerClient
  /** For people: "Chromium 156.0.8078.79 (/usr/bin/chromium)". */
  readonly description: string
  close(): Promise<void>
}

/** Starts browser hosts on demand and shares one per process. */
export interface BrowserHostProvider {
  /** What probing costs, for the "not probed" sentence: "starts a Chromium page". */
  readonly onDemand: string
  /** The running host, started if needed. @throws CoreError ERR_BACKEND_UNAVAILABLE / ERR_TIMEOUT. */
  acquire(): Promise<BrowserHost>
  /** The host's probe of its routes (memoised), or the reason no host could start. */
  probe(): Promise<
    { readonly host: string; readonly routes: readonly BrowserRouteFacts[] } | { readonly reason: string }
  >
  /** Closes the running host, if any; a later acquire() starts a new one. */
  closeHost(): Promise<void>
}

/**
 * A provider over any way of starting a host: one host per provider, started on the first probe
 * or acquire, shared until closeHost(); a failed start is not kept, so the next acquire() tries
 * again. The Chromium pages below and the Electron shell's hidden windows both use it.
 */
export function createLazyHostProvider(options: {
  /** What probing costs, e.g. "starts a Chromium page". */
  readonly onDemand: string
  /** Backends the host's page probes (a page per GPU API). */
  readonly backends?: readonly string[]
  /** Starts a host; `forget()` drops it (it went away) so the next acquire() starts a new one. */
  readonly launch: (forget: () => void) => Promise<BrowserHost>
}): BrowserHostProvider {
  let running: Promise<BrowserHost> | undefined
  let probed: ReturnType<BrowserHostProvider['probe']> | undefined

  const acquire = (): Promise<BrowserHost> => {
    if (running === undefined) {
      const forget = (): void => {
        if (running === attempt) running = undefined
      }
      const attempt = options.launch(forget)
      running = attempt
      void attempt.catch(forget)
    }
    return running
  }

  const probeOnce = async (): Promise<
    { host: string; routes: readonly BrowserRouteFacts[] } | { reason: string }
  > => {
    try {
      const host = await acquire()
      return { host: host.description, routes: await host.client.probe(options.backends) }
    } catch (error) {
      return { reason: isCoreError(error) ? error.message : firstLine(error) }
    }
  }

  return {
    onDemand: options.onDemand,
    acquire,
    probe: () => (probed ??= probeOnce()),
    closeHost: async () => {
      const host = running
      running = undefined
      if (host === undefined) return
      try {
        await (await host).close()
      } catch {
        // A host that never started has nothing to close.
      }
    },
  }
}

/**
 * The Chromium-page provider. `backends` limits what its page probes (a page per GPU API keeps a
 * WebGPU failure from taking WebGL down with it). `launch` is a seam for tests.
 */
export function createChromiumHostProvider(
  options: ChromiumHostOptions & {
    backends?: readonly string[]
    launch?: (options: ChromiumHostOptions) => Promise<ChromiumTrainerHost>
  } = {},
): BrowserHostProvider {
  const launch = options.launch ?? launchChromiumTrainerHost
  return createLazyHostProvider({
    onDemand: 'starts a Chromium page',
    ...(options.backends !== undefined && { backends: options.backends }),
    launch: () => launch(options),
  })
}

/** A route placed in a browser context: it can also hand out that context's trainer client. */
export interface BrowserHostedRoute extends BackendRoute {
  readonly placement: 'browser'
  readonly provider: BrowserHostProvider
}

export function isBrowserHostedRoute(route: BackendRoute): route is BrowserHostedRoute {
  return route.placement === 'browser' && 'provider' in route
}

/**
 * A route for tfjs backend `backendName` ('webgpu' or 'webgl') running in the provider's browser
 * context, listed under `name`.
 */
export function createBrowserHostedRoute(options: {
  readonly name: string
  readonly backendName: string
  readonly kind: RouteKind
  readonly provider: BrowserHostProvider
}): BrowserHostedRoute {
  const { provider, backendName } = options
  let probed: Promise<RouteProbe> | undefined

  async function probeOnce(): Promise<RouteProbe> {
    const found = await provider.probe()
    if ('reason' in found) return { available: false, reason: found.reason, isHardware: false }
    const facts = found.routes.find((r) => r.backendName === backendName)
    if (facts === undefined) {
      return { available: false, reason: `${found.host} has no ${backendName} route`, isHardware: false }
    }
    return {
      available: facts.available,
      reason: `${facts.reason} (in ${found.host})`,
      isHardware: facts.isHardware,
      kernels: facts.kernels,
      ...(facts.detail !== undefined ? { detail: facts.detail } : {}),
      ...(facts.adapter !== undefined ? { adapter: facts.adapter } : {}),
      ...(facts.softwareRenderer !== undefined ? { softwareRenderer: facts.softwareRenderer } : {}),
    }
  }

  return {
    name: options.name,
    kind: options.kind,
    backendName,
    placement: 'browser',
    isHardware: true,
    onDemand: provider.onDemand,
    provider,
    probe: () => (probed ??= probeOnce()),
    register: async () => {
      const probe = await (probed ??= probeOnce())
      if (!probe.available) throw new CoreError('ERR_BACKEND_UNAVAILABLE', `${options.name}: ${probe.reason}`)
      // The backend itself starts in the page when a trainer opens; here the page must be up.
      await provider.acquire()
    },
  }
}
