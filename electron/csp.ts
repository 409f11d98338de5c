/**
 * Content-Security-Policy for the app's pages, set by the main process on every response to a
 * Longhaul window (it replaces any policy the server sent, so there is exactly one).
 *
 * UI page (served by the engine on http://127.0.0.1:PORT):
 * - scripts only from that origin, no eval, no inline script;
 * - connect-src only to that origin over http and ws: the engine API and its event stream, and
 *   nothing else on the internet;
 * - style-src allows inline styles: Svelte's `style:` directives and chart.js write style
 *   attributes. Style injection cannot run script, and scripts stay locked down.
 * Trainer page (app://trainer): scripts (the trainer bundle and its chunks) from itself and nothing
 * else; it talks to the engine over a MessagePort, so it may connect nowhere. Its routes are WebGPU,
 * WebGL and cpu (core/platform/browser-routes.ts): no WebAssembly, no workers.
 */

function serialise(directives: Readonly<Record<string, readonly string[]>>): string {
  return Object.entries(directives)
    .map(([name, sources]) => [name, ...sources].join(' '))
    .join('; ')
}

/** The ws:// (or wss://) origin that matches an http(s) origin. */
function socketOrigin(httpOrigin: string): string {
  const url = new URL(httpOrigin)
  const protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${protocol}//${url.host}`
}

/** Only loopback origins: the UI must never be pointed at a remote engine by a setting or a bug. */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const url = new URL(origin)
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      (url.hostname === '127.0.0.1' || url.hostname === '[::1]') &&
      url.origin === origin
    )
  } catch {
    return false
  }
}

/**
 * The policy for the UI served by the engine at `engineOrigin` ("http://127.0.0.1:41234").
 *
 * @throws Error when the origin is not a bare loopback origin (a programming error in main).
 */
export function uiContentSecurityPolicy(engineOrigin: string): string {
  if (!isLoopbackOrigin(engineOrigin)) {
    throw new Error(`The UI policy needs a loopback origin like http://127.0.0.1:PORT, got ${engineOrigin}`)
  }
  return serialise({
    'default-src': ["'none'"],
    'script-src': [engineOrigin],
    'style-src': [engineOrigin, "'unsafe-inline'"],
    'img-src': [engineOrigin, 'data:', 'blob:'],
    'font-src': [engineOrigin],
    'connect-src': [engineOrigin, socketOrigin(engineOrigin)],
    'manifest-src': [engineOrigin],
    'worker-src': ["'none'"],
    'frame-src': ["'none'"],
    'object-src': ["'none'"],
    'base-uri': ["'none'"],
    'form-action': ["'none'"],
    'frame-ancestors': ["'none'"],
  })
}

/** The policy for the hidden trainer page at `pageOrigin` ("app://trainer"). */
export function trainerContentSecurityPolicy(pageOrigin: string): string {
  return serialise({
    'default-src': ["'none'"],
    'script-src': [pageOrigin],
    'connect-src': ["'none'"],
    'worker-src': ["'none'"],
    'object-src': ["'none'"],
    'base-uri': ["'none'"],
    'form-action': ["'none'"],
    'frame-ancestors': ["'none'"],
  })
}

/**
 * Response headers with our policy as the only Content-Security-Policy (header names are
 * case-insensitive; a server's own policy, under any casing, is dropped).
 */
export function withContentSecurityPolicy(
  headers: Readonly<Record<string, string | readonly string[]>> | undefined,
  policy: string,
): Record<string, string[]> {
  const result: Record<string, string[]> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() === 'content-security-policy') continue
    result[name] = typeof value === 'string' ? [value] : [...value]
  }
  result['Content-Security-Policy'] = [policy]
  return result
}
