// SPMD on the CPU plugin: cpu_device_count = 8, modules with mhlo.num_partitions = 8 run one
// shard per device, with collectives between them.
import { optimizedHlo } from '../../programs/inspect.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient, PjrtError, type Client } from '../../runtime-native/index.ts';

let client: Client;
beforeAll(async () => {
  client = await openClient({ target: 'cpu', devices: 8 });
});
afterAll(() => client.dispose());

const ALL_REDUCE = `module @all_reduce attributes {mhlo.num_partitions = 8 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
    %sum = "stablehlo.all_reduce"(%x) ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %s = stablehlo.add %a, %b : tensor<f32>
      stablehlo.return %s : tensor<f32>
    }) {channel_handle = #stablehlo.channel_handle<handle = 1, type = 1>, replica_groups = dense<[[0, 1, 2, 3, 4, 5, 6, 7]]> : tensor<1x8xi64>, use_global_device_ids} : (tensor<4xf32>) -> tensor<4xf32>
    %pairs = "stablehlo.all_reduce"(%x) ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %m = stablehlo.maximum %a, %b : tensor<f32>
      stablehlo.return %m : tensor<f32>
    }) {channel_handle = #stablehlo.channel_handle<handle = 2, type = 1>, replica_groups = dense<[[0, 1], [2, 3], [4, 5], [6, 7]]> : tensor<4x2xi64>, use_global_device_ids} : (tensor<4xf32>) -> tensor<4xf32>
    %d = stablehlo.subtract %x, %sum : tensor<4xf32>
    return %d, %pairs : tensor<4xf32>, tensor<4xf32>
  }
}`;

// GSPMD: XLA partitions a whole-array program by its shardings; the reduction over the sharded
// dimension becomes an all-reduce.
const SHARDED = `module @sharded attributes {mhlo.num_partitions = 8 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%x: tensor<16x4xf32> {mhlo.sharding = "{devices=[8,1]<=[8]}"}, %w: tensor<4x3xf32> {mhlo.sharding = "{replicated}"}) -> (tensor<16x3xf32> {mhlo.sharding = "{devices=[8,1]<=[8]}"}, tensor<3xf32> {mhlo.sharding = "{replicated}"}) {
    %y = stablehlo.dot_general %x, %w, contracting_dims = [1] x [0] : (tensor<16x4xf32>, tensor<4x3xf32>) -> tensor<16x3xf32>
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %s = stablehlo.reduce(%y init: %z) applies stablehlo.add across dimensions = [0] : (tensor<16x3xf32>, tensor<f32>) -> tensor<3xf32>
    return %y, %s : tensor<16x3xf32>, tensor<3xf32>
  }
}`;

describe('SPMD over 8 CPU devices', () => {
  it('all_reduce: every device gets the sum (and its pair max) back', async () => {
    const exe = await client.compile(ALL_REDUCE, { numPartitions: 8 });
    expect(exe.numPartitions).toBe(8);
    expect(exe.devices).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(optimizedHlo(exe)).toMatch(/all-reduce\(.*replica_groups=\{\{0,1,2,3,4,5,6,7\}\}/);
    const shard = (d: number): number[] => [d, 10 * d, -d, 1];
    const outs = await exe.run(exe.devices.map((d) => [client.toDevice(shard(d), [4], 'f32', d)]));
    expect(outs).toHaveLength(8);
    const sum = [0, 1, 2, 3].map((k) => [0, 1, 2, 3, 4, 5, 6, 7].reduce((s, d) => s + shard(d)[k]!, 0));
    for (const [d, [diff, pairMax]] of outs.entries()) {
      expect(diff!.device).toBe(d);
      expect(Array.from(await diff!.as('f32').toHost())).toEqual(shard(d).map((v, k) => v - sum[k]!));
      const partner = d ^ 1;
      expect(Array.from(await pairMax!.as('f32').toHost())).toEqual(shard(d).map((v, k) => Math.max(v, shard(partner)[k]!)));
    }
  });

  it('a GSPMD-sharded module: each device returns its row block and the replicated total', async () => {
    const exe = await client.compile(SHARDED, { numPartitions: 8 });
    expect(exe.outputs).toEqual([{ dtype: 'f32', shape: [2, 3] }, { dtype: 'f32', shape: [3] }]);
    const x = Array.from({ length: 64 }, (_, i) => (i % 7) - 3);
    const w = [1, 2, 0, -1, 0.5, 1, 3, 0, -2, 1, 1, 1];
    const y = Array.from({ length: 48 }, (_, k) => {
      const [i, j] = [Math.floor(k / 3), k % 3];
      return [0, 1, 2, 3].reduce((s, t) => s + x[i * 4 + t]! * w[t * 3 + j]!, 0);
    });
    const total = [0, 1, 2].map((j) => y.filter((_, k) => k % 3 === j).reduce((s, v) => s + v, 0));
    const args = exe.devices.map((d, i) => [client.toDevice(x.slice(i * 8, i * 8 + 8), [2, 4], 'f32', d), client.toDevice(w, [4, 3], 'f32', d)]);
    const outs = await exe.run(args);
    for (const [i, [block, sum]] of outs.entries()) {
      expect(block!.shape).toEqual([2, 3]);
      expect(Array.from(await block!.as('f32').toHost())).toEqual(y.slice(i * 6, i * 6 + 6));
      expect(Array.from(await sum!.as('f32').toHost())).toEqual(total);
    }
  });

  it('many SPMD executions in flight at once each get their own collective results', async () => {
    const exe = await client.compile(ALL_REDUCE, { numPartitions: 8 });
    const runs = Array.from({ length: 16 }, (_, r) =>
      exe.run(exe.devices.map((d) => [client.toDevice([r, d, 1, 0], [4], 'f32', d)])).then((outs) => Promise.all(outs.map(([diff]) => diff!.as('f32').toHost()))),
    );
    const results = await Promise.all(runs);
    results.forEach((perDevice, r) =>
      perDevice.forEach((diff, d) => expect(Array.from(diff)).toEqual([r - 8 * r, d - 28, 1 - 8, 0]))
    );
  });

  it('refuses a flat argument list, and shards on the wrong devices', async () => {
    const exe = await client.compile(ALL_REDUCE, { numPartitions: 8 });
    const one = client.toDevice([1, 2, 3, 4], [4], 'f32', 0);
    await expect(exe.run([one])).rejects.toThrow(/runs SPMD on 8 devices: pass one argument list per device/);
    const wrong = exe.devices.map(() => [one]);
    await expect(exe.run(wrong)).rejects.toSatisfy((e: unknown) => e instanceof PjrtError && e.code === 'INVALID_ARGUMENT' && /is on device 0, but list 1 runs on device 1/.test(e.message));
    const tooFew = exe.devices.slice(1).map((d) => [client.toDevice([1, 2, 3, 4], [4], 'f32', d)]);
    await expect(exe.run(tooFew)).rejects.toThrow(/runs on 8 device\(s\) but 7 argument lists were given/);
  });
});
