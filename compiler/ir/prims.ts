// The primitive op set: StableHLO's, one name per op, with the attributes each carries.
// Every pass and the emitter keep a `Record<Prim, Rule>` table, so a new primitive without a rule is a tsc error.
import type { DType } from './dtype.ts';
import type { Func } from './func.ts';

export const UNARY_PRIMS = [
  'neg', 'exp', 'expm1', 'log', 'log1p', 'sqrt', 'rsqrt', 'tanh', 'logistic', 'abs', 'sign',
  'floor', 'ceil', 'round_nearest_even', 'sine', 'cosine', 'not',
] as const;
export type UnaryPrim = (typeof UNARY_PRIMS)[number];

export const BINARY_PRIMS = [
  'add', 'subtract', 'multiply', 'divide', 'maximum', 'minimum', 'power', 'remainder', 'atan2',
  'and', 'or', 'xor', 'shift_left', 'shift_right_logical',
] as const;
export type BinaryPrim = (typeof BINARY_PRIMS)[number];

export type CompareDirection = 'EQ' | 'NE' | 'LT' | 'LE' | 'GT' | 'GE';
export type ReduceKind = 'sum' | 'max' | 'min' | 'and' | 'or';

/** Attributes per primitive. Axis names of a result are given wherever they cannot be derived from operands. */
export interface PrimAttrs {
  // unary elementwise
  neg: {}; exp: {}; expm1: {}; log: {}; log1p: {}; sqrt: {}; rsqrt: {}; tanh: {}; logistic: {}; abs: {}; sign: {};
  floor: {}; ceil: {}; round_nearest_even: {}; sine: {}; cosine: {}; not: {};
  // binary elementwise (operands: same dtype and shape; result axes are the lhs's)
  add: {}; subtract: {}; multiply: {}; divide: {}; maximum: {}; minimum: {}; power: {}; remainder: {}; atan2: {};
  and: {}; or: {}; xor: {}; shift_left: {}; shift_right_logical: {};
  compare: { direction: CompareDirection };
  /** operands: pred (i1, same shape), on_true, on_false. */
  select: {};
  convert: { dtype: DType };
  /** Reinterpret bits as another dtype of the same width (threefry bits → float). */
  bitcast_convert: { dtype: DType };
  /** `value`: one number (splat) or one per element, row-major. */
  constant: { dtype: DType; shape: readonly number[]; axes: readonly string[]; value: number | bigint | readonly number[] | readonly bigint[] };
  iota: { dtype: DType; shape: readonly number[]; axes: readonly string[]; dimension: number };
  /** `dims[i]` is the result dim that operand dim i maps to. */
  broadcast_in_dim: { shape: readonly number[]; axes: readonly string[]; dims: readonly number[] };
  reshape: { shape: readonly number[]; axes: readonly string[] };
  transpose: { permutation: readonly number[] };
  concatenate: { dimension: number };
  slice: { start: readonly number[]; limit: readonly number[]; strides: readonly number[] };
  /** operands: the tensor, then one scalar integer start index per dim. */
  dynamic_slice: { sizes: readonly number[] };
  /** operands: the tensor, the update, then one scalar integer start index per dim. */
  dynamic_update_slice: {};
  /** operands: the tensor, a scalar padding value. */
  pad: { low: readonly number[]; high: readonly number[]; interior: readonly number[] };
  /** result dims: batch dims (lhs order), lhs free dims, rhs free dims. */
  dot_general: {
    lhsBatch: readonly number[]; rhsBatch: readonly number[];
    lhsContract: readonly number[]; rhsContract: readonly number[];
    /** result element type when it differs from the operands' (e.g. bf16 × bf16 → f32). */
    resultDtype?: DType;
  };
  /** Reduce one operand over `dims` with the identity of `kind` as init. */
  reduce: { dims: readonly number[]; kind: ReduceKind };
  /** Stable sort of N same-shaped operands along `dimension`, keyed by operand 0. */
  sort: { dimension: number; descending: boolean };
  /** StableHLO gather, operands: operand, start_indices. */
  gather: {
    offsetDims: readonly number[]; collapsedSliceDims: readonly number[]; startIndexMap: readonly number[];
    indexVectorDim: number; sliceSizes: readonly number[]; axes: readonly string[];
  };
  /** StableHLO scatter with an add (or replace) combiner, operands: operand, scatter_indices, updates. */
  scatter: {
    updateWindowDims: readonly number[]; insertedWindowDims: readonly number[]; scatterDimsToOperandDims: readonly number[];
    indexVectorDim: number; kind: 'add' | 'replace';
  };
  /**
   * Identity on N operands that XLA may not look through: keeps remat'd recomputation from being CSE'd with the forward.
   * `stopGradient`: the DSL's `stopGradient(x)`; autodiff gives it no cotangent, and simplify drops it before lowering.
   * `gradientBarrier`: the DSL's `gradientBarrier(x)`; autodiff puts its cotangents behind a plain barrier (computed
   * once, where they are complete), and simplify drops the forward identity before lowering.
   */
  optimization_barrier: { stopGradient?: boolean; gradientBarrier?: boolean };
  /**
   * A GSPMD sharding constraint (`custom_call @Sharding`); `sharding` is the HloSharding string. `logical` (set by the
   * DSL's `shard(x, axes)`) names x's logical axes; the sharding pass resolves it against a mesh and rules into
   * `sharding`. Until then `sharding` is `{replicated}`, the identity on one device.
   */
  sharding_constraint: { sharding: string; logical?: readonly (string | null)[] };
  /**
   * A loop over a leading axis of `length` (JAX's `lax.scan`; lowered to `stablehlo.while`). Operands: `numCarry` carry
   * inits, `numXs` stacked inputs (leading dim `length`, sliced per iteration), then loop-invariant consts. `body`
   * takes (index: i32 scalar, ...carry, ...x slices, ...consts) and returns (...new carry, ...y slices); the op's
   * results are the final carry, then each y stacked along a new leading axis named `axis`. `reverse`: iterations
   * run from index length − 1 down to 0 (the body still sees the index it works on).
   */
  scan: { body: Func; length: number; numCarry: number; numXs: number; axis: string; reverse?: boolean };
}

export type Prim = keyof PrimAttrs;

/** One entry per primitive: the runtime list that mirrors the `Prim` type (a missing key is a tsc error). */
const PRIM_TABLE: Record<Prim, true> = {
  neg: true, exp: true, expm1: true, log: true, log1p: true, sqrt: true, rsqrt: true, tanh: true, logistic: true, abs: true,
  sign: true, floor: true, ceil: true, round_nearest_even: true, sine: true, cosine: true, not: true,
  add: true, subtract: true, multiply: true, divide: true, maximum: true, minimum: true, power: true, remainder: true,
  atan2: true, and: true, or: true, xor: true, shift_left: true, shift_right_logical: true,
  compare: true, select: true, convert: true, bitcast_convert: true, constant: true, iota: true,
  broadcast_in_dim: true, reshape: true, transpose: true, concatenate: true, slice: true, dynamic_slice: true,
  dynamic_update_slice: true, pad: true, dot_general: true, reduce: true, sort: true, gather: true, scatter: true,
  optimization_barrier: true, sharding_constraint: true, scan: true,
};
export const PRIMS = Object.keys(PRIM_TABLE) as Prim[];

export function isUnary(p: Prim): p is UnaryPrim {
  return (UNARY_PRIMS as readonly string[]).includes(p);
}
export function isBinary(p: Prim): p is BinaryPrim {
  return (BINARY_PRIMS as readonly string[]).includes(p);
}
