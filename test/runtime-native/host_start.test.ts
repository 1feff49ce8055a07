// runtime-native/host_start.mjs (docs/runtime.md, "Host memory"): which flip processes restart themselves with one
// malloc arena, how the restart keeps the process the same process, what it buys (the CPU plugin's per-execution
// buffer reused instead of mapped and faulted in every run), and the environment a non-flip child gets back.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectedCpuBuild } from '../../runtime-native/plugins.ts';
import { ONE_ARENA, STARTED_WITH, hostFacts, hostMallocMode, startEnv, targetOf, userEnv } from '../../runtime-native/host_start.mjs';

const root = path.resolve(import.meta.dirname, '..', '..');
const linux = { platform: 'linux', glibc: '2.36' };

describe('startEnv: which processes restart', () => {
  it('adds one arena to an empty or the user own GLIBC_TUNABLES, and records what the user had', () => {
    const a = startEnv({ PATH: '/bin' }, linux, ['run'])!;
    expect(a.GLIBC_TUNABLES).toBe(ONE_ARENA);
    expect(a[STARTED_WITH]).toBe('');
    expect(a.PATH).toBe('/bin');
    const b = startEnv({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', FLIP_HOST_MALLOC: 'keep' }, { ...linux, glibc: '2.26' }, ['run', '--target', 'cpu'])!;
    expect(b.GLIBC_TUNABLES).toBe(`glibc.malloc.hugetlb=1:${ONE_ARENA}`);
    expect(b[STARTED_WITH]).toBe('glibc.malloc.hugetlb=1');
  });

  it('leaves the process as it is where nothing would change or the user chose', () => {
    expect(startEnv({}, { ...linux, glibc: undefined })).toBeNull(); // musl
    expect(startEnv({}, { ...linux, glibc: '2.25' })).toBeNull(); // no tunables yet
    expect(startEnv({}, { platform: 'darwin', glibc: undefined })).toBeNull();
    expect(startEnv({ FLIP_HOST_MALLOC: 'system' }, linux)).toBeNull();
    expect(startEnv({ FLIP_HOST_MALLOC: 'tcmalloc' }, linux)).toBeNull(); // refused later, by name, exit 2
    expect(startEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' }, linux)).toBeNull();
    expect(startEnv({ [STARTED_WITH]: '' }, linux)).toBeNull(); // restarted already: never a loop
    expect(startEnv({}, linux, ['run', '--target', 'gpu'])).toBeNull(); // device memory: nothing to keep on the host
    expect(startEnv({}, linux, ['run', '--target=tpu'])).toBeNull();
  });

  it('hostMallocMode: keep by default, system by name, null for anything else', () => {
    expect([undefined, '', 'keep'].map((v) => hostMallocMode(v === undefined ? {} : { FLIP_HOST_MALLOC: v }))).toEqual(['keep', 'keep', 'keep']);
    expect(hostMallocMode({ FLIP_HOST_MALLOC: 'system' })).toBe('system');
    expect(hostMallocMode({ FLIP_HOST_MALLOC: 'Keep' })).toBeNull();
  });

  it('targetOf reads --target in both spellings, the last one winning, nothing after --', () => {
    expect(targetOf([])).toBe('cpu');
    expect(targetOf(['run', '--target', 'gpu'])).toBe('gpu');
    expect(targetOf(['--target=tpu', '--target', 'cpu'])).toBe('cpu');
    expect(targetOf(['--', '--target', 'gpu'])).toBe('cpu');
  });

  it('userEnv gives a non-flip child the environment the user started with', () => {
    const restarted = startEnv({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', X: '1' }, linux)!;
    expect(userEnv(restarted)).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', X: '1' });
    expect(userEnv(startEnv({ X: '1' }, linux)!)).toEqual({ X: '1' });
    expect(userEnv({ X: '1' })).toEqual({ X: '1' });
  });
});

// A script that restarts as the CLIs do (bin/start.mjs), then runs a program whose temporary buffer is 128 MiB (a [ROWS, 16384]
// f32 product, summed; ROWS from PROBE_ROWS, default 2048) SETTLE times to settle and RUNS more (PROBE_SETTLE, PROBE_RUNS,
// default 8 each), and reports its pid, tunables, arguments, a line read from stdin, the minor page faults of each
// of the RUNS runs and their mean, and the process's RSS after them and at its peak.
const script = `
import { readFileSync } from 'node:fs';
import { restartForHost } from ${JSON.stringify(path.join(root, 'runtime-native', 'host_start.mjs'))};
process.stderr.write('start ' + process.pid + '\\n');
restartForHost();
const { openClient } = await import(${JSON.stringify(path.join(root, 'runtime-native', 'index.ts'))});
const client = await openClient({ target: 'cpu', devices: 1 });
const rows = Number(process.env.PROBE_ROWS ?? 2048), runs = Number(process.env.PROBE_RUNS ?? 8), settle = Number(process.env.PROBE_SETTLE ?? runs);
const exe = await client.compile(\`module @temp {
  func.func public @main(%x: tensor<\${rows}x1xf32>, %y: tensor<1x16384xf32>) -> tensor<f32> {
    %p = stablehlo.dot_general %x, %y, contracting_dims = [1] x [0] : (tensor<\${rows}x1xf32>, tensor<1x16384xf32>) -> tensor<\${rows}x16384xf32>
    %z = stablehlo.constant dense<0.0> : tensor<f32>
    %s = stablehlo.reduce(%p init: %z) applies stablehlo.add across dimensions = [0, 1] : (tensor<\${rows}x16384xf32>, tensor<f32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}\`);
const x = client.toDevice(new Float32Array(rows).fill(1), [rows, 1], 'f32');
const y = client.toDevice(new Float32Array(16384).fill(1), [1, 16384], 'f32');
const run = async () => (await exe.run([x, y]))[0].toHost();
for (let i = 0; i < settle; i++) await run();
const perRun = [];
for (let i = 0; i < runs; i++) {
  const f = process.resourceUsage().minorPageFault;
  await run();
  perRun.push(process.resourceUsage().minorPageFault - f);
}
const faults = perRun.reduce((a, b) => a + b, 0) / runs;
const rss = process.memoryUsage.rss(), maxRss = process.resourceUsage().maxRSS * 1024;
const sum = (await run())[0];
client.dispose();
const line = readFileSync(0, 'utf8').trim();
console.log(JSON.stringify({ pid: process.pid, tunables: process.env.GLIBC_TUNABLES ?? null, argv: process.argv.slice(2), line, faults, perRun, rss, maxRss, sum }));
`;
const scriptFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'flip-host-start-')), 'restart.mts');
writeFileSync(scriptFile, script);

interface Report { pid: number; tunables: string | null; argv: string[]; line: string; faults: number; perRun: number[]; rss: number; maxRss: number; sum: number }
function probe(extra: NodeJS.ProcessEnv, args: string[]): { report: Report; starts: string[] } {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.GLIBC_TUNABLES;
  delete env[STARTED_WITH];
  if (!('FLIP_HOST_MALLOC' in extra)) delete env.FLIP_HOST_MALLOC;
  const r = spawnSync(process.execPath, ['--no-warnings', '--import', 'tsx', scriptFile, ...args], { cwd: root, env, input: 'hello\n', encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  return { report: JSON.parse(r.stdout) as Report, starts: r.stderr.trim().split('\n').filter((l) => l.startsWith('start ')) };
}

const pages128MiB = (128 << 20) / 4096;

describe('restartForHost', () => {
  it('restarts in place (same pid, arguments, Node options, stdio), once, and the 128 MiB temporary is reused', () => {
    const { report, starts } = probe({}, ['a b', '--c']);
    expect(report.line).toBe('hello');
    expect(report.argv).toEqual(['a b', '--c']);
    expect(report.sum).toBe(2048 * 16384);
    for (const s of starts) expect(s).toBe(`start ${report.pid}`);
    if (startEnv({}, hostFacts())) {
      // This machine (Linux, glibc): one restart, and settled runs fault in almost none of the buffer's pages. The
      // heap may still grow by a block now and then in the first runs (a run's buffer freed just after the next
      // one is allocated), so up to two fresh blocks in the 8 runs pass; without the restart it is one per run.
      expect(starts).toHaveLength(2);
      expect(report.tunables).toBe(ONE_ARENA);
      expect(report.faults).toBeLessThan(pages128MiB / 3);
    } else {
      expect(starts).toHaveLength(1);
      expect(report.tunables).toBeNull();
    }
  });

  it('a temporary buffer over 2 GiB is kept too: glibc never gives the heap back (no trimming at all)', () => {
    // [32769, 16384] f32: 2 GiB + 64 KiB, over INT_MAX bytes, the largest positive trim threshold mallopt takes. With
    // that threshold (before -1), freeing the buffer gave the heap's top back, so the process ended each run without
    // it and faulted all its pages in again the next: a flip_base train step at batch 8 (a 2.1 GB temporary) took
    // 9-10 s instead of 7. Whether the next run reuses the kept block is glibc's: 2.36's posix_memalign (which XLA
    // allocates with) may take a fresh one instead (docs/runtime.md, "Host memory"), so what is pinned here is that
    // the memory stays with the process.
    if (!startEnv({}, hostFacts())) return; // not Linux with glibc: no restart, glibc's defaults
    const rows = 32769, bytes = rows * 16384 * 4;
    const { report } = probe({ PROBE_ROWS: String(rows), PROBE_SETTLE: '1', PROBE_RUNS: '2' }, []);
    expect(report.sum).toBe(rows * 16384);
    expect(report.tunables).toBe(ONE_ARENA);
    // Nothing given back: the RSS after the last run is still the peak's (with INT_MAX it was 2 GiB under it).
    expect(report.maxRss - report.rss, `RSS ${report.rss} after the runs, peak ${report.maxRss}; faults per run: ${report.perRun.join(', ')}`)
      .toBeLessThan(bytes / 4);
  }, 120_000);

  it("FLIP_HOST_MALLOC=system keeps glibc as it starts: no restart, and every run maps the buffer's pages afresh", () => {
    const { report, starts } = probe({ FLIP_HOST_MALLOC: 'system' }, []);
    expect(starts).toHaveLength(1);
    expect(report.tunables).toBeNull();
    // The xla build maps this program's buffer afresh each run under glibc's defaults. The lammps build (jaxlib
    // 0.11.2's XLA) does not for a program this small (22 faults per run measured); its train steps do
    // (docs/performance.md, "One malloc arena").
    if (process.platform === 'linux' && selectedCpuBuild().build === 'xla') expect(report.faults).toBeGreaterThan(pages128MiB / 2);
  });
});
