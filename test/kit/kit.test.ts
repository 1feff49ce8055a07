// The GPU kit (scripts/gpu_kit.mjs, docs/runtime.md "GPU kit"): what it packs is enough to run flip with no Node or npm
// on PATH and no network. The quick part of the check: the kit's file lists (flip's files + the node_modules closure)
// are laid out in a temporary folder exactly as the archives unpack, with this machine's node binary as the kit's Node,
// and flip runs from there (flip plugins, flipc compile, a few steps of flip run) under `env -i` with a PATH that has
// no node/npm and an unreachable registry and proxy. run.sh's arguments are checked without a kit. The full check
// (download, xz archives, the addon build with the kit's Node, run.sh --cpu from an unpacked copy) is
// `npm run kit:gpu:check` (minutes).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import * as kit from '../../scripts/gpu_kit.mjs';

interface Pkg { name: string; version: string; dir: string }
const { runtimeClosure, closureFiles, sourceFiles, distFiles, pathWithoutNode, offlineEnv, ROOT } = kit as {
  runtimeClosure: () => Pkg[];
  closureFiles: (c: Pkg[]) => string[];
  sourceFiles: () => string[];
  distFiles: (root: string) => string[];
  pathWithoutNode: (dir: string) => string;
  offlineEnv: (home: string, sysbin: string, extra?: Record<string, string>) => Record<string, string>;
  ROOT: string;
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-kit-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const closure = runtimeClosure();
const names = new Set(closure.map((p) => p.name));

describe('the kit\'s node_modules', () => {
  it('holds every runtime dependency, vitest and @types/node, and none of the other development dependencies', () => {
    for (const d of [...Object.keys(pkg.dependencies), 'vitest', '@types/node', 'tsx', 'esbuild']) expect(names, d).toContain(d);
    for (const d of Object.keys(pkg.devDependencies).filter((x) => !['vitest', 'vite', '@types/node'].includes(x))) expect(names, d).not.toContain(d);
  });

  it('holds every package that flip\'s own files import', () => {
    const bare = new Set<string>();
    for (const f of sourceFiles().filter((x) => /\.(ts|mjs|js)$/.test(x) && !x.startsWith('test/') && !x.startsWith('docs/'))) {
      const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'([^'.][^']*)'|import\(\s*'([^'.][^']*)'\s*\)/g)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('node:')) continue;
        bare.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    expect(bare.size).toBeGreaterThan(3);
    for (const b of bare) expect(names, `${b} is imported by flip but not packed`).toContain(b);
  });
});

describe('flip\'s files in the kit', () => {
  it('are the working tree\'s files: sources, the addon\'s C++, the runners, no node_modules and no kit', () => {
    const files = new Set(sourceFiles());
    for (const f of ['bin/flip.js', 'bin/flipc.js', 'scripts/install.mjs', 'runtime-native/src/addon.cc', 'runtime-native/plugins.json',
      'test/runtime-native/ops.test.ts', 'bench/gpu.sh', 'bench/flip_jax.py', 'scripts/gpu_kit/run.sh', 'configs/synthetic_cpu.ts', 'tsconfig.json', 'vitest.config.ts']) {
      expect(files, f).toContain(f);
    }
    expect([...files].filter((f) => f.startsWith('node_modules') || f.startsWith('kit/') || f.startsWith('build'))).toEqual([]);
  });
});

describe('run.sh', () => {
  const runSh = path.join(ROOT, 'scripts', 'gpu_kit', 'run.sh');
  const bare = path.join(tmp, 'bare-kit');
  beforeAll(() => {
    fs.mkdirSync(bare, { recursive: true });
    fs.copyFileSync(runSh, path.join(bare, 'run.sh'));
  });
  const sh = (args: string[], env: Record<string, string> = {}) =>
    spawnSync('bash', [path.join(bare, 'run.sh'), ...args], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: tmp, ...env } });

  it('says what it does with --help', () => {
    const r = sh(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/STEP: ops, bench, train/);
  });

  it('refuses an unknown step, a non-empty output folder and a folder with no kit in it: one line, exit 2', () => {
    const bad = sh(['ops,bnech']);
    expect([bad.status, bad.stderr.trim()]).toEqual([2, "run.sh: unknown step or option 'bnech': steps are ops, bench, train; options --cpu, --help"]);
    const full = path.join(tmp, 'full');
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'summary.txt'), 'an earlier run\n');
    const busy = sh(['ops'], { OUT: full });
    expect([busy.status, busy.stderr.trim()]).toEqual([2, `run.sh: the output folder ${full} is not empty; give an empty one (OUT=...) so nothing is overwritten`]);
    expect(fs.readFileSync(path.join(full, 'summary.txt'), 'utf8')).toBe('an earlier run\n');
    const out = path.join(tmp, 'empty');
    const none = sh([], { OUT: out });
    expect(none.status).toBe(2);
    expect(none.stderr.trim()).toBe(`run.sh: ${bare}/manifest.json is missing: build the kit with \`npm run kit:gpu\` and carry the whole kit/gpu folder`);
    expect(fs.readFileSync(path.join(out, 'summary.txt'), 'utf8')).toMatch(/setup: FAILED: .*manifest\.json is missing/);
  });
});

describe('flip from the kit\'s files, with no Node or npm on PATH and no network', () => {
  const home = path.join(tmp, 'kit');
  const flip = path.join(home, 'flip');
  let env: Record<string, string>;
  // Hard links (a copy across file systems): Node resolves every import from the kit's folder, never from the checkout.
  const place = (from: string, to: string) => {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    try {
      fs.linkSync(from, to);
    } catch {
      fs.copyFileSync(from, to);
    }
  };
  beforeAll(() => {
    // dist/ too (the compiled JS the CLIs start from), as buildKit packs it: hard links keep the mtimes that say it is fresh.
    for (const f of [...sourceFiles(), ...distFiles(ROOT)]) place(path.join(ROOT, f), path.join(flip, f));
    const modulesBase = path.dirname(fs.realpathSync(path.join(ROOT, 'node_modules')));
    for (const f of closureFiles(closure)) {
      const from = path.join(modulesBase, f);
      if (fs.lstatSync(from).isSymbolicLink()) {
        fs.mkdirSync(path.dirname(path.join(flip, f)), { recursive: true });
        fs.symlinkSync(fs.readlinkSync(from), path.join(flip, f));
      } else place(from, path.join(flip, f));
    }
    place(path.join(ROOT, 'build', 'flip_pjrt.node'), path.join(flip, 'build', 'flip_pjrt.node'));
    place(process.execPath, path.join(home, 'node', 'bin', 'node'));
    const sysbin = pathWithoutNode(path.join(tmp, 'sysbin'));
    fs.mkdirSync(path.join(tmp, 'home'));
    // flip's cache holds this machine's CPU plugin (the GPU machine has its own CUDA plugin; the kit carries neither).
    env = offlineEnv(path.join(tmp, 'home'), `${path.join(home, 'node', 'bin')}:${sysbin}`, { FLIP_CACHE_DIR: process.env.FLIP_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'flip') });
  }, 60_000);
  const inKit = (args: string[]) => spawnSync('bash', ['-c', 'exec "$@"', 'sh', ...args], { cwd: flip, encoding: 'utf8', env, timeout: 280_000 });

  it('has no node, npm or npx on its PATH but the kit\'s node', () => {
    const r = inKit(['bash', '-c', 'command -v node; command -v npm; command -v npx; true']);
    expect(r.stdout.trim()).toBe(path.join(home, 'node', 'bin', 'node'));
  });

  it('flip plugins lists the CPU plugin', () => {
    const r = inKit(['node', 'bin/flip.js', 'plugins']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/cpu/);
  });

  it('flipc compile type-checks and lowers an example to StableHLO', () => {
    const r = inKit(['node', 'bin/flipc.js', 'compile', 'examples/mlp.ts', '--entry', 'mlp']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/func\.func public @main/);
  });

  // Its compiles take most of the time (~20 s on 2 idle cores, minutes on busy ones).
  it('flip run trains a few steps of flip_tiny on the CPU plugin and prints its accuracy line', () => {
    const r = inKit(['node', 'bin/flip.js', 'run', '--config', 'configs/flip_tiny.ts', '--config.model.txt.vocabSize=128', '--config.train.samplesPerEpoch=8',
      '--config.train.numEpochs=1', '--config.train.warmupEpochs=0', '--workers', '0', '--fast-compile', '--workdir', path.join(tmp, 'run')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^zero-shot top-1 [\d.]+% .*chance/m);
    expect(fs.existsSync(path.join(tmp, 'run', 'metrics.jsonl'))).toBe(true);
  }, 300_000);
});
