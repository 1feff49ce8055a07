// dsl/nn: logical axes, initializer statistics, dropout and drop-path, the attention padding mask, patch embedding as a
// convolution, remat policies (same values and gradients as without), on the CPU plugin.
import { describe, expect, it } from 'vitest';
import { FLIP_AXIS_RULES } from '../../compiler/passes/index.ts';
import base from '../../configs/flip_base.ts';
import { flatten, valueAndGrad, type Tensor } from '../../dsl/index.ts';
import {
  Encoder, MultiHeadDotProductAttention, PatchEmbed, dropout, init, logicalAxes, normalInit, param, patchify, sincos2dTable,
  varianceScaling, xavierUniform, type Params,
} from '../../dsl/nn/index.ts';
import { key, type Key } from '../../dsl/random.ts';
import { flipSpecs } from '../../models/flip.ts';
import { hostTensor, jit } from '../../programs/jit.ts';
import { numbers } from './host.ts';

type T<A extends readonly string[]> = Tensor<'f32', A>;

describe('logical axes (what the sharding rules read)', () => {
  const axes = logicalAxes(flipSpecs(base.model));
  it('are the t5x names of the official params', () => {
    const block = 'img_encoder.Transformer.encoderblock_03';
    expect(axes[`${block}.MultiHeadDotProductAttention_0.query.kernel`]).toEqual(['embed', 'heads', 'kv']);
    expect(axes[`${block}.MultiHeadDotProductAttention_0.out.kernel`]).toEqual(['heads', 'kv', 'embed']);
    expect(axes[`${block}.MlpBlock_0.Dense_0.kernel`]).toEqual(['embed', 'mlp']);
    expect(axes[`${block}.MlpBlock_0.Dense_1.kernel`]).toEqual(['mlp', 'embed']);
    expect(axes[`${block}.LayerNorm_0.scale`]).toEqual(['embed']);
    expect(axes['img_encoder.embedding.kernel']).toEqual(['_null0', '_null1', '_null2', 'embed']);
    expect(axes['img_encoder.posembed_encoder.pos_embedding']).toEqual(['length', 'embed']);
    expect(axes['txt_encoder.token_embedding.embedding']).toEqual(['classes', 'embed']);
    expect(axes['img_mlp1.kernel']).toEqual(['embed', 'proj']);
    expect(axes['logit_scale']).toEqual([]);
  });
  it("every name has a FLIP axis rule, except perhaps the projection's 'proj' (replicated either way)", () => {
    const ruled = new Set(FLIP_AXIS_RULES.map(([name]) => name));
    const unruled = new Set(Object.values(axes).flat().filter((a) => !ruled.has(a)));
    expect([...unruled].filter((a) => a !== 'proj')).toEqual([]);
  });
});

describe('initializers', () => {
  it('xavier_uniform, variance_scaling(0.5, fan_avg, uniform), normal(0.02): bounds and moments', async () => {
    const specs = {
      xavier: param({ embed: 256, mlp: 512 }, xavierUniform()),
      qkv: param({ embed: 256, heads: 4, kv: 64 }, varianceScaling(0.5, 'fan_avg', 'uniform', { fanIn: 256, fanOut: 256 })),
      normal: param({ classes: 512, embed: 64 }, normalInit(0.02)),
    };
    const p = await jit(() => init(specs, key(3)))();
    const stats = async (t: Parameters<typeof numbers>[0]) => {
      const v = await numbers(t);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
      return { mean, variance, max: v.reduce((m, a) => Math.max(m, Math.abs(a)), 0) };
    };
    const x = await stats(p.xavier), q = await stats(p.qkv), n = await stats(p.normal);
    const xLimit = Math.sqrt(6 / (256 + 512)), qLimit = Math.sqrt(3 * 0.5 / 256);
    expect(x.max).toBeLessThanOrEqual(xLimit);
    expect(x.max).toBeGreaterThan(0.99 * xLimit);
    expect(x.variance / (xLimit ** 2 / 3)).toBeCloseTo(1, 1);
    expect(q.max).toBeLessThanOrEqual(qLimit);
    expect(q.variance / (qLimit ** 2 / 3)).toBeCloseTo(1, 1);
    expect(Math.abs(n.mean)).toBeLessThan(0.002);
    expect(Math.sqrt(n.variance)).toBeCloseTo(0.02, 3);
  });

  it('the 2-D sin-cos table: a zero cls row, then [sin, cos](col·ω) ‖ [sin, cos](row·ω)', () => {
    const d = 8, t = sincos2dTable(d, 3, 4, true);
    expect(Array.from(t.slice(0, d))).toEqual(new Array(d).fill(0));
    // position (i=2, j=1): row 1 + 2·4 + 1; first half encodes the column j = 1, second half the row i = 2.
    const row = Array.from(t.slice((1 + 2 * 4 + 1) * d, (2 + 2 * 4 + 1) * d));
    const w = [1, 1 / 100]; // ω_k = 1/10000^(k/2) for dim/4 = 2 frequencies
    const want = [Math.sin(w[0]!), Math.sin(w[1]!), Math.cos(w[0]!), Math.cos(w[1]!), Math.sin(2 * w[0]!), Math.sin(2 * w[1]!), Math.cos(2 * w[0]!), Math.cos(2 * w[1]!)];
    row.forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 6));
  });
});

describe('dropout and drop-path', () => {
  it('drop elements with probability rate and scale the rest; drop-path drops whole examples; eval is the identity', async () => {
    const sizes = { batch: 64, length: 8, embed: 16 };
    const f = jit((x: T<readonly ['batch', 'length', 'embed']>, k: Key) => ({
      drop: dropout(x, 0.25, { train: true, rng: k }),
      path: dropout(x, 0.5, { train: true, rng: k }, { broadcast: ['length', 'embed'] }),
      evalMode: dropout(x, 0.5, { train: false }),
    }));
    const n = 64 * 8 * 16;
    const out = await f(hostTensor('f32', sizes, new Float32Array(n).fill(1)), hostTensor('u32', { key: 2 }, Uint32Array.of(0, 11)));
    const drop = await numbers(out.drop), pathOut = await numbers(out.path);
    expect(new Set(drop)).toEqual(new Set([0, Math.fround(1 / 0.75)]));
    expect(drop.filter((v) => v === 0).length / n).toBeCloseTo(0.25, 1);
    const perExample = Array.from({ length: 64 }, (_, b) => new Set(pathOut.slice(b * 128, (b + 1) * 128)));
    for (const s of perExample) expect(s.size).toBe(1);
    const kept = perExample.filter((s) => s.has(2)).length;
    expect(kept).toBeGreaterThan(16);
    expect(kept).toBeLessThan(48);
    expect(await numbers(out.evalMode)).toEqual(new Array(n).fill(1));
  });
});

describe('attention with a padding mask', () => {
  it('padded keys do not influence any query', async () => {
    const attn = new MultiHeadDotProductAttention({ size: 8, numHeads: 2 });
    const specs = attn.specs();
    const sizes = { batch: 2, length: 5, embed: 8 };
    const f = jit((p: Params<typeof specs>, x: T<readonly ['batch', 'length', 'embed']>, valid: Tensor<'i32', readonly ['batch', 'length']>) =>
      attn.apply(p, x, { train: false }, valid.ge(1)));
    const params = await jit(() => init(specs, key(1)))();
    const x = Float32Array.from({ length: 2 * 5 * 8 }, (_, i) => Math.sin(i * 0.7));
    const y = Float32Array.from(x);
    for (let e = 0; e < 8; e++) { y[(0 * 5 + 4) * 8 + e] = 9; y[(1 * 5 + 3) * 8 + e] = -9; y[(1 * 5 + 4) * 8 + e] = 5; }
    const valid = hostTensor('i32', { batch: 2, length: 5 }, Int32Array.of(1, 1, 1, 1, 0, 1, 1, 1, 0, 0));
    const [a, b] = await Promise.all([f(params, hostTensor('f32', sizes, x), valid), f(params, hostTensor('f32', sizes, y), valid)]);
    const av = await numbers(a), bv = await numbers(b);
    // Queries at real positions (example 0: 0..3, example 1: 0..2) see the same keys, so they give the same output.
    const real = [[0, 1, 2, 3], [0, 1, 2]];
    real.forEach((ls, bi) => ls.forEach((l) => {
      for (let e = 0; e < 8; e++) expect(bv[(bi * 5 + l) * 8 + e]).toBeCloseTo(av[(bi * 5 + l) * 8 + e]!, 5);
    }));
    // Without the mask the changed tokens are seen.
    const g = jit((p: Params<typeof specs>, xs: T<readonly ['batch', 'length', 'embed']>) => attn.apply(p, xs, { train: false }));
    const [c, d] = await Promise.all([g(params, hostTensor('f32', sizes, x)), g(params, hostTensor('f32', sizes, y))]);
    expect(Math.abs((await numbers(c))[0]! - (await numbers(d))[0]!)).toBeGreaterThan(1e-4);
  });
});

describe('patch embedding', () => {
  it('patchify + Dense is the stride-p VALID convolution with the [p, q, C, D] kernel', async () => {
    const [H, W, C, p, D] = [4, 6, 2, 2, 3];
    const pe = new PatchEmbed([p, p], C, D);
    const img = Float32Array.from({ length: H * W * C }, (_, i) => ((i * 37) % 11) - 5);
    const kernel = Float32Array.from({ length: p * p * C * D }, (_, i) => ((i * 13) % 7) - 3);
    const bias = Float32Array.of(0.5, -1, 2);
    const f = jit((k: T<readonly ['_null0', '_null1', '_null2', 'embed']>, b: T<readonly ['embed']>, x: T<readonly ['batch', 'height', 'width', 'channels']>) =>
      ({ y: pe.apply({ kernel: k, bias: b }, x), patches: patchify(x, [p, p]) }));
    const out = await f(hostTensor('f32', { _null0: p, _null1: p, _null2: C, embed: D }, kernel), hostTensor('f32', { embed: D }, bias),
      hostTensor('f32', { batch: 1, height: H, width: W, channels: C }, img));
    expect(out.y.type.shape).toEqual([1, (H / p) * (W / p), D]);
    expect(out.patches.type.shape).toEqual([1, 6, p * p * C]);
    const y = await numbers(out.y);
    for (let gi = 0; gi < H / p; gi++)
      for (let gj = 0; gj < W / p; gj++)
        for (let d = 0; d < D; d++) {
          let s = bias[d]!;
          for (let a = 0; a < p; a++) for (let b = 0; b < p; b++) for (let c = 0; c < C; c++)
            s += img[((gi * p + a) * W + gj * p + b) * C + c]! * kernel[((a * p + b) * C + c) * D + d]!;
          expect(y[(gi * (W / p) + gj) * D + d]).toBe(s);
        }
  });
});

describe('Encoder remat policies', () => {
  it("'minimal' gives the loss and gradients of 'none'", async () => {
    const make = (remat: 'none' | 'minimal' | 'actcp') =>
      new Encoder({ numLayers: 2, size: 8, mlpDim: 16, numHeads: 2, dropoutRate: 0, attentionDropoutRate: 0, droppathRate: 0, remat });
    const specs = make('none').specs();
    const lossOf = (enc: Encoder) => (p: Params<typeof specs>, x: T<readonly ['batch', 'length', 'embed']>) =>
      enc.apply(p, x, { train: false }).square().mean();
    const f = jit((p: Params<typeof specs>, x: T<readonly ['batch', 'length', 'embed']>) =>
      (['none', 'minimal'] as const).map((r) => valueAndGrad(lossOf(make(r)))(p, x)));
    const params = await jit(() => init(specs, key(2)))();
    const x = hostTensor('f32', { batch: 2, length: 3, embed: 8 }, Float32Array.from({ length: 48 }, (_, i) => Math.cos(i)));
    const [none, minimal] = await f(params, x);
    const values = async (r: typeof none) => [...(await numbers(r[0])), ...(await Promise.all(flatten(r[1]).leaves.map((l) => numbers(l as never)))).flat()];
    const want = await values(none!);
    expect(want.some((v) => Math.abs(v) > 1e-6)).toBe(true);
    (await values(minimal!)).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
  });

  it('tags the block ops for recomputation only when a policy is set', async () => {
    const { traceFunc, spec } = await import('../../dsl/index.ts');
    const tagged = (remat: 'none' | 'minimal' | 'actcp') => {
      const enc = new Encoder({ numLayers: 2, size: 8, mlpDim: 16, numHeads: 2, dropoutRate: 0, attentionDropoutRate: 0, droppathRate: 0, remat });
      const t = traceFunc((p: never, x: never) => enc.apply(p, x, { train: false }), [enc.specs(), spec('f32', { batch: 1, length: 3, embed: 8 })]);
      return new Set(t.func.ops.filter((o) => o.remat).map((o) => `${o.remat!.region}:${o.remat!.policy}`));
    };
    expect(tagged('none').size).toBe(0);
    const regions = [...tagged('minimal')];
    expect(regions).toHaveLength(2); // one region per block
    for (const r of regions) expect(r).toMatch(/:dots_with_no_batch_dims_saveable$/);
    for (const r of tagged('actcp')) expect(r).toMatch(/:nothing_saveable$/);
  });
});


