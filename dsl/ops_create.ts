// Tensors from JS values: constant, scalar, zeros, ones, full, iota (and the *Like forms).
import { numElements, showType, type DType } from '../compiler/ir/index.ts';
import type { AxisSizes } from '../compiler/trace/index.ts';
import type { Axes, AxesOf } from './axes.ts';
import { cast, emit, fail, flattenData, splat, userOp, type ConstantData } from './core.ts';
import type { Tensor } from './tensor.ts';

function typeOf(dtype: DType, sizes: AxisSizes) {
  const axes = Object.keys(sizes);
  const shape = axes.map((a) => sizes[a]!);
  for (const d of shape) if (!Number.isInteger(d) || d < 0) fail(`bad size ${d} in {${axes.map((a) => `${a}: ${sizes[a]}`).join(', ')}}`);
  return { dtype, shape, axes };
}

/**
 * `constant([1, 2, 3, 4, 5, 6], 'f32', {batch: 2, embed: 3})`: a tensor from host data, row-major (nested arrays,
 * typed arrays, or one number to fill the shape). Shape rule: the record's axes in its order; the data must have
 * exactly that many elements (or be one number). Integer dtypes take integers only.
 */
export function constant<D extends DType, const S extends AxisSizes = {}>(data: ConstantData, dtype: D, sizes: S = {} as S): Tensor<D, AxesOf<S>> {
  return cast(userOp('constant', () => {
    const t = typeOf(dtype, sizes);
    if (typeof data === 'number' || typeof data === 'bigint' || typeof data === 'boolean') return splat(data, t);
    const { values, count } = flattenData(data, dtype);
    if (count !== numElements(t.shape)) fail(`${count} values for ${showType(t)} (${numElements(t.shape)} elements)`);
    return emit('constant', [], { ...t, value: values });
  }));
}

/** `scalar(0.5)` / `scalar(3, 'i32')`: a rank-0 tensor (default f32). Shape rule: `[]`. */
export function scalar<D extends DType = 'f32'>(value: number | bigint | boolean, dtype?: D): Tensor<D, readonly []> {
  return cast(userOp('scalar', () => splat(value, { dtype: dtype ?? 'f32', shape: [], axes: [] })));
}

/** `full('f32', {batch: 2, length: 4}, -Infinity)`: every element `value`. Shape rule: the record's axes in its order. */
export function full<D extends DType, const S extends AxisSizes>(dtype: D, sizes: S, value: number | bigint | boolean): Tensor<D, AxesOf<S>> {
  return cast(userOp('full', () => splat(value, typeOf(dtype, sizes))));
}

/** `zeros('f32', {batch: 2, embed: 4})`. Shape rule as {@link full}. */
export function zeros<D extends DType, const S extends AxisSizes>(dtype: D, sizes: S): Tensor<D, AxesOf<S>> {
  return cast(userOp('zeros', () => splat(0, typeOf(dtype, sizes))));
}

/** `ones('f32', {embed: 4})`. Shape rule as {@link full}. */
export function ones<D extends DType, const S extends AxisSizes>(dtype: D, sizes: S): Tensor<D, AxesOf<S>> {
  return cast(userOp('ones', () => splat(1, typeOf(dtype, sizes))));
}

/** `fullLike(x, -1)`: x's dtype and axes, every element `value`. */
export function fullLike<D extends DType, A extends Axes>(x: Tensor<D, A>, value: number | bigint | boolean): Tensor<D, A> {
  return cast(userOp('fullLike', () => splat(value, x.type)));
}
/** `zerosLike(x)`. */
export function zerosLike<D extends DType, A extends Axes>(x: Tensor<D, A>): Tensor<D, A> {
  return cast(userOp('zerosLike', () => splat(0, x.type)));
}
/** `onesLike(x)`. */
export function onesLike<D extends DType, A extends Axes>(x: Tensor<D, A>): Tensor<D, A> {
  return cast(userOp('onesLike', () => splat(1, x.type)));
}

/**
 * `iota('i32', {batch: 2, length: 4}, 'length')`: each element is its position along `axis` (0, 1, 2, … repeated
 * over the other axes). Shape rule: the record's axes in its order.
 */
export function iota<D extends DType, const S extends AxisSizes>(dtype: D, sizes: S, axis: keyof S & string): Tensor<D, AxesOf<S>> {
  return cast(userOp('iota', () => {
    const t = typeOf(dtype, sizes);
    const d = t.axes.indexOf(axis);
    if (d < 0) fail(`axis '${axis}' is not one of {${t.axes.join(', ')}}`);
    return emit('iota', [], { ...t, dimension: d });
  }));
}
