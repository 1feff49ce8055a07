// The mesh of a multi-process run (train/multiprocess/mesh.ts): mesh positions → global device ids, each process a
// contiguous block of `data`, which positions a process drives; sharded arrays holding only this process's shards
// (programs/sharded.ts's placement) on a real CPU client; a process's batch rows in the global batch.
import { afterAll, describe, expect, it } from 'vitest';
import { shardOrigin } from '../../../compiler/passes/index.ts';
import { putSharded, ShardedArray } from '../../../programs/sharded.ts';
import { openClient, type Client } from '../../../runtime-native/index.ts';
import { globalBatchRows } from '../../../train/executor.ts';
import { globalMeshLayout, processHolding, type GlobalDeviceInfo } from '../../../train/multiprocess/index.ts';

/** What process `me` of `n` sees with `per` devices each: global ids 2048·p + k (as lammps' CPU plugin numbers them). */
function devicesSeenBy(me: number, n: number, per: number): GlobalDeviceInfo[] {
  const out: GlobalDeviceInfo[] = [];
  // PJRT's global order need not be by process: list them interleaved.
  for (let k = 0; k < per; k++) for (let p = 0; p < n; p++) out.push({ id: 2048 * p + (per - 1 - k), processIndex: p, addressable: p === me, index: p === me ? per - 1 - k : -1 });
  return out;
}

let client: Client | null = null;
afterAll(() => client?.dispose());

describe('globalMeshLayout', () => {
  it('gives process i the positions [i·D/N, (i+1)·D/N): its own devices in client order, whole rows of data', () => {
    for (const [n, per, sizes] of [[2, 2, { data: 4 }], [2, 4, { data: 2, model: 4 }], [4, 2, { data: 4, model: 2 }], [3, 2, { data: 6 }]] as const) {
      const layouts = Array.from({ length: n }, (_, me) => globalMeshLayout(devicesSeenBy(me, n, per), sizes, me, n));
      for (const [me, l] of layouts.entries()) {
        expect(l.positions).toEqual(Array.from({ length: per }, (_, k) => me * per + k));
        expect(l.processOf).toEqual(Array.from({ length: n * per }, (_, p) => Math.floor(p / per)));
        expect(l.addressable).toEqual(l.processOf.map((p) => p === me));
        // Every process agrees on the device assignment; position i·per + k is process i's k-th device.
        expect(l.deviceIds).toEqual(layouts[0]!.deviceIds);
        expect(l.deviceIds).toEqual(Array.from({ length: n * per }, (_, p) => 2048 * Math.floor(p / per) + (p % per)));
        // Its positions carry its client device indices; the others' are distinct indices past its devices.
        expect(l.positions.map((p) => l.mesh.devices[p])).toEqual(Array.from({ length: per }, (_, k) => k));
        expect(new Set(l.mesh.devices).size).toBe(n * per);
        expect(l.mesh.devices.filter((_, p) => !l.addressable[p]).every((d) => d >= per)).toBe(true);
        // The batch split over data: its positions hold rows [me·B/n, (me+1)·B/n) and nothing else.
        const B = 12 * sizes.data;
        const rows = l.positions.map((p) => shardOrigin([['data'], []], l.mesh, [B, 3], p)[0]!);
        expect(Math.min(...rows)).toBe((me * B) / n);
        expect(Math.max(...rows) + B / sizes.data).toBe(((me + 1) * B) / n);
        // The checkpoint's holding (train/multiprocess/checkpoint.ts) uses the same blocks of positions.
        expect(Object.values(processHolding(l.mesh, n, me, [{ name: 'x', dtype: 'f32', shape: [B], spec: [['data']] }]))[0]!.flatMap((b) => b.positions)).toEqual(l.positions);
      }
    }
  });

  it('refuses, in one line, a mesh that cannot be laid over the processes', () => {
    const d = devicesSeenBy(0, 2, 2);
    expect(() => globalMeshLayout(d, { model: 2, data: 2 }, 0, 2)).toThrow(/^mesh model=2,data=2: over several processes the first \(major\) axis must be 'data'/);
    expect(() => globalMeshLayout(d, { data: 1, model: 4 }, 0, 2)).toThrow(/^mesh data=1,model=4: data=1 does not split evenly across 2 processes/);
    expect(() => globalMeshLayout(d, { data: 2 }, 0, 2)).toThrow(/^mesh data=2 has 2 positions, the 2 processes have 4 devices \(2 each\): the mesh must use every device$/);
    expect(() => globalMeshLayout(d.slice(1), { data: 2 }, 0, 2)).toThrow(/^process 1 has 2 devices, process 0 has 1: every process must drive the same number of devices$/);
    expect(() => globalMeshLayout(d, { data: 4 }, 2, 2)).toThrow(/^process 2 of 2: not a process of the run$/);
    expect(() => globalMeshLayout(devicesSeenBy(1, 2, 2), { data: 4 }, 0, 2)).toThrow(/^process 0's devices are not all addressable here/);
  });
});

describe("sharded arrays with this process's shards only", () => {
  it('putSharded with a placement uploads this process\'s blocks; toHost reads them when they cover the array, else one line', async () => {
    client ??= await openClient({ target: 'cpu', devices: 2 });
    const l = globalMeshLayout(devicesSeenBy(1, 2, 2), { data: 2, model: 2 }, 1, 2);
    const full = Float32Array.from({ length: 4 * 6 }, (_, i) => i - 7.5);
    const type = { dtype: 'f32' as const, shape: [4, 6], axes: ['a', 'b'] };
    // Split over model only: process 1 holds both model halves of the whole array (copies of process 0's).
    const byModel = putSharded(client, full, type, { mesh: l.mesh, spec: [[], ['model']] }, l.addressable);
    expect(byModel.held).toEqual([2, 3]);
    expect(byModel.shards.filter(Boolean).map((b) => b.device)).toEqual([0, 1]);
    expect(Array.from((await byModel.toHost()) as Float32Array)).toEqual(Array.from(full));
    // Split over data: process 1 holds rows 2..3 only.
    const byData = putSharded(client, full, type, { mesh: l.mesh, spec: [['data'], []] }, l.addressable);
    expect(byData.localShape).toEqual([2, 6]);
    expect(Array.from((await byData.shards[2]!.toHost()) as unknown as Float32Array)).toEqual(Array.from(full.subarray(12)));
    await expect(byData.toHost()).rejects.toThrow(/the block at \[0, 0\] is held by other processes only; read this process's blocks/);
    expect(() => new ShardedArray(type, { mesh: l.mesh, spec: [['data'], []] }, [byData.shards[2]!])).toThrow(/1 shards for mesh/);
    byModel.dispose();
    byData.dispose();
    expect(byData.disposed).toBe(true);
  });

  it("globalBatchRows puts a process's rows where its positions read them", () => {
    const local = Int32Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(globalBatchRows(local, [2, 3], 6, 2))).toEqual([0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0]);
    expect(() => globalBatchRows(local, [2, 3], 6, 5)).toThrow(/^rows \[5, 7\) are not rows of a batch of 6$/);
  });
});
