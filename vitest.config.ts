import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Generous: many tests start their own PGlite server, which takes tens of seconds on a loaded 2-core machine;
    // tests wait for conditions, so a longer bound only matters when something is really stuck.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // PGlite instances are memory-hungry WASM; a few files at a time is plenty on 2 cores.
    maxWorkers: 3,
  },
});
