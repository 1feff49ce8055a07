// Elementwise ops: arithmetic and math, comparisons, `where`, casts; binary ops align their operands by axis name.
import { isFloat, sameShape, showType, type BinaryPrim, type CompareDirection, type DType, type UnaryPrim } from '../compiler/ir/index.ts';
import type { AlignCheck, Aligned, Aligned3, Axes } from './axes.ts';
import { align, type Operand } from './align.ts';
import { cast, emit, fail, splat, userOp, type AnyTensor } from './core.ts';
import { Tensor } from './tensor.ts';

function binary(name: string, prim: BinaryPrim, a: Operand, b: Operand): AnyTensor {
  return userOp(name, () => {
    const [x, y] = align([a, b]);
    return emit(prim, [x!, y!], {});
  });
}

function unary(name: string, prim: UnaryPrim, x: AnyTensor): AnyTensor {
  return userOp(name, () => emit(prim, [x], {}));
}

function compare(name: string, direction: CompareDirection, a: Operand, b: Operand): AnyTensor {
  return userOp(name, () => {
    const [x, y] = align([a, b]);
    return emit('compare', [x!, y!], { direction });
  });
}

// ---- typed signatures ------------------------------------------------------------------------------------------
// A binary op takes two tensors whose axis sets are subset-related (or a tensor and a JS number); the result has the
// axes of the larger operand, in its order. `B` defaults to `[]` so that a JS number keeps the tensor's axes.

type Bin = <D extends DType, A extends Axes, B extends Axes = readonly []>(
  x: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number) => Tensor<D, Aligned<A, B>>;
type Cmp = <D extends DType, A extends Axes, B extends Axes = readonly []>(
  x: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number) => Tensor<'i1', Aligned<A, B>>;
type Un = <D extends DType, A extends Axes>(x: Tensor<D, A>) => Tensor<D, A>;

const bin = (name: string, prim: BinaryPrim): Bin => (x, y) => cast(binary(name, prim, x, y as Operand));
const cmp = (name: string, dir: CompareDirection): Cmp => (x, y) => cast(compare(name, dir, x, y as Operand));
const un = (name: string, prim: UnaryPrim): Un => (x) => cast(unary(name, prim, x));

/** `add(x, b)`: x + b elementwise. Shape rule: operands align by axis name (see {@link align}); `add(x[batch, embed], bias[embed])` → `[batch, embed]`. */
export const add: Bin = bin('add', 'add');
/** `sub(x, m)`: x − m. Shape rule as {@link add}: `sub(x[batch, vocab], x.max('vocab'))` → `[batch, vocab]`. */
export const sub: Bin = bin('sub', 'subtract');
/** `mul(x, 0.5)`: x · y. Shape rule as {@link add}. */
export const mul: Bin = bin('mul', 'multiply');
/** `div(e, e.sum('vocab'))`: x / y (integer division truncates). Shape rule as {@link add}. */
export const div: Bin = bin('div', 'divide');
/** `pow(x, 3)`: x^y. Shape rule as {@link add}. */
export const pow: Bin = bin('pow', 'power');
/** `maximum(x, 0)`: elementwise max. Shape rule as {@link add}. */
export const maximum: Bin = bin('maximum', 'maximum');
/** `minimum(x, 4)`: elementwise min. Shape rule as {@link add}. */
export const minimum: Bin = bin('minimum', 'minimum');
/** `remainder(i, 7)`: x mod y with the sign of x (C fmod). Shape rule as {@link add}. */
export const remainder: Bin = bin('remainder', 'remainder');
/** `and(m1, m2)`: logical/bitwise and of bool or integer tensors. Shape rule as {@link add}. */
export const and: Bin = bin('and', 'and');
/** `or(m1, m2)`: logical/bitwise or. Shape rule as {@link add}. */
export const or: Bin = bin('or', 'or');

/** `eq(ids, 0)`: x == y as an i1 tensor. Shape rule as {@link add}; the result dtype is i1. */
export const eq: Cmp = cmp('eq', 'EQ');
/** `ne(x, y)`: x != y (i1). */
export const ne: Cmp = cmp('ne', 'NE');
/** `lt(x, y)`: x < y (i1). */
export const lt: Cmp = cmp('lt', 'LT');
/** `le(x, y)`: x <= y (i1). */
export const le: Cmp = cmp('le', 'LE');
/** `gt(x, y)`: x > y (i1). */
export const gt: Cmp = cmp('gt', 'GT');
/** `ge(x, y)`: x >= y (i1). */
export const ge: Cmp = cmp('ge', 'GE');

/** `neg(x)`: −x. Shape rule: same type. */
export const neg: Un = un('neg', 'neg');
/** `exp(x)`: e^x (float). Same type. */
export const exp: Un = un('exp', 'exp');
/** `expm1(x)`: e^x − 1, accurate near 0 (float). Same type. */
export const expm1: Un = un('expm1', 'expm1');
/** `log(x)`: natural log (float). Same type. */
export const log: Un = un('log', 'log');
/** `log1p(x)`: log(1 + x), accurate near 0 (float). Same type. */
export const log1p: Un = un('log1p', 'log1p');
/** `sqrt(x)` (float). Same type. */
export const sqrt: Un = un('sqrt', 'sqrt');
/** `rsqrt(v.add(1e-6))`: 1/√x (float). Same type. */
export const rsqrt: Un = un('rsqrt', 'rsqrt');
/** `tanh(x)` (float). Same type. */
export const tanh: Un = un('tanh', 'tanh');
/** `sigmoid(x)`: 1 / (1 + e^−x) (float, StableHLO `logistic`). Same type. */
export const sigmoid: Un = un('sigmoid', 'logistic');
/** `abs(x)`. Same type. */
export const abs: Un = un('abs', 'abs');
/** `sign(x)`: −1, 0 or 1. Same type. */
export const sign: Un = un('sign', 'sign');
/** `floor(x)` (float). Same type. */
export const floor: Un = un('floor', 'floor');
/** `ceil(x)` (float). Same type. */
export const ceil: Un = un('ceil', 'ceil');
/** `round(x)`: to nearest, ties to even (float). Same type. */
export const round: Un = un('round', 'round_nearest_even');
/** `sin(x)` (float). Same type. */
export const sin: Un = un('sin', 'sine');
/** `cos(x)` (float). Same type. */
export const cos: Un = un('cos', 'cosine');
/** `not(mask)`: logical/bitwise not of a bool or integer tensor. Same type. */
export const not: Un = un('not', 'not');

/** `square(x)`: x · x. Same type. */
export function square<D extends DType, A extends Axes>(x: Tensor<D, A>): Tensor<D, A> {
  return cast(userOp('square', () => emit('multiply', [x, x], {})));
}

/** `clip(x, -4, 4)`: min(max(x, lo), hi). Same type. */
export function clip<D extends DType, A extends Axes>(x: Tensor<D, A>, lo: number, hi: number): Tensor<D, A> {
  return cast(userOp('clip', () => {
    const t = x.type;
    return emit('minimum', [emit('maximum', [x, splat(lo, t)], {}), splat(hi, t)], {});
  }));
}

// XLA's f32 erf (xla/client/lib/math.cc, ErfImpl32; also Eigen's): erf(x) ≈ x·P(x²)/Q(x²) on x clamped to [−4, 4],
// max abs error ≈ 7e-8 against the true erf. StableHLO has no erf op (chlo.erf is what JAX emits, then expands).
const ERF_ALPHA = [-2.72614225801306e-10, 2.77068142495902e-8, -2.10102402082508e-6, -5.69250639462346e-5, -7.34990630326855e-4, -2.95459980854025e-3, -1.60960333262415e-2];
const ERF_BETA = [-1.45660718464996e-5, -2.13374055278905e-4, -1.68282697438203e-3, -7.37332916720468e-3, -1.42647390514189e-2];

function horner(x: AnyTensor, coeffs: readonly number[]): AnyTensor {
  let r = splat(coeffs[0]!, x.type);
  for (const c of coeffs.slice(1)) r = emit('add', [emit('multiply', [r, x], {}), splat(c, x.type)], {});
  return r;
}

/**
 * `erf(x)`: the error function, as XLA computes it for f32 (a rational approximation, max error ≈ 7e-8);
 * bf16/f16 are computed in f32. Same type. `erf(x.mul(Math.SQRT1_2))` is the core of exact gelu.
 */
export function erf<D extends DType, A extends Axes>(x: Tensor<D, A>): Tensor<D, A> {
  return cast(userOp('erf', () => {
    if (!isFloat(x.dtype)) fail(`needs a float operand, got ${showType(x.type)}`);
    const wide = x.dtype === 'bf16' || x.dtype === 'f16';
    const xf: AnyTensor = wide ? emit('convert', [x], { dtype: 'f32' }) : x;
    const t = xf.type;
    const c = emit('minimum', [emit('maximum', [xf, splat(-4, t)], {}), splat(4, t)], {});
    const c2 = emit('multiply', [c, c], {});
    const r = emit('divide', [emit('multiply', [c, horner(c2, ERF_ALPHA)], {}), horner(c2, ERF_BETA)], {});
    return wide ? emit('convert', [r], { dtype: x.dtype }) : r;
  }));
}

/** `astype(ids, 'f32')`: convert elements to another dtype (float→int truncates toward zero). Same axes; no op if the dtype is already `dtype`. */
export function astype<D2 extends DType, A extends Axes>(x: Tensor<DType, A>, dtype: D2): Tensor<D2, A> {
  return cast(userOp('astype', () => (x.dtype === dtype ? x : emit('convert', [x], { dtype }))));
}

/**
 * `where(mask, x, 0)`: pick from `x` where `cond` is true, else from `y`. All three align by axis name as in
 * {@link add} (the operand whose axes contain the others' gives the result's axes); `cond` is i1, x and y share a dtype.
 */
export function where<D extends DType, C extends Axes, A extends Axes = readonly [], B extends Axes = readonly []>(
  cond: Tensor<'i1', C>, x: Tensor<D, A> | number, y: Tensor<NoInfer<D>, B> | number,
): Tensor<D, Aligned3<C, A, B>> {
  return cast(userOp('where', () => {
    if (cond.dtype !== 'i1') fail(`condition must be i1, got ${showType(cond.type)}`);
    if (!(x instanceof Tensor) && !(y instanceof Tensor)) fail('needs a tensor for x or y (for two numbers, use full)');
    const [c, a, b] = align([cond, x, y], [false, true, true]);
    if (!sameShape(c!.shape, a!.shape)) fail(`cannot align ${showType(c!.type)} with ${showType(a!.type)}`);
    return emit('select', [c!, a!, b!], {});
  }));
}
