/**
 * The `app://` scheme that serves the hidden trainer page (dist/app/trainer/) to its window.
 * Registered as standard and secure before the app is ready, so the page is a secure context
 * (WebGPU requires one) with a real origin (`app://trainer`), which its CSP names.
 *
 * Only files under the one root folder are served, by exact path: `..` segments, encoded
 * separators and absolute paths get 404, never a file outside the root. Every response carries
 * the trainer page's Content-Security-Policy.
 */
import { readFile } from 'node:fs/promises'
import { extname, resolve, sep } from 'node:path'
import { trainerContentSecurityPolicy } from './csp.ts'

export const APP_SCHEME = 'app'
export const TRAINER_HOST = 'trainer'
export const TRAINER_ORIGIN = `${APP_SCHEME}://${TRAINER_HOST}`
export const TRAINER_PAGE_URL = `${TRAINER_ORIGIN}/index.html`

/** For protocol.registerSchemesAsPrivileged, before app 'ready'. */
export const APP_SCHEME_PRIVILEGES = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true },
} as const

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
}

/**
 * The file under `root` that `url` names, or undefined when the URL is not ours or would leave
 * the root.
 */
export function resolveAppFile(url: string, root: string): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  if (parsed.protocol !== `${APP_SCHEME}:` || parsed.host !== TRAINER_HOST) return undefined
  let pathname: string
  try {
    pathname = decodeURIComponent(parsed.pathname)
  } catch {
    return undefined
  }
  if (pathname.includes('\0') || pathname.includes('\\') || pathname.split('/').includes('..'))
    return undefined
  const relative = pathname === '/' ? 'index.html' : pathname.replace(/^\/+/, '')
  const rootPath = resolve(root)
  const file = resolve(rootPath, relative)
  return file.startsWith(`${rootPath}${sep}`) ? file : undefined
}

function notFound(): Response {
  return new Response('Not found', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } })
}

/** The handler for `protocol.handle(APP_SCHEME, ...)`. */
export function createAppProtocolHandler(root: string): (request: Request) => Promise<Response> {
  const policy = trainerContentSecurityPolicy(TRAINER_ORIGIN)
  return async (request) => {
    if (request.method !== 'GET') return new Response('Method not allowed', { status: 405 })
    const file = resolveAppFile(request.url, root)
    if (file === undefined) return notFound()
    let body: Buffer
    try {
      body = await readFile(file)
    } catch {
      return notFound()
    }
    return new Response(new Uint8Array(body), {
      status: 200,
      headers: {
        'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Security-Policy': policy,
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-store',
      },
    })
  }
}
