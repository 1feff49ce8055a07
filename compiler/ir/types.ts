// Tensor types (dtype, sizes, axis names) and source locations: the metadata every IR value carries.
import type { DType } from './dtype.ts';

/** A tensor's static type. `axes[i]` names dimension i (`batch`, `embed`, ...); names are how the DSL and sharding address dims. */
export interface TensorType {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly axes: readonly string[];
}

/** Where in the user's source an op was written. */
export interface Loc {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export function tensorType(dtype: DType, shape: readonly number[], axes?: readonly string[]): TensorType {
  return { dtype, shape: [...shape], axes: axes ? [...axes] : shape.map((_, i) => `d${i}`) };
}

export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function sameType(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && sameShape(a.shape, b.shape);
}

/** `f32[batch=8, embed=64]`: how errors and the IR printer show a type. */
export function showType(t: TensorType): string {
  return `${t.dtype}[${t.shape.map((d, i) => `${t.axes[i] ?? '?'}=${d}`).join(', ')}]`;
}

export function showLoc(l: Loc | undefined): string {
  return l ? `${l.file}:${l.line}:${l.col}` : '<unknown>';
}
