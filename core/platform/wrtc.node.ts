/**
 * Loads the Node WebRTC implementation (@roamhq/wrtc, a libwebrtc build) for
 * `SimplePeerTransport`'s `wrtc` option. This is the only module allowed to import it: it is a
 * native binding, and browsers bring their own RTCPeerConnection.
 *
 * The import is dynamic, so a machine without a usable binary (an unsupported platform, a
 * missing or broken native library) still runs everything that needs no WebRTC, and the
 * failure arrives as one clear CoreError where a transport is actually wanted.
 */
import { CoreError } from '../errors.ts'
import type { WebRtcImplementation } from '../transport/simple-peer-transport.ts'
import { nodeModuleLoader } from './module-loader.node.ts'
import type { ModuleLoader } from './module-loader.node.ts'

/** The package this module loads. */
export const WRTC_PACKAGE = '@roamhq/wrtc'

function isWebRtcImplementation(value: unknown): value is WebRtcImplementation {
  return (
    typeof value === 'object' &&
    value !== null &&
    'RTCPeerConnection' in value &&
    typeof value.RTCPeerConnection === 'function' &&
    'RTCSessionDescription' in value &&
    typeof value.RTCSessionDescription === 'function' &&
    'RTCIceCandidate' in value &&
    typeof value.RTCIceCandidate === 'function'
  )
}

let cached: Promise<WebRtcImplementation> | undefined

/**
 * Imports @roamhq/wrtc and checks it has the classes simple-peer uses. Fails with
 * ERR_WEBRTC_UNAVAILABLE, saying whether the package is missing, failed to load (with the
 * loader's reason) or loaded without those classes. The default loader's result is cached;
 * a failed load is retried on the next call.
 */
export function loadNodeWrtc(loader: ModuleLoader = nodeModuleLoader): Promise<WebRtcImplementation> {
  if (loader !== nodeModuleLoader) return load(loader)
  if (cached === undefined) {
    cached = load(loader)
    cached.catch(() => {
      cached = undefined
    })
  }
  return cached
}

async function load(loader: ModuleLoader): Promise<WebRtcImplementation> {
  if (!loader.isInstalled(WRTC_PACKAGE)) {
    throw new CoreError(
      'ERR_WEBRTC_UNAVAILABLE',
      `${WRTC_PACKAGE} is not installed; peer-to-peer training in Node needs it (npm install ${WRTC_PACKAGE})`,
    )
  }
  let loaded: unknown
  try {
    loaded = await loader.load(WRTC_PACKAGE)
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new CoreError(
      'ERR_WEBRTC_UNAVAILABLE',
      `${WRTC_PACKAGE} is installed but failed to load (native binding for ${process.platform}-${process.arch}): ${reason}`,
      { cause: error },
    )
  }
  // A CommonJS package imported as ESM: the classes are on `default`, and maybe also named.
  const candidate =
    typeof loaded === 'object' &&
    loaded !== null &&
    'default' in loaded &&
    isWebRtcImplementation(loaded.default)
      ? loaded.default
      : loaded
  if (!isWebRtcImplementation(candidate)) {
    throw new CoreError(
      'ERR_WEBRTC_UNAVAILABLE',
      `${WRTC_PACKAGE} loaded but lacks RTCPeerConnection, RTCSessionDescription or RTCIceCandidate`,
    )
  }
  return candidate
}
