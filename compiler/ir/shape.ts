// Shape rules ("abstract eval"): the result types of each primitive from its operand types and attributes.
// A rule throws ShapeError naming the shapes; the builder adds the user's source line.
import { DTYPE_INFO, isBool, isDType, isFloat, isInteger, type DType } from './dtype.ts';
import { ShapeError } from './errors.ts';
import { BINARY_PRIMS, UNARY_PRIMS, isBinary, isUnary, type Prim, type PrimAttrs, type UnaryPrim, type BinaryPrim } from './prims.ts';
import { numElements, sameShape, showType, type TensorType } from './types.ts';

/** How a rule's messages show a type: `showType` in the IR; the MLIR verifier shows `tensor<2x3xf32>`. */
export type ShowType = (t: TensorType) => string;
export type ShapeRule<P extends Prim> = (ins: readonly TensorType[], attrs: PrimAttrs[P], show?: ShowType) => TensorType[];
export type ShapeRules = { [P in Prim]: ShapeRule<P> };

function fail(prim: string, msg: string): never {
  throw new ShapeError(`${prim}: ${msg}`);
}
function arity(prim: string, ins: readonly TensorType[], n: number): void {
  if (ins.length !== n) fail(prim, `expects ${n} operand(s), got ${ins.length}`);
}
function checkDims(prim: string, t: TensorType, dims: readonly number[], what: string, show: ShowType): void {
  for (const d of dims) if (!Number.isInteger(d) || d < 0 || d >= t.shape.length) fail(prim, `${what} ${d} out of range for ${show(t)}`);
  if (new Set(dims).size !== dims.length) fail(prim, `${what} [${dims.join(', ')}] repeats a dimension`);
}
function checkShape(prim: string, shape: readonly number[], axes: readonly string[]): void {
  if (shape.length !== axes.length) fail(prim, `shape [${shape.join(', ')}] and axis names [${axes.join(', ')}] differ in rank`);
  for (const d of shape) if (!Number.isInteger(d) || d < 0) fail(prim, `bad dimension size ${d} in [${shape.join(', ')}]`);
}

// Element types outside DTYPES reach these rules only from the MLIR verifier (complex<f32>, ui64, f8E4M3FN, ...), spelled
// as MLIR spells them: they are compared for equality like any dtype, and the dtype-class checks let them pass.
const foreign = (d: DType): boolean => !isDType(d);

const FLOAT_ONLY: ReadonlySet<UnaryPrim> = new Set(['exp', 'expm1', 'log', 'log1p', 'sqrt', 'rsqrt', 'tanh', 'logistic', 'floor', 'ceil', 'round_nearest_even', 'sine', 'cosine']);
const BITWISE: ReadonlySet<BinaryPrim> = new Set(['and', 'or', 'xor', 'shift_left', 'shift_right_logical']);

const unary = (prim: UnaryPrim): ShapeRule<UnaryPrim> => (ins, _a, show = showType) => {
  arity(prim, ins, 1);
  const [x] = ins as [TensorType];
  if (FLOAT_ONLY.has(prim) && !isFloat(x.dtype) && !foreign(x.dtype)) fail(prim, `needs a float operand, got ${show(x)}`);
  if (prim === 'not' && !(isInteger(x.dtype) || isBool(x.dtype) || foreign(x.dtype))) fail(prim, `needs an integer or bool operand, got ${show(x)}`);
  if (prim === 'neg' && x.dtype === 'i1') fail(prim, `cannot negate a bool: ${show(x)}`);
  return [x];
};

const binary = (prim: BinaryPrim): ShapeRule<BinaryPrim> => (ins, _a, show = showType) => {
  arity(prim, ins, 2);
  const [a, b] = ins as [TensorType, TensorType];
  if (a.dtype !== b.dtype) fail(prim, `operand dtypes differ: ${show(a)} vs ${show(b)}`);
  if (!sameShape(a.shape, b.shape)) fail(prim, `operand shapes differ: ${show(a)} vs ${show(b)}`);
  if (BITWISE.has(prim) && isFloat(a.dtype)) fail(prim, `needs integer or bool operands, got ${show(a)}`);
  if (prim === 'atan2' && !isFloat(a.dtype) && !foreign(a.dtype)) fail(prim, `needs float operands, got ${show(a)}`);
  return [a];
};

function reduceIdentityOk(kind: PrimAttrs['reduce']['kind'], d: DType): boolean {
  return kind === 'and' || kind === 'or' ? isBool(d) || isInteger(d) : true;
}

const specific: Omit<ShapeRules, UnaryPrim | BinaryPrim> = {
  compare: (ins, _a, show = showType) => {
    arity('compare', ins, 2);
    const [a, b] = ins as [TensorType, TensorType];
    if (a.dtype !== b.dtype || !sameShape(a.shape, b.shape)) fail('compare', `operands differ: ${show(a)} vs ${show(b)}`);
    return [{ dtype: 'i1', shape: a.shape, axes: a.axes }];
  },
  select: (ins, _a, show = showType) => {
    arity('select', ins, 3);
    const [p, t, f] = ins as [TensorType, TensorType, TensorType];
    if (p.dtype !== 'i1') fail('select', `predicate must be i1, got ${show(p)}`);
    if (!sameShape(p.shape, t.shape) || t.dtype !== f.dtype || !sameShape(t.shape, f.shape))
      fail('select', `operands differ: pred ${show(p)}, on_true ${show(t)}, on_false ${show(f)}`);
    return [t];
  },
  convert: (ins, a) => {
    arity('convert', ins, 1);
    return [{ ...ins[0]!, dtype: a.dtype }];
  },
  bitcast_convert: (ins, a, show = showType) => {
    arity('bitcast_convert', ins, 1);
    const x = ins[0]!;
    if (!foreign(x.dtype) && !foreign(a.dtype) && DTYPE_INFO[x.dtype].bits !== DTYPE_INFO[a.dtype].bits) fail('bitcast_convert', `bit widths differ: ${x.dtype} → ${a.dtype}`);
    return [{ ...x, dtype: a.dtype }];
  },
  constant: (ins, a) => {
    arity('constant', ins, 0);
    checkShape('constant', a.shape, a.axes);
    const v = a.value;
    if (typeof v !== 'number' && typeof v !== 'bigint' && v.length !== numElements(a.shape))
      fail('constant', `${v.length} values for shape [${a.shape.join(', ')}] (${numElements(a.shape)} elements)`);
    return [{ dtype: a.dtype, shape: a.shape, axes: a.axes }];
  },
  iota: (ins, a) => {
    arity('iota', ins, 0);
    checkShape('iota', a.shape, a.axes);
    if (a.dimension < 0 || a.dimension >= a.shape.length) fail('iota', `dimension ${a.dimension} out of range for [${a.shape.join(', ')}]`);
    return [{ dtype: a.dtype, shape: a.shape, axes: a.axes }];
  },
  broadcast_in_dim: (ins, a, show = showType) => {
    arity('broadcast_in_dim', ins, 1);
    const x = ins[0]!;
    checkShape('broadcast_in_dim', a.shape, a.axes);
    if (a.dims.length !== x.shape.length) fail('broadcast_in_dim', `dims [${a.dims.join(', ')}] must map each dim of ${show(x)}`);
    a.dims.forEach((d, i) => {
      if (d < 0 || d >= a.shape.length) fail('broadcast_in_dim', `dim ${d} out of range for result [${a.shape.join(', ')}]`);
      if (x.shape[i] !== 1 && x.shape[i] !== a.shape[d])
        fail('broadcast_in_dim', `cannot broadcast ${show(x)} to [${a.shape.join(', ')}]: dim ${i} (${x.shape[i]}) vs ${a.shape[d]}`);
    });
    for (let i = 1; i < a.dims.length; i++) if (a.dims[i]! <= a.dims[i - 1]!) fail('broadcast_in_dim', `dims [${a.dims.join(', ')}] must increase`);
    return [{ dtype: x.dtype, shape: a.shape, axes: a.axes }];
  },
  reshape: (ins, a, show = showType) => {
    arity('reshape', ins, 1);
    const x = ins[0]!;
    checkShape('reshape', a.shape, a.axes);
    if (numElements(a.shape) !== numElements(x.shape))
      fail('reshape', `cannot reshape ${show(x)} (${numElements(x.shape)} elements) to [${a.shape.join(', ')}] (${numElements(a.shape)} elements)`);
    return [{ dtype: x.dtype, shape: a.shape, axes: a.axes }];
  },
  transpose: (ins, a, show = showType) => {
    arity('transpose', ins, 1);
    const x = ins[0]!;
    if (a.permutation.length !== x.shape.length) fail('transpose', `permutation [${a.permutation.join(', ')}] has wrong rank for ${show(x)}`);
    checkDims('transpose', x, a.permutation, 'permutation entry', show);
    return [{ dtype: x.dtype, shape: a.permutation.map((p) => x.shape[p]!), axes: a.permutation.map((p) => x.axes[p]!) }];
  },
  concatenate: (ins, a, show = showType) => {
    if (ins.length < 1) fail('concatenate', 'needs at least one operand');
    const x = ins[0]!;
    checkDims('concatenate', x, [a.dimension], 'dimension', show);
    let total = 0;
    for (const y of ins) {
      const ok = y.dtype === x.dtype && y.shape.length === x.shape.length && y.shape.every((d, i) => i === a.dimension || d === x.shape[i]);
      if (!ok) fail('concatenate', `operands must agree except on dim ${a.dimension}: ${show(x)} vs ${show(y)}`);
      total += y.shape[a.dimension]!;
    }
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (i === a.dimension ? total : d)), axes: x.axes }];
  },
  slice: (ins, a, show = showType) => {
    arity('slice', ins, 1);
    const x = ins[0]!;
    const r = x.shape.length;
    if (a.start.length !== r || a.limit.length !== r || a.strides.length !== r) fail('slice', `start/limit/strides must have rank ${r} for ${show(x)}`);
    const shape = x.shape.map((d, i) => {
      const s = a.start[i]!, l = a.limit[i]!, st = a.strides[i]!;
      if (s < 0 || l > d || s > l || st < 1) fail('slice', `bad range ${s}:${l}:${st} on dim ${i} (${x.axes[i]}=${d}) of ${show(x)}`);
      return Math.ceil((l - s) / st);
    });
    return [{ dtype: x.dtype, shape, axes: x.axes }];
  },
  dynamic_slice: (ins, a, show = showType) => {
    const x = ins[0];
    if (!x) fail('dynamic_slice', 'needs an operand');
    arity('dynamic_slice', ins, 1 + x.shape.length);
    for (const s of ins.slice(1)) if (s.shape.length !== 0 || !(isInteger(s.dtype) || foreign(s.dtype))) fail('dynamic_slice', `start indices must be integer scalars, got ${show(s)}`);
    if (a.sizes.length !== x.shape.length || a.sizes.some((s, i) => s < 0 || s > x.shape[i]!))
      fail('dynamic_slice', `sizes [${a.sizes.join(', ')}] do not fit ${show(x)}`);
    return [{ dtype: x.dtype, shape: a.sizes, axes: x.axes }];
  },
  dynamic_update_slice: (ins, _a, show = showType) => {
    const x = ins[0], u = ins[1];
    if (!x || !u) fail('dynamic_update_slice', 'needs an operand and an update');
    arity('dynamic_update_slice', ins, 2 + x.shape.length);
    if (u.dtype !== x.dtype || u.shape.length !== x.shape.length || u.shape.some((d, i) => d > x.shape[i]!))
      fail('dynamic_update_slice', `update ${show(u)} does not fit ${show(x)}`);
    return [x];
  },
  pad: (ins, a, show = showType) => {
    arity('pad', ins, 2);
    const [x, v] = ins as [TensorType, TensorType];
    if (v.shape.length !== 0 || v.dtype !== x.dtype) fail('pad', `padding value must be a ${x.dtype} scalar, got ${show(v)}`);
    const r = x.shape.length;
    if (a.low.length !== r || a.high.length !== r || a.interior.length !== r) fail('pad', `low/high/interior must have rank ${r}`);
    const shape = x.shape.map((d, i) => a.low[i]! + a.high[i]! + d + Math.max(0, d - 1) * a.interior[i]!);
    if (shape.some((d) => d < 0)) fail('pad', `negative result size for ${show(x)}`);
    return [{ dtype: x.dtype, shape, axes: x.axes }];
  },
  dot_general: (ins, a, show = showType) => {
    arity('dot_general', ins, 2);
    const [l, r] = ins as [TensorType, TensorType];
    if (l.dtype !== r.dtype) fail('dot_general', `operand dtypes differ: ${show(l)} vs ${show(r)}`);
    checkDims('dot_general', l, [...a.lhsBatch, ...a.lhsContract], 'lhs dim', show);
    checkDims('dot_general', r, [...a.rhsBatch, ...a.rhsContract], 'rhs dim', show);
    if (a.lhsBatch.length !== a.rhsBatch.length || a.lhsContract.length !== a.rhsContract.length)
      fail('dot_general', 'batch/contracting dimension lists differ in length');
    a.lhsBatch.forEach((d, i) => {
      if (l.shape[d] !== r.shape[a.rhsBatch[i]!]) fail('dot_general', `batch dims differ: ${l.axes[d]}=${l.shape[d]} in ${show(l)} vs ${r.axes[a.rhsBatch[i]!]}=${r.shape[a.rhsBatch[i]!]} in ${show(r)}`);
    });
    a.lhsContract.forEach((d, i) => {
      if (l.shape[d] !== r.shape[a.rhsContract[i]!]) fail('dot_general', `contracting dims differ: ${l.axes[d]}=${l.shape[d]} in ${show(l)} vs ${r.axes[a.rhsContract[i]!]}=${r.shape[a.rhsContract[i]!]} in ${show(r)}`);
    });
    const lFree = l.shape.map((_, i) => i).filter((i) => !a.lhsBatch.includes(i) && !a.lhsContract.includes(i));
    const rFree = r.shape.map((_, i) => i).filter((i) => !a.rhsBatch.includes(i) && !a.rhsContract.includes(i));
    return [{
      dtype: a.resultDtype ?? l.dtype,
      shape: [...a.lhsBatch.map((d) => l.shape[d]!), ...lFree.map((d) => l.shape[d]!), ...rFree.map((d) => r.shape[d]!)],
      axes: [...a.lhsBatch.map((d) => l.axes[d]!), ...lFree.map((d) => l.axes[d]!), ...rFree.map((d) => r.axes[d]!)],
    }];
  },
  reduce: (ins, a, show = showType) => {
    arity('reduce', ins, 1);
    const x = ins[0]!;
    checkDims('reduce', x, a.dims, 'dim', show);
    if (!reduceIdentityOk(a.kind, x.dtype)) fail('reduce', `'${a.kind}' needs integer or bool operands, got ${show(x)}`);
    const keep = x.shape.map((_, i) => i).filter((i) => !a.dims.includes(i));
    return [{ dtype: x.dtype, shape: keep.map((i) => x.shape[i]!), axes: keep.map((i) => x.axes[i]!) }];
  },
  sort: (ins, a, show = showType) => {
    if (ins.length < 1) fail('sort', 'needs at least one operand');
    const x = ins[0]!;
    checkDims('sort', x, [a.dimension], 'dimension', show);
    for (const y of ins) if (!sameShape(x.shape, y.shape)) fail('sort', `operands must have one shape: ${show(x)} vs ${show(y)}`);
    return [...ins];
  },
  gather: (ins, a, show = showType) => {
    arity('gather', ins, 2);
    const [x, idx] = ins as [TensorType, TensorType];
    if (!isInteger(idx.dtype) && !foreign(idx.dtype)) fail('gather', `indices must be integers, got ${show(idx)}`);
    if (a.sliceSizes.length !== x.shape.length) fail('gather', `slice_sizes [${a.sliceSizes.join(', ')}] must have the rank of ${show(x)}`);
    a.sliceSizes.forEach((s, i) => { if (s < 0 || s > x.shape[i]!) fail('gather', `slice size ${s} too large for dim ${i} of ${show(x)}`); });
    const ivd = a.indexVectorDim;
    const batchShape = idx.shape.filter((_, i) => i !== ivd);
    const nIdx = ivd < idx.shape.length ? idx.shape[ivd]! : 1;
    if (nIdx !== a.startIndexMap.length) fail('gather', `index vector has ${nIdx} entries but start_index_map has ${a.startIndexMap.length}`);
    const offsetSizes = a.sliceSizes.filter((_, i) => !a.collapsedSliceDims.includes(i));
    const rank = batchShape.length + offsetSizes.length;
    if (a.offsetDims.length !== offsetSizes.length) fail('gather', `offset_dims [${a.offsetDims.join(', ')}] must have ${offsetSizes.length} entries`);
    const shape: number[] = [];
    let bi = 0, oi = 0;
    for (let d = 0; d < rank; d++) shape.push(a.offsetDims.includes(d) ? offsetSizes[oi++]! : batchShape[bi++]!);
    checkShape('gather', shape, a.axes);
    return [{ dtype: x.dtype, shape, axes: a.axes }];
  },
  scatter: (ins, _a, show = showType) => {
    arity('scatter', ins, 3);
    const [x, idx, u] = ins as [TensorType, TensorType, TensorType];
    if (!isInteger(idx.dtype) && !foreign(idx.dtype)) fail('scatter', `indices must be integers, got ${show(idx)}`);
    if (u.dtype !== x.dtype) fail('scatter', `updates ${show(u)} must have the dtype of ${show(x)}`);
    return [x];
  },
  optimization_barrier: (ins) => [...ins],
  sharding_constraint: (ins) => {
    arity('sharding_constraint', ins, 1);
    return [ins[0]!];
  },
  scan: (ins, a, show = showType) => {
    const { body, length, numCarry, numXs } = a;
    if (!Number.isInteger(length) || length < 1) fail('scan', `length must be a positive integer, got ${length}`);
    if (!Number.isInteger(numCarry) || !Number.isInteger(numXs) || numCarry < 0 || numXs < 0 || numCarry + numXs > ins.length)
      fail('scan', `${numCarry} carries and ${numXs} xs do not fit ${ins.length} operands`);
    const ps = body.params.map((p) => p.type), rs = body.results.map((r) => r.type);
    if (ps.length !== ins.length + 1) fail('scan', `the body takes ${ps.length} parameters, expected ${ins.length + 1} (index, then one per operand)`);
    const idx = ps[0]!;
    if (idx.dtype !== 'i32' || idx.shape.length !== 0) fail('scan', `the body's first parameter (the index) must be an i32 scalar, got ${show(idx)}`);
    if (rs.length < numCarry) fail('scan', `the body returns ${rs.length} values, fewer than its ${numCarry} carries`);
    ins.forEach((t, k) => {
      const p = ps[k + 1]!;
      const isX = k >= numCarry && k < numCarry + numXs;
      const want = isX ? { ...t, shape: t.shape.slice(1) } : t;
      if (isX && t.shape[0] !== length) fail('scan', `xs operand ${k - numCarry} ${show(t)} must have leading dimension ${length}`);
      if (want.dtype !== p.dtype || !sameShape(want.shape, p.shape)) fail('scan', `operand ${k} ${show(t)} does not match the body's parameter ${k + 1} ${show(p)}`);
      if (k < numCarry && (rs[k]!.dtype !== t.dtype || !sameShape(rs[k]!.shape, t.shape)))
        fail('scan', `carry ${k}: the body returns ${show(rs[k]!)} for ${show(t)}`);
    });
    return [
      ...ins.slice(0, numCarry),
      ...rs.slice(numCarry).map((y) => ({ dtype: y.dtype, shape: [length, ...y.shape], axes: [a.axis, ...y.axes] })),
    ];
  },
};

function buildRules(): ShapeRules {
  const rules: Partial<Record<Prim, unknown>> = { ...specific };
  for (const p of UNARY_PRIMS) rules[p] = unary(p);
  for (const p of BINARY_PRIMS) rules[p] = binary(p);
  return rules as ShapeRules;
}

/** The shape rule of every primitive. */
export const SHAPE_RULES: ShapeRules = buildRules();

/** The result types of `prim` applied to `ins`; a ShapeError (its messages showing types by `show`) if they do not fit. */
export function inferTypes<P extends Prim>(prim: P, ins: readonly TensorType[], attrs: PrimAttrs[P], show: ShowType = showType): TensorType[] {
  if (!isUnary(prim) && !isBinary(prim) && !(prim in specific)) throw new ShapeError(`unknown primitive ${prim}`);
  return (SHAPE_RULES[prim] as ShapeRule<P>)(ins, attrs, show);
}
