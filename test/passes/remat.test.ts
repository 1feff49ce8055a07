// Remat end to end: a 4-layer pre-LN transformer encoder written in the DSL, with and without `checkpoint` per layer.
// Checkpointing must keep fewer activations alive between forward and backward (measured on the VJP IR) and give
// the same gradients (run on the CPU plugin).
import { describe, expect, it } from 'vitest';
import { layerNorm, spec, traceFunc, type Tensor } from '../../dsl/index.ts';
import { checkpoint, valueAndGrad, type CheckpointOptions } from '../../dsl/transforms.ts';
import { flatten } from '../../compiler/trace/index.ts';
import { residuals, vjpFunc } from '../../compiler/passes/index.ts';
import { hostTensor, jit, type HostTensor } from '../../programs/jit.ts';
import { rng } from './prim_cases.ts';

const B = 2, L = 8, D = 16, H = 2, K = 8, M = 32, LAYERS = 4;

type X = Tensor<'f32', readonly ['batch', 'length', 'embed']>;
interface Layer {
  ln1: Tensor<'f32', readonly ['embed']>; ln2: Tensor<'f32', readonly ['embed']>;
  wq: Tensor<'f32', readonly ['embed', 'heads', 'kv']>; wk: Tensor<'f32', readonly ['embed', 'heads', 'kv']>;
  wv: Tensor<'f32', readonly ['embed', 'heads', 'kv']>; wo: Tensor<'f32', readonly ['heads', 'kv', 'embed']>;
  w1: Tensor<'f32', readonly ['embed', 'mlp']>; w2: Tensor<'f32', readonly ['mlp', 'embed']>;
}

function block(x: X, p: Layer): X {
  const h = layerNorm(x, 'embed', { scale: p.ln1 });
  const q = h.dot(p.wq, { contract: ['embed'] });
  const k = h.rename('length', 'keys').dot(p.wk, { contract: ['embed'] });
  const v = h.rename('length', 'keys').dot(p.wv, { contract: ['embed'] });
  const attn = q.dot(k, { contract: ['kv'] }).div(Math.sqrt(K)).softmax('keys').dot(v, { contract: ['keys'] });
  const x1 = x.add(attn.dot(p.wo, { contract: ['heads', 'kv'] }));
  const mlp = layerNorm(x1, 'embed', { scale: p.ln2 }).dot(p.w1, { contract: ['embed'] }).gelu().dot(p.w2, { contract: ['mlp'] });
  return x1.add(mlp);
}

function encoderLoss(policy: CheckpointOptions['policy'] | undefined) {
  const layer = policy ? checkpoint(block, { policy }) : block;
  return (params: Layer[], x: X) => params.reduce(layer, x).square().mean();
}

const SIZES: Record<keyof Layer, Record<string, number>> = {
  ln1: { embed: D }, ln2: { embed: D }, wq: { embed: D, heads: H, kv: K }, wk: { embed: D, heads: H, kv: K },
  wv: { embed: D, heads: H, kv: K }, wo: { heads: H, kv: K, embed: D }, w1: { embed: D, mlp: M }, w2: { mlp: M, embed: D },
};
const layerSpecs = () => Array.from({ length: LAYERS }, () =>
  Object.fromEntries(Object.entries(SIZES).map(([k, s]) => [k, spec('f32', s)])));
const xSpec = spec('f32', { batch: B, length: L, embed: D });

/** Residuals of the VJP of the loss with respect to every parameter, after simplify; recomputed: remat's barriers (not softmax's stopped max). */
function measure(policy: CheckpointOptions['policy'] | undefined) {
  const { func } = traceFunc(encoderLoss(policy), [layerSpecs(), xSpec], { name: 'encoder' });
  const nParams = func.params.length - 1;
  const g = vjpFunc(func, { wrt: Array.from({ length: nParams }, (_, i) => i) });
  const r = residuals(g, 1);
  return { ...r, activations: r.values.filter((v) => v.def !== undefined).length, recomputed: g.ops.filter((o) => o.prim === 'optimization_barrier' && !(o.attrs as { stopGradient?: boolean }).stopGradient).length };
}

describe('checkpoint on a 4-layer encoder', () => {
  it('keeps fewer activations alive between forward and backward', () => {
    const plain = measure(undefined);
    const nothing = measure('nothing_saveable');
    const dots = measure('dots_with_no_batch_dims_saveable');
    expect(plain.recomputed).toBe(0);
    expect(nothing.recomputed).toBeGreaterThan(0);
    // Without remat: per layer, the LN statistics, q/k/v, attention probabilities, the MLP pre-activation and more.
    // With nothing_saveable: per layer only its input (and the params, which every variant keeps).
    expect(nothing.activations).toBeLessThan(plain.activations);
    expect(nothing.bytes).toBeLessThan(plain.bytes);
    const paramBytes = 4 * LAYERS * (2 * D + 4 * D * H * K + 2 * D * M);
    expect(nothing.bytes - paramBytes).toBeLessThanOrEqual(4 * (LAYERS + 1) * B * L * D + 4 * 64); // layer inputs + final h (+ scalars)
    expect(plain.bytes - paramBytes).toBeGreaterThan(3 * (nothing.bytes - paramBytes));
    // Saving the weight matmuls (FLIP's 'minimal') sits in between.
    expect(dots.bytes).toBeLessThan(plain.bytes);
    expect(dots.bytes).toBeGreaterThan(nothing.bytes);
  });

  it('gives the same loss and gradients as without checkpoint (CPU plugin)', async () => {
    const r = rng(7);
    const data = (sizes: Record<string, number>, scale: number) => {
      const n = Object.values(sizes).reduce((a, b) => a * b, 1);
      return hostTensor('f32', sizes, Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale));
    };
    const params = Array.from({ length: LAYERS }, () =>
      Object.fromEntries(Object.entries(SIZES).map(([k, s]) => [k, k.startsWith('ln') ? data(s, 0.1) : data(s, 0.3)])) as unknown as Record<keyof Layer, HostTensor>);
    const x = data({ batch: B, length: L, embed: D }, 1);
    const run = async (policy: CheckpointOptions['policy'] | undefined) => {
      const [value, grads] = await jit(valueAndGrad(encoderLoss(policy)))(params as never, x as never);
      const leaves = flatten(grads).leaves as { toHost(): Promise<Float32Array> }[];
      return { loss: Number((await value.toHost())[0]), grads: await Promise.all(leaves.map(async (l) => [...(await l.toHost())])) };
    };
    const base = await run(undefined);
    expect(base.grads).toHaveLength(LAYERS * 8);
    for (const policy of ['nothing_saveable', 'dots_with_no_batch_dims_saveable'] as const) {
      const got = await run(policy);
      expect(Math.abs(got.loss - base.loss)).toBeLessThanOrEqual(1e-6 * Math.abs(base.loss));
      got.grads.forEach((g, i) => {
        const want = base.grads[i]!;
        const scale = Math.max(...want.map(Math.abs));
        expect(scale).toBeGreaterThan(0);
        g.forEach((v, j) => expect(Math.abs(v - want[j]!), `${policy}: leaf ${i}[${j}]`).toBeLessThanOrEqual(1e-5 * scale));
      });
    }
  });
});
