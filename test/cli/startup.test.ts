// Start-up (issue 16): bin/flip.js and bin/flipc.js run the compiled JS in dist/ (scripts/build_js.mjs) when it is as
// new as the sources, else the TypeScript sources through tsx with one line that says so; `--help` lists the commands
// without importing them. The stale and forced-tsx paths run the real bin/start.mjs in a small stand-in checkout.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain .mjs without types
import { staleness as stalenessUntyped } from '../../bin/freshness.mjs';

const staleness = stalenessUntyped as (root: string) => string | null;
const root = path.resolve(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-startup-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const node = (args: string[], env: Record<string, string> = {}, cwd = root) =>
  spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, FLIP_TSX: '', ...env } });
const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
};
const past = (file: string) => fs.utimesSync(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
const future = (file: string) => fs.utimesSync(file, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));

describe('dist/ freshness (bin/freshness.mjs)', () => {
  it('is fresh after a build, stale when a source is newer (named), not built without dist/build.json', () => {
    const r = path.join(tmp, 'fresh');
    write(path.join(r, 'lib', 'deep', 'a.ts'), 'export const a = 1;\n');
    write(path.join(r, 'dist', 'build.json'), JSON.stringify({ startedAt: Date.now(), roots: ['lib'] }));
    past(path.join(r, 'lib', 'deep', 'a.ts'));
    expect(staleness(r)).toBeNull();
    future(path.join(r, 'lib', 'deep', 'a.ts'));
    expect(staleness(r)).toBe(`${path.join('lib', 'deep', 'a.ts')} is newer than dist/`);
    fs.rmSync(path.join(r, 'dist', 'build.json'));
    expect(staleness(r)).toBe('dist/ is not built');
  });
});

describe('bin/start.mjs: compiled when fresh, tsx (said in one line) when stale', () => {
  // A stand-in checkout: the real bin/flipc.js, bin/start.mjs, bin/freshness.mjs, runtime-native/host_start.mjs and hooks, a bin/flipc.ts and its
  // "compiled" dist/bin/flipc.js that say which one ran, and this checkout's node_modules (tsx).
  const r = path.join(tmp, 'checkout');
  for (const f of ['bin/flipc.js', 'bin/start.mjs', 'bin/freshness.mjs', 'runtime-native/host_start.mjs', 'compiler/load/hooks.mjs']) write(path.join(r, f), fs.readFileSync(path.join(root, f), 'utf8'));
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(r, 'node_modules'));
  write(path.join(r, 'bin', 'flipc.ts'), "const from: string = 'the sources';\nconsole.log(from);\n");
  write(path.join(r, 'dist', 'bin', 'flipc.js'), "console.log('dist');\n");
  write(path.join(r, 'dist', 'build.json'), JSON.stringify({ startedAt: Date.now(), roots: ['bin'] }));
  past(path.join(r, 'bin', 'flipc.ts'));

  it('runs dist/ without a word when it is fresh', () => {
    const p = node(['bin/flipc.js'], {}, r);
    expect([p.status, p.stdout, p.stderr]).toEqual([0, 'dist\n', '']);
  });

  it('runs the sources through tsx when a source is newer, and says so in one line', () => {
    future(path.join(r, 'bin', 'flipc.ts'));
    const p = node(['bin/flipc.js'], {}, r);
    expect([p.status, p.stdout]).toEqual([0, 'the sources\n']);
    expect(p.stderr).toBe(`flipc: running the TypeScript sources through tsx (slower start-up): ${path.join('bin', 'flipc.ts')} is newer than dist/; npm run build compiles them\n`);
    past(path.join(r, 'bin', 'flipc.ts'));
  });

  it('FLIP_TSX=1 runs the sources without a word', () => {
    const p = node(['bin/flipc.js'], { FLIP_TSX: '1' }, r);
    expect([p.status, p.stdout, p.stderr]).toEqual([0, 'the sources\n', '']);
  });
});

describe('this checkout', () => {
  it('has a fresh dist/ (vitest\'s global setup builds it), which bin/flip.js and bin/flipc.js run', () => {
    expect(staleness(root)).toBeNull();
    for (const [bin, commands] of [['bin/flip.js', ['cache', 'data', 'eval', 'export', 'plot', 'plugins', 'run']], ['bin/flipc.js', ['compile', 'check', 'run']]] as const) {
      const p = node([bin, '--help']);
      expect(p.stderr).toBe('');
      expect(p.status).toBe(0);
      for (const c of commands) expect(p.stdout).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    }
  });

  it('lists commands with their own summaries (bin/flip.ts and bin/flipc.ts give them beside the loaders)', async () => {
    for (const bin of ['flip', 'flipc']) {
      const text = fs.readFileSync(path.join(root, 'bin', `${bin}.ts`), 'utf8');
      const entries = [...text.matchAll(/^\s+(\w+): \{ summary: ((?:'[^']*'|"[^"]*")), load: \(\) => import\('(\.\/commands\/\w+\.ts)'\)/gm)];
      // Every registration gives its summary, so --help imports no command (a bare loader would be imported for it).
      const registrations = [...text.matchAll(/^\s+(\w+): /gm)].map((m) => m[1]);
      expect(entries.map((e) => e[1])).toEqual(registrations);
      expect(entries.length).toBeGreaterThanOrEqual(bin === 'flip' ? 7 : 3);
      for (const [, name, summary, file] of entries) {
        const cmd = ((await import(path.join(root, 'bin', file!))) as { default: { summary: string } }).default;
        expect(`${name}: ${cmd.summary}`).toBe(`${name}: ${summary!.slice(1, -1)}`);
      }
    }
  });

  // What makes start-up fast, checked as what it is (the time itself is a benchmark: scripts/startup_time.mjs, README
  // "Start-up"): `--help` loads flip's compiled JS from dist/, no command module, and neither tsx nor TypeScript.
  it('flip --help and flipc --help load dist/ only: no command module, no tsx, no TypeScript source', () => {
    for (const bin of ['bin/flip.js', 'bin/flipc.js']) {
      const trace = path.join(tmp, `${path.basename(bin)}.imports`);
      const r = node(['--import', path.join(root, 'test/cli/fixtures/trace_imports.mjs'), bin, '--help'], { FLIP_TRACE_IMPORTS: trace });
      expect(r.status, r.stderr).toBe(0);
      const urls = fs.readFileSync(trace, 'utf8').trim().split('\n').filter((u) => u.startsWith('file:'));
      const ours = urls.filter((u) => !u.includes('/test/cli/fixtures/'));
      expect(ours.some((u) => u.includes('/dist/bin/')), ours.join('\n')).toBe(true);
      expect(ours.filter((u) => u.endsWith('.ts') || u.includes('/node_modules/tsx/') || u.includes('/node_modules/typescript/') || u.includes('/commands/'))).toEqual([]);
    }
  });
});
