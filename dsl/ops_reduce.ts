// Reductions by axis name: sum, mean, max, min, all, any, logsumexp, argmax, argmin.
import { isFloat, numElements, showType, type DType, type ReduceKind } from '../compiler/ir/index.ts';
import type { Axes, Remove } from './axes.ts';
import { axisIndex, axisList, cast, emit, fail, reduceAxes, splat, userOp, type AnyTensor } from './core.ts';
import { expandTo } from './align.ts';
import type { Tensor } from './tensor.ts';

/** Axes to reduce: one name, a list, or none (all axes). */
export type AxisSel<A extends Axes, R extends A[number]> = R | readonly R[] | undefined;

type Red = <D extends DType, A extends Axes, R extends A[number] = A[number]>(x: Tensor<D, A>, axes?: AxisSel<A, R>) => Tensor<D, Remove<A, R>>;
const red = (name: string, kind: ReduceKind, check?: (x: AnyTensor) => void): Red => (x, axes) =>
  cast(userOp(name, () => {
    check?.(x);
    return reduceAxes(kind, x, axes);
  }));

const needBoolOrInt = (x: AnyTensor) => {
  if (isFloat(x.dtype)) fail(`needs a bool or integer tensor, got ${showType(x.type)}`);
};

/** `sum(x, 'embed')`: add over the named axes (all axes when none are given). Shape rule: the named axes disappear; `[batch, embed]` → `[batch]`. */
export const sum: Red = red('sum', 'sum');
/** `max(logits, 'vocab')`: maximum over the named axes. Shape rule as {@link sum}. */
export const max: Red = red('max', 'max');
/** `min(x, ['batch', 'length'])`: minimum over the named axes. Shape rule as {@link sum}. */
export const min: Red = red('min', 'min');
/** `all(mask, 'length')`: logical and over the named axes (bool/int). Shape rule as {@link sum}. */
export const all: Red = red('all', 'and', needBoolOrInt);
/** `any(mask, 'length')`: logical or over the named axes (bool/int). Shape rule as {@link sum}. */
export const any: Red = red('any', 'or', needBoolOrInt);

/** `mean(x, 'embed')`: the average over the named axes (float). Shape rule as {@link sum}. */
export const mean: Red = (x, axes) =>
  cast(userOp('mean', () => {
    if (!isFloat(x.dtype)) fail(`needs a float tensor, got ${showType(x.type)}`);
    const dims = axisList(x, axes);
    const s = reduceAxes('sum', x, axes);
    const n = numElements(dims.map((d) => x.shape[d]!));
    return emit('divide', [s, splat(n, s.type)], {});
  }));

/**
 * `logsumexp(logits, 'vocab')`: log Σ e^x over the named axes, computed as m + log Σ e^(x − m) with m the max
 * (m taken as 0 where it is ±inf, so rows of −inf give −inf rather than NaN). Shape rule as {@link sum}.
 */
export const logsumexp: Red = (x, axes) =>
  cast(userOp('logsumexp', () => {
    if (!isFloat(x.dtype)) fail(`needs a float tensor, got ${showType(x.type)}`);
    const m = reduceAxes('max', x, axes);
    const finite = emit('compare', [emit('abs', [m], {}), splat(Infinity, m.type)], { direction: 'LT' });
    const ms = emit('select', [finite, m, splat(0, m.type)], {});
    const e = emit('exp', [emit('subtract', [x, expandTo(ms, x.type)], {})], {});
    return emit('add', [emit('log', [reduceAxes('sum', e, axes)], {}), ms], {});
  }));

function argReduce(name: string, kind: 'max' | 'min', x: AnyTensor, axis: string): AnyTensor {
  return userOp(name, () => {
    const d = axisIndex(x, axis);
    const m = reduceAxes(kind, x, axis);
    const hit = emit('compare', [x, expandTo(m, x.type)], { direction: 'EQ' });
    const idx = emit('iota', [], { dtype: 'i32', shape: x.shape, axes: x.axes, dimension: d });
    const none = splat(x.shape[d]!, idx.type);
    // The first position that attains the extremum (as jnp.argmax); NaNs never compare equal, so they are skipped.
    return reduceAxes('min', emit('select', [hit, idx, none], {}), axis);
  });
}

/** `argmax(logits, 'vocab')`: i32 position of the first maximum along one axis. Shape rule: the axis disappears; `[batch, vocab]` → i32 `[batch]`. */
export function argmax<A extends Axes, R extends A[number]>(x: Tensor<DType, A>, axis: R): Tensor<'i32', Remove<A, R>> {
  return cast(argReduce('argmax', 'max', x, axis));
}
/** `argmin(dist, 'vocab')`: i32 position of the first minimum along one axis. Shape rule as {@link argmax}. */
export function argmin<A extends Axes, R extends A[number]>(x: Tensor<DType, A>, axis: R): Tensor<'i32', Remove<A, R>> {
  return cast(argReduce('argmin', 'min', x, axis));
}
