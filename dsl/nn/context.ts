// How layers get their mode and randomness: an ApplyContext (train flag + key), forked per call site, and dropout.
import { FlipError } from '../../compiler/ir/index.ts';
import type { Axes } from '../axes.ts';
import { cast, emit, fail, splat, userOp } from '../core.ts';
import { bernoulli, foldIn, type Key } from '../random.ts';
import type { Tensor } from '../tensor.ts';

/** `{train, rng}`: what `apply` takes besides params and inputs (Flax's `deterministic` flag and `dropout` rng). */
export interface ApplyContext {
  /** Training mode: dropout and drop-path are applied (and FLIP masks patches). */
  readonly train: boolean;
  /** The key for this call's randomness; required when training with a nonzero rate. */
  readonly rng?: Key;
}

/**
 * The context for sub-call `site` of a layer: same mode, key `foldIn(rng, site)` (each dropout site, block and tower
 * draws from its own stream; Flax derives them from module paths instead, so the bits differ from the official run).
 */
export function fork(ctx: ApplyContext, site: number): ApplyContext {
  return ctx.train && ctx.rng ? { train: true, rng: foldIn(ctx.rng, site) } : { train: ctx.train };
}

/**
 * `dropout(x, 0.1, ctx)`: in training, zero each element with probability `rate` and scale the rest by 1/(1 − rate)
 * (flax.linen.Dropout); identity otherwise or at rate 0. `broadcast` axes share one draw (drop-path: every axis but
 * `batch`, so a whole example's residual branch is dropped). Same type.
 */
export function dropout<A extends Axes>(x: Tensor<'f32', A>, rate: number, ctx: ApplyContext, opts: { broadcast?: readonly string[] } = {}): Tensor<'f32', A> {
  if (!(rate >= 0 && rate <= 1)) throw new FlipError(`dropout: rate must be in [0, 1], got ${rate}`);
  if (!ctx.train || rate === 0) return x;
  return cast(userOp('dropout', () => {
    if (rate === 1) return splat(0, x.type);
    if (!ctx.rng) fail('training with a dropout rate > 0 needs ctx.rng (a key)');
    const broadcast = opts.broadcast ?? [];
    for (const a of broadcast) if (!x.axes.includes(a)) fail(`broadcast axis '${a}' is not an axis of ${String(x)}`);
    const drawn = x.axes.filter((a) => !broadcast.includes(a));
    const sizes = Object.fromEntries(drawn.map((a) => [a, x.size(a)]));
    const keepProb = 1 - rate;
    const keep = bernoulli(ctx.rng!, keepProb, sizes);
    const dims = drawn.map((a) => x.axes.indexOf(a));
    const mask = dims.length === x.rank ? keep : emit('broadcast_in_dim', [keep], { shape: x.shape, axes: x.axes, dims });
    const scaled = emit('divide', [x, splat(keepProb, x.type)], {});
    return emit('select', [mask, scaled, splat(0, x.type)], {});
  }));
}
