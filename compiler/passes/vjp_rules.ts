// The VJP rule of every primitive, in one table keyed by primitive (Autodidax's `transpose_rules` + `jvp_rules` in one step).
// A primitive without an entry is a tsc error; 'nondiff' declares that no cotangent flows to its operands.
import { FlipError, isFloat, type Prim, type PrimAttrs, type TensorType, type Value } from '../ir/index.ts';
import type { OpEmitter } from './emit.ts';

/** What a rule sees of one forward op: its primal operands and results, and the cotangent of each result. */
export interface VjpArgs<P extends Prim> {
  readonly attrs: PrimAttrs[P];
  /** Primal operands (forward values, or their recomputation inside a checkpoint region). */
  readonly ins: readonly Value[];
  /** Primal results. */
  readonly outs: readonly Value[];
  /** Cotangent per result; undefined means zero. A single-result op always has its cotangent. */
  readonly cts: readonly (Value | undefined)[];
  /** Whether operand i needs a cotangent: rules may skip the work for inactive operands (undefined = zero). */
  readonly active: readonly boolean[];
}

/** Returns one cotangent per operand, typed as the operand (undefined = zero or not needed). */
export type VjpRule<P extends Prim> = (e: OpEmitter, a: VjpArgs<P>) => readonly (Value | undefined)[];
export type VjpRules = { readonly [P in Prim]: VjpRule<P> | 'nondiff' };

type Unary = (e: OpEmitter, g: Value, x: Value, y: Value) => Value;
const unary = (rule: Unary) => (e: OpEmitter, a: VjpArgs<Prim>) => [rule(e, a.cts[0]!, a.ins[0]!, a.outs[0]!)];

/** ct for a float operand of a float result whose dtypes may differ (bf16 × bf16 → f32 dots). */
const ctAs = (e: OpEmitter, g: Value, t: TensorType) => e.convert(g, t.dtype);

function remaining(n: number, ...taken: (readonly number[])[]): number[] {
  const used = new Set(taken.flat());
  return [...Array(n).keys()].filter((i) => !used.has(i));
}
function argsort(xs: readonly number[]): number[] {
  return [...xs.keys()].sort((i, j) => xs[i]! - xs[j]!);
}
function rangesLike(...xs: (readonly unknown[])[]): number[][] {
  let start = 0;
  return xs.map((x) => {
    const r = [...Array(x.length).keys()].map((i) => i + start);
    start += x.length;
    return r;
  });
}

type DotDims = Omit<PrimAttrs['dot_general'], 'resultDtype'>;
/** JAX's `_dot_general_transpose_lhs`: the cotangent of the lhs `x` of a dot_general with `y`, given `g`. */
function dotTransposeLhs(e: OpEmitter, g: Value, x: TensorType, y: Value, d: DotDims, swapAns: boolean): Value {
  const xKept = remaining(x.shape.length, d.lhsContract, d.lhsBatch);
  const yKept = remaining(y.type.shape.length, d.rhsContract, d.rhsBatch);
  const [ansBatch, ansY] = swapAns
    ? rangesLike(d.lhsBatch, yKept, xKept)
    : ((r) => [r[0]!, r[2]!])(rangesLike(d.lhsBatch, xKept, yKept));
  const xContractSortedByY = argsort(d.rhsContract).map((i) => d.lhsContract[i]!);
  const outAxes = argsort([...d.lhsBatch, ...xKept, ...xContractSortedByY]);
  const gx = ctAs(e, g, x);
  const prod = e.op('dot_general', [gx, y], { lhsContract: ansY!, rhsContract: yKept, lhsBatch: ansBatch!, rhsBatch: d.rhsBatch });
  return e.transpose(prod, outAxes);
}

/** JAX's `_balanced_eq`: 1 where x won the max/min alone, 1/2 where x and y tie, else 0. */
function balancedEq(e: OpEmitter, x: Value, z: Value, y: Value): Value {
  const one = e.like(z, 1);
  return e.div(e.select(e.cmp(x, z, 'EQ'), one, e.like(z, 0)), e.select(e.cmp(y, z, 'EQ'), e.like(z, 2), one));
}

/** x, except 1 where x is 0 (JAX's `_replace_zero`, keeps log/pow finite where the factor is zero anyway). */
const replaceZero = (e: OpEmitter, x: Value) => e.select(e.cmp(x, e.like(x, 0), 'EQ'), e.like(x, 1), x);

export const VJP_RULES: VjpRules = {
  neg: unary((e, g) => e.neg(g)),
  exp: unary((e, g, _x, y) => e.mul(g, y)),
  expm1: unary((e, g, _x, y) => e.mul(g, e.add(y, e.like(y, 1)))),
  log: unary((e, g, x) => e.div(g, x)),
  log1p: unary((e, g, x) => e.div(g, e.add(x, e.like(x, 1)))),
  sqrt: unary((e, g, _x, y) => e.div(g, e.mul(y, e.like(y, 2)))),
  rsqrt: unary((e, g, x, y) => e.mul(g, e.mul(e.like(y, -0.5), e.div(y, x)))),
  tanh: unary((e, g, _x, y) => e.mul(g, e.sub(e.like(y, 1), e.mul(y, y)))),
  logistic: unary((e, g, _x, y) => e.mul(g, e.mul(y, e.sub(e.like(y, 1), y)))),
  // JAX: derivative 1 at 0.
  abs: unary((e, g, x) => e.select(e.cmp(x, e.like(x, 0), 'GE'), g, e.neg(g))),
  sine: unary((e, g, x) => e.mul(g, e.op('cosine', [x], {}))),
  cosine: unary((e, g, x) => e.neg(e.mul(g, e.op('sine', [x], {})))),
  // Piecewise constant: zero gradient almost everywhere.
  sign: 'nondiff', floor: 'nondiff', ceil: 'nondiff', round_nearest_even: 'nondiff',
  not: 'nondiff',

  add: (_e, { cts: [g] }) => [g, g],
  subtract: (e, { cts: [g], active }) => [g, active[1] ? e.neg(g!) : undefined],
  multiply: (e, { cts: [g], ins: [a, b], active }) => [active[0] ? e.mul(g!, b!) : undefined, active[1] ? e.mul(a!, g!) : undefined],
  divide: (e, { cts: [g], ins: [, b], outs: [y], active }) => [
    active[0] ? e.div(g!, b!) : undefined,
    active[1] ? e.mul(e.neg(g!), e.div(y!, b!)) : undefined,
  ],
  maximum: (e, { cts: [g], ins: [a, b], outs: [y], active }) => [
    active[0] ? e.mul(g!, balancedEq(e, a!, y!, b!)) : undefined,
    active[1] ? e.mul(g!, balancedEq(e, b!, y!, a!)) : undefined,
  ],
  minimum: (e, { cts: [g], ins: [a, b], outs: [y], active }) => [
    active[0] ? e.mul(g!, balancedEq(e, a!, y!, b!)) : undefined,
    active[1] ? e.mul(g!, balancedEq(e, b!, y!, a!)) : undefined,
  ],
  power: (e, { cts: [g], ins: [x, y], outs: [z], active }) => [
    active[0]
      ? e.mul(g!, e.select(e.cmp(y!, e.like(y!, 0), 'EQ'), e.like(y!, 0), e.mul(y!, e.op('power', [x!, e.sub(y!, e.like(y!, 1))], {}))))
      : undefined,
    active[1] ? e.mul(g!, e.mul(e.op('log', [replaceZero(e, x!)], {}), z!)) : undefined,
  ],
  // rem(x, y) = x - y·trunc(x/y).
  remainder: (e, { cts: [g], ins: [x, y], active }) => {
    if (!active[1]) return [g, undefined];
    const q = e.div(x!, y!);
    const trunc = e.mul(e.op('sign', [q], {}), e.op('floor', [e.op('abs', [q], {})], {}));
    return [g, e.mul(e.neg(g!), trunc)];
  },
  atan2: (e, { cts: [g], ins: [x, y], active }) => {
    const r2 = e.add(e.mul(x!, x!), e.mul(y!, y!));
    return [active[0] ? e.mul(g!, e.div(y!, r2)) : undefined, active[1] ? e.mul(g!, e.div(e.neg(x!), r2)) : undefined];
  },
  and: 'nondiff', or: 'nondiff', xor: 'nondiff', shift_left: 'nondiff', shift_right_logical: 'nondiff',
  compare: 'nondiff',

  select: (e, { cts: [g], ins: [p], active }) => {
    const z = e.like(g!, 0);
    return [undefined, active[1] ? e.select(p!, g!, z) : undefined, active[2] ? e.select(p!, z, g!) : undefined];
  },
  convert: (e, { cts: [g], ins: [x] }) => [isFloat(x!.type.dtype) && isFloat(g!.type.dtype) ? e.convert(g!, x!.type.dtype) : undefined],
  bitcast_convert: 'nondiff',
  constant: 'nondiff',
  iota: 'nondiff',

  // Sum over the broadcast dims, and over size-1 operand dims that were stretched, then restore the unit dims.
  broadcast_in_dim: (e, { cts: [g], ins: [x], attrs }) => {
    const xs = x!.type.shape;
    const unit = xs.map((_, i) => i).filter((i) => xs[i] === 1 && attrs.shape[attrs.dims[i]!] !== 1);
    const kept = attrs.dims.filter((_, i) => !unit.includes(i));
    const summed = e.sum(g!, remaining(attrs.shape.length, kept));
    return [unit.length ? e.reshape(summed, x!.type) : summed];
  },
  reshape: (e, { cts: [g], ins: [x] }) => [e.reshape(g!, x!.type)],
  transpose: (e, { cts: [g], attrs }) => [e.transpose(g!, argsort(attrs.permutation))],
  concatenate: (e, { cts: [g], ins, attrs, active }) => {
    let start = 0;
    return ins.map((x, i) => {
      const n = x.type.shape[attrs.dimension]!;
      const lo = start;
      start += n;
      if (!active[i]) return undefined;
      const gs = g!.type.shape;
      return e.slice(g!, gs.map((_, d) => (d === attrs.dimension ? lo : 0)), gs.map((s, d) => (d === attrs.dimension ? lo + n : s)), gs.map(() => 1));
    });
  },
  // Pad the cotangent with zeros back to the operand's shape (strides become interior padding).
  slice: (e, { cts: [g], ins: [x], attrs }) => {
    const xs = x!.type.shape, gs = g!.type.shape;
    const realLimit = gs.map((n, d) => (n === 0 ? attrs.start[d]! : attrs.start[d]! + (n - 1) * attrs.strides[d]! + 1));
    return [e.pad(g!, 0, attrs.start, xs.map((s, d) => s - realLimit[d]!), attrs.strides.map((s, d) => (gs[d] === 0 ? 0 : s - 1)))];
  },
  dynamic_slice: (e, { cts: [g], ins: [x, ...starts] }) => [e.op('dynamic_update_slice', [e.zeros(x!.type), g!, ...starts], {})],
  dynamic_update_slice: (e, { cts: [g], ins: [, u, ...starts], active }) => [
    active[0] ? e.op('dynamic_update_slice', [g!, e.zeros(u!.type), ...starts], {}) : undefined,
    active[1] ? e.op('dynamic_slice', [g!, ...starts], { sizes: u!.type.shape }) : undefined,
  ],
  // Undo negative padding by zero-padding, then strided-slice out the operand; the padding value gets the rest of the sum.
  pad: (e, { cts: [g], attrs, active }) => {
    const restore = e.pad(g!, 0, attrs.low.map((l) => Math.max(0, -l)), attrs.high.map((h) => Math.max(0, -h)), attrs.low.map(() => 0));
    const rs = restore.type.shape;
    const gx = e.slice(restore, attrs.low.map((l) => Math.max(0, l)), rs.map((s, d) => s - Math.max(0, attrs.high[d]!)), attrs.interior.map((i) => i + 1));
    const all = (v: Value) => e.sum(v, v.type.shape.map((_, i) => i));
    return [active[0] ? gx : undefined, active[1] ? e.sub(all(g!), all(gx)) : undefined];
  },
  dot_general: (e, { cts: [g], ins: [x, y], attrs, active }) => {
    const swapped: DotDims = { lhsBatch: attrs.rhsBatch, rhsBatch: attrs.lhsBatch, lhsContract: attrs.rhsContract, rhsContract: attrs.lhsContract };
    return [
      active[0] ? dotTransposeLhs(e, g!, x!.type, y!, attrs, false) : undefined,
      active[1] ? dotTransposeLhs(e, g!, y!.type, x!, swapped, true) : undefined,
    ];
  },
  // sum: broadcast back. max/min: to the elements equal to the result, ties sharing equally (JAX's `_reduce_chooser_jvp_rule`).
  reduce: (e, { cts: [g], ins: [x], outs: [y], attrs }) => {
    if (attrs.kind === 'and' || attrs.kind === 'or') return [undefined];
    const kept = remaining(x!.type.shape.length, attrs.dims);
    const gb = e.broadcast(g!, x!.type, kept);
    if (attrs.kind === 'sum') return [gb];
    const hit = e.convert(e.cmp(x!, e.broadcast(y!, x!.type, kept), 'EQ'), x!.type.dtype);
    const counts = e.broadcast(e.sum(hit, attrs.dims), x!.type, kept);
    return [e.mul(hit, e.div(gb, counts))];
  },
  // Values move with the sort permutation. Sorting again with an iota alongside (stable, same keys) gives the permutation;
  // sorting (permutation, cotangents) by the permutation sends each cotangent back to where its value came from.
  sort: (e, { cts, ins, attrs, active }) => {
    const x0 = ins[0]!;
    const iota = e.op('iota', [], { dtype: 'i32', shape: x0.type.shape, axes: x0.type.axes, dimension: attrs.dimension });
    const perm = e.ops('sort', [...ins, iota], attrs)[ins.length]!;
    const idx = ins.map((_, i) => i).filter((i) => active[i]);
    const gs = idx.map((i) => cts[i] ?? e.zeros(ins[i]!.type));
    const back = e.ops('sort', [perm, ...gs], { dimension: attrs.dimension, descending: false });
    const out: (Value | undefined)[] = ins.map(() => undefined);
    idx.forEach((i, k) => { out[i] = back[k + 1]; });
    return out;
  },
  // The transpose of a gather is a scatter-add into zeros. (Gather clamps out-of-range starts, scatter skips them:
  // the two agree for in-range indices, which is what the DSL produces.)
  gather: (e, { cts: [g], ins: [x, idx], attrs }) => [
    e.op('scatter', [e.zeros(x!.type), idx!, g!], {
      updateWindowDims: attrs.offsetDims, insertedWindowDims: attrs.collapsedSliceDims,
      scatterDimsToOperandDims: attrs.startIndexMap, indexVectorDim: attrs.indexVectorDim, kind: 'add',
    }),
    undefined,
  ],
  // add: the operand's cotangent passes through; each update's is gathered from where it went.
  // replace: overwritten positions get no cotangent (indices assumed unique, as JAX assumes for its transpose).
  scatter: (e, { cts: [g], ins: [x, idx, u], attrs, active }) => {
    const windowSizes = u!.type.shape.filter((_, d) => attrs.updateWindowDims.includes(d));
    let w = 0;
    const sliceSizes = x!.type.shape.map((_, d) => (attrs.insertedWindowDims.includes(d) ? 1 : windowSizes[w++]!));
    const gu = active[2]
      ? e.op('gather', [g!, idx!], {
          offsetDims: attrs.updateWindowDims, collapsedSliceDims: attrs.insertedWindowDims, startIndexMap: attrs.scatterDimsToOperandDims,
          indexVectorDim: attrs.indexVectorDim, sliceSizes, axes: u!.type.axes,
        })
      : undefined;
    const gx = !active[0] ? undefined : attrs.kind === 'add' ? g : e.op('scatter', [g!, idx!, e.zeros(u!.type)], { ...attrs, kind: 'replace' });
    return [gx, undefined, gu];
  },
  // A stop-gradient barrier passes no cotangent; a gradient barrier passes each behind a barrier of its own; a remat
  // barrier is the identity.
  optimization_barrier: (e, { cts, attrs }) => {
    if (attrs.stopGradient) return cts.map(() => undefined);
    if (attrs.gradientBarrier) return cts.map((g) => (g ? e.op('optimization_barrier', [g], {}) : undefined));
    return cts;
  },
  sharding_constraint: (e, { cts: [g], attrs }) => [e.op('sharding_constraint', [g!], attrs)],
  // A scan's backward needs the residuals its forward saved, so vjpFunc builds both (compiler/passes/scan.ts).
  scan: () => {
    throw new FlipError('scan: its VJP is built by vjpFunc (compiler/passes/scan.ts), which also rewrites the forward scan to save residuals');
  },
};

/** The stop-gradient identity: autodiff treats its results as constants. */
export function isStopGradient(prim: Prim, attrs: unknown): boolean {
  return prim === 'optimization_barrier' && (attrs as PrimAttrs['optimization_barrier']).stopGradient === true;
}
