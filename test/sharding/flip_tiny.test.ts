// The real FLIP train step (models/flip.ts + train/step.ts: masking, both towers, contrastive loss, AdamW, lr
// schedule) of configs/flip_tiny.ts on 8 CPU devices: sharded over (data=8), (data=4, model=2) with partitioned
// optimizer states, and (data=2, model=4), two steps give the metrics, params and moments of one device.
// flip_tiny with 4 heads instead of 2 (so that model=4 splits them) and a global batch of 8 (so that data=8 does).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mesh, type Mesh } from '../../compiler/passes/index.ts';
import { flatten, unflatten, type TensorSpec } from '../../compiler/trace/index.ts';
import { override } from '../../configs/official.ts';
import tiny from '../../configs/flip_tiny.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { DeviceTensor, HostTensor, hostTensor, jit } from '../../programs/jit.ts';
import { ShardedArray, shardedJit } from '../../programs/sharded.ts';
import { FLIP_ADAMW } from '../../train/optimizer.ts';
import { makeSchedule } from '../../train/schedule.ts';
import { stateSpecs, optimizerStep } from '../../train/step.ts';

const B = 8;
const model = override(tiny, { model: { img: { transformer: { numHeads: 4 } }, txt: { transformer: { numHeads: 4 } } } }).model;
// A steep warmup so that steps 3 and 4 move every weight well past the comparison's tolerance.
const schedule = makeSchedule({ learning_rate: 0.1, batch_size: B, warmup_epochs: 1, num_epochs: 2, warmup_abs_lr: 0, min_abs_lr: 0, samples_per_epoch: 64 });
const step = optimizerStep({ model, schedule, adamw: FLIP_ADAMW, excludeWd: true, seed: 0 });

let client: Client;
beforeAll(async () => {
  client = await openClient({ target: 'cpu', devices: 8 });
});
afterAll(() => client?.dispose());

const isSpec = (x: unknown) => typeof x === 'object' && x !== null && 'shape' in x && 'axes' in x;
/** Params ~ ±0.05 (norm scales around 1, logit_scale log(1/0.07) as the official init), zero moments. */
function initialState(): unknown {
  const f = flatten<TensorSpec>(stateSpecs(model), { isLeaf: isSpec });
  let s = 12345;
  return unflatten(f.treedef, f.leaves.map((t, i) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const moment = !f.paths[i]!.startsWith('params.');
    const centre = f.paths[i]!.endsWith('.scale') ? 1 : f.paths[i]!.endsWith('logit_scale') ? Math.log(1 / 0.07) : 0;
    const data = Float32Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return moment ? 0 : centre + ((s / 2 ** 32) * 2 - 1) * 0.05;
    });
    return new HostTensor(t, data);
  }));
}

function batchOf(seed: number) {
  const { imageSize: S, channels: C } = model.img;
  const L = model.txt.maxLen;
  return {
    image: hostTensor('f32', { batch: B, height: S, width: S, channels: C }, Float32Array.from({ length: B * S * S * C }, (_, i) => Math.sin(i * 0.37 + seed))),
    txt: hostTensor('i32', { batch: B, length: L }, Int32Array.from({ length: B * L }, (_, i) => (i * 7 + seed * 3) % model.txt.vocabSize)),
    txtIsValid: hostTensor('i32', { batch: B, length: L }, Int32Array.from({ length: B * L }, (_, i) => (i % L < L - (i % 3) ? 1 : 0))),
  };
}
const steps = [{ batch: batchOf(0), n: hostTensor('i32', {}, Int32Array.of(3)) }, { batch: batchOf(1), n: hostTensor('i32', {}, Int32Array.of(4)) }];

type Leaves = Map<string, Float32Array>;
async function leaves(tree: unknown): Promise<Leaves> {
  const f = flatten(tree, { isLeaf: (x) => x instanceof DeviceTensor || x instanceof ShardedArray });
  const out = new Map<string, Float32Array>();
  for (const [i, leaf] of f.leaves.entries()) out.set(f.paths[i]!, (await (leaf as DeviceTensor | ShardedArray).toHost()) as Float32Array);
  return out;
}
/**
 * The param entries whose first-step gradient is zero up to rounding: their first moment after step 1 (0.1·gradient,
 * as the moments start at zero) is below 1e-5 of its leaf's RMS. AdamW's normalised update turns such rounding noise
 * into a step of up to lr in either direction, which later steps carry along; no two reduction orders agree on them.
 */
function roundingLevel(step1: Leaves): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const [k, mu] of step1) {
    if (!k.startsWith('state.mu.')) continue;
    const floor = 1e-5 * Math.sqrt(mu.reduce((a, v) => a + v * v, 0) / mu.length);
    const set = new Set<number>();
    mu.forEach((v, i) => Math.abs(v) < floor && set.add(i));
    if (set.size) out.set(k.replace('state.mu.', 'state.params.'), set);
  }
  return out;
}

/**
 * Worst |got − want| / (2e-5 + 1e-4·|want|) over every leaf, and where. Except where the gradient is zero up to
 * rounding (see roundingLevel): every attention key bias (see above), and the `skip` entries.
 */
function worst(got: Leaves, want: Leaves, skip: Map<string, Set<number>>): { ratio: number; where: string } {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  let w = { ratio: 0, where: '' };
  for (const [k, g] of got) {
    if (k.endsWith('key.bias')) continue;
    const r = want.get(k)!;
    const noise = skip.get(k);
    for (let i = 0; i < g.length; i++) {
      if (noise?.has(i)) continue;
      const ratio = Math.abs(g[i]! - r[i]!) / (2e-5 + 1e-4 * Math.abs(r[i]!));
      if (ratio > w.ratio) w = { ratio, where: `${k}[${i}]: got ${g[i]}, want ${r[i]}` };
    }
  }
  return w;
}

describe('flip_tiny train step sharded over 8 CPU devices = on one device', () => {
  let reference: Leaves[];
  let noise = new Map<string, Set<number>>();
  beforeAll(async () => {
    const one = jit(step, { client });
    let state = initialState();
    reference = [];
    for (const s of steps) {
      const [next, metrics] = await one(state as never, s.batch as never, s.n);
      reference.push(await leaves({ state: next, metrics }));
      state = next;
    }
    // The steps trained: a finite loss, and every trained param moved well past the tolerance below.
    expect(Number.isFinite(reference[0]!.get('metrics.loss')![0]!)).toBe(true);
    noise = roundingLevel(reference[0]!);
    // A handful of entries at most: the comparison still covers all but a few of every weight.
    const skipped = [...noise.entries()].filter(([k]) => !k.endsWith('key.bias')).reduce((n, [, v]) => n + v.size, 0);
    expect(skipped).toBeLessThan(10);
    const init = flatten(initialState(), { isLeaf: (x) => x instanceof HostTensor });
    init.leaves.forEach((l, i) => {
      const path = init.paths[i]!;
      // Not trained: sincos position embeddings are fixed, and a key bias adds one constant to every logit a query
      // sees, which softmax ignores (its gradient is rounding noise).
      if (!path.startsWith('params.') || path.endsWith('pos_embedding') || path.endsWith('key.bias')) return;
      const after = reference[0]!.get(`state.${path}`)!;
      const moved = (l as HostTensor<'f32'>).data.reduce((w, v, k) => Math.max(w, Math.abs(after[k]! - v)), 0);
      expect(moved, path).toBeGreaterThan(2e-4);
    });
  });

  const meshes: [string, Mesh, boolean][] = [
    ['data=8', mesh({ data: 8 }), false],
    ['data=4,model=2 with partitioned optimizer states', mesh({ data: 4, model: 2 }), true],
    ['data=2,model=4', mesh({ data: 2, model: 4 }), false],
  ];
  it.each(meshes)('%s', async (_, m, partitionStates) => {
    const sharded = shardedJit(step, { client, mesh: m, partitionStates });
    let state = initialState();
    for (const [k, s] of steps.entries()) {
      const [next, metrics] = await sharded(state as never, s.batch as never, s.n);
      const w = worst(await leaves({ state: next, metrics }), reference[k]!, noise);
      expect(w.ratio, `step ${k + 1}: ${w.where}`).toBeLessThanOrEqual(1);
      state = next;
    }
    expect(sharded.stats).toMatchObject({ traces: 1, compiles: 1, calls: 2 });
    const { sharded: plan } = await sharded.lower(state as never, steps[0]!.batch as never, steps[0]!.n);
    // Really split: the MLP kernels over model, the images over data (a dim the mesh does not divide would be an error).
    const spec = (name: string) => plan.params.find((p) => p.name === name)!.spec;
    const wi = 'state.params.img_encoder.Transformer.encoderblock_00.MlpBlock_0.Dense_0.kernel';
    expect(spec(wi)).toEqual(m.axes.includes('model') ? [[], ['model']] : [[], []]);
    expect(spec('batch.image')[0]).toEqual(['data']);
    if (partitionStates) expect(spec(wi.replace('params', 'mu'))).toEqual([['data'], ['model']]);
    expect(plan.notes).toEqual([]);
  });
});
