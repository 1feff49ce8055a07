// Neural-network building blocks decomposed into primitives: softmax, logSoftmax, layerNorm, gelu, relu.
import { isFloat, showType, type DType } from '../compiler/ir/index.ts';
import type { Axes } from './axes.ts';
import { axisIndex, cast, emit, fail, reduceAxes, splat, userOp, type AnyTensor } from './core.ts';
import { align, expandTo } from './align.ts';
import { erf } from './ops_elementwise.ts';
import { Tensor } from './tensor.ts';
import { stopGradient } from './transforms.ts';

function needFloat(x: AnyTensor): void {
  if (!isFloat(x.dtype)) fail(`needs a float tensor, got ${showType(x.type)}`);
}

const mul = (a: AnyTensor, b: AnyTensor) => emit('multiply', [a, b], {});
const addT = (a: AnyTensor, b: AnyTensor) => emit('add', [a, b], {});
const k = (x: AnyTensor, v: number) => splat(v, x.type);
/**
 * The max along `axis` as a constant for autodiff (jax.nn.softmax's `lax.stop_gradient(x_max)`): the shift cancels
 * in the result, so its gradient is zero in exact arithmetic; differentiating it anyway costs a compare, a convert
 * and a select over the whole input per softmax in the backward pass, and breaks the fusion of what is around it.
 */
export const shiftMax = (x: AnyTensor, axis: string): AnyTensor => expandTo(stopGradient(reduceAxes('max', x, axis)), x.type);

/**
 * `softmax(logits, 'vocab')`: e^(x − max) / Σ e^(x − max) along one axis (the max keeps exp from overflowing; no
 * gradient flows through it, as in jax.nn.softmax). Same type.
 */
export function softmax<D extends DType, A extends Axes>(x: Tensor<D, A>, axis: A[number]): Tensor<D, A> {
  return cast(userOp('softmax', () => {
    needFloat(x);
    axisIndex(x, axis);
    const e = emit('exp', [emit('subtract', [x, shiftMax(x, axis)], {})], {});
    return emit('divide', [e, expandTo(reduceAxes('sum', e, axis), x.type)], {});
  }));
}

/** `logSoftmax(logits, 'vocab')`: x − max − log Σ e^(x − max) along one axis. Same type. */
export function logSoftmax<D extends DType, A extends Axes>(x: Tensor<D, A>, axis: A[number]): Tensor<D, A> {
  return cast(userOp('logSoftmax', () => {
    needFloat(x);
    axisIndex(x, axis);
    const shifted = emit('subtract', [x, shiftMax(x, axis)], {});
    const lse = emit('log', [reduceAxes('sum', emit('exp', [shifted], {}), axis)], {});
    return emit('subtract', [shifted, expandTo(lse, x.type)], {});
  }));
}

export interface LayerNormOptions<D extends DType> {
  /** Added to the variance (Flax's default 1e-6). */
  eps?: number;
  /** Multiplies the normalised x; its axes must be a subset of x's (usually `[embed]`). */
  scale?: Tensor<D, Axes>;
  /** Added after the scale. */
  bias?: Tensor<D, Axes>;
}

/**
 * `layerNorm(x, 'embed', {scale, bias})`: (x − mean) / √(var + eps) · scale + bias, mean and (biased) variance
 * over `axis`. Same type as x.
 */
export function layerNorm<D extends DType, A extends Axes>(x: Tensor<D, A>, axis: A[number], opts: LayerNormOptions<D> = {}): Tensor<D, A> {
  return cast(userOp('layerNorm', () => {
    needFloat(x);
    const n = x.shape[axisIndex(x, axis)]!;
    const meanOf = (t: AnyTensor) => {
      const s = reduceAxes('sum', t, axis);
      return expandTo(emit('divide', [s, splat(n, s.type)], {}), x.type);
    };
    const xc = emit('subtract', [x, meanOf(x)], {});
    const variance = meanOf(mul(xc, xc));
    let y = mul(xc, emit('rsqrt', [addT(variance, k(x, opts.eps ?? 1e-6))], {}));
    for (const [what, p] of [['scale', opts.scale], ['bias', opts.bias]] as const) {
      if (!p) continue;
      if (!(p instanceof Tensor)) fail(`${what} must be a tensor`);
      if (!p.axes.every((a) => x.axes.includes(a))) fail(`${what} ${showType(p.type)} has axes that ${showType(x.type)} lacks`);
      const [a, b] = align([y, p]);
      y = what === 'scale' ? mul(a!, b!) : addT(a!, b!);
    }
    return y;
  }));
}

/**
 * `gelu(x)`: x · Φ(x). By default the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), Flax's
 * default (`nn.gelu(approximate=True)`); `{approximate: false}` gives the exact 0.5·x·(1 + erf(x/√2)). Same type.
 */
export function gelu<D extends DType, A extends Axes>(x: Tensor<D, A>, opts: { approximate?: boolean } = {}): Tensor<D, A> {
  return cast(userOp('gelu', () => {
    needFloat(x);
    if (opts.approximate ?? true) {
      const cube = mul(mul(x, x), x);
      const inner = mul(k(x, Math.sqrt(2 / Math.PI)), addT(x, mul(k(x, 0.044715), cube)));
      return mul(x, mul(k(x, 0.5), addT(k(x, 1), emit('tanh', [inner], {}))));
    }
    const e: AnyTensor = erf(mul(x, k(x, Math.SQRT1_2)));
    return mul(mul(k(x, 0.5), x), addT(k(x, 1), e));
  }));
}

/** `relu(x)`: max(x, 0). Same type. */
export function relu<D extends DType, A extends Axes>(x: Tensor<D, A>): Tensor<D, A> {
  return cast(userOp('relu', () => emit('maximum', [x, k(x, 0)], {})));
}
