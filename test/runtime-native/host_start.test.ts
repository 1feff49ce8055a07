// runtime-native/host_start.mjs (docs/runtime.md, "Host memory"): when a flip process restarts itself with glibc's
// huge pages, how the restart keeps the process the same process, and the environment a non-flip child gets back.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HUGE_PAGES, STARTED_WITH, hostFacts, startEnv, userEnv } from '../../runtime-native/host_start.mjs';

const root = path.resolve(import.meta.dirname, '..', '..');
const linux = { platform: 'linux', glibc: '2.36', thp: 'madvise' };

describe('startEnv: which processes restart', () => {
  it('adds the huge pages to an empty or the user own GLIBC_TUNABLES, and records what the user had', () => {
    const a = startEnv({ PATH: '/bin' }, linux)!;
    expect(a.GLIBC_TUNABLES).toBe(HUGE_PAGES);
    expect(a[STARTED_WITH]).toBe('');
    expect(a.PATH).toBe('/bin');
    const b = startEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, { ...linux, glibc: '2.35' })!;
    expect(b.GLIBC_TUNABLES).toBe(`glibc.malloc.arena_max=2:${HUGE_PAGES}`);
    expect(b[STARTED_WITH]).toBe('glibc.malloc.arena_max=2');
  });

  it('leaves the process as it is where nothing would change or the user chose', () => {
    expect(startEnv({}, { ...linux, thp: 'always' })).toBeNull();
    expect(startEnv({}, { ...linux, thp: 'never' })).toBeNull();
    expect(startEnv({}, { ...linux, thp: undefined })).toBeNull();
    expect(startEnv({}, { ...linux, glibc: undefined })).toBeNull(); // musl
    expect(startEnv({}, { ...linux, glibc: '2.34' })).toBeNull(); // no hugetlb tunable yet
    expect(startEnv({}, { platform: 'darwin', glibc: undefined, thp: undefined })).toBeNull();
    expect(startEnv({ FLIP_HOST_MALLOC: 'system' }, linux)).toBeNull();
    expect(startEnv({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, linux)).toBeNull();
    expect(startEnv({ [STARTED_WITH]: '' }, linux)).toBeNull(); // restarted already: never a loop
  });

  it('userEnv gives a non-flip child the environment the user started with', () => {
    const restarted = startEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2', X: '1' }, linux)!;
    expect(userEnv(restarted)).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2', X: '1' });
    expect(userEnv(startEnv({ X: '1' }, linux)!)).toEqual({ X: '1' });
    expect(userEnv({ X: '1' })).toEqual({ X: '1' });
  });
});

// A script that restarts as bin/flip.js does, then reports its pid, its tunables, a line read from stdin, and the
// AnonHugePages of a 256 MiB block it allocated and wrote.
const script = `
import { readFileSync } from 'node:fs';
import { restartForHost } from ${JSON.stringify(path.join(root, 'runtime-native', 'host_start.mjs'))};
process.stderr.write('start ' + process.pid + '\\n');
restartForHost();
const big = Buffer.allocUnsafeSlow(256 << 20);
big.fill(1);
const huge = Number(/AnonHugePages:\\s+(\\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? 0);
const line = readFileSync(0, 'utf8').trim();
console.log(JSON.stringify({ pid: process.pid, tunables: process.env.GLIBC_TUNABLES ?? null, argv: process.argv.slice(2), line, huge, size: big.length }));
`;
const scriptFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'flip-host-start-')), 'restart.mjs');
writeFileSync(scriptFile, script);

describe('restartForHost', () => {
  it('restarts in place: the same pid, arguments, Node options and stdio, once, with huge pages where it restarts', () => {
    const env = { ...process.env };
    delete env.GLIBC_TUNABLES;
    delete env[STARTED_WITH];
    delete env.FLIP_HOST_MALLOC;
    const r = spawnSync(process.execPath, ['--no-warnings', scriptFile, 'a b', '--c'], { env, input: 'hello\n', encoding: 'utf8' });
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { pid: number; tunables: string | null; argv: string[]; line: string; huge: number };
    const starts = r.stderr.trim().split('\n');
    expect(out.line).toBe('hello');
    expect(out.argv).toEqual(['a b', '--c']);
    for (const s of starts) expect(s).toBe(`start ${out.pid}`);
    if (startEnv(env, hostFacts())) {
      // This machine (Linux, glibc >= 2.35, THP on request): one restart, and the block got huge pages.
      expect(starts).toHaveLength(2);
      expect(out.tunables).toBe(HUGE_PAGES);
      expect(out.huge).toBeGreaterThan(0);
    } else {
      expect(starts).toHaveLength(1);
      expect(out.tunables).toBeNull();
    }
  });

  it('FLIP_HOST_MALLOC=system keeps glibc as it starts: no restart', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, FLIP_HOST_MALLOC: 'system' };
    delete env.GLIBC_TUNABLES;
    delete env[STARTED_WITH];
    const r = spawnSync(process.execPath, [scriptFile], { env, input: 'x\n', encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((JSON.parse(r.stdout) as { tunables: string | null }).tunables).toBeNull();
  });
});
