// One or more small IR programs per primitive, with their inputs and the values plain TS computes for them.
// emit.test.ts checks the StableHLO each produces; execute.test.ts runs it on the CPU plugin and compares.
import { FuncBuilder, tensorType, type DType, type Func, type Loc, type Prim, type Value } from '../../compiler/ir/index.ts';

export type Elem = number | bigint;
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Row-major values; floats as numbers (bf16/f16 too), i1 as 0/1, i64 as bigint. */
  readonly data: readonly Elem[];
}

export interface PrimCase {
  readonly name: string;
  /** The StableHLO op the primitive must lower to. */
  readonly op: string;
  /** The result type text printed for that op. */
  readonly resultType: string;
  readonly inputs: readonly HostTensor[];
  build(b: FuncBuilder, args: Value[]): Value[];
  readonly expected: readonly HostTensor[];
  /** Relative tolerance for float results (transcendentals on XLA's CPU are a few ulp off libm). */
  readonly rtol?: number;
}

/** Every case op carries this location, so a test can find the op's line by its `loc(#...)`. */
export const CASE_LOC: Loc = { file: 'test/stablehlo/cases.ts', line: 7, col: 3 };

export function buildCase(c: PrimCase): Func {
  const b = new FuncBuilder('main', () => CASE_LOC);
  const args = c.inputs.map((x, i) => b.param(tensorType(x.dtype, x.shape), { name: `in${i}` }));
  return b.finish(c.build(b, args));
}

const T = (dtype: DType, shape: readonly number[], data: readonly Elem[]): HostTensor => ({ dtype, shape, data });
const f32 = (shape: readonly number[], data: readonly number[]) => T('f32', shape, data.map(Math.fround));
const iota = (n: number, f: (i: number) => number = (i) => i) => Array.from({ length: n }, (_, i) => f(i));
const bool = (xs: readonly boolean[]) => xs.map((x) => (x ? 1 : 0));

const X = f32([2, 4], [-2.5, -1, -0.5, 0, 0.3, 1, 2.5, 4]);
const P = f32([2, 4], [0.1, 0.5, 1, 2, 3, 4, 9, 100]);
const Y = f32([2, 4], [1.5, -2, 0.25, 3, -0.3, 2, -2.5, 0.5]);
const I = T('i32', [2, 4], [-7, -1, 0, 1, 5, 12, 255, -256]);
const J = T('i32', [2, 4], [3, 6, -1, 0, 9, 10, 15, 7]);
const U = T('u32', [2, 4], [1, 2, 0x80000000, 0xffffffff, 7, 12345, 3, 0xdeadbeef]);
const S = T('u32', [2, 4], [0, 1, 1, 4, 31, 3, 32, 8]);

const map1 = (x: HostTensor, f: (a: number) => number, dtype: DType = x.dtype) => T(dtype, x.shape, x.data.map((a) => f(Number(a))));
const map2 = (x: HostTensor, y: HostTensor, f: (a: number, b: number) => number, dtype: DType = x.dtype) =>
  T(dtype, x.shape, x.data.map((a, i) => f(Number(a), Number(y.data[i]))));

function unary(prim: Prim & ('neg' | 'exp' | 'expm1' | 'log' | 'log1p' | 'sqrt' | 'rsqrt' | 'tanh' | 'logistic' | 'abs' | 'sign' | 'floor' | 'ceil' | 'round_nearest_even' | 'sine' | 'cosine' | 'not'),
  op: string, x: HostTensor, f: (a: number) => number, resultType: string, rtol?: number): PrimCase {
  return {
    name: `${prim} ${x.dtype}`, op, resultType, inputs: [x], expected: [map1(x, f)], ...(rtol ? { rtol } : {}),
    build: (b, [a]) => [b.emit1(prim, [a!], {})],
  };
}
function binary(prim: Prim & ('add' | 'subtract' | 'multiply' | 'divide' | 'maximum' | 'minimum' | 'power' | 'remainder' | 'atan2' | 'and' | 'or' | 'xor' | 'shift_left' | 'shift_right_logical'),
  op: string, x: HostTensor, y: HostTensor, f: (a: number, b: number) => number, resultType: string, rtol?: number): PrimCase {
  return {
    name: `${prim} ${x.dtype}`, op, resultType, inputs: [x, y], expected: [map2(x, y, f)], ...(rtol ? { rtol } : {}),
    build: (b, [a, c]) => [b.emit1(prim, [a!, c!], {})],
  };
}

const roundHalfEven = (a: number) => {
  const f = Math.floor(a);
  const d = a - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};
const F24 = 'tensor<2x4xf32>';
const TRANSCENDENTAL = 2e-5;

/** Sizes of a row-major tensor → the flat index of coordinates. */
const at = (shape: readonly number[], idx: readonly number[]) => idx.reduce((acc, v, i) => acc * shape[i]! + v, 0);

export const PRIM_CASES: { readonly [P in Prim]: readonly [PrimCase, ...PrimCase[]] } = {
  neg: [unary('neg', 'stablehlo.negate', X, (a) => -a, F24), unary('neg', 'stablehlo.negate', I, (a) => -a, 'tensor<2x4xi32>')],
  exp: [unary('exp', 'stablehlo.exponential', X, Math.exp, F24, TRANSCENDENTAL)],
  expm1: [unary('expm1', 'stablehlo.exponential_minus_one', X, Math.expm1, F24, TRANSCENDENTAL)],
  log: [unary('log', 'stablehlo.log', P, Math.log, F24, TRANSCENDENTAL)],
  log1p: [unary('log1p', 'stablehlo.log_plus_one', P, Math.log1p, F24, TRANSCENDENTAL)],
  sqrt: [unary('sqrt', 'stablehlo.sqrt', P, Math.sqrt, F24, TRANSCENDENTAL)],
  rsqrt: [unary('rsqrt', 'stablehlo.rsqrt', P, (a) => 1 / Math.sqrt(a), F24, TRANSCENDENTAL)],
  tanh: [unary('tanh', 'stablehlo.tanh', X, Math.tanh, F24, TRANSCENDENTAL)],
  logistic: [unary('logistic', 'stablehlo.logistic', X, (a) => 1 / (1 + Math.exp(-a)), F24, TRANSCENDENTAL)],
  abs: [unary('abs', 'stablehlo.abs', X, Math.abs, F24), unary('abs', 'stablehlo.abs', I, Math.abs, 'tensor<2x4xi32>')],
  sign: [unary('sign', 'stablehlo.sign', X, Math.sign, F24)],
  floor: [unary('floor', 'stablehlo.floor', X, Math.floor, F24)],
  ceil: [unary('ceil', 'stablehlo.ceil', X, Math.ceil, F24)],
  round_nearest_even: [unary('round_nearest_even', 'stablehlo.round_nearest_even', f32([2, 4], [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3, -0.7]), roundHalfEven, F24)],
  sine: [unary('sine', 'stablehlo.sine', X, Math.sin, F24, TRANSCENDENTAL)],
  cosine: [unary('cosine', 'stablehlo.cosine', X, Math.cos, F24, TRANSCENDENTAL)],
  not: [
    unary('not', 'stablehlo.not', I, (a) => ~a, 'tensor<2x4xi32>'),
    unary('not', 'stablehlo.not', T('i1', [4], [1, 0, 0, 1]), (a) => 1 - a, 'tensor<4xi1>'),
  ],

  add: [binary('add', 'stablehlo.add', X, Y, (a, b) => a + b, F24), binary('add', 'stablehlo.add', I, J, (a, b) => a + b, 'tensor<2x4xi32>')],
  subtract: [binary('subtract', 'stablehlo.subtract', X, Y, (a, b) => a - b, F24)],
  multiply: [binary('multiply', 'stablehlo.multiply', X, Y, (a, b) => a * b, F24), binary('multiply', 'stablehlo.multiply', U, U, (a, b) => Number((BigInt(a) * BigInt(b)) % 2n ** 32n), 'tensor<2x4xui32>')],
  divide: [binary('divide', 'stablehlo.divide', X, Y, (a, b) => a / b, F24), binary('divide', 'stablehlo.divide', I, T('i32', [2, 4], [2, 2, 3, -1, -2, 5, 16, 7]), (a, b) => Math.trunc(a / b), 'tensor<2x4xi32>')],
  maximum: [binary('maximum', 'stablehlo.maximum', X, Y, Math.max, F24)],
  minimum: [binary('minimum', 'stablehlo.minimum', X, Y, Math.min, F24), binary('minimum', 'stablehlo.minimum', U, S, Math.min, 'tensor<2x4xui32>')],
  power: [binary('power', 'stablehlo.power', P, Y, Math.pow, F24, TRANSCENDENTAL)],
  remainder: [binary('remainder', 'stablehlo.remainder', X, Y, (a, b) => a % b, F24), binary('remainder', 'stablehlo.remainder', I, T('i32', [2, 4], [3, 6, -1, 2, 9, 10, 15, 7]), (a, b) => a % b, 'tensor<2x4xi32>')],
  atan2: [binary('atan2', 'stablehlo.atan2', X, Y, Math.atan2, F24, TRANSCENDENTAL)],
  and: [binary('and', 'stablehlo.and', I, J, (a, b) => a & b, 'tensor<2x4xi32>'), binary('and', 'stablehlo.and', T('i1', [4], [1, 1, 0, 0]), T('i1', [4], [1, 0, 1, 0]), (a, b) => a & b, 'tensor<4xi1>')],
  or: [binary('or', 'stablehlo.or', I, J, (a, b) => a | b, 'tensor<2x4xi32>'), binary('or', 'stablehlo.or', T('i1', [4], [1, 1, 0, 0]), T('i1', [4], [1, 0, 1, 0]), (a, b) => a | b, 'tensor<4xi1>')],
  xor: [binary('xor', 'stablehlo.xor', I, J, (a, b) => a ^ b, 'tensor<2x4xi32>'), binary('xor', 'stablehlo.xor', U, S, (a, b) => (a ^ b) >>> 0, 'tensor<2x4xui32>')],
  // Shifts by the bit width or more give 0 (StableHLO's rule), unlike JS's modulo-32 shift count.
  shift_left: [binary('shift_left', 'stablehlo.shift_left', U, S, (a, s) => (s >= 32 ? 0 : (a << s) >>> 0), 'tensor<2x4xui32>')],
  shift_right_logical: [binary('shift_right_logical', 'stablehlo.shift_right_logical', U, S, (a, s) => (s >= 32 ? 0 : a >>> s), 'tensor<2x4xui32>')],

  compare: [
    {
      name: 'compare LT f32 (NaN is unordered)', op: 'stablehlo.compare', resultType: 'tensor<4xi1>',
      inputs: [f32([4], [1, NaN, -0, 2]), f32([4], [2, 1, 0, 2])], expected: [T('i1', [4], [1, 0, 0, 0])],
      build: (b, [x, y]) => [b.emit1('compare', [x!, y!], { direction: 'LT' })],
    },
    {
      name: 'compare GE i32 (SIGNED)', op: 'stablehlo.compare', resultType: 'tensor<4xi1>',
      inputs: [T('i32', [4], [-5, 3, 0, -1]), T('i32', [4], [-6, 3, 1, 2])], expected: [T('i1', [4], [1, 1, 0, 0])],
      build: (b, [x, y]) => [b.emit1('compare', [x!, y!], { direction: 'GE' })],
    },
    {
      name: 'compare GT u32 (UNSIGNED)', op: 'stablehlo.compare', resultType: 'tensor<4xi1>',
      inputs: [T('u32', [4], [3_000_000_000, 1, 5, 0]), T('u32', [4], [1, 3_000_000_000, 5, 0])], expected: [T('i1', [4], [1, 0, 0, 0])],
      build: (b, [x, y]) => [b.emit1('compare', [x!, y!], { direction: 'GT' })],
    },
    {
      name: 'compare NE i1', op: 'stablehlo.compare', resultType: 'tensor<4xi1>',
      inputs: [T('i1', [4], [1, 0, 1, 0]), T('i1', [4], [1, 1, 0, 0])], expected: [T('i1', [4], [0, 1, 1, 0])],
      build: (b, [x, y]) => [b.emit1('compare', [x!, y!], { direction: 'NE' })],
    },
  ],
  select: [{
    name: 'select f32', op: 'stablehlo.select', resultType: F24,
    inputs: [T('i1', [2, 4], [1, 0, 1, 0, 0, 1, 1, 0]), X, Y],
    expected: [f32([2, 4], X.data.map((a, i) => ([1, 0, 1, 0, 0, 1, 1, 0][i] ? Number(a) : Number(Y.data[i]))))],
    build: (b, [p, x, y]) => [b.emit1('select', [p!, x!, y!], {})],
  }],
  convert: [
    {
      name: 'convert f32 → i32 (truncates)', op: 'stablehlo.convert', resultType: 'tensor<6xi32>',
      inputs: [f32([6], [-2.7, -0.5, 0.5, 2.7, 100.9, -100.9])], expected: [T('i32', [6], [-2, 0, 0, 2, 100, -100])],
      build: (b, [x]) => [b.emit1('convert', [x!], { dtype: 'i32' })],
    },
    {
      name: 'convert f32 → bf16 (round to nearest even)', op: 'stablehlo.convert', resultType: 'tensor<4xbf16>',
      // bf16 has 8 significant bits: 0.1 → 0x3DCD, 1/3 → 0x3EAB, 1e10 → 0x5015, -3.14159 → 0xC049.
      inputs: [f32([4], [0.1, 1 / 3, 1e10, -3.14159])], expected: [T('bf16', [4], [0.10009765625, 0.333984375, 9999220736, -3.140625])],
      build: (b, [x]) => [b.emit1('convert', [x!], { dtype: 'bf16' })],
    },
    {
      name: 'convert i32 → f32', op: 'stablehlo.convert', resultType: 'tensor<4xf32>',
      inputs: [T('i32', [4], [-3, 0, 16_777_217, 5])], expected: [f32([4], [-3, 0, 16_777_216, 5])],
      build: (b, [x]) => [b.emit1('convert', [x!], { dtype: 'f32' })],
    },
    {
      name: 'convert f32 → i1 (nonzero is true)', op: 'stablehlo.convert', resultType: 'tensor<4xi1>',
      inputs: [f32([4], [0, 2.5, -1, 0])], expected: [T('i1', [4], [0, 1, 1, 0])],
      build: (b, [x]) => [b.emit1('convert', [x!], { dtype: 'i1' })],
    },
    {
      name: 'convert u32 → f32', op: 'stablehlo.convert', resultType: 'tensor<2xf32>',
      inputs: [T('u32', [2], [0xffffffff, 7])], expected: [f32([2], [4294967296, 7])],
      build: (b, [x]) => [b.emit1('convert', [x!], { dtype: 'f32' })],
    },
  ],
  bitcast_convert: [
    {
      name: 'bitcast_convert u32 → f32', op: 'stablehlo.bitcast_convert', resultType: 'tensor<4xf32>',
      inputs: [T('u32', [4], [0x3f800000, 0xc0000000, 0x7f800000, 0])], expected: [f32([4], [1, -2, Infinity, 0])],
      build: (b, [x]) => [b.emit1('bitcast_convert', [x!], { dtype: 'f32' })],
    },
    {
      name: 'bitcast_convert f32 → i32', op: 'stablehlo.bitcast_convert', resultType: 'tensor<2xi32>',
      inputs: [f32([2], [1, -0])], expected: [T('i32', [2], [0x3f800000, -(2 ** 31)])],
      build: (b, [x]) => [b.emit1('bitcast_convert', [x!], { dtype: 'i32' })],
    },
  ],
  constant: [
    constantCase('f32 splat', T('f32', [2, 2], [3.5, 3.5, 3.5, 3.5]), 3.5),
    constantCase('f32 inf/nan/-0/tiny', f32([8], [Infinity, -Infinity, NaN, -0, 0.1, 1e-30, 3.4e38, 1.17549435e-38])),
    constantCase('bf16 from numbers', T('bf16', [2, 2], [1, 0.10009765625, -Infinity, 3.140625]), [1, 0.1, -Infinity, 3.14159]),
    constantCase('f16 max, subnormal, 0.1', T('f16', [3], [65504, 2 ** -23, 0.0999755859375]), [65504, 1e-7, 0.1]),
    constantCase('f64', T('f64', [3], [0.1, 1e300, -2.5])),
    constantCase('i1', T('i1', [4], [1, 0, 0, 1])),
    constantCase('u32 above 2^31', T('u32', [3], [4294967295, 0, 2147483648])),
    constantCase('u8', T('u8', [4], [0, 255, 7, 128])),
    constantCase('i64 beyond 2^53', T('i64', [2], [9007199254740993n, -9223372036854775808n])),
    constantCase('f32 100 values (hex)', f32([10, 10], iota(100, (i) => i * 0.25 - 3))),
    constantCase('i32 80 values (hex)', T('i32', [80], iota(80, (i) => i * i - 1000))),
    constantCase('bf16 70 values (hex)', T('bf16', [70], iota(70, (i) => i / 8))),
    constantCase('f32 with no elements', f32([0, 3], [])),
    constantCase('i1 70 values (list)', T('i1', [70], iota(70, (i) => (i % 3 === 0 ? 1 : 0)))),
  ],
  iota: [
    {
      name: 'iota i32 dim 1', op: 'stablehlo.iota', resultType: 'tensor<3x4xi32>', inputs: [],
      expected: [T('i32', [3, 4], iota(12, (i) => i % 4))],
      build: (b) => [b.emit1('iota', [], { dtype: 'i32', shape: [3, 4], axes: ['a', 'b'], dimension: 1 })],
    },
    {
      name: 'iota f32 dim 0', op: 'stablehlo.iota', resultType: 'tensor<3x2xf32>', inputs: [],
      expected: [f32([3, 2], [0, 0, 1, 1, 2, 2])],
      build: (b) => [b.emit1('iota', [], { dtype: 'f32', shape: [3, 2], axes: ['a', 'b'], dimension: 0 })],
    },
  ],
  broadcast_in_dim: [
    {
      name: 'broadcast [3] → [2,3]', op: 'stablehlo.broadcast_in_dim', resultType: 'tensor<2x3xf32>',
      inputs: [f32([3], [1, 2, 3])], expected: [f32([2, 3], [1, 2, 3, 1, 2, 3])],
      build: (b, [x]) => [b.emit1('broadcast_in_dim', [x!], { shape: [2, 3], axes: ['a', 'b'], dims: [1] })],
    },
    {
      name: 'broadcast scalar', op: 'stablehlo.broadcast_in_dim', resultType: 'tensor<2x2xi32>',
      inputs: [T('i32', [], [7])], expected: [T('i32', [2, 2], [7, 7, 7, 7])],
      build: (b, [x]) => [b.emit1('broadcast_in_dim', [x!], { shape: [2, 2], axes: ['a', 'b'], dims: [] })],
    },
    {
      name: 'broadcast a size-1 dim', op: 'stablehlo.broadcast_in_dim', resultType: 'tensor<2x3xf32>',
      inputs: [f32([2, 1], [5, 6])], expected: [f32([2, 3], [5, 5, 5, 6, 6, 6])],
      build: (b, [x]) => [b.emit1('broadcast_in_dim', [x!], { shape: [2, 3], axes: ['a', 'b'], dims: [0, 1] })],
    },
  ],
  reshape: [{
    name: 'reshape [2,3] → [3,2]', op: 'stablehlo.reshape', resultType: 'tensor<3x2xf32>',
    inputs: [f32([2, 3], [1, 2, 3, 4, 5, 6])], expected: [f32([3, 2], [1, 2, 3, 4, 5, 6])],
    build: (b, [x]) => [b.emit1('reshape', [x!], { shape: [3, 2], axes: ['a', 'b'] })],
  }],
  transpose: [{
    name: 'transpose [2,3,4] by [2,0,1]', op: 'stablehlo.transpose', resultType: 'tensor<4x2x3xf32>',
    inputs: [f32([2, 3, 4], iota(24))],
    expected: [f32([4, 2, 3], iota(24, (n) => {
      const [k, i, j] = [Math.floor(n / 6), Math.floor(n / 3) % 2, n % 3];
      return at([2, 3, 4], [i, j, k]);
    }))],
    build: (b, [x]) => [b.emit1('transpose', [x!], { permutation: [2, 0, 1] })],
  }],
  concatenate: [{
    name: 'concatenate on dim 1', op: 'stablehlo.concatenate', resultType: 'tensor<2x5xf32>',
    inputs: [f32([2, 2], [1, 2, 3, 4]), f32([2, 3], [5, 6, 7, 8, 9, 10])], expected: [f32([2, 5], [1, 2, 5, 6, 7, 3, 4, 8, 9, 10])],
    build: (b, xs) => [b.emit1('concatenate', xs, { dimension: 1 })],
  }],
  slice: [{
    name: 'slice with a stride', op: 'stablehlo.slice', resultType: 'tensor<2x4xf32>',
    inputs: [f32([4, 6], iota(24))], expected: [f32([2, 4], [1, 2, 3, 4, 13, 14, 15, 16])],
    build: (b, [x]) => [b.emit1('slice', [x!], { start: [0, 1], limit: [4, 5], strides: [2, 1] })],
  }],
  dynamic_slice: [{
    name: 'dynamic_slice (start clamped into range)', op: 'stablehlo.dynamic_slice', resultType: 'tensor<2x2xf32>',
    inputs: [f32([3, 4], iota(12)), T('i32', [], [1]), T('i32', [], [3])], expected: [f32([2, 2], [6, 7, 10, 11])],
    build: (b, xs) => [b.emit1('dynamic_slice', xs, { sizes: [2, 2] })],
  }],
  dynamic_update_slice: [{
    name: 'dynamic_update_slice (starts clamped)', op: 'stablehlo.dynamic_update_slice', resultType: 'tensor<3x4xf32>',
    inputs: [f32([3, 4], iota(12)), f32([2, 2], [100, 101, 102, 103]), T('i32', [], [2]), T('i32', [], [-1])],
    expected: [f32([3, 4], [0, 1, 2, 3, 100, 101, 6, 7, 102, 103, 10, 11])],
    build: (b, xs) => [b.emit1('dynamic_update_slice', xs, {})],
  }],
  pad: [{
    name: 'pad low/high/interior', op: 'stablehlo.pad', resultType: 'tensor<3x7xf32>',
    inputs: [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([], [0.5])],
    expected: [f32([3, 7], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 0.5, 2, 0.5, 3, 0.5, 0.5, 4, 0.5, 5, 0.5, 6, 0.5, 0.5])],
    build: (b, xs) => [b.emit1('pad', xs, { low: [1, 0], high: [0, 2], interior: [0, 1] })],
  }],
  dot_general: [
    {
      name: 'dot_general matmul', op: 'stablehlo.dot_general', resultType: 'tensor<2x4xf32>',
      inputs: [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([3, 4], iota(12, (i) => i - 5))],
      expected: [f32([2, 4], matmul([1, 2, 3, 4, 5, 6], iota(12, (i) => i - 5), 1, 2, 3, 4))],
      build: (b, [x, y]) => [b.emit1('dot_general', [x!, y!], { lhsBatch: [], rhsBatch: [], lhsContract: [1], rhsContract: [0] })],
    },
    {
      name: 'dot_general batched', op: 'stablehlo.dot_general', resultType: 'tensor<2x3x5xf32>',
      inputs: [f32([2, 3, 4], iota(24, (i) => (i % 7) - 3)), f32([2, 4, 5], iota(40, (i) => (i % 5) * 0.5))],
      expected: [f32([2, 3, 5], matmul(iota(24, (i) => (i % 7) - 3), iota(40, (i) => (i % 5) * 0.5), 2, 3, 4, 5))],
      build: (b, [x, y]) => [b.emit1('dot_general', [x!, y!], { lhsBatch: [0], rhsBatch: [0], lhsContract: [2], rhsContract: [1] })],
    },
    {
      name: 'dot_general bf16 x bf16 → f32', op: 'stablehlo.dot_general', resultType: 'tensor<2x2xf32>',
      inputs: [T('bf16', [2, 2], [1, 2, 3, 4]), T('bf16', [2, 2], [0.5, 1.5, -1, 2])], expected: [f32([2, 2], matmul([1, 2, 3, 4], [0.5, 1.5, -1, 2], 1, 2, 2, 2))],
      build: (b, [x, y]) => [b.emit1('dot_general', [x!, y!], { lhsBatch: [], rhsBatch: [], lhsContract: [1], rhsContract: [0], resultDtype: 'f32' })],
    },
  ],
  reduce: [
    reduceCase('sum', X, [1], f32([2], [-4, 7.8]), 'tensor<2xf32>'),
    reduceCase('sum', X, [0, 1], f32([], [3.8]), 'tensor<f32>'),
    reduceCase('max', f32([2, 3], [-Infinity, -5, 2, -Infinity, -7, 1]), [0], f32([3], [-Infinity, -5, 2]), 'tensor<3xf32>'),
    reduceCase('min', f32([2, 2], [Infinity, 3, Infinity, -1]), [0], f32([2], [Infinity, -1]), 'tensor<2xf32>'),
    reduceCase('min', I, [1], T('i32', [2], [-7, -256]), 'tensor<2xi32>'),
    reduceCase('max', I, [1], T('i32', [2], [1, 255]), 'tensor<2xi32>'),
    reduceCase('max', U, [0], T('u32', [4], [7, 12345, 0x80000000, 0xffffffff]), 'tensor<4xui32>'),
    reduceCase('and', I, [1], T('i32', [2], [-7 & -1 & 0 & 1, 5 & 12 & 255 & -256]), 'tensor<2xi32>'),
    reduceCase('or', J, [0], T('i32', [4], [3 | 9, 6 | 10, -1 | 15, 0 | 7]), 'tensor<4xi32>'),
    reduceCase('and', T('i1', [2, 3], [1, 1, 1, 1, 0, 1]), [1], T('i1', [2], [1, 0]), 'tensor<2xi1>'),
    reduceCase('or', T('i1', [2, 3], [0, 0, 0, 1, 0, 1]), [1], T('i1', [2], [0, 1]), 'tensor<2xi1>'),
    reduceCase('max', T('i1', [2, 2], [0, 0, 1, 0]), [1], T('i1', [2], [0, 1]), 'tensor<2xi1>'),
    reduceCase('min', T('u8', [2, 2], [9, 255, 4, 200]), [1], T('u8', [2], [9, 4]), 'tensor<2xui8>'),
  ],
  sort: [
    {
      // Keys: -1 < -0 == 0 < 2 < 3 < NaN; the stable sort keeps -0 (index 2) before 0 (index 3).
      name: 'sort f32 ascending with an index payload', op: 'stablehlo.sort', resultType: '(tensor<6xf32>, tensor<6xi32>)',
      inputs: [f32([6], [3, NaN, -0, 0, -1, 2]), T('i32', [6], iota(6))],
      expected: [f32([6], [-1, -0, 0, 2, 3, NaN]), T('i32', [6], [4, 2, 3, 5, 0, 1])],
      build: (b, xs) => b.emit('sort', xs, { dimension: 0, descending: false }),
    },
    {
      name: 'sort i32 descending, stable, along dim 1', op: 'stablehlo.sort', resultType: '(tensor<2x4xi32>, tensor<2x4xi32>)',
      inputs: [T('i32', [2, 4], [3, 1, 3, -2, 0, 5, 5, 9]), T('i32', [2, 4], [0, 1, 2, 3, 0, 1, 2, 3])],
      expected: [T('i32', [2, 4], [3, 3, 1, -2, 9, 5, 5, 0]), T('i32', [2, 4], [0, 2, 1, 3, 3, 1, 2, 0])],
      build: (b, xs) => b.emit('sort', xs, { dimension: 1, descending: true }),
    },
    {
      name: 'sort u32 ascending', op: 'stablehlo.sort', resultType: 'tensor<3xui32>',
      inputs: [T('u32', [3], [3_000_000_000, 1, 2])], expected: [T('u32', [3], [1, 2, 3_000_000_000])],
      build: (b, xs) => b.emit('sort', xs, { dimension: 0, descending: false }),
    },
  ],
  gather: [{
    // An embedding lookup; the out-of-range id 7 is clamped to the last row, as XLA clamps gather starts.
    name: 'gather rows (embedding lookup)', op: 'stablehlo.gather', resultType: 'tensor<2x2x3xf32>',
    inputs: [f32([5, 3], iota(15)), T('i32', [2, 2, 1], [4, 0, 2, 7])],
    expected: [f32([2, 2, 3], [12, 13, 14, 0, 1, 2, 6, 7, 8, 12, 13, 14])],
    build: (b, xs) => [b.emit1('gather', xs, {
      offsetDims: [2], collapsedSliceDims: [0], startIndexMap: [0], indexVectorDim: 2, sliceSizes: [1, 3], axes: ['batch', 'length', 'embed'],
    })],
  }],
  scatter: [
    {
      name: 'scatter add (duplicate indices accumulate)', op: 'stablehlo.scatter', resultType: 'tensor<4x2xf32>',
      inputs: [f32([4, 2], [0, 0, 0, 0, 0, 0, 0, 0]), T('i32', [3, 1], [1, 3, 1]), f32([3, 2], [1, 2, 3, 4, 5, 6])],
      expected: [f32([4, 2], [0, 0, 6, 8, 0, 0, 3, 4])],
      build: (b, xs) => [b.emit1('scatter', xs, { updateWindowDims: [1], insertedWindowDims: [0], scatterDimsToOperandDims: [0], indexVectorDim: 1, kind: 'add' })],
    },
    {
      name: 'scatter replace', op: 'stablehlo.scatter', resultType: 'tensor<3x2xf32>',
      inputs: [f32([3, 2], [1, 1, 1, 1, 1, 1]), T('i32', [2, 1], [2, 0]), f32([2, 2], [9, 9, 8, 8])],
      expected: [f32([3, 2], [8, 8, 1, 1, 9, 9])],
      build: (b, xs) => [b.emit1('scatter', xs, { updateWindowDims: [1], insertedWindowDims: [0], scatterDimsToOperandDims: [0], indexVectorDim: 1, kind: 'replace' })],
    },
  ],
  optimization_barrier: [{
    name: 'optimization_barrier on two values', op: 'stablehlo.optimization_barrier', resultType: 'tensor<2x4xf32>, tensor<2x4xi32>',
    inputs: [X, I], expected: [X, I],
    build: (b, xs) => b.emit('optimization_barrier', xs, {}),
  }],
  sharding_constraint: [{
    name: 'sharding_constraint (replicated)', op: 'stablehlo.custom_call @Sharding', resultType: F24,
    inputs: [X], expected: [X],
    build: (b, [x]) => [b.emit1('sharding_constraint', [x!], { sharding: '{replicated}' })],
  }],
  // c ← c + x_i, y_i = c·x_i over the rows of X (and, reversed, over the rows from the last); the index is added to y.
  scan: [false, true].map((reverse): PrimCase => {
    const c0 = [1, 2, 3, 4];
    const rows = reverse ? [1, 0] : [0, 1];
    const c = [...c0], ys: number[][] = [[], []];
    for (const r of rows) {
      const x = X.data.slice(4 * r, 4 * r + 4).map(Number);
      x.forEach((v, k) => { c[k] = Math.fround(c[k]! + v); });
      ys[r] = x.map((v, k) => Math.fround(Math.fround(c[k]! * v) + r));
    }
    return {
      name: `scan${reverse ? ' (reverse)' : ''}`, op: 'stablehlo.while', resultType: F24,
      inputs: [f32([4], c0), X], expected: [f32([4], c), f32([2, 4], ys.flat())],
      build: (b, [init, xs]) => {
        const body = new FuncBuilder('body', () => CASE_LOC);
        const i = body.param(tensorType('i32', []));
        const cv = body.param(tensorType('f32', [4])), xv = body.param(tensorType('f32', [4]));
        const c1 = body.emit1('add', [cv, xv], {});
        const fi = body.emit1('broadcast_in_dim', [body.emit1('convert', [i], { dtype: 'f32' })], { shape: [4], axes: ['d0'], dims: [] });
        const y = body.emit1('add', [body.emit1('multiply', [c1, xv], {}), fi], {});
        return b.emit('scan', [init!, xs!], { body: body.finish([c1, y]), length: 2, numCarry: 1, numXs: 1, axis: 'rows', ...(reverse ? { reverse } : {}) });
      },
    };
  }) as [PrimCase, PrimCase],
};

function constantCase(name: string, expected: HostTensor, value?: number | readonly number[]): PrimCase {
  const v = value ?? expected.data;
  const elt = { i1: 'i1', u32: 'ui32', u8: 'ui8' }[expected.dtype as string] ?? expected.dtype;
  return {
    name: `constant ${name}`, op: 'stablehlo.constant', resultType: `tensor<${expected.shape.map((d) => `${d}x`).join('')}${elt}>`,
    inputs: [], expected: [expected],
    build: (b) => [b.emit1('constant', [], { dtype: expected.dtype, shape: expected.shape, axes: expected.shape.map((_, i) => `d${i}`), value: v as readonly number[] })],
  };
}

function reduceCase(kind: 'sum' | 'max' | 'min' | 'and' | 'or', x: HostTensor, dims: readonly number[], expected: HostTensor, resultType: string): PrimCase {
  return {
    name: `reduce ${kind} ${x.dtype} over [${dims.join(', ')}]`, op: 'stablehlo.reduce', resultType, inputs: [x], expected: [expected], rtol: 1e-6,
    build: (b, [a]) => [b.emit1('reduce', [a!], { dims, kind })],
  };
}

/** Batched row-major matmul: [batch, m, k] x [batch, k, n]. */
function matmul(a: readonly number[], b: readonly number[], batch: number, m: number, k: number, n: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < batch; p++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += Math.fround(a[p * m * k + i * k + q]!) * Math.fround(b[p * k * n + q * n + j]!);
        out.push(s);
      }
  return out;
}

export const ALL_CASES: readonly (PrimCase & { prim: Prim })[] = (Object.entries(PRIM_CASES) as [Prim, readonly PrimCase[]][]).flatMap(
  ([prim, cases]) => cases.map((c) => ({ ...c, prim })),
);
