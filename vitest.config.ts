import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The PJRT CPU plugin spawns its own thread pool; forks keep one plugin per process.
    pool: 'forks',
    // The persistent compilation cache is off in tests (deterministic compiles); its own tests use temp folders.
    env: { FLIP_COMPILE_CACHE: '0' },
  },
});
