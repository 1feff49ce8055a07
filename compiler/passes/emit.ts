// Terse op constructors over a FuncBuilder, for pass rules that build IR (VJP rules, remat, folding).
import type { CompareDirection, DType, FuncBuilder, Loc, Prim, PrimAttrs, TensorType, Value } from '../ir/index.ts';

/** Every op it emits carries `loc`: the backward of an op points at the user's line of the forward op, as JAX does. */
export class OpEmitter {
  constructor(readonly b: FuncBuilder, readonly loc?: Loc) {}

  ops<P extends Prim>(prim: P, operands: readonly Value[], attrs: PrimAttrs[P]): Value[] {
    return this.b.emit(prim, operands, attrs, this.loc);
  }
  op<P extends Prim>(prim: P, operands: readonly Value[], attrs: PrimAttrs[P]): Value {
    return this.b.emit1(prim, operands, attrs, this.loc);
  }

  /** A splat constant of type `t`. */
  full(t: TensorType, value: number): Value {
    return this.op('constant', [], { dtype: t.dtype, shape: t.shape, axes: t.axes, value });
  }
  zeros(t: TensorType): Value {
    return this.full(t, 0);
  }
  /** A splat constant shaped like `v`. */
  like(v: Value, value: number): Value {
    return this.full(v.type, value);
  }

  add(a: Value, b: Value): Value { return this.op('add', [a, b], {}); }
  sub(a: Value, b: Value): Value { return this.op('subtract', [a, b], {}); }
  mul(a: Value, b: Value): Value { return this.op('multiply', [a, b], {}); }
  div(a: Value, b: Value): Value { return this.op('divide', [a, b], {}); }
  neg(a: Value): Value { return this.op('neg', [a], {}); }
  cmp(a: Value, b: Value, direction: CompareDirection): Value { return this.op('compare', [a, b], { direction }); }
  select(pred: Value, onTrue: Value, onFalse: Value): Value { return this.op('select', [pred, onTrue, onFalse], {}); }

  convert(x: Value, dtype: DType): Value {
    return x.type.dtype === dtype ? x : this.op('convert', [x], { dtype });
  }
  reshape(x: Value, t: TensorType): Value {
    return this.op('reshape', [x], { shape: t.shape, axes: t.axes });
  }
  transpose(x: Value, permutation: readonly number[]): Value {
    return permutation.every((p, i) => p === i) ? x : this.op('transpose', [x], { permutation });
  }
  /** Pad with a scalar `value`; a no-op config returns `x`. */
  pad(x: Value, value: number, low: readonly number[], high: readonly number[], interior: readonly number[]): Value {
    if ([...low, ...high, ...interior].every((n) => n === 0)) return x;
    return this.op('pad', [x, this.full({ dtype: x.type.dtype, shape: [], axes: [] }, value)], { low, high, interior });
  }
  /** Strided slice; the whole tensor returns `x`. */
  slice(x: Value, start: readonly number[], limit: readonly number[], strides: readonly number[]): Value {
    if (x.type.shape.every((s, d) => start[d] === 0 && limit[d] === s && strides[d] === 1)) return x;
    return this.op('slice', [x], { start, limit, strides });
  }
  /** Sum over `dims` (none: `x` itself). */
  sum(x: Value, dims: readonly number[]): Value {
    return dims.length ? this.op('reduce', [x], { dims, kind: 'sum' }) : x;
  }
  /** Broadcast `x` to `t`, operand dim i going to result dim `dims[i]`. */
  broadcast(x: Value, t: TensorType, dims: readonly number[]): Value {
    return this.op('broadcast_in_dim', [x], { shape: t.shape, axes: t.axes, dims });
  }
}
