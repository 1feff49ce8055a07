// A tiny transformer's AdamW train step on 8 CPU devices, sharded over (data=8), (data=4, model=2), (data=2,
// model=4) and with partitioned optimizer states, gives the losses and updated params (and moments) of the same step
// on one device; two steps, the second fed the first's sharded outputs without a trip through the host.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flatten } from '../../compiler/trace/index.ts';
import { mesh, type Mesh } from '../../compiler/passes/index.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { jit, type DeviceTensor, type HostTensor } from '../../programs/jit.ts';
import { shardedJit, type ShardedArray } from '../../programs/sharded.ts';
import { batch, initOpt, initParams, scalarF32, trainStep } from './tiny.ts';

let client: Client;
beforeAll(async () => {
  client = await openClient({ target: 'cpu', devices: 8 });
});
afterAll(() => client?.dispose());

type Leaves = Map<string, Float32Array>;

async function leaves(tree: unknown): Promise<Leaves> {
  const f = flatten(tree, { isLeaf: (x) => typeof x === 'object' && x !== null && 'toHost' in x });
  const out = new Map<string, Float32Array>();
  for (const [i, leaf] of f.leaves.entries()) out.set(f.paths[i]!, (await (leaf as DeviceTensor | ShardedArray).toHost()) as Float32Array);
  return out;
}

/** |got − want| ≤ 2e-5 + 1e-4·|want| elementwise; returns the worst ratio to that tolerance. */
function worst(got: Leaves, want: Leaves): number {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  let w = 0;
  for (const [k, g] of got) {
    const r = want.get(k)!;
    expect(g.length, k).toBe(r.length);
    for (let i = 0; i < g.length; i++) w = Math.max(w, Math.abs(g[i]! - r[i]!) / (2e-5 + 1e-4 * Math.abs(r[i]!)));
  }
  return w;
}

const steps = [
  { batch: batch(0), count: scalarF32(1), lr: scalarF32(1e-2) },
  { batch: batch(1), count: scalarF32(2), lr: scalarF32(1e-2) },
];

let reference: Leaves[];
let initial: Leaves;

describe('train step sharded over 8 CPU devices = on one device', () => {
  beforeAll(async () => {
    // One device: plain jit, host arrays in, device arrays out, fed back.
    const step = jit(trainStep, { client });
    let params: unknown = initParams();
    let opt: unknown = initOpt();
    const init = flatten({ params: initParams() }, { isLeaf: (x) => typeof x === 'object' && x !== null && 'data' in x });
    initial = new Map(init.leaves.map((l, i) => [init.paths[i]!, (l as HostTensor<'f32'>).data]));
    reference = [];
    for (const s of steps) {
      const out = await step(params as never, opt as never, s.batch as never, s.count, s.lr);
      reference.push(await leaves(out));
      params = out.params;
      opt = out.opt;
    }
  });

  const meshes: [string, Mesh, boolean][] = [
    ['data=8', mesh({ data: 8 }), false],
    ['data=4,model=2', mesh({ data: 4, model: 2 }), false],
    ['data=2,model=4', mesh({ data: 2, model: 4 }), false],
    ['data=4,model=2 with partitioned optimizer states', mesh({ data: 4, model: 2 }), true],
  ];
  it.each(meshes)('%s', async (_, m, partitionStates) => {
    const step = shardedJit(trainStep, { client, mesh: m, partitionStates });
    let params: unknown = initParams();
    let opt: unknown = initOpt();
    for (const [k, s] of steps.entries()) {
      const out = await step(params as never, opt as never, s.batch as never, s.count as HostTensor, s.lr as HostTensor);
      const got = await leaves(out);
      expect(worst(got, reference[k]!), `step ${k + 1}`).toBeLessThanOrEqual(1);
      // The step really moved every param (so agreeing is not agreeing on nothing).
      if (k === 0) expect(worst(new Map([...got].filter(([p]) => p.startsWith('params.'))), initial)).toBeGreaterThan(10);
      params = out.params;
      opt = out.opt;
    }
    expect(step.stats).toMatchObject({ traces: 1, compiles: 1, calls: 2 });
    // Step 1 uploads every host leaf (params, moments, batch, count, lr); step 2 only the new batch and scalars.
    const hostLeaves = flatten([initParams(), initOpt()]).leaves.length;
    expect(step.stats.uploads).toBe(hostLeaves + 4 + 4);
  });
});
