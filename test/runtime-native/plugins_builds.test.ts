// The two pinned CPU builds (runtime-native/plugins.json: xla = xla-cpu-pjrt, lammps = lammps-jax-pjrt-cpu) and the
// pinned-hash rule of `flip plugins install cpu`: a --version flip does not pin is refused in one line unless its
// wheel's --sha256 is given (it used to be ignored: the pinned version was installed, exit 0). Nothing here downloads.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cpuBuilds, defaultCpuBuild, resolvePlugin, selectedCpuBuild } from '../../runtime-native/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const cache = mkdtempSync(path.join(tmpdir(), 'flip-plugins-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));
const saved = { build: process.env.FLIP_CPU_BUILD, cache: process.env.FLIP_CACHE_DIR, path: process.env.PJRT_PLUGIN_PATH };
afterEach(() => {
  for (const [k, v] of [['FLIP_CPU_BUILD', saved.build], ['FLIP_CACHE_DIR', saved.cache], ['PJRT_PLUGIN_PATH', saved.path]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** `flip plugins ...` with an empty flip cache and the default build selected: [status, stdout, stderr]. */
function flip(...args: string[]) {
  const { FLIP_CPU_BUILD: _selected, ...env } = process.env;
  const r = spawnSync(process.execPath, [path.join(root, 'bin/flip.js'), 'plugins', ...args], {
    cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...env, FLIP_CACHE_DIR: cache },
  });
  return [r.status, r.stdout, r.stderr];
}

describe('CPU builds', () => {
  it('are both pinned by version and wheel sha256; xla is the default', () => {
    const builds = cpuBuilds();
    expect(builds.map((b) => [b.build, b.package, b.version])).toEqual([['xla', 'xla-cpu-pjrt', '0.0.1'], ['lammps', 'lammps-jax-pjrt-cpu', '0.11.2']]);
    for (const b of builds) {
      const hashes = Object.entries(b.sha256);
      expect(hashes.length).toBeGreaterThan(0);
      for (const [wheel, h] of hashes) {
        expect(wheel.startsWith(`${b.package.replace(/-/g, '_')}-${b.version}-`)).toBe(true);
        expect(h).toMatch(/^[0-9a-f]{64}$/);
      }
    }
    expect(defaultCpuBuild()).toBe('xla');
  });

  it('FLIP_CPU_BUILD picks one; an unknown name or one not installed is one line', () => {
    delete process.env.PJRT_PLUGIN_PATH;
    process.env.FLIP_CACHE_DIR = cache;
    process.env.FLIP_CPU_BUILD = 'lammps';
    expect(selectedCpuBuild().package).toBe('lammps-jax-pjrt-cpu');
    expect(() => resolvePlugin('cpu')).toThrow(
      "the CPU build 'lammps' (lammps-jax-pjrt-cpu 0.11.2) is not installed: run `flip plugins install cpu --build lammps`, pick another with FLIP_CPU_BUILD, or set PJRT_PLUGIN_PATH");
    process.env.FLIP_CPU_BUILD = 'fast';
    expect(() => selectedCpuBuild()).toThrow("unknown CPU build 'fast' (FLIP_CPU_BUILD): use xla or lammps");
  });
});

describe('flip plugins install cpu: the pinned-hash rule', () => {
  it('--version 9.9.9 (not pinned) without --sha256: refused, one line naming what is pinned, nothing written', () => {
    expect(flip('install', 'cpu', '--version', '9.9.9')).toEqual([2, '',
      "flip plugins: xla-cpu-pjrt 9.9.9 is not pinned (flip pins xla-cpu-pjrt 0.0.1); give its wheel's sha256 with --sha256 to install it\n"]);
    expect(flip('install', 'cpu', '--build', 'lammps', '--version', '0.11.1')).toEqual([2, '',
      "flip plugins: lammps-jax-pjrt-cpu 0.11.1 is not pinned (flip pins lammps-jax-pjrt-cpu 0.11.2); give its wheel's sha256 with --sha256 to install it\n"]);
    expect(readdirSync(cache)).toEqual([]);
  });

  it('a malformed or wrong --sha256, an unknown --build, and --build for another target: one line each', () => {
    expect(flip('install', 'cpu', '--version', '9.9.9', '--sha256', 'abc')).toEqual([2, '', "flip plugins: --sha256 must be 64 lowercase hex digits, got 'abc'\n"]);
    const zeros = '0'.repeat(64);
    expect(flip('install', 'cpu', '--version', '0.0.1', '--sha256', zeros)).toEqual([2, '', `flip plugins: --sha256 ${zeros} is not the pinned hash of xla-cpu-pjrt 0.0.1\n`]);
    expect(flip('install', 'cpu', '--build', 'fast')).toEqual([2, '', "flip plugins: unknown CPU build 'fast' (--build): use xla or lammps\n"]);
    expect(flip('install', 'tpu', '--build', 'lammps')).toEqual([2, '', 'flip plugins: --build and --sha256 are for the cpu plugin\n']);
    expect(readdirSync(cache)).toEqual([]);
  });
});
