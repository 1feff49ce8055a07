// One lowering rule per primitive (IR op → StableHLO text), spelled as JAX prints each op (shared/stablehlo-examples).
import { DTYPE_INFO, isFloat, type DType } from '../ir/dtype.ts';
import type { Op } from '../ir/func.ts';
import type { BinaryPrim, ReduceKind, UnaryPrim } from '../ir/prims.ts';
import type { LowerCtx, LowerRule, LowerRules } from './emit.ts';
import { comparisonType, denseLiteral, mlirString } from './text.ts';

const list = (xs: readonly number[]) => `[${xs.join(', ')}]`;
const scalar = (dtype: DType) => ({ dtype, shape: [], axes: [] });
const operandTypes = (op: Op, ctx: LowerCtx) => op.operands.map((x) => ctx.t(x)).join(', ');
/** `(operand types) -> result type`: the functional type most ops print after the colon. */
const fnType = (op: Op, ctx: LowerCtx) => {
  const results = op.results.map((r) => ctx.t(r));
  return `(${operandTypes(op, ctx)}) -> ${results.length === 1 ? results[0] : `(${results.join(', ')})`}`;
};
const names = (op: Op, ctx: LowerCtx) => op.operands.map((x) => ctx.v(x)).join(', ');

/** Elementwise ops print one type: `%1 = stablehlo.tanh %0 : tensor<4xf32>`. */
function elementwise(name: string): LowerRule<UnaryPrim | BinaryPrim> {
  return (op, ctx) => ctx.stmt(`${ctx.bind(op)} = ${name} ${names(op, ctx)} : ${ctx.t(op.results[0]!)}`);
}

/** The identity each reduction starts from: 0, ∓inf (or the integer type's min/max), all-ones or false. */
export function reduceInit(kind: ReduceKind, dtype: DType): number | bigint {
  const [intMin, intMax] = DTYPE_INFO[dtype].range ?? [];
  switch (kind) {
    case 'sum': case 'or': return 0;
    case 'max': return isFloat(dtype) ? -Infinity : intMin!;
    case 'min': return isFloat(dtype) ? Infinity : intMax!;
    case 'and': return dtype === 'u32' || dtype === 'u8' || dtype === 'i1' ? intMax! : -1;
  }
}
const REDUCE_BODY: Record<ReduceKind, string> = { sum: 'stablehlo.add', max: 'stablehlo.maximum', min: 'stablehlo.minimum', and: 'stablehlo.and', or: 'stablehlo.or' };

/**
 * For float keys JAX's sort comparator first maps -0.0 to 0.0 and every NaN to one NaN, then compares with TOTALORDER:
 * a strict weak order even with NaNs, and -0.0/0.0 tie (so a stable sort keeps their order). Returns the canonical key.
 */
function canonicalFloatKey(ctx: LowerCtx, x: string, dtype: DType): string {
  const s = ctx.t(scalar(dtype));
  const zero = ctx.constant(dtype, 0);
  const isZero = ctx.fresh();
  ctx.line(`${isZero} = stablehlo.compare EQ, ${x}, ${zero}, FLOAT : (${s}, ${s}) -> tensor<i1>`);
  const noNegZero = ctx.fresh();
  ctx.line(`${noNegZero} = stablehlo.select ${isZero}, ${zero}, ${x} : tensor<i1>, ${s}`);
  const isNan = ctx.fresh();
  ctx.line(`${isNan} = stablehlo.compare NE, ${x}, ${x}, FLOAT : (${s}, ${s}) -> tensor<i1>`);
  const nan = ctx.constant(dtype, NaN);
  const key = ctx.fresh();
  ctx.line(`${key} = stablehlo.select ${isNan}, ${nan}, ${noNegZero} : tensor<i1>, ${s}`);
  return key;
}

export const LOWERING: LowerRules = {
  neg: elementwise('stablehlo.negate'),
  exp: elementwise('stablehlo.exponential'),
  expm1: elementwise('stablehlo.exponential_minus_one'),
  log: elementwise('stablehlo.log'),
  log1p: elementwise('stablehlo.log_plus_one'),
  sqrt: elementwise('stablehlo.sqrt'),
  rsqrt: elementwise('stablehlo.rsqrt'),
  tanh: elementwise('stablehlo.tanh'),
  logistic: elementwise('stablehlo.logistic'),
  abs: elementwise('stablehlo.abs'),
  sign: elementwise('stablehlo.sign'),
  floor: elementwise('stablehlo.floor'),
  ceil: elementwise('stablehlo.ceil'),
  round_nearest_even: elementwise('stablehlo.round_nearest_even'),
  sine: elementwise('stablehlo.sine'),
  cosine: elementwise('stablehlo.cosine'),
  not: elementwise('stablehlo.not'),

  add: elementwise('stablehlo.add'),
  subtract: elementwise('stablehlo.subtract'),
  multiply: elementwise('stablehlo.multiply'),
  divide: elementwise('stablehlo.divide'),
  maximum: elementwise('stablehlo.maximum'),
  minimum: elementwise('stablehlo.minimum'),
  power: elementwise('stablehlo.power'),
  remainder: elementwise('stablehlo.remainder'),
  atan2: elementwise('stablehlo.atan2'),
  and: elementwise('stablehlo.and'),
  or: elementwise('stablehlo.or'),
  xor: elementwise('stablehlo.xor'),
  shift_left: elementwise('stablehlo.shift_left'),
  shift_right_logical: elementwise('stablehlo.shift_right_logical'),

  compare: (op, ctx) => {
    const [a, b] = op.operands as [NonNullable<Op['operands'][0]>, NonNullable<Op['operands'][0]>];
    ctx.stmt(`${ctx.bind(op)} = stablehlo.compare ${op.attrs.direction}, ${ctx.v(a)}, ${ctx.v(b)}, ${comparisonType(a.type.dtype)} : ${fnType(op, ctx)}`);
  },
  select: (op, ctx) => {
    const [p, t] = op.operands;
    ctx.stmt(`${ctx.bind(op)} = stablehlo.select ${names(op, ctx)} : ${ctx.t(p!)}, ${ctx.t(t!)}`);
  },
  convert: (op, ctx) => ctx.stmt(`${ctx.bind(op)} = stablehlo.convert ${names(op, ctx)} : ${fnType(op, ctx)}`),
  bitcast_convert: (op, ctx) => ctx.stmt(`${ctx.bind(op)} = stablehlo.bitcast_convert ${names(op, ctx)} : ${fnType(op, ctx)}`),
  constant: (op, ctx) => {
    const { dtype, shape, value } = op.attrs;
    ctx.stmt(`${ctx.bind(op, isFloat(dtype) ? 'cst' : 'c')} = stablehlo.constant ${denseLiteral(value, dtype, shape)} : ${ctx.t(op.results[0]!)}`);
  },
  iota: (op, ctx) => ctx.stmt(`${ctx.bind(op)} = stablehlo.iota dim = ${op.attrs.dimension} : ${ctx.t(op.results[0]!)}`),

  broadcast_in_dim: (op, ctx) =>
    ctx.stmt(`${ctx.bind(op)} = stablehlo.broadcast_in_dim ${names(op, ctx)}, dims = ${list(op.attrs.dims)} : ${fnType(op, ctx)}`),
  reshape: (op, ctx) => ctx.stmt(`${ctx.bind(op)} = stablehlo.reshape ${names(op, ctx)} : ${fnType(op, ctx)}`),
  transpose: (op, ctx) =>
    ctx.stmt(`${ctx.bind(op)} = stablehlo.transpose ${names(op, ctx)}, dims = ${list(op.attrs.permutation)} : ${fnType(op, ctx)}`),
  concatenate: (op, ctx) =>
    ctx.stmt(`${ctx.bind(op)} = stablehlo.concatenate ${names(op, ctx)}, dim = ${op.attrs.dimension} : ${fnType(op, ctx)}`),
  slice: (op, ctx) => {
    const { start, limit, strides } = op.attrs;
    const ranges = start.map((s, i) => `${s}:${limit[i]}${strides[i] === 1 ? '' : `:${strides[i]}`}`);
    ctx.stmt(`${ctx.bind(op)} = stablehlo.slice ${names(op, ctx)} [${ranges.join(', ')}] : ${fnType(op, ctx)}`);
  },
  dynamic_slice: (op, ctx) =>
    ctx.stmt(`${ctx.bind(op)} = stablehlo.dynamic_slice ${names(op, ctx)}, sizes = ${list(op.attrs.sizes)} : ${fnType(op, ctx)}`),
  dynamic_update_slice: (op, ctx) => ctx.stmt(`${ctx.bind(op)} = stablehlo.dynamic_update_slice ${names(op, ctx)} : ${fnType(op, ctx)}`),
  pad: (op, ctx) => {
    const { low, high, interior } = op.attrs;
    ctx.stmt(`${ctx.bind(op)} = stablehlo.pad ${names(op, ctx)}, low = ${list(low)}, high = ${list(high)}, interior = ${list(interior)} : ${fnType(op, ctx)}`);
  },
  dot_general: (op, ctx) => {
    const a = op.attrs;
    const batching = a.lhsBatch.length ? `batching_dims = ${list(a.lhsBatch)} x ${list(a.rhsBatch)}, ` : '';
    // resultDtype needs no attribute: the result type (e.g. bf16 x bf16 -> f32) is the preferred element type.
    ctx.stmt(`${ctx.bind(op)} = stablehlo.dot_general ${names(op, ctx)}, ${batching}contracting_dims = ${list(a.lhsContract)} x ${list(a.rhsContract)}, precision = [DEFAULT, DEFAULT] : ${fnType(op, ctx)}`);
  },
  reduce: (op, ctx) => {
    const x = op.operands[0]!;
    const init = ctx.constant(x.type.dtype, reduceInit(op.attrs.kind, x.type.dtype));
    ctx.stmt(`${ctx.bind(op)} = stablehlo.reduce(${ctx.v(x)} init: ${init}) applies ${REDUCE_BODY[op.attrs.kind]} across dimensions = ${list(op.attrs.dims)} : (${ctx.t(x)}, ${ctx.t(scalar(x.type.dtype))}) -> ${ctx.t(op.results[0]!)}`);
  },
  sort: (op, ctx) => {
    const lhs = ctx.bind(op);
    ctx.line(`${lhs} = "stablehlo.sort"(${names(op, ctx)}) <{dimension = ${op.attrs.dimension} : i64, is_stable = true}> ({`);
    // Block arguments come in pairs (lhs_i, rhs_i) per operand; only operand 0 is the key.
    const args = ctx.blockArgs(2 * op.operands.length);
    const types = op.operands.flatMap((x) => [ctx.t(scalar(x.type.dtype)), ctx.t(scalar(x.type.dtype))]);
    ctx.line(`^bb0(${args.map((a, i) => `${a}: ${types[i]}`).join(', ')}):`);
    ctx.nested(() => {
      const dtype = op.operands[0]!.type.dtype;
      const direction = op.attrs.descending ? 'GT' : 'LT';
      const s = ctx.t(scalar(dtype));
      let less: string;
      if (isFloat(dtype)) {
        const l = canonicalFloatKey(ctx, args[0]!, dtype);
        const r = canonicalFloatKey(ctx, args[1]!, dtype);
        less = ctx.fresh();
        ctx.line(`${less} = stablehlo.compare ${direction}, ${l}, ${r}, TOTALORDER : (${s}, ${s}) -> tensor<i1>`);
      } else {
        less = ctx.fresh();
        ctx.line(`${less} = stablehlo.compare ${direction}, ${args[0]}, ${args[1]}, ${comparisonType(dtype)} : (${s}, ${s}) -> tensor<i1>`);
      }
      ctx.line(`stablehlo.return ${less} : tensor<i1>`);
    });
    ctx.stmt(`}) : ${fnType(op, ctx)}`);
  },
  gather: (op, ctx) => {
    const a = op.attrs;
    const dims = [
      `offset_dims = ${list(a.offsetDims)}`,
      ...(a.collapsedSliceDims.length ? [`collapsed_slice_dims = ${list(a.collapsedSliceDims)}`] : []),
      `start_index_map = ${list(a.startIndexMap)}`,
      `index_vector_dim = ${a.indexVectorDim}`,
    ];
    const sizes = a.sliceSizes.length ? `array<i64: ${a.sliceSizes.join(', ')}>` : 'array<i64>';
    ctx.stmt(`${ctx.bind(op)} = "stablehlo.gather"(${names(op, ctx)}) <{dimension_numbers = #stablehlo.gather<${dims.join(', ')}>, indices_are_sorted = false, slice_sizes = ${sizes}}> : ${fnType(op, ctx)}`);
  },
  scatter: (op, ctx) => {
    const a = op.attrs;
    const dims = [
      `update_window_dims = ${list(a.updateWindowDims)}`,
      ...(a.insertedWindowDims.length ? [`inserted_window_dims = ${list(a.insertedWindowDims)}`] : []),
      `scatter_dims_to_operand_dims = ${list(a.scatterDimsToOperandDims)}`,
      `index_vector_dim = ${a.indexVectorDim}`,
    ];
    const lhs = ctx.bind(op);
    ctx.line(`${lhs} = "stablehlo.scatter"(${names(op, ctx)}) <{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<${dims.join(', ')}>, unique_indices = false}> ({`);
    const [current, update] = ctx.blockArgs(2) as [string, string];
    const s = ctx.t(scalar(op.operands[0]!.type.dtype));
    ctx.line(`^bb0(${current}: ${s}, ${update}: ${s}):`);
    ctx.nested(() => {
      if (a.kind === 'replace') {
        ctx.line(`stablehlo.return ${update} : ${s}`);
        return;
      }
      const sum = ctx.fresh();
      ctx.line(`${sum} = stablehlo.add ${current}, ${update} : ${s}`);
      ctx.line(`stablehlo.return ${sum} : ${s}`);
    });
    ctx.stmt(`}) : ${fnType(op, ctx)}`);
  },
  optimization_barrier: (op, ctx) =>
    ctx.stmt(`${ctx.bind(op)} = stablehlo.optimization_barrier ${names(op, ctx)} : ${op.results.map((r) => ctx.t(r)).join(', ')}`),
  // A `stablehlo.while` as JAX lowers `lax.scan`: the state is (counter, ...carry, ...ys buffers, ...xs, ...consts); each
  // iteration slices its xs at the index (dynamic_slice + reshape), runs the body, and writes its ys there
  // (dynamic_update_slice). xs and consts travel in the state, so the regions capture nothing from outside.
  scan: (op, ctx) => {
    const { body, length, numCarry, numXs, reverse } = op.attrs;
    const i32 = scalar('i32');
    const it = ctx.t(i32);
    const carry = op.operands.slice(0, numCarry), xs = op.operands.slice(numCarry, numCarry + numXs), consts = op.operands.slice(numCarry + numXs);
    const ys = op.results.slice(numCarry);
    const zero = ctx.constant('i32', 0);
    const bufs = ys.map((y) => ctx.constant(y.type.dtype, 0, y.type.shape));
    const init = [zero, ...carry.map((v) => ctx.v(v)), ...bufs, ...xs.map((v) => ctx.v(v)), ...consts.map((v) => ctx.v(v))];
    const types = [it, ...carry.map((v) => ctx.t(v)), ...ys.map((v) => ctx.t(v)), ...xs.map((v) => ctx.t(v)), ...consts.map((v) => ctx.t(v))];
    const args = init.map(() => ctx.fresh('iterArg'));
    const w = ctx.fresh();
    ctx.line(`${w}:${init.length} = stablehlo.while(${args.map((a, i) => `${a} = ${init[i]}`).join(', ')}) : ${types.join(', ')}`);
    // results: the carry and the ys buffers, right after the counter.
    op.results.forEach((r, k) => ctx.alias(r, `${w}#${1 + k}`));
    ctx.line('cond {');
    ctx.nested(() => {
      const n = ctx.constant('i32', length);
      const lt = ctx.fresh();
      ctx.line(`${lt} = stablehlo.compare LT, ${args[0]}, ${n}, SIGNED : (${it}, ${it}) -> tensor<i1>`);
      ctx.line(`stablehlo.return ${lt} : tensor<i1>`);
    });
    ctx.line('} do {');
    ctx.nested(() => {
      const counter = args[0]!;
      let index = counter;
      if (reverse) {
        const last = ctx.constant('i32', length - 1);
        index = ctx.fresh();
        ctx.line(`${index} = stablehlo.subtract ${last}, ${counter} : ${it}`);
      }
      const z = ctx.constant('i32', 0);
      const starts = (rank: number) => [index, ...Array.from({ length: rank - 1 }, () => z)];
      const cArgs = args.slice(1, 1 + numCarry);
      const bArgs = args.slice(1 + numCarry, 1 + numCarry + ys.length);
      const xArgs = args.slice(1 + numCarry + ys.length, 1 + numCarry + ys.length + numXs);
      const kArgs = args.slice(1 + numCarry + ys.length + numXs);
      const slices = xs.map((x, k) => {
        const shape = x.type.shape;
        const one = { ...x.type, shape: [1, ...shape.slice(1)] };
        const st = starts(shape.length);
        const s1 = ctx.fresh();
        ctx.stmt(`${s1} = stablehlo.dynamic_slice ${xArgs[k]}, ${st.join(', ')}, sizes = ${list(one.shape)} : (${ctx.t(x)}, ${st.map(() => it).join(', ')}) -> ${ctx.t(one)}`);
        const s2 = ctx.fresh();
        ctx.stmt(`${s2} = stablehlo.reshape ${s1} : (${ctx.t(one)}) -> ${ctx.t({ ...x.type, shape: shape.slice(1) })}`);
        return s2;
      });
      const outs = ctx.inline(body, [index, ...cArgs, ...slices, ...kArgs]);
      const written = ys.map((y, k) => {
        const inner = body.results[numCarry + k]!;
        const one = { ...y.type, shape: [1, ...inner.type.shape] };
        const r = ctx.fresh();
        ctx.stmt(`${r} = stablehlo.reshape ${outs[numCarry + k]} : (${ctx.t(inner)}) -> ${ctx.t(one)}`);
        const st = starts(y.type.shape.length);
        const u = ctx.fresh();
        ctx.stmt(`${u} = stablehlo.dynamic_update_slice ${bArgs[k]}, ${r}, ${st.join(', ')} : (${ctx.t(y)}, ${ctx.t(one)}, ${st.map(() => it).join(', ')}) -> ${ctx.t(y)}`);
        return u;
      });
      const step = ctx.constant('i32', 1);
      const next = ctx.fresh();
      ctx.line(`${next} = stablehlo.add ${counter}, ${step} : ${it}`);
      const ret = [next, ...outs.slice(0, numCarry), ...written, ...xArgs, ...kArgs];
      ctx.line(`stablehlo.return ${ret.join(', ')} : ${types.join(', ')}`);
    });
    ctx.stmt('}');
  },
  sharding_constraint: (op, ctx) =>
    ctx.stmt(`${ctx.bind(op)} = stablehlo.custom_call @Sharding(${names(op, ctx)}) {backend_config = "", mhlo.sharding = ${mlirString(op.attrs.sharding)}} : ${fnType(op, ctx)}`),
};
