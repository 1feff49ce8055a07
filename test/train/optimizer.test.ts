// The official lr schedule at its key steps, the same schedule computed in the compiled step, and AdamW in the
// DSL against a plain-TS AdamW (optax's order of operations) on a small pytree with a weight-decay mask.
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../dsl/index.ts';
import { hostTensor, jit, type HostTensor } from '../../programs/jit.ts';
import { adamwUpdate, decays, FLIP_ADAMW, type AdamWConfig } from '../../train/optimizer.ts';
import { learningRate, learningRateAt, makeSchedule, type ScheduleConfig } from '../../train/schedule.ts';

// The official default.py values: 4e-6 per 256 at batch 65536, 20 warmup of 10000 virtual ImageNet epochs.
const official: ScheduleConfig = {
  learning_rate: 4e-6, batch_size: 65536, warmup_epochs: 20, num_epochs: 10000,
  warmup_abs_lr: 0, min_abs_lr: 0, samples_per_epoch: 1281167,
};

describe('lr schedule', () => {
  it('matches the official formula at its key steps', () => {
    const s = makeSchedule(official);
    expect(s.stepsPerEpoch).toBe(19); // 1281167 // 65536
    expect(s.peakLr).toBeCloseTo(1.024e-3, 15); // 4e-6 × 65536 / 256
    expect(s.warmupSteps).toBe(380);
    expect(s.totalSteps).toBe(190000);
    const lr = (t: number) => learningRate(s, t);
    expect(lr(0)).toBe(0);
    expect(lr(190)).toBeCloseTo(0.512e-3, 15); // half-way through warmup
    expect(lr(379)).toBeCloseTo((379 / 380) * 1.024e-3, 15);
    expect(lr(380)).toBeCloseTo(1.024e-3, 15); // the boundary: cosine at count 0
    expect(lr(380 + 94810)).toBeCloseTo(0.512e-3, 15); // half-way through the cosine
    expect(lr(380 + 189620)).toBeCloseTo(0, 15);
    expect(lr(10 ** 9)).toBeCloseTo(0, 15); // clamped past the end
  });

  it('warms up from warmup_abs_lr and ends at min_abs_lr', () => {
    const s = makeSchedule({ learning_rate: 1e-3, batch_size: 128, warmup_epochs: 1.5, num_epochs: 5, warmup_abs_lr: 1e-5, min_abs_lr: 1e-6, samples_per_epoch: 1280 });
    expect(s).toMatchObject({ stepsPerEpoch: 10, warmupSteps: 15, decaySteps: 35, totalSteps: 50 });
    const peak = 1e-3 * 128 / 256;
    expect(learningRate(s, 0)).toBeCloseTo(1e-5, 15);
    expect(learningRate(s, 5)).toBeCloseTo(1e-5 + (peak - 1e-5) / 3, 15);
    expect(learningRate(s, 15)).toBeCloseTo(peak, 15);
    // optax cosine_decay_schedule: init · ((1 − α) · ½(1 + cos(π t / T)) + α), α = min_abs_lr / peak
    const alpha = 1e-6 / peak;
    expect(learningRate(s, 15 + 7)).toBeCloseTo(peak * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * 7 / 35)) + alpha), 15);
    expect(learningRate(s, 50)).toBeCloseTo(1e-6, 15);
  });

  it('computes the same values inside a compiled function', async () => {
    const s = makeSchedule({ ...official, samples_per_epoch: 6400, batch_size: 256, warmup_epochs: 2, num_epochs: 10, learning_rate: 1e-3, min_abs_lr: 1e-5 });
    const f = jit((t: Tensor<'f32', readonly []>) => learningRateAt(s, t));
    for (const t of [0, 1, 25, 49, 50, 51, 120, 249, 250, 400]) {
      const out = await (await f(hostTensor('f32', {}, new Float32Array([t])))).toHost();
      expect(out[0]).toBeCloseTo(learningRate(s, t), 7);
    }
  });
});

type Leaf = { shape: number[]; data: Float64Array };
type Tree = Record<string, Leaf>;

/** Plain-TS AdamW in f64 with optax's order: adam scaling, then wd·p where masked, then × −lr. */
function referenceAdamW(p: Tree, g: Tree, mu: Tree, nu: Tree, t: number, lr: number, c: AdamWConfig) {
  for (const k of Object.keys(p)) {
    const P = p[k]!.data, G = g[k]!.data, M = mu[k]!.data, V = nu[k]!.data;
    for (let i = 0; i < P.length; i++) {
      M[i] = c.b1 * M[i]! + (1 - c.b1) * G[i]!;
      V[i] = c.b2 * V[i]! + (1 - c.b2) * G[i]! ** 2;
      const mh = M[i]! / (1 - c.b1 ** t);
      const vh = V[i]! / (1 - c.b2 ** t);
      let u = mh / (Math.sqrt(vh) + c.eps);
      if (decays(k)) u += c.weight_decay * P[i]!;
      P[i] = P[i]! - lr * u;
    }
  }
}

let seed = 7;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;

describe('AdamW', () => {
  it('decays weights and the cls token, not biases, norm scales or position embeddings (the official trainer\'s mask)', () => {
    expect(decays('img.block0.mlp.kernel')).toBe(true);
    expect(decays('txt.token_embedding.embedding')).toBe(true);
    expect(decays('logit_scale')).toBe(true); // the official mask keeps tau's parameter decayed
    expect(decays('img.block0.mlp.bias')).toBe(false);
    expect(decays('img.encoder_norm.scale')).toBe(false);
    expect(decays('img.block0.ln1.scale')).toBe(false);
    expect(decays('img.block0.norm1.weight')).toBe(false);
    expect(decays('img.cls')).toBe(true); // filter_bias_and_norm AND filter_posembed: cls is decayed
    expect(decays('img.pos_embedding')).toBe(false);
    expect(decays('txt.posembed_input.pos_embedding')).toBe(false);
  });

  it('matches a plain-TS AdamW over three steps on a small masked pytree', async () => {
    const shapes: Record<string, Record<string, number>> = {
      'dense.kernel': { embed: 3, mlp: 4 },
      'dense.bias': { mlp: 4 },
      'norm.scale': { embed: 3 },
      pos_embedding: { length: 2, embed: 3 },
      cls: { embed: 3 },
      logit_scale: {},
    };
    const ref = (fill: () => number): Tree =>
      Object.fromEntries(Object.entries(shapes).map(([k, s]) => {
        const n = Object.values(s).reduce((a, b) => a * b, 1);
        return [k, { shape: Object.values(s), data: Float64Array.from({ length: n }, fill) }];
      }));
    const toTree = (t: Tree) => {
      const nest: Record<string, unknown> = {};
      for (const [k, leaf] of Object.entries(t)) {
        const parts = k.split('.');
        let o = nest;
        for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
        o[parts.at(-1)!] = hostTensor('f32', shapes[k]!, Float32Array.from(leaf.data));
      }
      return nest;
    };
    const cfg: AdamWConfig = { ...FLIP_ADAMW, weight_decay: 0.2 };
    const p = ref(rand), mu = ref(() => 0), nu = ref(() => 0);
    // Params as f32 to start with, so the reference starts from the same values.
    for (const l of Object.values(p)) l.data = Float64Array.from(Float32Array.from(l.data));
    const step = jit((params: unknown, grads: unknown, state: { mu: unknown; nu: unknown }, count: Tensor<'f32', readonly []>, lr: Tensor<'f32', readonly []>) =>
      adamwUpdate(params, grads, state, count, lr, cfg));
    let dev: { params: unknown; state: { mu: unknown; nu: unknown } } = { params: toTree(p), state: { mu: toTree(mu), nu: toTree(nu) } };
    const lrs = [1e-2, 5e-3, 2e-3];
    for (let t = 1; t <= 3; t++) {
      const g = ref(rand);
      for (const l of Object.values(g)) l.data = Float64Array.from(Float32Array.from(l.data));
      referenceAdamW(p, g, mu, nu, t, Math.fround(lrs[t - 1]!), cfg);
      dev = await step(dev.params as never, toTree(g) as never, dev.state as never,
        hostTensor('f32', {}, new Float32Array([t])) as HostTensor, hostTensor('f32', {}, new Float32Array([lrs[t - 1]!])) as HostTensor) as never;
    }
    const flat = (tree: unknown, prefix = ''): [string, { toHost(): Promise<ArrayLike<number>> }][] =>
      Object.entries(tree as Record<string, unknown>).flatMap(([k, v]) =>
        v && typeof v === 'object' && !('toHost' in v) ? flat(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v as { toHost(): Promise<ArrayLike<number>> }]]);
    for (const [which, want] of [['params', p], ['mu', mu], ['nu', nu]] as const) {
      const tree = which === 'params' ? dev.params : dev.state[which];
      for (const [k, t] of flat(tree)) {
        const got = Array.from(await t.toHost());
        const exp = Array.from(want[k]!.data);
        got.forEach((x, i) => expect(Math.abs(x - exp[i]!)).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(exp[i]!)));
      }
    }
    // The decay mask matters: a decayed and an undecayed leaf with the same gradient history would differ.
    expect(Object.keys(p).filter(decays)).toEqual(['dense.kernel', 'cls', 'logit_scale']);
  });
});
