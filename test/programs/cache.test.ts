// The persistent compilation cache (programs/cache.ts) on the real CPU plugin: what one client compiled another
// loads without XLA; the key follows the module, the options and the devices; a damaged entry is dropped with one
// note and compiled again; the folder stays under its cap, least recently used first; the off switches; `flip cache`.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../compiler/load/index.ts';
import { lower, type Program } from '../../compiler/lower/index.ts';
import { spec } from '../../compiler/trace/index.ts';
import { type Tensor } from '../../dsl/index.ts';
import '../../dsl/index.ts'; // the DSL's tensor methods on traced values
import { CompileCache, compileCacheEnabled, defaultCompileCache, loadedFromCache, maxBytesFromEnv } from '../../programs/cache.ts';
import { compileProgram, loadProgram } from '../../programs/compile.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';

type V = Tensor<'f32', readonly ['n']>;
const v = spec('f32', { n: 16 });
// Programs that differ in one constant: the same size of executable, different modules.
const program = (k: number): Program => lower((x: V, y: V) => x.mul(y).add(k).sum(), [v, v], { name: `prog_${k}` });

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-compile-cache-'));
let one: Client, two: Client;
beforeAll(async () => {
  [one, two] = await Promise.all([openClient({ target: 'cpu' }), openClient({ target: 'cpu' })]);
});
afterAll(() => {
  one.dispose();
  two.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
function freshCache(maxBytes?: number): { cache: CompileCache; notes: string[] } {
  const notes: string[] = [];
  const cache = new CompileCache({ dir: path.join(tmp, `c${n++}`), note: (l) => notes.push(l), ...(maxBytes !== undefined ? { maxBytes } : {}) });
  return { cache, notes };
}

async function runSum(client: Client, exe: Awaited<ReturnType<typeof compileProgram>>): Promise<number> {
  const x = client.toDevice(Float32Array.from({ length: 16 }, (_, i) => i / 4), [16], 'f32');
  const y = client.toDevice(Float32Array.from({ length: 16 }, (_, i) => 3 - i / 8), [16], 'f32');
  const [s] = await exe.run([x, y]);
  return (await s!.as('f32').toHost())[0]!;
}

describe('persistent compilation cache', () => {
  it('a second client loads what the first compiled: no XLA compile, the same results', async () => {
    const { cache, notes } = freshCache();
    const p = program(1);
    const a = await loadProgram(one, p, { compileCache: cache });
    expect(a.cached).toBe(false);
    expect(cache.stats()).toMatchObject({ count: 1, dir: cache.dir });
    expect(cache.entries()[0]).toMatchObject({ name: 'prog_1', plugin: `${one.plugin.package} ${one.plugin.version}` });
    const b = await loadProgram(two, p, { compileCache: cache });
    expect(b.cached).toBe(true);
    expect(loadedFromCache(b.executable)).toBe(true);
    expect(b.executable.fingerprint()).toBe(a.executable.fingerprint());
    expect(await runSum(two, b.executable)).toBe(await runSum(one, a.executable));
    // The same client again: the executable it holds (no second load), unless asked not to reuse it.
    expect(await compileProgram(two, p, { compileCache: cache })).toBe(b.executable);
    const again = await compileProgram(two, p, { compileCache: cache, cache: false });
    expect(again).not.toBe(b.executable);
    expect(loadedFromCache(again)).toBe(true);
    expect(cache.stats().count).toBe(1);
    expect(notes).toEqual([]);
  });

  it('the key follows the module, the compile options and the client\'s devices', async () => {
    const { cache } = freshCache();
    const opts = { numPartitions: 1, numReplicas: 1 };
    const k = cache.key(one, program(1).mlir, opts);
    expect(cache.key(two, program(1).mlir, opts)).toBe(k);
    expect(cache.key(one, program(2).mlir, opts)).not.toBe(k);
    expect(cache.key(one, program(1).mlir, { ...opts, envOverrides: { xla_backend_optimization_level: 0 } })).not.toBe(k);
    // Argument types and the in-process reuse flag are not compile options.
    expect(cache.key(one, program(1).mlir, { ...opts, cache: false, parameters: [{ dtype: 'f32', shape: [16] }] })).toBe(k);
    const other = await openClient({ target: 'cpu', devices: one.devices.length + 1 });
    try {
      expect(cache.key(other, program(1).mlir, opts)).not.toBe(k);
    } finally {
      other.dispose();
    }
  });

  it('a damaged entry is dropped with a one-line note and the program compiled again', async () => {
    const { cache, notes } = freshCache();
    const p = program(3);
    await compileProgram(one, p, { compileCache: cache });
    const file = cache.entries()[0]!.file;
    const good = fs.readFileSync(file);
    // One byte of the payload changed on disk: the checksum finds it before the plugin reads it.
    const bad = Buffer.from(good);
    bad[bad.length - 10] ^= 0xff;
    fs.writeFileSync(file, bad);
    const exe = await compileProgram(two, p, { compileCache: cache, cache: false });
    expect(loadedFromCache(exe)).toBe(false);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^flip: dropped compilation cache entry [0-9a-f]{12} \(its checksum does not match\); compiling again$/);
    expect(await runSum(two, exe)).toBe(await runSum(one, await compileProgram(one, p, { compileCache: false })));
    // Written again whole: the next load is a hit.
    expect(loadedFromCache(await compileProgram(two, p, { compileCache: cache, cache: false }))).toBe(true);

    // Cut short, and not an entry at all.
    fs.writeFileSync(file, good.subarray(0, good.length - 100));
    expect(loadedFromCache(await compileProgram(two, p, { compileCache: cache, cache: false }))).toBe(false);
    fs.writeFileSync(file, 'hello');
    expect(loadedFromCache(await compileProgram(two, p, { compileCache: cache, cache: false }))).toBe(false);
    expect(notes.slice(1)).toEqual([
      expect.stringMatching(/\(\d+ bytes where \d+ were written\); compiling again$/),
      expect.stringMatching(/\(not a flip cache entry\); compiling again$/),
    ]);
  });

  it('an intact entry the plugin refuses to load is dropped the same way', async () => {
    const { cache, notes } = freshCache();
    const p = program(4);
    await compileProgram(one, p, { compileCache: cache });
    const file = cache.entries()[0]!.file;
    // A well-formed entry (header, length, checksum) whose payload is not the plugin's: what another build wrote.
    const payload = new Uint8Array(64).fill(7);
    const meta = JSON.stringify({ ...cache.entries()[0], bytes: 64, sha256: (await import('node:crypto')).createHash('sha256').update(payload).digest('hex') });
    const head = Buffer.from(meta);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(head.length);
    fs.writeFileSync(file, Buffer.concat([Buffer.from('FLIPXLA1'), len, head, payload]));
    const exe = await compileProgram(two, p, { compileCache: cache, cache: false });
    expect(loadedFromCache(exe)).toBe(false);
    expect(notes).toEqual([expect.stringMatching(/^flip: dropped compilation cache entry [0-9a-f]{12} \(the plugin could not load it \(.+\)\); compiling again$/)]);
  });

  it('stays under its size cap: the least recently used entries go first', async () => {
    const probe = freshCache();
    await compileProgram(one, program(10), { compileCache: probe.cache });
    const size = probe.cache.stats().bytes;
    // Room for two entries of this size, not three.
    const { cache } = freshCache(Math.floor(size * 2.5));
    const a = program(11), b = program(12), c = program(13);
    await compileProgram(one, a, { compileCache: cache });
    await compileProgram(one, b, { compileCache: cache });
    const [eb, ea] = cache.entries();
    expect([ea!.name, eb!.name]).toEqual(['prog_11', 'prog_12']);
    // a older than b, then a loaded (used): b is now the least recently used.
    fs.utimesSync(ea!.file, new Date(1_000_000), new Date(1_000_000));
    fs.utimesSync(eb!.file, new Date(2_000_000), new Date(2_000_000));
    expect(loadedFromCache(await compileProgram(two, a, { compileCache: cache }))).toBe(true);
    await compileProgram(one, c, { compileCache: cache });
    expect(cache.entries().map((e) => e.name).sort()).toEqual(['prog_11', 'prog_13']);
    expect(cache.stats().bytes).toBeLessThanOrEqual(cache.maxBytes);
    expect(cache.clear()).toBe(2);
    expect(cache.stats().count).toBe(0);
  });

  it('off: compileCache false, FLIP_COMPILE_CACHE=0, and compiles asked to dump XLA\'s files', async () => {
    const saved = { on: process.env.FLIP_COMPILE_CACHE, dir: process.env.FLIP_COMPILE_CACHE_DIR };
    const dir = path.join(tmp, 'default');
    try {
      process.env.FLIP_COMPILE_CACHE_DIR = dir;
      process.env.FLIP_COMPILE_CACHE = '0';
      expect(defaultCompileCache()).toBeNull();
      await compileProgram(one, program(20));
      expect(fs.existsSync(dir)).toBe(false);
      process.env.FLIP_COMPILE_CACHE = '1';
      expect(defaultCompileCache()?.dir).toBe(dir);
      await compileProgram(one, program(20), { compileCache: false });
      expect(fs.existsSync(dir)).toBe(false);
      const dump = path.join(tmp, 'dump');
      await compileProgram(one, program(20), { envOverrides: { xla_dump_to: dump } });
      expect(fs.existsSync(dir)).toBe(false);
      expect(fs.readdirSync(dump).length).toBeGreaterThan(0);
      // On by default (the variable unset), in the folder it names.
      delete process.env.FLIP_COMPILE_CACHE;
      await compileProgram(one, program(20));
      expect(new CompileCache({ dir }).stats().count).toBe(1);
    } finally {
      for (const [k, val] of [['FLIP_COMPILE_CACHE', saved.on], ['FLIP_COMPILE_CACHE_DIR', saved.dir]] as const) {
        if (val === undefined) delete process.env[k];
        else process.env[k] = val;
      }
    }
    expect(compileCacheEnabled('off')).toBe(false);
    expect(() => compileCacheEnabled('maybe')).toThrow(/FLIP_COMPILE_CACHE must be 1 or 0, got 'maybe'/);
    expect(maxBytesFromEnv('500M')).toBe(500 * 2 ** 20);
    expect(maxBytesFromEnv('2G')).toBe(2 * 2 ** 30);
    expect(() => maxBytesFromEnv('lots')).toThrow(/FLIP_COMPILE_CACHE_MAX must be a size/);
  });
});

function flip(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'bin', 'flip.js'), ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('flip cache', () => {
  it('shows the folder, the entries and their size; clear removes them; a bad argument is one line and exit 2', async () => {
    const { cache } = freshCache();
    await compileProgram(one, program(30), { compileCache: cache });
    await compileProgram(one, program(31), { compileCache: cache });
    const env = { FLIP_COMPILE_CACHE_DIR: cache.dir };
    const shown = await flip(['cache', '--list'], env);
    expect(shown.code).toBe(0);
    const lines = shown.stdout.trim().split('\n');
    expect(lines[0]).toBe(`compilation cache: ${cache.dir} (off: FLIP_COMPILE_CACHE=0)`); // vitest runs with the cache off
    expect(lines[1]).toMatch(/^2 entries, [\d.]+ KiB of 2\.0 GiB$/);
    expect(lines.slice(2).map((l) => l.trim().split(/\s+/)[5]).sort()).toEqual(['prog_30', 'prog_31']);
    const [bad, cleared] = await Promise.all([flip(['cache', 'purge'], env), flip(['cache', 'clear'], env)]);
    expect(bad).toMatchObject({ code: 2, stderr: "flip cache: unknown argument 'purge': use flip cache or flip cache clear\n" });
    expect(cleared).toMatchObject({ code: 0, stdout: `removed 2 entries from ${cache.dir}\n` });
    expect(cache.stats().count).toBe(0);
  });
});
