// Serialized executables on the real CPU plugin: executable.serialize() (PJRT_Executable_Serialize) and
// client.loadSerialized() (PJRT_Executable_DeserializeAndLoad) give back an executable that computes the same thing
// without compiling, one device or SPMD, donation kept; bytes the plugin did not write are an error, never a crash.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient, PjrtError, type Client } from '../../runtime-native/index.ts';
import { fma } from './modules.ts';

let client: Client;
beforeAll(async () => {
  client = await openClient({ target: 'cpu', devices: 2 });
});
afterAll(() => client.dispose());

// Donates %s to the first output (JAX's tf.aliasing_output), as a train step donates its state.
const DONATING = `module @step {
  func.func public @main(%s: tensor<4xf32> {tf.aliasing_output = 0 : i32}, %x: tensor<4xf32>) -> (tensor<4xf32>, tensor<f32>) {
    %0 = stablehlo.add %s, %x : tensor<4xf32>
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %1 = stablehlo.reduce(%0 init: %z) applies stablehlo.add across dimensions = [0] : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
    return %0, %1 : tensor<4xf32>, tensor<f32>
  }
}`;

const SPMD = `module @spmd attributes {mhlo.num_partitions = 2 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%x: tensor<8xf32> {mhlo.sharding = "{devices=[2]<=[2]}"}) -> (tensor<f32> {mhlo.sharding = "{replicated}"}) {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %s = stablehlo.reduce(%x init: %z) applies stablehlo.add across dimensions = [0] : (tensor<8xf32>, tensor<f32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}`;

describe('serialized executables', () => {
  it('serialize then loadSerialized: the same results, name and fingerprint, with no compile', async () => {
    const exe = await client.compile(fma(4), { cache: false });
    const bytes = exe.serialize();
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(bytes.byteLength).toBeGreaterThan(100);
    const loaded = await client.loadSerialized(bytes);
    expect(loaded).not.toBe(exe);
    expect(loaded.name()).toBe(exe.name());
    expect(loaded.fingerprint()).toBe(exe.fingerprint());
    expect(loaded.numOutputs).toBe(1);
    const args = [[1, 2, 3, 4], [2, 2, 2, 2], [0.5, 0.5, 0.5, 0.5]].map((v) => client.toDevice(v, [4], 'f32'));
    const [a] = await exe.run(args);
    const [b] = await loaded.run(args);
    expect(Array.from(await b!.as('f32').toHost())).toEqual([2.5, 4.5, 6.5, 8.5]);
    expect(Array.from(await b!.as('f32').toHost())).toEqual(Array.from(await a!.as('f32').toHost()));
    // A portable single-device executable still runs on the device its arguments are on.
    const onOne = [1, 1, 1, 1].map(() => client.toDevice([1, 1, 1, 1], [4], 'f32', 1)).slice(0, 3);
    const [c] = await loaded.run(onOne);
    expect(c!.device).toBe(1);
  });

  it('keeps donation and the argument checks of the options it is loaded with', async () => {
    const bytes = (await client.compile(DONATING, { cache: false })).serialize();
    const loaded = await client.loadSerialized(bytes, { parameters: [{ dtype: 'f32', shape: [4] }, { dtype: 'f32', shape: [4] }] });
    const s = client.toDevice([1, 2, 3, 4], [4], 'f32');
    const [next, total] = await loaded.run([s, client.toDevice([1, 1, 1, 1], [4], 'f32')]);
    expect(s.donated).toBe(true);
    expect(Array.from(await next!.as('f32').toHost())).toEqual([2, 3, 4, 5]);
    expect((await total!.as('f32').toHost())[0]).toBe(14);
    await expect(loaded.run([client.toDevice([1, 2], [2], 'f32'), client.toDevice([1, 2], [2], 'f32')])).rejects.toThrow(/argument 0 is f32\[2\] but the program expects f32\[4\]/);
  });

  it('an SPMD executable loads with its partitions and device assignment', async () => {
    const options = { numPartitions: 2, numReplicas: 1, spmd: true, deviceIds: [client.devices[0]!.id, client.devices[1]!.id] };
    const exe = await client.compile(SPMD, { ...options, cache: false });
    const loaded = await client.loadSerialized(exe.serialize(), options);
    expect(loaded.numPartitions).toBe(2);
    expect(loaded.devices).toEqual(exe.devices);
    const outs = await loaded.run(loaded.devices.map((d) => [client.toDevice([d, d, d, d], [4], 'f32', d)]));
    for (const [sum] of outs) expect((await sum!.as('f32').toHost())[0]).toBe(4);
  });

  it('bytes the plugin did not write, or cut short, are a PjrtError', async () => {
    const bytes = (await client.compile(fma(8), { cache: false })).serialize();
    await expect(client.loadSerialized(new Uint8Array([1, 2, 3]))).rejects.toThrow(PjrtError);
    await expect(client.loadSerialized(bytes.slice(0, bytes.byteLength >> 1))).rejects.toThrow(/deserializ/i);
    await expect(client.loadSerialized('not bytes' as unknown as Uint8Array)).rejects.toThrow(/must be a Uint8Array/);
  });

  it('a disposed client refuses to load', async () => {
    const c = await openClient({ target: 'cpu' });
    const bytes = (await c.compile(fma(2), { cache: false })).serialize();
    c.dispose();
    await expect(c.loadSerialized(bytes)).rejects.toThrow(/disposed/);
  });
});
