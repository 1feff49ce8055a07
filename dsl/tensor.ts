// Tensor: a symbolic value while tracing, whose TS type carries its dtype and axis names (sizes are runtime only).
import { ShapeError, showLoc, showType, type DType, type TensorType, type Value } from '../compiler/ir/index.ts';
import { setBoxing, userLoc } from '../compiler/trace/index.ts';
import type { AlignCheck, Aligned, Axes, AxesOf, DotOut, Merge, Remove, Rename, Replace, TakenAxis } from './axes.ts';
import type { AxisSizes } from '../compiler/trace/index.ts';
import * as ew from './ops_elementwise.ts';
import * as idx from './ops_index.ts';
import * as la from './ops_linalg.ts';
import * as nn from './ops_nn.ts';
import * as red from './ops_reduce.ts';
import * as sh from './ops_shape.ts';

/**
 * A tensor value during tracing: it wraps an IR Value, and every op on it emits IR primitives into the active trace.
 *
 * The TS type carries the dtype `D` and the axis NAMES `A` (`Tensor<'f32', ['batch', 'embed']>`), not the sizes.
 * Why: sizes come from configs at run time (`flip_base` vs `flip_large`, the batch size, the masking ratio), so a
 * literal size in the type would be known only in tests; model code would need a size generic per axis everywhere.
 * Names are what the code is written against (`x.sum('embed')`), and are enough for tsc to catch wrong axis names,
 * unrelated operands and dtype mixes (see dsl/axes.ts). Sizes are checked when tracing, with the user's line.
 *
 * Each method is the free function of the same name (`x.sum('embed')` is `sum(x, 'embed')`); the ops_*.ts files
 * document each one with an example and its shape rule. Methods take `this: Tensor<D, A>` with their own type
 * parameters, so that the class stays covariant in D and A: a `Tensor<'f32', ['batch', 'embed']>` is a
 * `Tensor<'f32'>` and a `Tensor`.
 */
export class Tensor<D extends DType = DType, A extends Axes = Axes> {
  constructor(readonly value: Value) {}

  get type(): TensorType {
    return this.value.type;
  }
  get dtype(): D {
    return this.value.type.dtype as D;
  }
  get axes(): A {
    return this.value.type.axes as unknown as A;
  }
  get shape(): readonly number[] {
    return this.value.type.shape;
  }
  get rank(): number {
    return this.value.type.shape.length;
  }
  /** The size of one axis: `x.size('embed')`. */
  size(axis: A[number]): number {
    const i = this.value.type.axes.indexOf(axis);
    if (i < 0) throw new ShapeError(`${showLoc(userLoc())}: size: ${showType(this.type)} has no axis '${axis}'`);
    return this.value.type.shape[i]!;
  }
  /** Sizes by axis name, in axis order: `{batch: 8, embed: 64}`. */
  get sizes(): Record<A[number], number> {
    return Object.fromEntries(this.value.type.axes.map((a, i) => [a, this.value.type.shape[i]])) as Record<A[number], number>;
  }
  toString(): string {
    return `Tensor(${showType(this.type)})`;
  }

  // ---- elementwise (ops_elementwise.ts) ----
  add<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<D, Aligned<A, B>> { return ew.add(this, y); }
  sub<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<D, Aligned<A, B>> { return ew.sub(this, y); }
  mul<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<D, Aligned<A, B>> { return ew.mul(this, y); }
  div<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<D, Aligned<A, B>> { return ew.div(this, y); }
  pow<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<D, Aligned<A, B>> { return ew.pow(this, y); }
  maximum<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<D, Aligned<A, B>> { return ew.maximum(this, y); }
  minimum<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<D, Aligned<A, B>> { return ew.minimum(this, y); }
  remainder<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<D, Aligned<A, B>> { return ew.remainder(this, y); }
  and<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<D, Aligned<A, B>> { return ew.and(this, y); }
  or<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<D, Aligned<A, B>> { return ew.or(this, y); }
  eq<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<'i1', Aligned<A, B>> { return ew.eq(this, y); }
  ne<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<'i1', Aligned<A, B>> { return ew.ne(this, y); }
  lt<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<'i1', Aligned<A, B>> { return ew.lt(this, y); }
  le<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<'i1', Aligned<A, B>> { return ew.le(this, y); }
  gt<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<'i1', Aligned<A, B>> { return ew.gt(this, y); }
  ge<D extends DType, A extends Axes, B extends Axes = readonly []>(this: Tensor<D, A>, y: (Tensor<NoInfer<D>, B> & AlignCheck<A, B>) | number): Tensor<'i1', Aligned<A, B>> { return ew.ge(this, y); }
  neg<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.neg(this); }
  exp<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.exp(this); }
  expm1<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.expm1(this); }
  log<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.log(this); }
  log1p<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.log1p(this); }
  sqrt<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.sqrt(this); }
  rsqrt<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.rsqrt(this); }
  tanh<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.tanh(this); }
  sigmoid<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.sigmoid(this); }
  abs<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.abs(this); }
  sign<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.sign(this); }
  floor<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.floor(this); }
  ceil<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.ceil(this); }
  round<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.round(this); }
  sin<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.sin(this); }
  cos<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.cos(this); }
  not<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.not(this); }
  square<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.square(this); }
  erf<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return ew.erf(this); }
  clip<D extends DType, A extends Axes>(this: Tensor<D, A>, lo: number, hi: number): Tensor<D, A> { return ew.clip(this, lo, hi); }
  astype<D2 extends DType, A extends Axes>(this: Tensor<DType, A>, dtype: D2): Tensor<D2, A> { return ew.astype(this, dtype); }

  // ---- reductions (ops_reduce.ts) ----
  sum<D extends DType, A extends Axes, R extends A[number] = A[number]>(this: Tensor<D, A>, axes?: R | readonly R[]): Tensor<D, Remove<A, R>> { return red.sum(this, axes); }
  mean<D extends DType, A extends Axes, R extends A[number] = A[number]>(this: Tensor<D, A>, axes?: R | readonly R[]): Tensor<D, Remove<A, R>> { return red.mean(this, axes); }
  max<D extends DType, A extends Axes, R extends A[number] = A[number]>(this: Tensor<D, A>, axes?: R | readonly R[]): Tensor<D, Remove<A, R>> { return red.max(this, axes); }
  min<D extends DType, A extends Axes, R extends A[number] = A[number]>(this: Tensor<D, A>, axes?: R | readonly R[]): Tensor<D, Remove<A, R>> { return red.min(this, axes); }
  all<D extends DType, A extends Axes, R extends A[number] = A[number]>(this: Tensor<D, A>, axes?: R | readonly R[]): Tensor<D, Remove<A, R>> { return red.all(this, axes); }
  any<D extends DType, A extends Axes, R extends A[number] = A[number]>(this: Tensor<D, A>, axes?: R | readonly R[]): Tensor<D, Remove<A, R>> { return red.any(this, axes); }
  logsumexp<D extends DType, A extends Axes, R extends A[number] = A[number]>(this: Tensor<D, A>, axes?: R | readonly R[]): Tensor<D, Remove<A, R>> { return red.logsumexp(this, axes); }
  argmax<A extends Axes, R extends A[number]>(this: Tensor<DType, A>, axis: R): Tensor<'i32', Remove<A, R>> { return red.argmax(this, axis); }
  argmin<A extends Axes, R extends A[number]>(this: Tensor<DType, A>, axis: R): Tensor<'i32', Remove<A, R>> { return red.argmin(this, axis); }

  // ---- shape (ops_shape.ts) ----
  reshape<D extends DType, const S extends AxisSizes>(this: Tensor<D, Axes>, sizes: S): Tensor<D, AxesOf<S>> { return sh.reshape(this, sizes); }
  splitAxis<D extends DType, A extends Axes, F extends A[number], const N extends Axes>(this: Tensor<D, A>, axis: F, names: N, sizes: readonly number[]): Tensor<D, Replace<A, F, N>> { return sh.splitAxis(this, axis, names, sizes); }
  mergeAxes<D extends DType, A extends Axes, const G extends readonly A[number][], N extends string>(this: Tensor<D, A>, group: G, name: N): Tensor<D, Merge<A, G[number], N>> { return sh.mergeAxes(this, group, name); }
  rename<D extends DType, A extends Axes, F extends A[number], N extends string>(this: Tensor<D, A>, from: F, to: N): Tensor<D, Rename<A, F, N>> { return sh.rename(this, from, to); }
  transpose<D extends DType, A extends Axes, const P extends readonly A[number][]>(this: Tensor<D, A>, order: P): Tensor<D, P> { return sh.transpose(this, order); }
  broadcastTo<D extends DType, const S extends AxisSizes>(this: Tensor<D, Axes>, target: S): Tensor<D, AxesOf<S>> { return sh.broadcastTo(this, target); }
  slice<D extends DType, A extends Axes>(this: Tensor<D, A>, axis: A[number], start: number, end?: number, step?: number): Tensor<D, A> { return sh.slice(this, axis, start, end, step); }
  dynamicSlice<D extends DType, A extends Axes>(this: Tensor<D, A>, axis: A[number], start: Tensor<DType, readonly []> | number, size: number): Tensor<D, A> { return sh.dynamicSlice(this, axis, start, size); }
  dynamicUpdateSlice<D extends DType, A extends Axes>(this: Tensor<D, A>, axis: A[number], update: Tensor<D, Axes>, start: Tensor<DType, readonly []> | number): Tensor<D, A> { return sh.dynamicUpdateSlice(this, axis, update, start); }
  pad<D extends DType, A extends Axes>(this: Tensor<D, A>, widths: Partial<Record<A[number], readonly [number, number]>>, value?: number): Tensor<D, A> { return sh.pad(this, widths, value); }

  // ---- contractions, indexing, nn (ops_linalg.ts, ops_index.ts, ops_nn.ts) ----
  dot<D extends DType, A extends Axes, B extends Axes, C extends A[number] & B[number]>(this: Tensor<D, A>, y: Tensor<NoInfer<D>, B>, opts: la.DotOptions<C>): Tensor<D, DotOut<A, B, C>> { return la.dot(this, y, opts); }
  take<D extends DType, A extends Axes, F extends A[number], I extends Axes>(this: Tensor<D, A>, ids: Tensor<DType, I>, axis: F): Tensor<D, Replace<A, F, I>> { return idx.take(this, ids, axis); }
  takeAlongAxis<D extends DType, A extends Axes, F extends A[number], I extends Axes>(this: Tensor<D, A>, ids: Tensor<DType, I>, axis: F): Tensor<D, Rename<A, F, TakenAxis<A, F, I>>> { return idx.takeAlongAxis(this, ids, axis); }
  oneHot<I extends Axes, N extends string, D2 extends DType = 'f32'>(this: Tensor<DType, I>, axis: N, size: number, dtype?: D2): Tensor<D2, readonly [...I, N]> { return idx.oneHot(this, axis, size, dtype); }
  sort<D extends DType, A extends Axes>(this: Tensor<D, A>, axis: A[number], opts?: { descending?: boolean }): Tensor<D, A> { return idx.sort(this, axis, opts); }
  argsort<A extends Axes>(this: Tensor<DType, A>, axis: A[number], opts?: { descending?: boolean }): Tensor<'i32', A> { return idx.argsort(this, axis, opts); }
  softmax<D extends DType, A extends Axes>(this: Tensor<D, A>, axis: A[number]): Tensor<D, A> { return nn.softmax(this, axis); }
  logSoftmax<D extends DType, A extends Axes>(this: Tensor<D, A>, axis: A[number]): Tensor<D, A> { return nn.logSoftmax(this, axis); }
  gelu<D extends DType, A extends Axes>(this: Tensor<D, A>, opts?: { approximate?: boolean }): Tensor<D, A> { return nn.gelu(this, opts); }
  relu<D extends DType, A extends Axes>(this: Tensor<D, A>): Tensor<D, A> { return nn.relu(this); }
}

// Traced functions receive Tensors for their tensor arguments, and may return Tensors.
setBoxing({ box: (v) => new Tensor(v), unbox: (x) => (x instanceof Tensor ? x.value : undefined) });
