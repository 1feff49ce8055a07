// On 8 CPU devices: the (data=4, model=2) train step really is partitioned (per-device parameter shapes in the
// compiled program and in the buffers, collectives in XLA's partitioned HLO), sharded arrays split and assemble
// host arrays, executables take them in device-assignment order, and `flipc compile --mesh --dump-partitioned`.
import { lower } from '../../compiler/lower/index.ts';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../compiler/load/index.ts';
import { mesh, type Mesh, type PartitionSpec } from '../../compiler/passes/index.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { entryParameterTypes } from '../../programs/hlo.ts';
import { hostTensor } from '../../programs/jit.ts';
import { meshProgram, partitionedDumps, putReplicated, putSharded, reshard, runSharded, shardedJit, ShardedArray } from '../../programs/sharded.ts';
import { simplify } from '../../compiler/passes/index.ts';
import { spec, traceFunc } from '../../compiler/trace/index.ts';
import type { Tensor } from '../../dsl/index.ts';
import { batch, initOpt, initParams, loss, scalarF32, trainStep } from './tiny.ts';

let client: Client;
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-sharding-'));
beforeAll(async () => {
  client = await openClient({ target: 'cpu', devices: 8 });
});
afterAll(() => {
  client?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const m42 = mesh({ data: 4, model: 2 });
const iota = (n: number) => Float32Array.from({ length: n }, (_, i) => i);
/** A host array's elements as a plain list (numbers, or bigints for i64). */
const list = (a: unknown): (number | bigint)[] => Array.from(a as ArrayLike<number | bigint>);

describe('the (data=4, model=2) train step is partitioned', () => {
  const dump = path.join(tmp, 'dump');
  let lowered: Awaited<ReturnType<ReturnType<typeof shardedJit<Parameters<typeof trainStep>, ReturnType<typeof trainStep>>>['lower']>>;
  let out: Awaited<ReturnType<ReturnType<typeof shardedJit<Parameters<typeof trainStep>, ReturnType<typeof trainStep>>>>>;
  beforeAll(async () => {
    const step = shardedJit(trainStep, { client, mesh: m42, partitionStates: true, dumpTo: dump });
    const args = [initParams(), initOpt(), batch(0), scalarF32(1), scalarF32(1e-2)] as const;
    lowered = await step.lower(...(args as unknown as Parameters<typeof step>));
    out = await step(...(args as unknown as Parameters<typeof step>));
  });

  // Global → per-device shape of some leaves: model splits heads and mlp, data splits batch (and, with partitioned
  // states, the moments' first free dim).
  const expected: Record<string, [number[], number[]]> = {
    'params.attn.query': [[8, 4, 2], [8, 2, 2]],
    'params.attn.out': [[4, 2, 8], [2, 2, 8]],
    'params.mlp.wi': [[8, 16], [8, 8]],
    'params.mlp.bi': [[16], [8]],
    'params.mlp.wo': [[16, 8], [8, 8]],
    'params.head': [[8, 4], [8, 4]],
    'opt.mu.mlp.wi': [[8, 16], [2, 8]],
    'opt.nu.attn.query': [[8, 4, 2], [2, 2, 2]],
    'batch.x': [[8, 4, 8], [2, 4, 8]],
    'batch.labels': [[8, 4], [2, 4]],
    count: [[], []],
  };

  it('compiles each parameter to its per-device shard shape', () => {
    const { sharded, executable } = lowered;
    const names = sharded.params.map((p) => p.name!);
    for (const k of Object.keys(expected)) expect(names).toContain(k);
    const p = executable.optimizedProgram();
    const compiled = entryParameterTypes(p.format, p.code)!;
    expect(compiled.length).toBe(names.length);
    for (const [k, [global, local]] of Object.entries(expected)) {
      const i = names.indexOf(k);
      expect(sharded.params[i]!.type.shape, k).toEqual(global);
      expect(compiled[i]!.shape, `${k} in the compiled program`).toEqual(local);
    }
    expect(lowered.mlir).toMatch(/module @trainStep attributes \{mhlo.num_partitions = 8 : i32, mhlo.num_replicas = 1 : i32\}/);
    expect(executable.numPartitions).toBe(8);
    expect(executable.devices).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('returns the updated params as per-device shards on every device', () => {
    const wi = out.params.mlp.wi as unknown as ShardedArray;
    expect(wi.localShape).toEqual([8, 8]);
    expect(wi.shards.map((b) => b.device)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect((out.opt.mu.mlp.wi as unknown as ShardedArray).localShape).toEqual([2, 8]);
    expect((out.metrics.loss as unknown as ShardedArray).localShape).toEqual([]);
  });

  it("has XLA's SPMD partitioner insert collectives (the dumped partitioned HLO)", () => {
    const files = partitionedDumps(dump);
    const spmd = files.find((f) => f.includes('after_spmd-partitioning'));
    expect(spmd, files.join('\n')).toBeDefined();
    const hlo = readFileSync(spmd!, 'utf8');
    expect(hlo).toMatch(/num_partitions=8/);
    expect(hlo).toMatch(/ all-reduce\(/); // gradient sums over data, contractions over a split mlp/heads
    expect(hlo).toMatch(/ all-gather\(/); // partitioned moments brought back to the params' layout
    // The entry takes per-device shards: wi's [8, 16] arrives as f32[8,8], x's [8, 4, 8] as f32[2,4,8].
    const entry = hlo.slice(hlo.indexOf('\nENTRY'));
    expect(entry).toMatch(/f32\[8,8\]\{1,0\} parameter\(/);
    expect(entry).toMatch(/f32\[2,4,8\]\{2,1,0\} parameter\(/);
  });
});

describe('sharded arrays', () => {
  it('hold the right block on each device and assemble back', async () => {
    // [4, 8] = iota; spec [model, data]: position (d, j) holds rows 2j..2j+1, cols 2d..2d+1.
    const a = putSharded(client, iota(32), { dtype: 'f32', shape: [4, 8], axes: ['mlp', 'batch'] }, { mesh: m42, spec: [['model'], ['data']] });
    expect(a.localShape).toEqual([2, 2]);
    for (let p = 0; p < 8; p++) {
      const [d, j] = [Math.floor(p / 2), p % 2];
      const want = [0, 1].flatMap((r) => [0, 1].map((c) => (2 * j + r) * 8 + 2 * d + c));
      expect(list(await a.shards[p]!.toHost()), `position ${p}`).toEqual(want);
    }
    expect(list(await a.toHost())).toEqual(list(iota(32)));
    // One dim over two mesh axes, data major: position p holds elements 2p, 2p+1.
    const b = putSharded(client, iota(16), { dtype: 'f32', shape: [16], axes: ['batch'] }, { mesh: m42, spec: [['data', 'model']] });
    expect(await Promise.all(b.shards.map(async (s) => list(await s.toHost())))).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((p) => [2 * p, 2 * p + 1]));
    // Replicated: every device has all of it.
    const r = putReplicated(client, [1n, -2n, 3n], { dtype: 'i64', shape: [3], axes: ['d0'] }, m42);
    for (const s of r.shards) expect(list(await s.toHost())).toEqual([1n, -2n, 3n]);
    expect(list(await r.toHost())).toEqual([1n, -2n, 3n]);
    // Another layout through the host keeps the values.
    const c = await reshard(a, { mesh: m42, spec: [[], ['data']] });
    expect(c.localShape).toEqual([4, 2]);
    expect(list(await c.toHost())).toEqual(list(iota(32)));
    for (const x of [a, b, r, c]) x.dispose();
  });

  it('refuse blocks that do not divide, and shards in the wrong place', () => {
    expect(() => putSharded(client, iota(6), { dtype: 'f32', shape: [6], axes: ['batch'] }, { mesh: m42, spec: [['data']] })).toThrow(/does not split evenly 4 ways/);
    const a = putReplicated(client, iota(4), { dtype: 'f32', shape: [4], axes: ['x'] }, m42);
    expect(() => new ShardedArray(a.type, { mesh: m42, spec: [['data']] }, a.shards)).toThrow(/shard 0 is \[4\], .* gives \[1\]/);
    expect(() => new ShardedArray(a.type, a.sharding, [...a.shards].reverse())).toThrow(/shard 0 is on device 7/);
    a.dispose();
  });

  it('go to an executable in its device-assignment order (a mesh over devices 7..0 computes the same)', async () => {
    const reversed: Mesh = mesh({ data: 4, model: 2 }, { devices: [7, 6, 5, 4, 3, 2, 1, 0] });
    const results: number[] = [];
    for (const m of [m42, reversed]) {
      const f = shardedJit(loss, { client, mesh: m });
      const { executable } = await f.lower(initParams() as never, batch(3) as never);
      expect(executable.devices).toEqual(m.devices);
      const l = (await f(initParams() as never, batch(3) as never)) as unknown as ShardedArray;
      expect(l.shards.map((s) => s.device)).toEqual(m.devices);
      results.push((await l.toHost())[0] as number);
    }
    expect(results[1]).toBeCloseTo(results[0]!, 5);
    expect(results[0]).toBeGreaterThan(0.1);
  });

  it('run through runSharded with result layouts the caller names, and refuse arrays of another mesh', async () => {
    const f = shardedJit((x: ReturnType<typeof hostTensor>) => x, { client, mesh: m42 });
    const x = hostTensor('f32', { batch: 8, mlp: 2 }, iota(16));
    const { sharded, executable } = await f.lower(x as never);
    const spec: PartitionSpec = [['data'], []];
    expect(sharded.params[0]!.spec).toEqual(spec);
    const a = putSharded(client, iota(16), x.type, { mesh: m42, spec });
    const [y] = await runSharded(executable, m42, [a], [{ type: x.type, spec }]);
    expect(list(await y!.toHost())).toEqual(list(iota(16)));
    const other = putSharded(client, iota(16), x.type, { mesh: mesh({ data: 8 }), spec });
    await expect(runSharded(executable, m42, [other], [{ type: x.type, spec }])).rejects.toThrow(/another mesh/);
    for (const b of [a, y!, other]) b.dispose();
  });
});

describe('a program on a mesh, as a trainer runs it', () => {
  it('takes a device-0 buffer and host arrays first, its own outputs after, and donates the state it aliases', async () => {
    // (state, batch) → [new state, metrics], the trainer's shape; state.params.w is donated to result 0.
    const step = (state: { params: { w: Tensor<'f32', ['embed', 'mlp']> } }, batch: { x: Tensor<'f32', ['batch', 'embed']> }) =>
      [{ params: { w: state.params.w.mul(0.5) } }, { loss: batch.x.sum() }] as const;
    const lowered = lower(step, [{ params: { w: spec('f32', { embed: 8, mlp: 16 }) } }, { x: spec('f32', { batch: 8, embed: 8 }) }], { name: 'step', mesh: m42, donate: [0] });
    const dumpDir = path.join(tmp, 'env');
    const program = await meshProgram(client, lowered, { envOverrides: { xla_dump_to: dumpDir, xla_dump_hlo_as_text: true } });
    expect(program.mlir).toMatch(/%arg0: tensor<8x16xf32> \{mhlo.sharding = "[^"]*", tf.aliasing_output = 0 : i32\}/);
    expect(partitionedDumps(dumpDir).some((f) => f.endsWith('cpu_after_optimizations.txt'))).toBe(true); // XLA options pass through
    expect(program.sharded.params.map((p) => [p.name, p.spec])).toEqual([['state.params.w', [[], ['model']]], ['batch.x', [['data'], []]]]);
    expect(program.sharded.results.map((r) => r.spec)).toEqual([[[], ['model']], []]);
    const uploads: number[] = [];
    const w0 = client.toDevice(iota(128), [8, 16], 'f32', 0);
    const x = { type: { dtype: 'f32' as const, shape: [8, 8], axes: ['batch', 'embed'] }, data: iota(64) };
    const [w1, loss] = await program.run([w0, x], (i) => uploads.push(i));
    expect(uploads).toEqual([0, 1]);
    expect(w1!.localShape).toEqual([8, 8]);
    expect(list(await w1!.toHost())).toEqual(list(iota(128).map((v) => v * 0.5)));
    expect(list(await loss!.toHost())).toEqual([2016]);
    const [w2] = await program.run([w1!, x], (i) => uploads.push(i));
    expect(uploads).toEqual([0, 1, 1]); // the state stayed on the devices
    expect(w1!.shards.every((b) => b.donated)).toBe(true);
    expect(list(await w2!.toHost())).toEqual(list(iota(128).map((v) => v * 0.25)));
    await expect(program.run([client.toDevice(iota(128), [16, 8], 'f32', 0), x])).rejects.toThrow(/input 0 \(state.params.w\) is f32\[.*16.*8\], the program takes f32\[embed=8, mlp=16\]/);
  });
});

describe('flipc compile --mesh', () => {
  it('prints the annotated module and dumps the partitioned HLO', async () => {
    const dir = path.join(tmp, 'cli');
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [path.join(REPO_ROOT, 'bin', 'flipc.js'), 'compile', 'test/sharding/fixtures/mlp_block.ts', '--entry', 'mlpBlock', '--mesh', 'data=4,model=2', '--dump-partitioned', dir],
        { cwd: REPO_ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr })));
    expect(r.stderr).toMatch(/partitioned HLO in .*after_spmd-partitioning/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/module @mlpBlock attributes \{mhlo.num_partitions = 8 : i32/);
    expect(r.stdout).toMatch(/%arg0: tensor<8x4x8xf32> \{mhlo.sharding = "\{devices=\[4,1,1,2\]<=\[8\] last_tile_dim_replicate\}"\} loc\("x"\)/);
    expect(r.stdout).toMatch(/%arg1: tensor<8x16xf32> \{mhlo.sharding = "\{devices=\[1,2,4\]<=\[4,2\]T\(1,0\) last_tile_dim_replicate\}"\} loc\("params.wi"\)/);
    expect(r.stdout).toMatch(/stablehlo.custom_call @Sharding\(%\d+\) \{backend_config = "", mhlo.sharding = "\{devices=\[4,1,2\]<=\[8\]\}"\}/);
    const spmd = partitionedDumps(dir).find((f) => f.includes('after_spmd-partitioning'))!;
    const hlo = readFileSync(spmd, 'utf8');
    expect(hlo).toMatch(/f32\[8,8\]\{1,0\} parameter\(1\)/);
    expect(hlo).toMatch(/ all-reduce\(/);
  });
});
