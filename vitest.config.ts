import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each test file gets a database of its own (test/support/database.ts), so files run in parallel safely.
    pool: 'forks',
    // A ceiling for hangs, not a speed target: tests that start `lantau` processes on PGlite take tens of seconds on
    // a loaded 2-core machine (each process opens the embedded database).
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
