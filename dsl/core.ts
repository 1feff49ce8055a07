// The DSL's internal helpers: emitting primitives on Tensors, naming the user's line in errors, axis lookup, JS scalars.
import {
  ShapeError, isBool, isInteger, showLoc, showType,
  type DType, type HostData, type Prim, type PrimAttrs, type ReduceKind, type TensorType,
} from '../compiler/ir/index.ts';
import { atUserLoc, currentBuilder, currentLoc } from '../compiler/trace/index.ts';
import type { Axes } from './axes.ts';
import { Tensor } from './tensor.ts';

/** Any tensor, whatever its dtype and axes. */
export type AnyTensor = Tensor<DType, Axes>;

let currentOp: string | undefined;

/**
 * Run a public DSL op: the user's line is looked up once and pinned for every primitive it emits, and errors
 * name the op the user called (the outermost one: `layerNorm: …`, not the `add` inside it).
 */
export function userOp<T>(name: string, f: () => T): T {
  if (currentOp !== undefined) return f();
  currentOp = name;
  try {
    return atUserLoc(f);
  } finally {
    currentOp = undefined;
  }
}

/** A ShapeError at the user's line: `models/flip.ts:12:7: add: cannot align f32[…] with f32[…]: …`. */
export function fail(msg: string): never {
  throw new ShapeError(`${showLoc(currentLoc())}: ${currentOp ?? 'dsl'}: ${msg}`);
}

/** Narrow a tensor of known dtype/axes from the untyped one an implementation built. */
export function cast<T extends AnyTensor>(t: AnyTensor): T {
  return t as T;
}

function checkUniqueAxes(t: TensorType): void {
  if (new Set(t.axes).size !== t.axes.length) fail(`result ${showType(t)} would repeat an axis name; rename one first`);
}

/** Emit a one-result primitive on tensors and wrap its result. */
export function emit<P extends Prim>(prim: P, operands: readonly AnyTensor[], attrs: PrimAttrs[P]): AnyTensor {
  const v = currentBuilder().emit1(prim, operands.map((t) => t.value), attrs);
  checkUniqueAxes(v.type);
  return new Tensor(v);
}

/** Emit a primitive with several results. */
export function emitN<P extends Prim>(prim: P, operands: readonly AnyTensor[], attrs: PrimAttrs[P]): AnyTensor[] {
  return currentBuilder().emit(prim, operands.map((t) => t.value), attrs).map((v) => new Tensor(v));
}

/** Position of `axis` in `x`, or an error naming x's type. */
export function axisIndex(x: AnyTensor | TensorType, axis: string): number {
  const t = x instanceof Tensor ? x.type : x;
  const i = t.axes.indexOf(axis);
  if (i < 0) fail(`${showType(t)} has no axis '${axis}'`);
  return i;
}

/** Normalise `axis | axis[] | undefined (all)` to a list of positions (no repeats). */
export function axisList(x: AnyTensor, axes: string | readonly string[] | undefined): number[] {
  const names = axes === undefined ? x.type.axes : typeof axes === 'string' ? [axes] : axes;
  const dims = names.map((a) => axisIndex(x, a));
  if (new Set(dims).size !== dims.length) fail(`axes [${names.join(', ')}] repeat an axis`);
  return dims;
}

/** Reduce x over the named axes (all when undefined) with `kind`'s identity as init; no op for an empty list. */
export function reduceAxes(kind: ReduceKind, x: AnyTensor, axes: string | readonly string[] | undefined): AnyTensor {
  const dims = axisList(x, axes);
  if (dims.length === 0) return x;
  return emit('reduce', [x], { dims: [...dims].sort((a, b) => a - b), kind });
}

/** A JS number as an element of `dtype`: integers for integer types, 0/1 for bool. */
export function checkScalar(value: number | bigint | boolean, dtype: DType): number | bigint {
  if (typeof value === 'boolean') {
    if (!isBool(dtype)) fail(`a boolean cannot be a ${dtype} value`);
    return value ? 1 : 0;
  }
  if (typeof value === 'bigint') {
    if (dtype !== 'i64' && dtype !== 'u32' && dtype !== 'i32') fail(`bigint ${value} cannot be a ${dtype} value`);
    return value;
  }
  if (isBool(dtype) && value !== 0 && value !== 1) fail(`${value} is not a bool (0 or 1)`);
  if (isInteger(dtype) && !Number.isInteger(value)) fail(`${value} is not an integer; ${dtype} holds integers only (no implicit conversion)`);
  return value;
}

/** A splat constant of type `t` (one op; XLA folds it). */
export function splat(value: number | bigint | boolean, t: TensorType): AnyTensor {
  return emit('constant', [], { dtype: t.dtype, shape: t.shape, axes: t.axes, value: checkScalar(value, t.dtype) });
}

/** What `constant` takes: a scalar, host data (a typed array or flat values), any array-like of numbers, or JS arrays nested row by row. */
export type ConstantData = number | bigint | boolean | HostData | ArrayLike<number> | BigUint64Array | readonly ConstantData[];

/** Flatten host data row-major, checking nesting against `shape` where arrays nest. */
export function flattenData(data: ConstantData, dtype: DType): { values: readonly number[] | readonly bigint[]; count: number } {
  const out: (number | bigint)[] = [];
  const walk = (d: unknown): void => {
    if (typeof d === 'number' || typeof d === 'bigint' || typeof d === 'boolean') out.push(checkScalar(d, dtype));
    else if (ArrayBuffer.isView(d) && !(d instanceof DataView)) for (const v of d as unknown as Iterable<number | bigint>) out.push(checkScalar(v, dtype));
    else if (Array.isArray(d)) for (const v of d) walk(v);
    else fail(`cannot make a constant from ${typeof d}`);
  };
  walk(data);
  const big = out.some((v) => typeof v === 'bigint');
  const values = big ? out.map((v) => BigInt(v)) : (out as number[]);
  return { values, count: out.length };
}
