// Indexing ops: take (embedding lookup), takeAlongAxis (FLIP's patch masking), oneHot, sort, argsort.
import { isInteger, sameShape, showType, type DType } from '../compiler/ir/index.ts';
import type { Axes, Rename, Replace, TakenAxis } from './axes.ts';
import { axisIndex, cast, emit, emitN, fail, userOp, type AnyTensor } from './core.ts';
import { expandTo } from './align.ts';
import type { Tensor } from './tensor.ts';

const INDEX_AXIS = 'index_vector';

/** `ids` with a trailing size-1 axis: the index-vector dimension StableHLO gather reads (JAX's form). */
function withIndexVector(ids: AnyTensor): AnyTensor {
  return emit('reshape', [ids], { shape: [...ids.shape, 1], axes: [...ids.axes, INDEX_AXIS] });
}

/**
 * `take(table, ids, 'vocab')`: rows of `table` picked along `axis` by integer `ids` (an embedding lookup). Out-of-range
 * ids are clamped (XLA gather semantics). Shape rule: `axis` is replaced by all of ids' axes, in place:
 * `table[vocab, embed]`, `ids[batch, length]` → `[batch, length, embed]`.
 */
export function take<D extends DType, A extends Axes, F extends A[number], I extends Axes>(
  table: Tensor<D, A>, ids: Tensor<DType, I>, axis: F,
): Tensor<D, Replace<A, F, I>> {
  return cast(userOp('take', () => {
    const p = axisIndex(table, axis);
    if (!isInteger(ids.dtype)) fail(`ids must be integers, got ${showType(ids.type)}`);
    const clash = ids.axes.filter((a) => a !== axis && table.axes.includes(a));
    if (clash.length) fail(`ids ${showType(ids.type)} share axes [${clash.join(', ')}] with ${showType(table.type)}; rename them (or use takeAlongAxis)`);
    const r = ids.rank;
    const axes = [...table.axes.slice(0, p), ...ids.axes, ...table.axes.slice(p + 1)];
    const offsetDims = table.axes.map((_, i) => i).filter((i) => i !== p).map((i) => (i < p ? i : i - 1 + r));
    return emit('gather', [table, withIndexVector(ids)], {
      offsetDims, collapsedSliceDims: [p], startIndexMap: [p], indexVectorDim: r,
      sliceSizes: table.shape.map((n, i) => (i === p ? 1 : n)), axes,
    });
  }));
}

/**
 * `takeAlongAxis(x, idsKeep, 'length')`: for each position of ids, the element of x along `axis` that ids names,
 * with ids' other axes (e.g. batch) matched to x's by name and x's remaining axes (embed) carried whole. ids has
 * `axis` itself (a shorter one) or exactly one axis x lacks (e.g. `keep`), which replaces `axis` in the result.
 * Shape rule: `x[batch, length=196, embed]`, `ids[batch, keep=49]` → `[batch, keep=49, embed]` (FLIP's masking).
 */
export function takeAlongAxis<D extends DType, A extends Axes, F extends A[number], I extends Axes>(
  x: Tensor<D, A>, ids: Tensor<DType, I>, axis: F,
): Tensor<D, Rename<A, F, TakenAxis<A, F, I>>> {
  return cast(userOp('takeAlongAxis', () => {
    const p = axisIndex(x, axis);
    if (!isInteger(ids.dtype)) fail(`ids must be integers, got ${showType(ids.type)}`);
    const fresh = ids.axes.filter((a) => !x.axes.includes(a));
    let k: string;
    if (ids.axes.includes(axis) && fresh.length === 0) k = axis;
    else if (!ids.axes.includes(axis) && fresh.length === 1) k = fresh[0]!;
    else return fail(`ids ${showType(ids.type)} must have axis '${axis}' or exactly one axis that ${showType(x.type)} lacks`);
    const shared = ids.axes.filter((a) => a !== k);
    for (const a of shared)
      if (ids.shape[ids.axes.indexOf(a)] !== x.shape[x.axes.indexOf(a)]) fail(`axis '${a}' is ${ids.shape[ids.axes.indexOf(a)]} in ids ${showType(ids.type)} but ${x.shape[x.axes.indexOf(a)]} in ${showType(x.type)}`);
    const resultAxes = x.axes.map((a) => (a === axis ? k : a));
    const kSize = ids.shape[ids.axes.indexOf(k)]!;
    const resultShape = x.shape.map((n, i) => (i === p ? kSize : n));
    // ids in result order; the index vector is (position along each shared axis…, id) per element.
    const idsOrder = resultAxes.filter((a) => ids.axes.includes(a));
    const idsT = expandTo(ids, { dtype: ids.dtype, axes: idsOrder, shape: idsOrder.map((a) => ids.shape[ids.axes.indexOf(a)]!) });
    const sharedInOrder = idsOrder.filter((a) => a !== k);
    const parts = [
      ...sharedInOrder.map((a) => emit('iota', [], { dtype: ids.dtype, shape: idsT.shape, axes: idsT.axes, dimension: idsT.axes.indexOf(a) })),
      idsT,
    ].map(withIndexVector);
    const indices = parts.length === 1 ? parts[0]! : emit('concatenate', parts, { dimension: idsT.rank });
    const startIndexMap = [...sharedInOrder.map((a) => x.axes.indexOf(a)), p];
    const offsetAxes = resultAxes.filter((a) => !ids.axes.includes(a));
    const out = emit('gather', [x, indices], {
      offsetDims: offsetAxes.map((a) => resultAxes.indexOf(a)),
      collapsedSliceDims: [...startIndexMap].sort((a, b) => a - b),
      startIndexMap, indexVectorDim: idsT.rank,
      sliceSizes: x.shape.map((n, i) => (startIndexMap.includes(i) ? 1 : n)),
      axes: resultAxes,
    });
    if (!sameShape(out.shape, resultShape)) fail(`internal: gather gave ${showType(out.type)}, expected [${resultShape.join(', ')}]`);
    return out;
  }));
}

/**
 * `oneHot(labels, 'vocab', 1000)`: 1 where the new axis' position equals the id, else 0, in `dtype` (default f32).
 * Out-of-range ids give all zeros. Shape rule: ids' axes plus the new axis last: `[batch]` → `[batch, vocab=1000]`.
 */
export function oneHot<I extends Axes, N extends string, D extends DType = 'f32'>(
  ids: Tensor<DType, I>, axis: N, size: number, dtype?: D,
): Tensor<D, readonly [...I, N]> {
  return cast(userOp('oneHot', () => {
    if (!isInteger(ids.dtype)) fail(`ids must be integers, got ${showType(ids.type)}`);
    if (ids.axes.includes(axis)) fail(`ids ${showType(ids.type)} already has axis '${axis}'`);
    const t = { dtype: ids.dtype, shape: [...ids.shape, size], axes: [...ids.axes, axis] };
    const pos = emit('iota', [], { ...t, dimension: ids.rank });
    const hit = emit('compare', [pos, expandTo(ids, t)], { direction: 'EQ' });
    return emit('convert', [hit], { dtype: dtype ?? 'f32' });
  }));
}

function sortAlong(x: AnyTensor, axis: string, descending: boolean): [AnyTensor, AnyTensor] {
  const d = axisIndex(x, axis);
  const idx = emit('iota', [], { dtype: 'i32', shape: x.shape, axes: x.axes, dimension: d });
  const [values, indices] = emitN('sort', [x, idx], { dimension: d, descending });
  return [values!, indices!];
}

/** `sort(x, 'length')`: x sorted along one axis (stable; `descending` for largest first). Same type. */
export function sort<D extends DType, A extends Axes>(x: Tensor<D, A>, axis: A[number], opts: { descending?: boolean } = {}): Tensor<D, A> {
  return cast(userOp('sort', () => sortAlong(x, axis, opts.descending ?? false)[0]));
}

/**
 * `argsort(noise, 'length')`: i32 positions that would sort x along one axis (stable: ties keep their order; a sort
 * with an iota operand). FLIP draws `argsort(uniform noise)` to pick the patches to keep. Same axes, dtype i32.
 */
export function argsort<A extends Axes>(x: Tensor<DType, A>, axis: A[number], opts: { descending?: boolean } = {}): Tensor<'i32', A> {
  return cast(userOp('argsort', () => sortAlong(x, axis, opts.descending ?? false)[1]));
}
