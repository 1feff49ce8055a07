// Ops the PRNG and the nn layers need beyond the core DSL files: bitwise xor and shifts, bitcast, erfInv.
// (Kept apart from ops_*.ts, which another engineer owns; each op follows their conventions: userOp, named-axis alignment.)
import { DTYPE_INFO, isFloat, showType, type DType } from '../compiler/ir/index.ts';
import type { AlignCheck, Aligned, Axes } from './axes.ts';
import { align, type Operand } from './align.ts';
import { cast, emit, fail, splat, userOp, type AnyTensor } from './core.ts';
import type { Tensor } from './tensor.ts';

function intBinary(name: string, prim: 'xor' | 'shift_left' | 'shift_right_logical', a: Operand, b: Operand): AnyTensor {
  return userOp(name, () => {
    const [x, y] = align([a, b]);
    if (isFloat(x!.dtype)) fail(`needs integer (or bool, for xor) operands, got ${showType(x!.type)}`);
    return emit(prim, [x!, y!], {});
  });
}

type IntBin = <D extends DType, A extends Axes, B extends Axes = readonly []>(
  x: Tensor<D, A>, y: (Tensor<D, B> & AlignCheck<A, B>) | number) => Tensor<D, Aligned<A, B>>;

/** `xor(a, b)`: bitwise exclusive or of integer (or bool) tensors. Shape rule: operands align by axis name, as `add`. */
export const xor: IntBin = (x, y) => cast(intBinary('xor', 'xor', x, y as Operand));

/**
 * `shiftLeft(x, 13)`: x · 2^s, bits shifted out are lost (StableHLO `shift_left`; a shift ≥ the bit width gives 0).
 * Integer tensors only. Shape rule as `add`.
 */
export const shiftLeft: IntBin = (x, y) => cast(intBinary('shiftLeft', 'shift_left', x, y as Operand));

/** `shiftRightLogical(x, 9)`: shift right filling with zeros (a shift ≥ the bit width gives 0). Integer tensors only. Shape rule as `add`. */
export const shiftRightLogical: IntBin = (x, y) => cast(intBinary('shiftRightLogical', 'shift_right_logical', x, y as Operand));

/**
 * `bitcast(bits, 'f32')`: reinterpret each element's bits as another dtype of the same width (u32 → f32 for the PRNG's
 * uniform floats). Same axes.
 */
export function bitcast<D2 extends DType, A extends Axes>(x: Tensor<DType, A>, dtype: D2): Tensor<D2, A> {
  return cast(userOp('bitcast', () => {
    if (DTYPE_INFO[x.dtype].bits !== DTYPE_INFO[dtype].bits) fail(`bit widths differ: ${showType(x.type)} → ${dtype}`);
    return x.dtype === dtype ? x : emit('bitcast_convert', [x], { dtype });
  }));
}

// Giles' single-precision erfinv ("Approximating the erfinv function", GPU Computing Gems, 2010), in the form XLA's
// CHLO expansion of `chlo.erf_inv` uses for f32 (read from `jax.jit(jax.lax.erf_inv).lower(...).compiler_ir('hlo')`):
// w = −log1p(−x²); for w < 5 a degree-8 polynomial in w − 2.5, else one in √w − 3; result p(w)·x, ±inf at |x| = 1.
const ERFINV_LOW = [2.81022636e-8, 3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941];
const ERFINV_HIGH = [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682];

/**
 * `erfInv(u)`: the inverse error function on (−1, 1), as XLA computes it for f32 (so `normal` samples match
 * `jax.random.normal` to the ulp). f32 only. Same type.
 */
export function erfInv<A extends Axes>(x: Tensor<'f32', A>): Tensor<'f32', A> {
  return cast(userOp('erfInv', () => {
    if (x.dtype !== 'f32') fail(`needs an f32 tensor, got ${showType(x.type)}`);
    const t = x.type;
    const k = (v: number) => splat(v, t);
    const w = emit('neg', [emit('log1p', [emit('multiply', [x, emit('neg', [x], {})], {})], {})], {});
    const low = emit('compare', [w, k(5)], { direction: 'LT' });
    const pick = (a: number, b: number) => emit('select', [low, k(a), k(b)], {});
    const v = emit('select', [low, emit('subtract', [w, k(2.5)], {}), emit('subtract', [emit('sqrt', [w], {}), k(3)], {})], {});
    let p = pick(ERFINV_LOW[0]!, ERFINV_HIGH[0]!);
    for (let i = 1; i < ERFINV_LOW.length; i++) p = emit('add', [pick(ERFINV_LOW[i]!, ERFINV_HIGH[i]!), emit('multiply', [p, v], {})], {});
    const r = emit('multiply', [p, x], {});
    const edge = emit('compare', [emit('abs', [x], {}), k(1)], { direction: 'EQ' });
    return emit('select', [edge, emit('multiply', [x, k(Infinity)], {}), r], {});
  }));
}

/**
 * `optimizationBarrier(x)`: x unchanged, as a value XLA may not look through (`stablehlo.optimization_barrier`): it
 * is not merged with the same computation on x elsewhere (CSE) nor moved across the barrier. Gradients flow through
 * it. A tool for the program's shape, not its values.
 */
export function optimizationBarrier<T extends AnyTensor>(x: T): T {
  return cast<T>(userOp('optimizationBarrier', () => emit('optimization_barrier', [x], {})));
}
