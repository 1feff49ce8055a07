// TensorSpec: the abstract input of a traced function (dtype, sizes, axis names), built from an ordered record of axis sizes.
import { FlipError, type DType, type TensorType } from '../ir/index.ts';

/** What a traced function's tensor argument looks like: the IR's TensorType. */
export type TensorSpec = TensorType;

/** Axis sizes by name, in axis order: `{batch: 8, embed: 64}` (insertion order is the dimension order). */
export type AxisSizes = Readonly<Record<string, number>>;

/** `spec('f32', {batch: 8, embed: 64})` → `f32[batch=8, embed=64]`. */
export function spec(dtype: DType, sizes: AxisSizes): TensorSpec {
  const axes = Object.keys(sizes);
  const shape = axes.map((a) => sizes[a]!);
  for (const [i, d] of shape.entries())
    if (!Number.isInteger(d) || d < 0) throw new FlipError(`spec: axis '${axes[i]}' has size ${d}; sizes are non-negative integers`);
  for (const a of axes) if (/^\d+$/.test(a)) throw new FlipError(`spec: axis name '${a}' is a number; JS would reorder it, use a word`);
  return { dtype, shape, axes };
}
