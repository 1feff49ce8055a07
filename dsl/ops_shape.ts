// Shape ops by axis name: reshape, splitAxis, mergeAxes, rename, transpose, broadcastTo, concat, slice, dynamicSlice, pad.
import { isInteger, numElements, showType, type DType, type TensorType } from '../compiler/ir/index.ts';
import type { AxisSizes } from '../compiler/trace/index.ts';
import type { Axes, AxesOf, Merge, Rename, Replace } from './axes.ts';
import { axisIndex, cast, emit, fail, splat, userOp, type AnyTensor } from './core.ts';
import { expandTo } from './align.ts';
import { Tensor } from './tensor.ts';

function sizesType(dtype: DType, sizes: AxisSizes): TensorType {
  const axes = Object.keys(sizes);
  return { dtype, shape: axes.map((a) => sizes[a]!), axes };
}

/**
 * `reshape(x, {batch: 8, length: 16, embed: 64})`: the same elements (row-major) under new sizes and names, in the
 * record's order. Shape rule: the element counts must agree.
 */
export function reshape<D extends DType, const S extends AxisSizes>(x: Tensor<D, Axes>, sizes: S): Tensor<D, AxesOf<S>> {
  return cast(userOp('reshape', () => {
    const t = sizesType(x.dtype, sizes);
    if (numElements(t.shape) !== numElements(x.shape)) fail(`cannot reshape ${showType(x.type)} to ${showType(t)}: element counts differ`);
    return emit('reshape', [x], { shape: t.shape, axes: t.axes });
  }));
}

/**
 * `splitAxis(x, 'embed', ['heads', 'kv'], [8, -1])`: split one axis into several, in place (one size may be −1:
 * inferred). Shape rule: `[batch, embed=512]` → `[batch, heads=8, kv=64]`; the sizes' product must be the axis size.
 */
export function splitAxis<D extends DType, A extends Axes, F extends A[number], const N extends Axes>(
  x: Tensor<D, A>, axis: F, names: N, sizes: readonly number[],
): Tensor<D, Replace<A, F, N>> {
  return cast(userOp('splitAxis', () => {
    const d = axisIndex(x, axis);
    const n = x.shape[d]!;
    if (names.length !== sizes.length) fail(`${names.length} names [${names.join(', ')}] but ${sizes.length} sizes`);
    const known = sizes.filter((s) => s !== -1);
    if (sizes.length - known.length > 1) fail('at most one size may be -1');
    const prod = numElements(known);
    const full = sizes.map((s) => (s === -1 ? (prod === 0 ? 0 : n / prod) : s));
    if (full.some((s) => !Number.isInteger(s) || s < 0) || numElements(full) !== n)
      fail(`cannot split axis '${axis}' (${n}) of ${showType(x.type)} into [${names.map((a, i) => `${a}=${sizes[i]}`).join(', ')}]`);
    const shape = [...x.shape.slice(0, d), ...full, ...x.shape.slice(d + 1)];
    const axes = [...x.axes.slice(0, d), ...names, ...x.axes.slice(d + 1)];
    return emit('reshape', [x], { shape, axes });
  }));
}

/**
 * `mergeAxes(x, ['heads', 'kv'], 'embed')`: merge axes into one (major to minor in the given order), placed where the
 * first of them is in x; they are moved next to each other first if needed. Shape rule: `[batch, heads=8, kv=64]` →
 * `[batch, embed=512]`.
 */
export function mergeAxes<D extends DType, A extends Axes, const G extends readonly A[number][], N extends string>(
  x: Tensor<D, A>, group: G, name: N,
): Tensor<D, Merge<A, G[number], N>> {
  return cast(userOp('mergeAxes', () => {
    if (group.length === 0) fail('needs at least one axis to merge');
    const dims = group.map((a) => axisIndex(x, a));
    if (new Set(dims).size !== dims.length) fail(`axes [${group.join(', ')}] repeat an axis`);
    const at = Math.min(...dims);
    const rest = x.axes.filter((a) => !group.includes(a));
    const before = rest.filter((a) => x.axes.indexOf(a) < at);
    const after = rest.filter((a) => x.axes.indexOf(a) > at);
    const order = [...before, ...group, ...after];
    let y: AnyTensor = x;
    if (order.some((a, i) => a !== x.axes[i])) y = emit('transpose', [x], { permutation: order.map((a) => x.axes.indexOf(a)) });
    const size = numElements(dims.map((d) => x.shape[d]!));
    const keep = (as: readonly string[]) => as.map((a) => x.shape[x.axes.indexOf(a)]!);
    return emit('reshape', [y], { shape: [...keep(before), size, ...keep(after)], axes: [...before, name, ...after] });
  }));
}

/**
 * `rename(x, 'embed', 'mlp')`: give an axis another name (a no-op reshape in the IR, where names live).
 * Shape rule: `[batch, embed]` → `[batch, mlp]`, sizes unchanged.
 */
export function rename<D extends DType, A extends Axes, F extends A[number], N extends string>(x: Tensor<D, A>, from: F, to: N): Tensor<D, Rename<A, F, N>> {
  return cast(userOp('rename', () => {
    const d = axisIndex(x, from);
    if ((from as string) === to) return x;
    if (x.axes.includes(to)) fail(`cannot rename '${from}' to '${to}': ${showType(x.type)} already has '${to}'`);
    return emit('reshape', [x], { shape: x.shape, axes: x.axes.map((a, i) => (i === d ? to : a)) });
  }));
}

/**
 * `transpose(x, ['embed', 'batch'])`: reorder axes; `order` lists every axis once. Shape rule: `[batch, embed]` →
 * `[embed, batch]`. No op when the order is unchanged.
 */
export function transpose<D extends DType, A extends Axes, const P extends readonly A[number][]>(x: Tensor<D, A>, order: P): Tensor<D, P> {
  return cast(userOp('transpose', () => {
    const perm = order.map((a) => axisIndex(x, a));
    if (new Set(perm).size !== perm.length || perm.length !== x.rank)
      fail(`[${order.join(', ')}] is not an order of all axes of ${showType(x.type)}`);
    return perm.every((p, i) => p === i) ? x : emit('transpose', [x], { permutation: perm });
  }));
}

/**
 * `broadcastTo(bias, {batch: 8, length: 16, embed: 64})` or `broadcastTo(bias, x)`: repeat x along new axes; its own
 * axes must appear in the target with the same sizes. Shape rule: `[embed]` → the target's axes, in its order.
 */
export function broadcastTo<D extends DType, const S extends AxisSizes>(x: Tensor<D, Axes>, target: S): Tensor<D, AxesOf<S>>;
export function broadcastTo<D extends DType, B extends Axes>(x: Tensor<D, Axes>, target: Tensor<DType, B>): Tensor<D, B>;
export function broadcastTo(x: AnyTensor, target: AxisSizes | AnyTensor): AnyTensor {
  return userOp('broadcastTo', () => {
    const t = target instanceof Tensor ? { ...target.type, dtype: x.dtype } : sizesType(x.dtype, target);
    return expandTo(x, t);
  });
}

/**
 * `concat([a, b], 'length')`: join tensors along an axis. All must have the same dtype and axis set (each is
 * transposed to the first's order) and equal sizes except on `axis`. Shape rule: `[batch, length=1] ++ [batch,
 * length=196]` → `[batch, length=197]`.
 */
export function concat<D extends DType, A extends Axes>(xs: readonly [Tensor<D, A>, ...Tensor<NoInfer<D>, Axes>[]], axis: A[number]): Tensor<D, A> {
  return cast(userOp('concat', () => {
    const first = xs[0];
    const d = axisIndex(first, axis);
    const parts = xs.map((x) => {
      if (x.dtype !== first.dtype) fail(`dtypes differ: ${showType(first.type)} vs ${showType(x.type)}`);
      if (x.rank !== first.rank || !first.axes.every((a) => x.axes.includes(a)))
        fail(`axis sets differ: ${showType(first.type)} vs ${showType(x.type)}`);
      const target = { ...first.type, shape: first.shape.map((s, i) => (i === d ? x.shape[x.axes.indexOf(axis)]! : s)) };
      for (const [i, a] of x.axes.entries())
        if (a !== axis && x.shape[i] !== target.shape[first.axes.indexOf(a)])
          fail(`sizes differ off the '${axis}' axis: ${showType(first.type)} vs ${showType(x.type)}`);
      return expandTo(x, target);
    });
    return parts.length === 1 ? parts[0]! : emit('concatenate', parts, { dimension: d });
  }));
}

/**
 * `slice(x, 'length', 0, 1)`: elements start ≤ i < end (step `step`) along one axis; negative positions count from
 * the end, as in Python. Shape rule: that axis becomes ⌈(end − start) / step⌉ long.
 */
export function slice<D extends DType, A extends Axes>(x: Tensor<D, A>, axis: A[number], start: number, end?: number, step = 1): Tensor<D, A> {
  return cast(userOp('slice', () => {
    const d = axisIndex(x, axis);
    const n = x.shape[d]!;
    const norm = (i: number) => (i < 0 ? i + n : i);
    const s = norm(start), e = norm(end ?? n);
    if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e > n || s > e || !Number.isInteger(step) || step < 1)
      fail(`bad range ${start}:${end ?? ''}:${step} on axis '${axis}' of ${showType(x.type)}`);
    return emit('slice', [x], {
      start: x.shape.map((_, i) => (i === d ? s : 0)),
      limit: x.shape.map((sz, i) => (i === d ? e : sz)),
      strides: x.shape.map((_, i) => (i === d ? step : 1)),
    });
  }));
}

function startIndex(start: AnyTensor | number, dtype: DType | undefined): AnyTensor {
  if (start instanceof Tensor) {
    if (start.rank !== 0 || !isInteger(start.dtype)) fail(`a start index must be an integer scalar, got ${showType(start.type)}`);
    return start;
  }
  return splat(start, { dtype: dtype ?? 'i32', shape: [], axes: [] });
}

/**
 * `dynamicSlice(x, 'length', i, 4)`: `size` elements along `axis` from a start computed at run time (an integer scalar
 * tensor or a number; XLA clamps it so the slice stays in bounds). Shape rule: that axis becomes `size` long.
 */
export function dynamicSlice<D extends DType, A extends Axes>(x: Tensor<D, A>, axis: A[number], start: Tensor<DType, readonly []> | number, size: number): Tensor<D, A> {
  return cast(userOp('dynamicSlice', () => {
    const d = axisIndex(x, axis);
    if (!Number.isInteger(size) || size < 0 || size > x.shape[d]!) fail(`size ${size} does not fit axis '${axis}' of ${showType(x.type)}`);
    const s = startIndex(start, undefined);
    const zero = splat(0, s.type);
    return emit('dynamic_slice', [x, ...x.shape.map((_, i) => (i === d ? s : zero))], { sizes: x.shape.map((n, i) => (i === d ? size : n)) });
  }));
}

/**
 * `dynamicUpdateSlice(x, 'length', update, i)`: x with `update` written along `axis` from a run-time start (clamped
 * into bounds). `update` has x's axes (any order) and sizes, except a shorter `axis`. Shape rule: same type as x.
 */
export function dynamicUpdateSlice<D extends DType, A extends Axes>(
  x: Tensor<D, A>, axis: A[number], update: Tensor<D, Axes>, start: Tensor<DType, readonly []> | number,
): Tensor<D, A> {
  return cast(userOp('dynamicUpdateSlice', () => {
    const d = axisIndex(x, axis);
    if (update.dtype !== x.dtype) fail(`dtypes differ: ${showType(x.type)} vs update ${showType(update.type)}`);
    if (update.rank !== x.rank || !x.axes.every((a) => update.axes.includes(a))) fail(`update ${showType(update.type)} must have the axes of ${showType(x.type)}`);
    const u = expandTo(update, { ...x.type, shape: x.shape.map((n, i) => (i === d ? update.shape[update.axes.indexOf(axis)]! : n)) });
    const s = startIndex(start, undefined);
    const zero = splat(0, s.type);
    return emit('dynamic_update_slice', [x, u, ...x.shape.map((_, i) => (i === d ? s : zero))], {});
  }));
}

/**
 * `pad(x, {length: [1, 0]}, 0)`: add `low` elements before and `high` after along the named axes, filled with
 * `value` (default 0). Shape rule: each named axis grows by low + high.
 */
export function pad<D extends DType, A extends Axes>(x: Tensor<D, A>, widths: Partial<Record<A[number], readonly [number, number]>>, value = 0): Tensor<D, A> {
  return cast(userOp('pad', () => {
    const low = x.shape.map(() => 0), high = x.shape.map(() => 0);
    for (const [a, w] of Object.entries(widths) as [string, readonly [number, number]][]) {
      const d = axisIndex(x, a);
      if (!Number.isInteger(w[0]) || !Number.isInteger(w[1])) fail(`pad widths for '${a}' must be integers, got [${w.join(', ')}]`);
      low[d] = w[0];
      high[d] = w[1];
    }
    return emit('pad', [x, splat(value, { dtype: x.dtype, shape: [], axes: [] })], { low, high, interior: x.shape.map(() => 0) });
  }));
}
