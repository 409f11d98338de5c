// Builds the Svelte UI into renderer/dist. `base: './'` keeps every asset URL relative, so the
// same files load from the engine's HTTP server (`longhaul node --ui`) and from Electron's
// file:// or custom-protocol window alike.
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const rendererRoot = fileURLToPath(new URL('.', import.meta.url))
const repoRoot = fileURLToPath(new URL('..', import.meta.url))

export default defineConfig({
  root: rendererRoot,
  base: './',
  // No svelte.config.js: the defaults (TypeScript in <script lang="ts"> is native to Svelte 5).
  plugins: [svelte({ configFile: false })],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
  },
  // The UI imports core/api/contract.ts (types and constants), which lives outside root.
  server: { fs: { allow: [repoRoot] } },
})
