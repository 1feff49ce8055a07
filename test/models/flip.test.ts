// models/flip.ts against the Flax reference (test/golden/model): param layout and counts, our init against jax.random,
// forward passes in eval and training mode, random masking, gradients.
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
import { flatten, unflatten, type AnyTensor, type Tensor } from '../../dsl/index.ts';
import type { MapLeaves } from '../../compiler/trace/index.ts';
import { paramCount } from '../../dsl/nn/index.ts';
import { key, uniform, type Key } from '../../dsl/random.ts';
import {
  Flip, flipSpecs, initParams, randomMask, trainLossAndGrads, type FlipBatch, type FlipParams,
} from '../../models/flip.ts';
import { DeviceTensor, hostTensor, jit } from '../../runtime-native/jit.ts';
import { closeness, numbers } from '../nn/host.ts';

interface Fingerprint { sum: number; sumsq: number; head: number[]; last: number }
interface Case {
  config: RefConfig;
  paths: [string, number[]][];
  init: Record<string, Fingerprint>;
  txt: number[];
  txt_is_valid: number[];
  eval: { loss: number; tau: number; z_img: number[]; z_txt: number[] };
  train: { rng: number[]; loss: number; tau: number; z_img: number[]; z_txt: number[]; mask: number[]; ids_restore: number[] };
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
    it(`${name}: eval mode (no masking) and training mode (masking drawn from the key) match`, async () => {
      const batch = await batchFor(c, image);
      const rng = hostTensor('u32', { key: 2 }, Uint32Array.from(c.train.rng));
      const [ev, tr] = await Promise.all([jit(lossWith(model, false))(params, batch, rng), jit(lossWith(model, true))(params, batch, rng)]);
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
    });
  }
});

describe('randomMask', () => {
  it('keeps ⌊L·(1 − r)⌋ tokens; the mask marks the removed ones; idsRestore inverts the shuffle', async () => {
    const [n, L, D] = [3, 10, 2];
    // Token (b, l) carries the value 1000·b + l in every channel, so a kept token tells where it came from.
    const x = new Float32Array(n * L * D).map((_, i) => 1000 * Math.floor(i / (L * D)) + Math.floor(i / D) % L);
    for (const ratio of [0, 0.5, 0.75, 0.9]) {
      const f = jit((xs: Tensor<'f32', readonly ['batch', 'length', 'embed']>, k: Key) => {
        const r = randomMask(xs, ratio, k);
        return { x: r.x, mask: r.mask, idsRestore: r.idsRestore };
      });
      const out = await f(hostTensor('f32', { batch: n, length: L, embed: D }, x), hostTensor('u32', { key: 2 }, Uint32Array.of(0, 42)));
      const keep = Math.trunc(L * (1 - ratio));
      expect(out.x.type.shape).toEqual([n, keep, D]);
      const kept = await numbers(out.x), mask = await numbers(out.mask), restore = await numbers(out.idsRestore);
      for (let b = 0; b < n; b++) {
        const rowRestore = restore.slice(b * L, (b + 1) * L);
        expect([...rowRestore].sort((u, v) => u - v)).toEqual([...Array(L).keys()]); // a permutation
        const origins = Array.from({ length: keep }, (_, k) => kept[(b * keep + k) * D]! - 1000 * b);
        for (const [k, l] of origins.entries()) {
          expect(rowRestore[l], `token ${l} sits at shuffled position ${k}`).toBe(k);
          expect(mask[b * L + l]).toBe(0);
        }
        expect(mask.slice(b * L, (b + 1) * L).reduce((s, v) => s + v, 0)).toBe(L - keep);
      }
    }
  });
});

describe('gradients', () => {
  it('trainLossAndGrads: the loss falls along −grad as its directional derivative predicts', async () => {
    const c = golden.cases.tiny;
    const batch = await batchFor(c, image);
    const rng = hostTensor('u32', { key: 2 }, Uint32Array.of(0, 9));
    // loss(params − ε·g) for ε = 0, ±h: with g the gradient, d/dε loss = −‖g‖².
    const probe = jit((p: FlipParams, b: FlipBatch, r: Key, eps: Tensor<'f32', readonly []>) => {
      const { loss, grads } = trainLossAndGrads(p, b, r, m0);
      const step = (s: number) => {
        const moved = mapParams(p, grads, (x, g) => x.sub(g.mul(eps).mul(s)));
        return new Flip(m0).loss(moved, b, { train: true, rng: r }).loss;
      };
      const norm2 = flatten(grads).leaves.map((g) => (g as Tensor<'f32'>).square().sum()).reduce((a, b2) => a.add(b2));
      return { loss, plus: step(1), minus: step(-1), norm2 };
    });
    const run = async (eps: number) => {
      const out = await probe(params, batch, rng, hostTensor('f32', {}, Float32Array.of(eps)));
      return Promise.all([out.loss, out.plus, out.minus, out.norm2].map(async (t) => (await numbers(t))[0]!));
    };
    const [, , , g2] = await run(0);
    expect(g2!).toBeGreaterThan(1e-6);
    // A step that moves the loss by ~1e-3: small enough to be linear, large enough for f32.
    const h = 1e-3 / g2!;
    const [l0, lp, lm] = await run(h);
    const fd = (lp! - lm!) / (2 * h); // ≈ −‖g‖²
    expect(Math.abs(fd + g2!) / g2!).toBeLessThan(0.02);
    expect(lp!).toBeLessThan(l0!);
  });
});

/** f(param, grad) leafwise over two trees of one structure. */
function mapParams(p: FlipParams, g: FlipParams, f: (x: Tensor<'f32'>, g: Tensor<'f32'>) => Tensor<'f32'>): FlipParams {
  const a = flatten(p), b = flatten(g);
  return unflatten<FlipParams>(a.treedef, a.leaves.map((x, i) => f(x as Tensor<'f32'>, b.leaves[i] as Tensor<'f32'>)));
}
