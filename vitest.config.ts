import { defineConfig } from 'vitest/config'

// One runner for unit and integration tests. Integration tests spawn real processes
// and real WebRTC, so they get longer timeouts and run in their own files.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default'],
  },
})
