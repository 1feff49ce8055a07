// Hand-written StableHLO modules for the runtime tests (JAX's spelling, see shared/stablehlo-examples).
import { DTYPE_INFO, type DType } from '../../compiler/ir/dtype.ts';

/** MLIR element type of a dtype. */
export const mlir = (d: DType): string => DTYPE_INFO[d].mlir;

export function elementwise(d: 'f32' | 'bf16' | 'i32'): string {
  const t = `tensor<2x3x${mlir(d)}>`;
  return `module @elementwise_${d} {
  func.func public @main(%a: ${t}, %b: ${t}) -> (${t}, ${t}, ${t}, ${t}) {
    %0 = stablehlo.add %a, %b : ${t}
    %1 = stablehlo.subtract %a, %b : ${t}
    %2 = stablehlo.multiply %a, %b : ${t}
    %3 = stablehlo.maximum %a, %b : ${t}
    return %0, %1, %2, %3 : ${t}, ${t}, ${t}, ${t}
  }
}`;
}

export function elementwiseBool(): string {
  const t = 'tensor<2x3xi1>';
  return `module @elementwise_i1 {
  func.func public @main(%a: ${t}, %b: ${t}) -> (${t}, ${t}, ${t}, ${t}) {
    %0 = stablehlo.and %a, %b : ${t}
    %1 = stablehlo.or %a, %b : ${t}
    %2 = stablehlo.xor %a, %b : ${t}
    %3 = stablehlo.not %a : ${t}
    return %0, %1, %2, %3 : ${t}, ${t}, ${t}, ${t}
  }
}`;
}

/** [2,3] x [3,2] -> [2,2], and a batched [2,2,3] x [2,3,2] -> [2,2,2]. */
export function dot(d: DType): string {
  const e = mlir(d);
  return `module @dot_${d} {
  func.func public @main(%a: tensor<2x3x${e}>, %b: tensor<3x2x${e}>, %p: tensor<2x2x3x${e}>, %q: tensor<2x3x2x${e}>) -> (tensor<2x2x${e}>, tensor<2x2x2x${e}>) {
    %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<2x3x${e}>, tensor<3x2x${e}>) -> tensor<2x2x${e}>
    %1 = stablehlo.dot_general %p, %q, batching_dims = [0] x [0], contracting_dims = [2] x [1], precision = [DEFAULT, DEFAULT] : (tensor<2x2x3x${e}>, tensor<2x3x2x${e}>) -> tensor<2x2x2x${e}>
    return %0, %1 : tensor<2x2x${e}>, tensor<2x2x2x${e}>
  }
}`;
}

/** Sum over dim 1 and max over dim 0 of a [2,3]; for i1, or over dim 1 and and over dim 0. */
export function reduce(d: 'f32' | 'bf16' | 'i32' | 'i1'): string {
  const e = mlir(d);
  const [sumOp, maxOp] = d === 'i1' ? ['or', 'and'] : ['add', 'maximum'];
  const zero = d === 'i1' ? 'false' : d === 'i32' ? '0' : '0.000000e+00';
  const low = d === 'i1' ? 'true' : d === 'i32' ? '-100' : '-1.000000e+02';
  return `module @reduce_${d} {
  func.func public @main(%a: tensor<2x3x${e}>) -> (tensor<2x${e}>, tensor<3x${e}>) {
    %z = stablehlo.constant dense<${zero}> : tensor<${e}>
    %0 = stablehlo.reduce(%a init: %z) applies stablehlo.${sumOp} across dimensions = [1] : (tensor<2x3x${e}>, tensor<${e}>) -> tensor<2x${e}>
    %l = stablehlo.constant dense<${low}> : tensor<${e}>
    %1 = stablehlo.reduce(%a init: %l) applies stablehlo.${maxOp} across dimensions = [0] : (tensor<2x3x${e}>, tensor<${e}>) -> tensor<3x${e}>
    return %0, %1 : tensor<2x${e}>, tensor<3x${e}>
  }
}`;
}

/** Two outputs of different shapes: (a + b, sum(a * b)); for i1, (a and b, any(a xor b)). */
export function twoOutputs(d: 'f32' | 'bf16' | 'i32' | 'i1'): string {
  const e = mlir(d);
  const t = `tensor<4x${e}>`;
  const [mul, add, zero] = d === 'i1' ? ['xor', 'or', 'false'] : ['multiply', 'add', d === 'i32' ? '0' : '0.000000e+00'];
  const first = d === 'i1' ? 'and' : 'add';
  return `module @two_outputs_${d} {
  func.func public @main(%a: ${t}, %b: ${t}) -> (${t}, tensor<${e}>) {
    %0 = stablehlo.${first} %a, %b : ${t}
    %1 = stablehlo.${mul} %a, %b : ${t}
    %z = stablehlo.constant dense<${zero}> : tensor<${e}>
    %2 = stablehlo.reduce(%1 init: %z) applies stablehlo.${add} across dimensions = [0] : (${t}, tensor<${e}>) -> tensor<${e}>
    return %0, %2 : ${t}, tensor<${e}>
  }
}`;
}

/** x + x (for i1: not x) on a [3] of any dtype. */
export function double(d: DType): string {
  const t = `tensor<3x${mlir(d)}>`;
  const body = d === 'i1' ? `stablehlo.not %a : ${t}` : `stablehlo.add %a, %a : ${t}`;
  return `module @double_${d} {
  func.func public @main(%a: ${t}) -> ${t} {
    %0 = ${body}
    return %0 : ${t}
  }
}`;
}

/** `iterations` rounds of x <- tanh(x @ x / n + 0.5) on an n x n matrix: a computation that takes a while. */
export function longLoop(n: number, iterations: number): string {
  const t = `tensor<${n}x${n}xf32>`;
  return `module @long_loop {
  func.func public @main(%a: ${t}) -> ${t} {
    %c0 = stablehlo.constant dense<0> : tensor<i32>
    %r:2 = stablehlo.while(%i = %c0, %x = %a) : tensor<i32>, ${t}
    cond {
      %n = stablehlo.constant dense<${iterations}> : tensor<i32>
      %p = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %p : tensor<i1>
    } do {
      %one = stablehlo.constant dense<1> : tensor<i32>
      %j = stablehlo.add %i, %one : tensor<i32>
      %y = stablehlo.dot_general %x, %x, contracting_dims = [1] x [0] : (${t}, ${t}) -> ${t}
      %s = stablehlo.constant dense<${(1 / n).toExponential(6)}> : tensor<f32>
      %sb = stablehlo.broadcast_in_dim %s, dims = [] : (tensor<f32>) -> ${t}
      %ys = stablehlo.multiply %y, %sb : ${t}
      %h = stablehlo.constant dense<5.000000e-01> : tensor<f32>
      %hb = stablehlo.broadcast_in_dim %h, dims = [] : (tensor<f32>) -> ${t}
      %yh = stablehlo.add %ys, %hb : ${t}
      %z = stablehlo.tanh %yh : ${t}
      stablehlo.return %j, %z : tensor<i32>, ${t}
    }
    return %r#1 : ${t}
  }
}`;
}

/** a * b + c elementwise on f32[n] (a small program to run many times). */
export function fma(n: number): string {
  const t = `tensor<${n}xf32>`;
  return `module @fma {
  func.func public @main(%a: ${t}, %b: ${t}, %c: ${t}) -> ${t} {
    %0 = stablehlo.multiply %a, %b : ${t}
    %1 = stablehlo.add %0, %c : ${t}
    return %1 : ${t}
  }
}`;
}
