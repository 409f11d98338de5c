/** Types of bundle-electron.mjs, for the TypeScript tests that bundle the desktop shell. */
export declare function bundleElectron(
  rootDir: string,
  options?: { outDir?: string },
): Promise<{ outDir: string; files: string[] }>
