// The second pinned CPU build (lammps-jax-pjrt-cpu 0.11.2, docs/runtime.md "Two CPU builds") takes a `process_id` create
// option: with the coordination store attached, process p's devices carry global ids 2048·p + k (XLA's CPU client
// numbering), and a module compiled there still runs on them. This file runs only with FLIP_CPU_BUILD=lammps (vitest.config.ts;
// .ci/run runs it after installing that build): the default build, xla-cpu-pjrt 0.0.1, refuses several processes
// (test/distributed/fake_plugin.test.ts).
import { afterAll, describe, expect, it } from 'vitest';
import { connect, startCoordinator, type Coordination } from '../../runtime-native/coordinator.ts';
import { openClient, selectedCpuBuild, type Client } from '../../runtime-native/index.ts';

describe('lammps-jax-pjrt-cpu: process_id', () => {
  const groups: Coordination[] = [];
  const clients: Client[] = [];
  afterAll(async () => {
    for (const c of clients) c.dispose();
    await Promise.all(groups.map((g) => g.shutdown(10_000)));
  });

  it('runs on the lammps build', () => {
    expect(selectedCpuBuild().build).toBe('lammps');
  });

  it("process 1 of 2: its devices' global ids are 2048 + k, and they run a program", async () => {
    const server = startCoordinator({ bind: '127.0.0.1', numProcesses: 2 });
    const address = `127.0.0.1:${server.port}`;
    groups.push(...(await Promise.all([0, 1].map((processId) => connect({ address, processId, numProcesses: 2, timeoutMs: 20_000 })))));
    const client = await openClient({ target: 'cpu', devices: 2, store: groups[1]!, processIdOption: true });
    clients.push(client);
    expect(client.devices.map((d) => d.id)).toEqual([2048, 2049]);
    expect(client.devices.every((d) => d.addressable)).toBe(true);
    const exe = await client.compile(`func.func public @main(%a: tensor<3xf32>) -> tensor<3xf32> {
  %0 = stablehlo.add %a, %a : tensor<3xf32>
  return %0 : tensor<3xf32>
}`);
    const [out] = await exe.run([client.toDevice(new Float32Array([1, 2, 3]), [3], 'f32', client.devices[1]!.index)], { device: client.devices[1]!.index });
    expect(Array.from((await out!.toHost()) as Float32Array)).toEqual([2, 4, 6]);
  }, 60_000);
});
