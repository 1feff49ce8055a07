// Named-axis broadcasting: how operands of elementwise ops are aligned by axis name (internal to the DSL).
import { showType, type TensorType } from '../compiler/ir/index.ts';
import { emit, fail, splat, type AnyTensor } from './core.ts';
import { Tensor } from './tensor.ts';

/** A binary operand: a tensor or a JS number (which adopts the tensor operand's dtype). */
export type Operand = AnyTensor | number;

/**
 * `x` with its axes ordered and broadcast like `target` (x's axes must be a subset with the same sizes):
 * a transpose when x's order differs from target's, then a broadcast_in_dim when target has more axes.
 */
export function expandTo(x: AnyTensor, target: TensorType): AnyTensor {
  const t = x.type;
  for (const [i, a] of t.axes.entries()) {
    const j = target.axes.indexOf(a);
    if (j < 0) fail(`cannot broadcast ${showType(t)} to ${showType(target)}: axis '${a}' is missing`);
    if (target.shape[j] !== t.shape[i]) fail(`cannot broadcast ${showType(t)} to ${showType(target)}: axis '${a}' is ${t.shape[i]} vs ${target.shape[j]}`);
  }
  const order = [...t.axes].sort((a, b) => target.axes.indexOf(a) - target.axes.indexOf(b));
  let y = x;
  if (order.some((a, i) => a !== t.axes[i])) y = emit('transpose', [y], { permutation: order.map((a) => t.axes.indexOf(a)) });
  if (y.rank === target.shape.length) return y;
  return emit('broadcast_in_dim', [y], { shape: target.shape, axes: target.axes, dims: order.map((a) => target.axes.indexOf(a)) });
}

function subsetOf(small: TensorType, big: TensorType): boolean {
  return small.axes.every((a) => big.axes.includes(a));
}

/**
 * Bring tensors (and JS numbers) to one type: the tensor whose axis set contains all others gives the axis order;
 * the others are transposed/broadcast onto it. Same-named axes must have equal sizes; dtypes must match exactly
 * (`sameDtype`), except that `where` passes a bool predicate.
 */
export function align(operands: readonly Operand[], sameDtype: readonly boolean[] = operands.map(() => true)): AnyTensor[] {
  const tensors = operands.filter((o): o is AnyTensor => o instanceof Tensor);
  const first = tensors[0];
  if (!first) return fail('needs at least one tensor operand');
  const typed = tensors.filter((_, i) => sameDtype[operands.indexOf(tensors[i]!)]);
  const dtype = (typed[0] ?? first).dtype;
  for (const t of typed) if (t.dtype !== dtype) fail(`dtypes differ: ${showType(typed[0]!.type)} vs ${showType(t.type)} (no implicit promotion; use astype)`);
  const target = tensors.find((t) => tensors.every((o) => subsetOf(o.type, t.type)));
  if (!target) {
    const [a, b] = firstUnrelated(tensors);
    return fail(`cannot align ${showType(a.type)} with ${showType(b.type)}: neither axis set contains the other`);
  }
  for (const t of tensors)
    for (const [i, a] of t.type.axes.entries()) {
      const j = target.type.axes.indexOf(a);
      if (target.type.shape[j] !== t.type.shape[i])
        fail(`cannot align ${showType(target.type)} with ${showType(t.type)}: axis '${a}' is ${target.type.shape[j]} vs ${t.type.shape[i]}`);
    }
  return operands.map((o) => (o instanceof Tensor ? expandTo(o, target.type) : splat(o, { ...target.type, dtype })));
}

function firstUnrelated(ts: readonly AnyTensor[]): [AnyTensor, AnyTensor] {
  for (const a of ts) for (const b of ts) if (!subsetOf(a.type, b.type) && !subsetOf(b.type, a.type)) return [a, b];
  return [ts[0]!, ts[1]!];
}
