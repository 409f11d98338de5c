// One lint setup for the whole repository. The dependency rules from docs/ARCHITECTURE.md
// are enforced here, not trusted: see the per-folder `no-restricted-imports` blocks.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import { builtinModules } from 'node:module'

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)]

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'out/**',
      'coverage/**',
      'renderer/dist/**',
      'test-results/**',
      'playwright-report/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
  {
    // core/ runs headless and in browser contexts: never the desktop shell or the UI.
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', 'window', 'document'],
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'core/ must run headless: no electron imports.' }],
          patterns: [
            { group: ['svelte', 'svelte/*'], message: 'core/ never imports the UI framework.' },
            {
              group: ['**/renderer/**', '**/electron/**', '**/signaling-server/**'],
              message: 'core/ imports nothing from electron/, renderer/ or signaling-server/.',
            },
            {
              group: [
                '@tensorflow/tfjs-node',
                '@tensorflow/tfjs-node-gpu',
                '@tensorflow/tfjs-backend-*',
                '@roamhq/wrtc',
                'webgpu',
              ],
              message: 'Backends and native bindings are registered only in core/platform/.',
            },
            {
              group: nodeBuiltins,
              message:
                'This module must stay runtime-agnostic (it also runs in a browser). Put Node-only code in a *.node.ts file, core/platform/ or core/cli/.',
            },
          ],
        },
      ],
    },
  },
  {
    // Node-only seams: file readers, servers, process control, backend registration.
    files: ['core/platform/**/*.ts', 'core/cli/**/*.ts', 'core/**/*.node.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'core/ must run headless: no electron imports.' }],
          patterns: [
            { group: ['svelte', 'svelte/*'], message: 'core/ never imports the UI framework.' },
            {
              group: ['**/renderer/**', '**/electron/**', '**/signaling-server/**'],
              message: 'core/ imports nothing from electron/, renderer/ or signaling-server/.',
            },
          ],
        },
      ],
    },
  },
  {
    // The protocol is shared with the signaling server, which must never load tfjs.
    files: ['core/protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@tensorflow/*'], message: 'core/protocol must not load tfjs.' },
            { group: nodeBuiltins, message: 'core/protocol is runtime-agnostic.' },
          ],
        },
      ],
    },
  },
  {
    // The UI is untrusted page code: it reaches the engine only through its API client, and
    // from core/ it may import only the API contract (types and constant tables). *.svelte
    // files are not linted (no Svelte parser installed); test/unit/renderer/import-boundary
    // checks their imports.
    files: ['renderer/src/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', 'process', 'require'],
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'electron', message: 'The renderer reaches the desktop shell through its preload API.' },
          ],
          patterns: [
            {
              regex: '(^|/)core/(?!api/contract\\.ts$)',
              message: 'renderer/ imports only core/api/contract.ts from core/.',
            },
            {
              group: ['**/electron/**', '**/signaling-server/**'],
              message: 'renderer/ imports nothing from electron/ or signaling-server/.',
            },
            { group: nodeBuiltins, message: 'renderer/ runs in a browser: no Node built-ins.' },
          ],
        },
      ],
    },
  },
  {
    files: ['signaling-server/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@tensorflow/*'], message: 'The signaling server stays tiny: no tfjs.' },
            {
              group: ['**/core/*', '!**/core/protocol'],
              message: 'The signaling server may import only core/protocol.',
            },
          ],
        },
      ],
    },
  },
)
