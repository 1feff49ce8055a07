// How layers get their mode and randomness: an ApplyContext (train flag, root key, module path), a child context per
// sub-module, the key a module draws from (named by its path, as Flax's make_rng), and dropout.
import { FlipError } from '../../compiler/ir/index.ts';
import type { Axes } from '../axes.ts';
import { cast, emit, fail, splat, userOp } from '../core.ts';
import { bernoulli, foldInPath, type Key } from '../random.ts';
import type { Tensor } from '../tensor.ts';

/** `{train, rng}`: what `apply` takes besides params and inputs (Flax's `deterministic` flag and `dropout` rng). */
export interface ApplyContext {
  /** Training mode: dropout and drop-path are applied (and FLIP masks patches). */
  readonly train: boolean;
  /**
   * The root key of the whole call (Flax's `rngs={'dropout': key}`), the same in every child context; required when
   * training with a nonzero rate. A module's own key is {@link makeRng}: the root key folded with the module's path.
   */
  readonly rng?: Key;
  /** The module path of this call from the root (`['img_encoder', 'Transformer', 'encoderblock_00']`); empty at the root. */
  readonly path?: readonly string[];
  /** Draw with JAX's partitionable threefry (`jax_threefry_partitionable`) instead of the classic bits; default false. */
  readonly partitionable?: boolean;
  /**
   * Where {@link makeRng} takes a module's key from instead of folding `rng` with the path: a scanned encoder
   * (`scanLayers`) derives every layer's keys outside its loop, exactly as the unrolled layers fold them, and looks
   * them up by the loop index. Absent: fold. Passed on to child contexts.
   */
  readonly keyFor?: (path: readonly string[]) => Key;
}

/**
 * The context of sub-module `name` (Flax's child scope): same mode and root key, `name` appended to the path. Every
 * random stream is named by the module path it is drawn in, so reordering calls never changes it; use the sub-module's
 * param name (`MlpBlock_0`, `encoderblock_00`) or, for a site without params, the name the official Flax module has
 * there (`Dropout_0`, `droppath_msa`).
 */
export function child(ctx: ApplyContext, name: string): ApplyContext {
  if (name === '') throw new FlipError('child(ctx, name): a module name is a nonempty string');
  const path = [...(ctx.path ?? []), name];
  return {
    train: ctx.train, path, ...(ctx.rng ? { rng: ctx.rng } : {}), ...(ctx.partitionable ? { partitionable: true } : {}),
    ...(ctx.keyFor ? { keyFor: ctx.keyFor } : {}),
  };
}

/**
 * The key the module at `ctx.path` draws from: `foldInPath(rng, [...path, 1])`, bit for bit the key Flax's
 * `self.make_rng('dropout')` returns in the module of that path on its first call (Flax folds in the path and the
 * module's draw counter, 1 for the first draw). flip draws at most once per module path, so the counter is always 1.
 */
export function makeRng(ctx: ApplyContext): Key {
  if (!ctx.rng) throw new FlipError(`makeRng: the module at '${(ctx.path ?? []).join('/')}' draws randomness, so ctx.rng (a key) is needed`);
  if (ctx.keyFor) return ctx.keyFor(ctx.path ?? []);
  return foldInPath(ctx.rng, [...(ctx.path ?? []), 1]);
}

/**
 * `dropout(x, 0.1, child(ctx, 'Dropout_0'))`: in training, zero each element with probability `rate` and scale the rest
 * by 1/(1 − rate) (flax.linen.Dropout); identity otherwise or at rate 0. `ctx` is the dropout site's own context (in
 * Flax a Dropout is a module with a name): the draw uses {@link makeRng}(ctx), so give each site its own child name.
 * `broadcast` axes share one draw (drop-path: every axis but `batch`, so a whole example's residual branch is dropped).
 * Same type.
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
    const keep = bernoulli(makeRng(ctx), keepProb, sizes, { partitionable: ctx.partitionable ?? false });
    const dims = drawn.map((a) => x.axes.indexOf(a));
    const mask = dims.length === x.rank ? keep : emit('broadcast_in_dim', [keep], { shape: x.shape, axes: x.axes, dims });
    const scaled = emit('divide', [x, splat(keepProb, x.type)], {});
    return emit('select', [mask, scaled, splat(0, x.type)], {});
  }));
}
