// Types for electron-binary.mjs (plain JS so `npm run dist` needs no TypeScript loader).
export declare const DEFAULT_ELECTRON_MIRROR: string
export declare const DEFAULT_PROBE_TIMEOUT_MS: number
export declare const ELECTRON_EXECUTABLES: Readonly<Record<string, string>>
export declare function electronVersionOf(pkg: Record<string, unknown>): string | undefined
export declare function electronArchiveName(version: string, platform: string, arch: string): string
export declare function electronArchiveUrl(
  version: string,
  platform: string,
  arch: string,
  env?: Readonly<Record<string, string | undefined>>,
): string
export declare function findElectronDist(
  rootDir: string,
  version: string,
  platform: string,
): string | undefined
export declare function checkElectronBinary(options: {
  rootDir: string
  version: string
  platform: string
  arch: string
  env?: Readonly<Record<string, string | undefined>>
  timeoutMs?: number
  fetch?: typeof fetch
}): Promise<{ ok: true; electronDist?: string; source: string } | { ok: false; sentence: string }>
