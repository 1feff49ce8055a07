// models/flip.ts against the Flax reference (test/golden/model): param layout and counts, our init against jax.random,
// forward passes in eval and training mode and the gradients of the training loss (jax.grad), random masking.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import base from '../../configs/flip_base.ts';
import huge from '../../configs/flip_huge14.ts';
import large from '../../configs/flip_large.ts';
import tiny from '../../configs/flip_tiny.ts';
import { override } from '../../configs/official.ts';
import type { FlipModelConfig } from '../../configs/types.ts';
import { concat, flatten, full, takeAlongAxis, type AnyTensor, type Tensor } from '../../dsl/index.ts';
import type { MapLeaves } from '../../compiler/trace/index.ts';
import { child, makeRng, paramCount, type ApplyContext } from '../../dsl/nn/index.ts';
import { valueAndGrad } from '../../dsl/transforms.ts';
import { key, uniform, type Key } from '../../dsl/random.ts';
import {
  Flip, flipSpecs, initParams, randomMask, type FlipBatch, type FlipParams,
} from '../../models/flip.ts';
import { DeviceTensor, hostTensor, jit } from '../../programs/jit.ts';
import { closeness, numbers } from '../nn/host.ts';

interface Fingerprint { sum: number; sumsq: number; head: number[]; last: number }
/** make_golden.py grad_fingerprint: a gradient leaf's sum, Σg², max |g|, Σ sin(i + 1)·g_i, first 4 and last elements. */
interface GradFingerprint extends Fingerprint { absmax: number; probe: number }
interface Case {
  config: RefConfig;
  paths: [string, number[]][];
  init: Record<string, Fingerprint>;
  txt: number[];
  txt_is_valid: number[];
  eval: { loss: number; tau: number; z_img: number[]; z_txt: number[] };
  train: { rng: number[]; loss: number; tau: number; z_img: number[]; z_txt: number[]; mask: number[]; ids_restore: number[] };
  /** jax.value_and_grad of the training-mode loss (the train key: same mask and dropout) w.r.t. every param. */
  grads: { loss: number; leaves: Record<string, GradFingerprint> };
}
interface RefTransformer { num_layers: number; num_heads: number; mlp_dim: number; dropout_rate: number; droppath_rate: number }
interface RefConfig {
  img: { image_size: number; patch_size: number[]; hidden_size: number; mask_ratio: number; transformer: RefTransformer };
  txt: { vocab_size: number; max_len: number; hidden_size: number; mask_padding: boolean; transformer: RefTransformer };
  clr: { proj_dim_out: number; proj_out_bias: boolean; img_avg_token: boolean; txt_avg_token: boolean };
}
interface Golden {
  jax_version: string; batch: number; init_seed: number; image_seed: number;
  param_counts: Record<'flip_base' | 'flip_large' | 'flip_huge14', { total: number; img_encoder: number; txt_encoder: number; heads: number }>;
  cases: Record<'tiny' | 'tiny_mask75_dropout' | 'tiny_textmask', Case>;
  /** The key Flax's make_rng("dropout") returns in a module at each path, from the root key `rng`. */
  streams: { rng: number[]; paths: { path: string[]; key: number[] }[] };
}

const here = path.dirname(fileURLToPath(import.meta.url));
const golden = JSON.parse(readFileSync(path.join(here, '../golden/model/golden.json'), 'utf8')) as Golden;

/** Our model config in the reference's terms (what make_golden.py was given). */
function refConfig(m: FlipModelConfig): RefConfig {
  const t = (x: FlipModelConfig['img']['transformer']): RefTransformer => ({
    num_layers: x.numLayers, num_heads: x.numHeads, mlp_dim: x.mlpDim, dropout_rate: x.dropoutRate, droppath_rate: x.droppathRate,
  });
  return {
    img: { image_size: m.img.imageSize, patch_size: [...m.img.patchSize], hidden_size: m.img.hiddenSize, mask_ratio: m.img.maskRatio, transformer: t(m.img.transformer) },
    txt: { vocab_size: m.txt.vocabSize, max_len: m.txt.maxLen, hidden_size: m.txt.hiddenSize, mask_padding: m.txt.maskPadding, transformer: t(m.txt.transformer) },
    clr: { proj_dim_out: m.clr.projDimOut, proj_out_bias: m.clr.projOutBias, img_avg_token: m.clr.imgAvgToken, txt_avg_token: m.clr.txtAvgToken },
  };
}

const dropoutCfg = { dropoutRate: 0.1, droppathRate: 0.2 };
const MODELS: Record<keyof Golden['cases'], FlipModelConfig> = {
  tiny: tiny.model,
  tiny_mask75_dropout: override(tiny.model, {
    img: { maskRatio: 0.75, transformer: dropoutCfg }, txt: { transformer: dropoutCfg },
  }),
  tiny_textmask: override(tiny.model, { txt: { maskPadding: true }, clr: { txtAvgToken: true } }),
};

/**
 * Parameters of the official architecture by formula (models_flip.py with t5x layers): per encoder block two
 * LayerNorms (2·D each), q/k/v/out kernels and biases (4·(D² + D)), the MLP (2·D·M + M + D); the patch conv
 * (p·q·3·D + D), the sin-cos position parameter ((1 + L)·D), cls (D), the final norm (2·D); text: the token table (V·W),
 * positions (T·W); bias-free projection heads; logit_scale (1).
 */
function formulaCount(m: FlipModelConfig) {
  const block = (d: number, mlp: number) => 2 * 2 * d + 4 * (d * d + d) + 2 * d * mlp + mlp + d;
  const encoder = (d: number, t: FlipModelConfig['img']['transformer']) => t.numLayers * block(d, t.mlpDim) + 2 * d;
  const [p, q] = m.img.patchSize;
  const L = (m.img.imageSize / p) * (m.img.imageSize / q);
  const D = m.img.hiddenSize, W = m.txt.hiddenSize;
  const img = p * q * 3 * D + D + (1 + L) * D + D + encoder(D, m.img.transformer);
  const txt = m.txt.vocabSize * W + m.txt.maxLen * W + encoder(W, m.txt.transformer);
  const heads = (D + W) * m.clr.projDimOut + 1;
  return { total: img + txt + heads, img_encoder: img, txt_encoder: txt, heads };
}

describe('parameter counts of the official configs', () => {
  for (const [name, cfg] of [['flip_base', base], ['flip_large', large], ['flip_huge14', huge]] as const) {
    it(`${name}: formula = Flax reference = our spec tree`, () => {
      const want = golden.param_counts[name];
      expect(formulaCount(cfg.model)).toEqual(want);
      const specs = flipSpecs(cfg.model);
      expect(paramCount(specs)).toBe(want.total);
      expect(paramCount(specs.img_encoder)).toBe(want.img_encoder);
      expect(paramCount(specs.txt_encoder)).toBe(want.txt_encoder);
    });
  }
  it('matches the published sizes: ViT-B/16 86M, ViT-L/16 303M, ViT-H/14 632M image towers', () => {
    expect(golden.param_counts.flip_base.img_encoder / 1e6).toBeCloseTo(85.8, 1);
    expect(golden.param_counts.flip_large.img_encoder / 1e6).toBeCloseTo(303.3, 1);
    expect(golden.param_counts.flip_huge14.img_encoder / 1e6).toBeCloseTo(630.8, 1);
  });
});

// ---- the tiny model on the CPU plugin --------------------------------------------------------------------------------

const B = golden.batch;
const m0 = tiny.model;
const imageSizes = { batch: B, height: m0.img.imageSize, width: m0.img.imageSize, channels: m0.img.channels };

async function batchFor(c: Case, image: DeviceTensor) {
  const ids = { batch: B, length: c.config.txt.max_len };
  return { image, txt: hostTensor('i32', ids, Int32Array.from(c.txt)), txtIsValid: hostTensor('i32', ids, Int32Array.from(c.txt_is_valid)) };
}

type Outputs = { loss: Tensor<'f32', readonly []>; tau: Tensor<'f32', readonly []>; zImg: Tensor; zTxt: Tensor; mask?: Tensor; idsRestore?: Tensor };
function lossWith(model: FlipModelConfig, train: boolean) {
  return (p: FlipParams, batch: FlipBatch, rng: Key): Outputs => {
    const out = new Flip(model).loss(p, batch, train ? { train, rng } : { train });
    return { loss: out.loss, tau: out.tau, zImg: out.zImg, zTxt: out.zTxt, ...(out.masking ? { mask: out.masking.mask, idsRestore: out.masking.idsRestore } : {}) };
  };
}

/** Training mode's outputs and the gradient of its loss w.r.t. the params (trainLossAndGrads's valueAndGrad, one forward). */
function trainWithGrads(model: FlipModelConfig) {
  return (p: FlipParams, batch: FlipBatch, rng: Key) => {
    const [[, out], grads] = valueAndGrad((q: FlipParams) => {
      const o = lossWith(model, true)(q, batch, rng);
      return [o.loss, o] as const;
    }, { hasAux: true })(p);
    return { ...out, grads };
  };
}

/**
 * How far a gradient leaf `v` is from the reference's fingerprint, as failures (empty: within `rel`). Every figure is
 * compared relative to the leaf's own magnitude, not its own value, so a sum that cancels to ~0 is held to the same
 * 1e-4 as the rest: ‖g‖ relative; Σg and Σ sin(i + 1)·g_i against the bounds ‖g‖·√n and ‖g‖·‖w‖ (Cauchy–Schwarz);
 * the first 4 and the last element and max |g| against max |g|.
 */
function gradMismatches(v: readonly number[], want: GradFingerprint, rel: number): string[] {
  const out: string[] = [];
  const norm = Math.sqrt(want.sumsq);
  let sum = 0, sumsq = 0, probe = 0, wsq = 0, absmax = 0;
  v.forEach((x, i) => {
    const w = Math.sin(i + 1);
    sum += x; sumsq += x * x; probe += w * x; wsq += w * w; absmax = Math.max(absmax, Math.abs(x));
  });
  const check = (what: string, got: number, exp: number, scale: number) => {
    if (!(Math.abs(got - exp) <= rel * scale)) out.push(`${what} ${got} vs ${exp} (allowed ±${(rel * scale).toExponential(2)})`);
  };
  check('‖g‖', Math.sqrt(sumsq), norm, norm);
  check('Σg', sum, want.sum, norm * Math.sqrt(v.length));
  check('Σ sin(i+1)·g', probe, want.probe, norm * Math.sqrt(wsq));
  check('max|g|', absmax, want.absmax, want.absmax);
  [...want.head, want.last].forEach((e, k) => check(k < want.head.length ? `g[${k}]` : 'g[last]', k < want.head.length ? v[k]! : v[v.length - 1]!, e, want.absmax));
  return out;
}

type DeviceParams = MapLeaves<FlipParams, AnyTensor, DeviceTensor>;
let params: DeviceParams;
let image: DeviceTensor;

beforeAll(async () => {
  // One init serves every case: dropout, masking and the text options do not change the param tree.
  [params, image] = await Promise.all([
    jit(() => initParams(key(golden.init_seed), m0))(),
    jit(() => uniform(key(golden.image_seed), imageSizes))(),
  ]);
});

describe('flip_tiny against the Flax reference', () => {
  it('configs/flip_tiny.ts is what the golden data was made with', () => {
    for (const [name, m] of Object.entries(MODELS)) expect(refConfig(m), name).toEqual(golden.cases[name as keyof Golden['cases']].config);
  });

  it('the param tree has the official paths (in order) and shapes (official ones reshaped)', () => {
    const flat = flatten(flipSpecs(m0), { isLeaf: (x) => typeof x === 'object' && x !== null && 'init' in x });
    const ours = flat.paths.map((p, i) => [p, [...(flat.leaves[i] as { shape: number[] }).shape]]);
    expect(ours).toEqual(golden.cases.tiny.paths);
  });

  it('initParams(key) draws what jax.random draws for each leaf (official initializers, one split key per leaf)', async () => {
    const flat = flatten(params);
    const paths = golden.cases.tiny.paths.map(([p]) => p);
    expect(flat.paths).toEqual(paths);
    for (const [i, leaf] of flat.leaves.entries()) {
      const want = golden.cases.tiny.init[paths[i]!]!;
      const v = await numbers(leaf as DeviceTensor);
      const sum = v.reduce((a, b) => a + b, 0), sumsq = v.reduce((a, b) => a + b * b, 0);
      const where = paths[i]!;
      expect(closeness([sum, sumsq], [want.sum, want.sumsq], 1e-5, 1e-5), where).toBeLessThanOrEqual(1);
      expect(closeness([...v.slice(0, 4), v[v.length - 1]!], [...want.head, want.last], 1e-7, 1e-6), where).toBeLessThanOrEqual(1);
    }
  });

  for (const name of Object.keys(MODELS) as (keyof Golden['cases'])[]) {
    const c = golden.cases[name];
    const model = MODELS[name];
    it(`${name}: eval mode (no masking), training mode (masking drawn from the key) and the gradients match`, async () => {
      const batch = await batchFor(c, image);
      const rng = hostTensor('u32', { key: 2 }, Uint32Array.from(c.train.rng));
      const [ev, tr] = await Promise.all([jit(lossWith(model, false))(params, batch, rng), jit(trainWithGrads(model))(params, batch, rng)]);
      const tol = (got: number[], want: number[], what: string) => expect(closeness(got, want, 2e-5, 1e-4), `${name} ${what}`).toBeLessThanOrEqual(1);
      tol(await numbers(ev.loss), [c.eval.loss], 'eval loss');
      tol(await numbers(ev.tau), [c.eval.tau], 'eval tau');
      tol(await numbers(ev.zImg), c.eval.z_img, 'eval z_img');
      tol(await numbers(ev.zTxt), c.eval.z_txt, 'eval z_txt');
      expect(ev.mask).toBeUndefined();
      tol(await numbers(tr.loss), [c.train.loss], 'train loss');
      tol(await numbers(tr.zImg), c.train.z_img, 'train z_img');
      tol(await numbers(tr.zTxt), c.train.z_txt, 'train z_txt');
      expect(await numbers(tr.mask!), `${name} mask`).toEqual(c.train.mask);
      expect(await numbers(tr.idsRestore!), `${name} ids_restore`).toEqual(c.train.ids_restore);
      // Training differs from eval: the image tower saw a subset of the patches.
      expect(Math.abs((await numbers(tr.loss))[0]! - c.eval.loss)).toBeGreaterThan(1e-3);
      // d loss / d params against jax.grad of the reference, every leaf within 1e-4 of its magnitude (see gradMismatches).
      tol(await numbers(tr.loss), [c.grads.loss], 'train loss under jax.value_and_grad');
      const g = flatten(tr.grads);
      expect(g.paths).toEqual(Object.keys(c.grads.leaves));
      // Leaves whose gradient is zero: the position table (stop_gradient) exactly, the attention key biases up to
      // rounding (softmax over keys ignores q·b_k, the same for every key). Both sides must be ≤ 1e-7 of the whole
      // gradient there (the reference's are ~1e-10 of it, the smallest other leaf 5e-4); every other leaf within 1e-4.
      const total = Math.sqrt(Object.values(c.grads.leaves).reduce((s, f) => s + f.sumsq, 0));
      const zero = Object.entries(c.grads.leaves).filter(([, f]) => Math.sqrt(f.sumsq) <= 1e-7 * total).map(([p]) => p);
      expect(zero.map((p) => p.replace(/encoderblock_\d+/, 'encoderblock_NN'))).toEqual([
        'img_encoder.posembed_encoder.pos_embedding',
        ...Array<string>(m0.img.transformer.numLayers).fill('img_encoder.Transformer.encoderblock_NN.MultiHeadDotProductAttention_0.key.bias'),
        ...Array<string>(m0.txt.transformer.numLayers).fill('txt_encoder.Transformer.encoderblock_NN.MultiHeadDotProductAttention_0.key.bias'),
      ]);
      const bad: string[] = [];
      for (const [i, leaf] of g.leaves.entries()) {
        const path = g.paths[i]!, v = await numbers(leaf as DeviceTensor), want = c.grads.leaves[path]!;
        const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
        const miss = want.sumsq === 0 ? (norm === 0 ? [] : [`‖g‖ ${norm}, not 0`])
          : zero.includes(path) ? (norm <= 1e-7 * total ? [] : [`‖g‖ ${norm} > 1e-7·‖grad‖`])
          : gradMismatches(v, want, 1e-4);
        if (miss.length) bad.push(`${path}: ${miss.join(', ')}`);
      }
      expect(bad, `${name} gradients`).toEqual([]);
    });
  }
});

describe('random streams', () => {
  it('the key of a module path (child contexts, then makeRng) is the one Flax\'s make_rng("dropout") returns there', async () => {
    const s = golden.streams;
    const f = jit((rng: Key) => s.paths.map(({ path: names }) =>
      makeRng(names.reduce((ctx: ApplyContext, name) => child(ctx, name), { train: true, rng }))));
    const got = await f(hostTensor('u32', { key: 2 }, Uint32Array.from(s.rng)));
    for (const [i, { path: names, key: want }] of s.paths.entries()) expect(await numbers(got[i]!), names.join('/')).toEqual(want);
  });
});

describe('randomMask', () => {
  it('keeps ⌊L·(1 − r)⌋ tokens; the mask marks the removed ones; idsRestore un-shuffles exactly; the key decides the kept set', async () => {
    const [n, L, D] = [3, 10, 2];
    // Token (b, l) carries the value 1000·b + l in every channel, so a kept token tells where it came from.
    const x = new Float32Array(n * L * D).map((_, i) => 1000 * Math.floor(i / (L * D)) + Math.floor(i / D) % L);
    const xs = hostTensor('f32', { batch: n, length: L, embed: D }, x);
    const keyOf = (k: number) => hostTensor('u32', { key: 2 }, Uint32Array.of(0, k));
    for (const ratio of [0, 0.5, 0.75, 0.9]) {
      const keep = Math.trunc(L * (1 - ratio));
      const f = jit((t: Tensor<'f32', readonly ['batch', 'length', 'embed']>, k: Key) => {
        const r = randomMask(t, ratio, k);
        // MAE's un-shuffle: the kept tokens then a filler (-1) for each removed one, gathered back by idsRestore.
        const filled = keep < L ? concat([r.x, full('f32', { batch: n, length: L - keep, embed: D }, -1)], 'length') : r.x;
        return { x: r.x, mask: r.mask, idsRestore: r.idsRestore, restored: takeAlongAxis(filled, r.idsRestore, 'length') };
      });
      const run = async (k: number) => {
        const out = await f(xs, keyOf(k));
        expect(out.x.type.shape, `ratio ${ratio}`).toEqual([n, keep, D]);
        return { kept: await numbers(out.x), mask: await numbers(out.mask), restore: await numbers(out.idsRestore), restored: await numbers(out.restored) };
      };
      const a = await run(42), again = await run(42), other = await run(43);
      const keptSets: string[][] = [[], []];
      for (const [j, o] of [a, other].entries()) {
        for (let b = 0; b < n; b++) {
          const rowRestore = o.restore.slice(b * L, (b + 1) * L);
          const rowMask = o.mask.slice(b * L, (b + 1) * L);
          expect([...rowRestore].sort((u, v) => u - v)).toEqual([...Array(L).keys()]); // a permutation
          expect(rowMask.every((m) => m === 0 || m === 1)).toBe(true);
          expect(rowMask.reduce((s, v) => s + v, 0), `ratio ${ratio}: mask sum`).toBe(L - keep);
          const origins = Array.from({ length: keep }, (_, k) => o.kept[(b * keep + k) * D]! - 1000 * b);
          for (const [k, l] of origins.entries()) {
            expect(rowRestore[l], `token ${l} sits at shuffled position ${k}`).toBe(k);
            expect(rowMask[l]).toBe(0);
          }
          // The round trip: every kept token back in its place, the filler exactly where the mask says removed.
          for (let l = 0; l < L; l++)
            for (let d = 0; d < D; d++)
              expect(o.restored[(b * L + l) * D + d], `ratio ${ratio}: restored (${b}, ${l})`).toBe(rowMask[l] === 1 ? -1 : x[(b * L + l) * D + d]);
          keptSets[j]!.push([...origins].sort((u, v) => u - v).join(','));
        }
      }
      // The same key draws the same tokens; another key another subset (unless the subset is all or, at 0.9, where
      // ⌊10·0.1⌋ = ⌊0.999…⌋ = 0 as Python's int() has it, none of them).
      expect(again).toEqual(a);
      if (keep === 0 || keep === L) expect(keptSets[1]).toEqual(keptSets[0]);
      else expect(keptSets[1]).not.toEqual(keptSets[0]);
      expect(other.restore).not.toEqual(a.restore);
    }
  });
});
