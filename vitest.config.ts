import { configDefaults, defineConfig } from 'vitest/config';

// test/lammps/ needs the second pinned CPU build (lammps-jax-pjrt-cpu): it runs when FLIP_CPU_BUILD=lammps picks that
// build (.ci/run does, after installing it), and is left out of the default build's run.
const lammps = process.env.FLIP_CPU_BUILD === 'lammps';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: lammps ? configDefaults.exclude : [...configDefaults.exclude, 'test/lammps/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The PJRT CPU plugin spawns its own thread pool; forks keep one plugin per process.
    pool: 'forks',
    // dist/ (the compiled JS the CLIs start from) built before any test spawns bin/flip.js or bin/flipc.js; a no-op when
    // it is as new as the sources.
    globalSetup: ['test/build_dist.ts'],
    // The persistent compilation cache is off in tests (deterministic compiles); its own tests use temp folders.
    env: { FLIP_COMPILE_CACHE: '0' },
  },
});
