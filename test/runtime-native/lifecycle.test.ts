// Resource lifetime and asynchrony: no leak over many round trips (explicit dispose or finalizers),
// many executions in flight, an event loop that keeps turning during a long computation, and
// teardown while work is in flight.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient, PjrtError, type Client, type Executable } from '../../runtime-native/index.ts';
import { fma, longLoop } from './modules.ts';

let client: Client;
beforeAll(async () => {
  client = await openClient({ target: 'cpu', devices: 2 });
});
afterAll(() => client.dispose());

const MB = 2 ** 20;
// 64 KiB arrays: a round trip that leaked its buffers would leak 4 x 64 KiB, so 10,000 of them
// 2.5 GiB; the bounds below are far under that and far over allocator noise.
const N = 16384;

async function roundTrips(exe: Executable, count: number, dispose: boolean): Promise<void> {
  const a = new Float32Array(N);
  const b = new Float32Array(N).fill(2);
  const c = new Float32Array(N).fill(1);
  for (let i = 0; i < count; i++) {
    a.fill(i);
    const bufs = [client.toDevice(a, [N], 'f32'), client.toDevice(b, [N], 'f32'), client.toDevice(c, [N], 'f32')];
    const [out] = await exe.run(bufs);
    const host = await out!.toHost();
    if (host[0] !== 2 * i + 1 || host[N - 1] !== 2 * i + 1) throw new Error(`round trip ${i}: got ${host[0]}`);
    if (dispose) {
      for (const x of bufs) x.dispose();
      out!.dispose();
    }
  }
}

describe('memory', () => {
  it('10,000 upload/execute/download round trips keep RSS bounded (explicit dispose)', async () => {
    const exe = await client.compile(fma(N));
    await roundTrips(exe, 1000, true); // warm up allocators and caches
    const before = process.memoryUsage().rss;
    await roundTrips(exe, 10_000, true);
    const grown = (process.memoryUsage().rss - before) / MB;
    expect(grown).toBeLessThan(64);
  });

  it('buffers nobody disposes are released by their finalizers', async () => {
    const exe = await client.compile(fma(N));
    await roundTrips(exe, 1000, false);
    const before = process.memoryUsage().rss;
    await roundTrips(exe, 10_000, false);
    const grown = (process.memoryUsage().rss - before) / MB;
    expect(grown).toBeLessThan(160);
  });
});

describe('asynchrony', () => {
  it('many executions in flight at once resolve with their own results', async () => {
    const exe = await client.compile(fma(8));
    const runs = Array.from({ length: 200 }, async (_, i) => {
      const device = i % 2;
      const x = Float32Array.from({ length: 8 }, (_, k) => i * 8 + k);
      const [out] = await exe.run(
        [client.toDevice(x, [8], 'f32', device), client.toDevice(new Float32Array(8).fill(3), [8], 'f32', device), client.toDevice(new Float32Array(8).fill(-i), [8], 'f32', device)],
        { device },
      );
      expect(out!.device).toBe(device);
      return Array.from(await out!.as('f32').toHost());
    });
    const results = await Promise.all(runs);
    results.forEach((r, i) => expect(r).toEqual(Array.from({ length: 8 }, (_, k) => 3 * (i * 8 + k) - i)));
  });

  it('the event loop keeps turning during a long computation', async () => {
    const n = 256;
    const exe = await client.compile(longLoop(n, 300));
    const x = client.toDevice(new Float32Array(n * n).fill(0.5), [n, n], 'f32');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    const pending = exe.run([x]);
    // the call itself returns at once: the work runs on PJRT's threads
    expect(performance.now() - t0).toBeLessThan(50);
    const [y] = await pending;
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    expect(elapsed).toBeGreaterThan(50); // long enough for the tick count to mean something
    expect(ticks).toBeGreaterThanOrEqual(Math.max(3, elapsed / 5 / 4));
    // every entry follows v <- tanh(v * v + 0.5), from 0.5
    let v = 0.5;
    for (let i = 0; i < 300; i++) v = Math.tanh(v * v + 0.5);
    const host = await y!.as('f32').toHost();
    expect(host.every((h) => Math.abs(h - v) < 1e-5)).toBe(true);
  });

  it('several long computations overlap with a responsive loop', async () => {
    const exe = await client.compile(longLoop(128, 200));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    const outs = await Promise.all([0, 1, 0, 1].map((d) => exe.run([client.toDevice(new Float32Array(128 * 128).fill(0.25), [128, 128], 'f32', d)], { device: d })));
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    expect(ticks).toBeGreaterThanOrEqual(Math.max(3, elapsed / 5 / 4));
    const first = Array.from(await outs[0]![0]!.as('f32').toHost());
    for (const [out] of outs) expect(Array.from(await out!.as('f32').toHost())).toEqual(first);
  });
});

describe('teardown', () => {
  it('disposing a client while an execution is in flight rejects that execution, without a crash', async () => {
    const c = await openClient({ target: 'cpu', devices: 1 });
    const exe = await c.compile(longLoop(128, 100));
    const x = c.toDevice(new Float32Array(128 * 128).fill(0.5), [128, 128], 'f32');
    const running = exe.run([x]);
    c.dispose();
    await expect(running).rejects.toSatisfy((e: unknown) => e instanceof PjrtError && e.code === 'CANCELLED' && /client was disposed while this execution ran/.test(e.message));
  });

  it('disposing a client while a compile is in flight rejects the compile', async () => {
    const c = await openClient({ target: 'cpu', devices: 1 });
    const compiling = c.compile(longLoop(64, 3), { cache: false });
    c.dispose();
    await expect(compiling).rejects.toSatisfy((e: unknown) => e instanceof PjrtError && e.code === 'FAILED_PRECONDITION');
  });

  it('a device-to-host copy in flight completes even if the buffer is disposed meanwhile', async () => {
    const b = client.toDevice(Float32Array.from({ length: N }, (_, i) => i), [N], 'f32');
    const copying = b.toHost();
    b.dispose();
    const host = await copying;
    expect(host[N - 1]).toBe(N - 1);
  });

  it('worker threads terminated while their executions run take nothing down with them', () => {
    // In a fresh process, so that the workers are the only ones to load the addon (Node unloads an
    // addon when the last environment that loaded it goes, while PJRT still has callbacks into it).
    const here = import.meta.dirname;
    const script = `
      import { Worker } from 'node:worker_threads';
      for (let i = 0; i < 2; i++) {
        const worker = new Worker(${JSON.stringify(path.join(here, 'worker_run.mjs'))});
        await new Promise((resolve, reject) => { worker.on('message', resolve); worker.on('error', reject); });
        await new Promise((r) => setTimeout(r, 50));
        await worker.terminate();
      }
      await new Promise((r) => setTimeout(r, 500)); // PJRT finishes the orphaned executions meanwhile
      const { openClient } = await import(${JSON.stringify(path.resolve(here, '../../runtime-native/index.ts'))});
      const client = await openClient({ target: 'cpu', devices: 1 });
      const exe = await client.compile(\`module @m { func.func public @main(%a: tensor<2xf32>) -> tensor<2xf32> {
        %0 = stablehlo.add %a, %a : tensor<2xf32>
        return %0 : tensor<2xf32> } }\`);
      const [out] = await exe.run([client.toDevice([1, 2], [2], 'f32')]);
      console.log('result', Array.from(await out.toHost()).join(','));
    `;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'flip-workers-')), 'main.mts');
    fs.writeFileSync(file, script);
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: path.resolve(here, '../..'), encoding: 'utf8', timeout: 60_000 });
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    expect(r.stderr).toBe('');
    expect([r.status, r.signal]).toEqual([0, null]);
    expect(r.stdout.trim()).toBe('result 2,4');
  });

  it('process.exit while executions run ends with its status, never a segfault (the plugin\'s static destructors would run under them)', async () => {
    // What a second Ctrl-C to `flip run` does mid-step. Before the fix 1 in 3-4 such exits crashed (SIGSEGV in
    // oneDNN's JIT kernels, destroyed by exit() while an execution ran them); 6 tries, 2 at a time.
    const here = import.meta.dirname;
    const script = `
      const { openClient } = await import(${JSON.stringify(path.resolve(here, '../../runtime-native/index.ts'))});
      const { longLoop } = await import(${JSON.stringify(path.join(here, 'modules.ts'))});
      const client = await openClient({ target: 'cpu', devices: 1 });
      const exe = await client.compile(longLoop(256, 2000));
      for (let i = 0; i < 2; i++) void exe.run([client.toDevice(new Float32Array(256 * 256).fill(0.5), [256, 256], 'f32')]);
      process.on('exit', (code) => console.log('exit listener', code));
      setTimeout(() => process.exit(130), 100);
    `;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-exit-'));
    const file = path.join(dir, 'main.mts');
    fs.writeFileSync(file, script);
    const once = () => new Promise<{ status: number | null; signal: string | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: path.resolve(here, '../..'), stdio: ['ignore', 'pipe', 'ignore'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (status, signal) => {
        clearTimeout(timer);
        resolve({ status, signal, stdout });
      });
    });
    try {
      for (let round = 0; round < 3; round++) {
        for (const r of await Promise.all([once(), once()])) {
          expect([r.status, r.signal]).toEqual([130, null]);
          expect(r.stdout).toBe('exit listener 130\n'); // 'exit' listeners registered after the addon's still run
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('many clients opened and disposed in turn', async () => {
    for (let i = 0; i < 5; i++) {
      const c = await openClient({ target: 'cpu', devices: 2 });
      const exe = await c.compile(fma(4));
      const [out] = await exe.run([c.toDevice([1, 2, 3, 4], [4], 'f32'), c.toDevice([2, 2, 2, 2], [4], 'f32'), c.toDevice([i, i, i, i], [4], 'f32')]);
      expect(Array.from(await out!.as('f32').toHost())).toEqual([2 + i, 4 + i, 6 + i, 8 + i]);
      c.dispose();
    }
  });
});
