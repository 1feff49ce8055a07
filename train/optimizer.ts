// AdamW written in DSL ops, so that the update runs inside the compiled train step; and its weight-decay mask.
//
// Numerics follow the official FLIP optimizer (utils/adamw.py, optax's chain of scale_by_adam →
// add_decayed_weights(mask) → scale_by_learning_rate): for each parameter p with gradient g, at update t ≥ 1
//   mu ← b1·mu + (1 − b1)·g          nu ← b2·nu + (1 − b2)·g²
//   u  ← (mu / (1 − b1^t)) / (sqrt(nu / (1 − b2^t)) + eps) + wd·mask·p
//   p  ← p − lr·u
// with lr from the schedule at the step before the update (optax's scale_by_schedule counts from 0).
import type { DType } from '../compiler/ir/index.ts';
import { flatten, scalar, sqrt, sum, unflatten, zerosLike, type Axes, type Tensor } from '../dsl/index.ts';
import { optimizationBarrier } from '../dsl/ops_extra.ts';

export interface AdamWConfig {
  b1: number;
  b2: number;
  eps: number;
  weight_decay: number;
}

/** The official FLIP settings (configs/default.py: opt.b1, opt.b2, opt.weight_decay; optax's eps). */
export const FLIP_ADAMW: AdamWConfig = { b1: 0.9, b2: 0.95, eps: 1e-8, weight_decay: 0.2 };

/** First and second moments, one per parameter leaf, in the params' structure. */
export interface AdamWState<P> {
  mu: P;
  nu: P;
}

/**
 * Whether the parameter at `path` (dotted pytree path) gets weight decay: everything except biases, norm
 * scales and position embeddings. That is the mask the official trainer builds with exclude_wd = True
 * (t5x/train_state_initializer.py: filter_bias_and_norm AND filter_posembed), so the cls token IS decayed; a comment
 * in configs/default.py and the unused filter_cls_and_posembed say otherwise, and flip follows the code. Norm
 * parameters are recognised by a leaf named `scale` (flax's LayerNorm) or by a parent whose name says norm, so
 * either naming of a model's norms is covered.
 */
export function decays(path: string): boolean {
  const parts = path.split('.');
  const leaf = parts[parts.length - 1]!;
  if (leaf === 'bias' || leaf === 'scale') return false;
  if (/pos_?embed/i.test(path)) return false;
  const parent = parts[parts.length - 2] ?? '';
  if (/norm|^ln(_|\d|$)/i.test(parent)) return false;
  return true;
}

/** The decay mask of a params tree: dotted path → decays(path). */
export function decayMask(params: unknown): Map<string, boolean> {
  const { paths } = flatten(params);
  return new Map(paths.map((p) => [p, decays(p)]));
}

/** `g`, checked to be shaped and named as its parameter `like` (AdamW combines them by name). */
function conform(g: Tensor<'f32', Axes>, like: Tensor<'f32', Axes>): Tensor<'f32', Axes> {
  if (g.axes.join() !== like.axes.join() || g.shape.join() !== like.shape.join())
    throw new Error(`adamwUpdate: gradient ${String(g)} does not match its parameter ${String(like)}`);
  return g;
}

/** Zero moments for `params` (inside a trace: zeros of each leaf's type). */
export function adamwInit<P>(params: P): AdamWState<P> {
  const { leaves, treedef } = flatten<Tensor<DType, Axes>>(params);
  return { mu: unflatten<P>(treedef, leaves.map((p) => zerosLike(p))), nu: unflatten<P>(treedef, leaves.map((p) => zerosLike(p))) };
}

/**
 * One AdamW update of every leaf. `count` is the update's number t (1 for the first update), `lr` the
 * learning rate for it; both are f32 scalars traced in the step. `decay(path)` picks the leaves that get
 * weight decay (default: {@link decays}).
 */
export function adamwUpdate<P>(
  params: P,
  grads: P,
  state: AdamWState<P>,
  count: Tensor<'f32', readonly []>,
  lr: Tensor<'f32', readonly []>,
  cfg: AdamWConfig,
  decay: (path: string) => boolean = decays,
): { params: P; state: AdamWState<P> } {
  const p = flatten<Tensor<'f32', Axes>>(params);
  const g = flatten<Tensor<'f32', Axes>>(grads).leaves;
  const mu = flatten<Tensor<'f32', Axes>>(state.mu).leaves;
  const nu = flatten<Tensor<'f32', Axes>>(state.nu).leaves;
  if (g.length !== p.leaves.length || mu.length !== p.leaves.length || nu.length !== p.leaves.length) {
    throw new Error(`adamwUpdate: ${p.leaves.length} params, ${g.length} grads, ${mu.length}/${nu.length} moments`);
  }
  // 1 − b^t, computed once per step.
  const c1 = scalar(cfg.b1).pow(count).neg().add(1);
  const c2 = scalar(cfg.b2).pow(count).neg().add(1);
  const outP: Tensor<'f32', Axes>[] = [];
  const outMu: Tensor<'f32', Axes>[] = [];
  const outNu: Tensor<'f32', Axes>[] = [];
  p.leaves.forEach((w, i) => {
    const gi = conform(g[i]!, w);
    const m = mu[i]!.mul(cfg.b1).add(gi.mul(1 - cfg.b1));
    const v = nu[i]!.mul(cfg.b2).add(gi.mul(gi).mul(1 - cfg.b2));
    let u = m.div(c1).div(sqrt(v.div(c2)).add(cfg.eps));
    if (cfg.weight_decay !== 0 && decay(p.paths[i]!)) u = u.add(w.mul(cfg.weight_decay));
    outP.push(w.sub(u.mul(lr)));
    outMu.push(m);
    outNu.push(v);
  });
  return {
    params: unflatten<P>(p.treedef, outP),
    state: { mu: unflatten<P>(p.treedef, outMu), nu: unflatten<P>(p.treedef, outNu) },
  };
}

/**
 * The global L2 norm of a gradient tree (the step's `gradNorm` metric). Each g·g sits behind a barrier: otherwise XLA
 * merges it with AdamW's g² (the official `(1 − b2)·g²`), and that one shared g² per gradient is written to memory
 * for its two readers instead of being fused into each (the norm's reduction, the update): 160 MB more written per
 * flip_small step.
 */
export function gradientNorm<P>(grads: P): Tensor<'f32', readonly []> {
  const sq = flatten<Tensor<'f32'>>(grads).leaves.map((g) => {
    const h = optimizationBarrier(g);
    return sum(h.mul(h));
  });
  return sq.reduce<Tensor<'f32', readonly []>>((a, b) => a.add(b), scalar(0)).sqrt();
}
