import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A migrated embedded database that test nodes on PGlite start from (seconds each otherwise).
    globalSetup: ['test/support/pglite-template.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Multi-process and database suites share 2 cores; keep parallelism modest so timings stay honest.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
