// The t5x/Flax layers FLIP is built from: Dense, LayerNorm, Embed, MlpBlock, MultiHeadDotProductAttention.
// Each is a class holding its sizes: `specs()` declares its weights (ParamSpecs with logical axes), `apply(params, x)`
// computes with them. Names of weights follow the official Flax modules (t5x/layers.py in facebookresearch/flip), so
// a path such as `MlpBlock_0.Dense_0.kernel` is the official parameter's path.
import { FlipError } from '../../compiler/ir/index.ts';
import type { Axes } from '../axes.ts';
import { cast, fail, userOp, type AnyTensor } from '../core.ts';
import { einsum, dot } from '../ops_linalg.ts';
import { layerNorm as layerNormOp, gelu, shiftMax, softmax } from '../ops_nn.ts';
import { add, astype, div, exp, sub, where } from '../ops_elementwise.ts';
import { sum } from '../ops_reduce.ts';
import { rename } from '../ops_shape.ts';
import { take } from '../ops_index.ts';
import { full } from '../ops_create.ts';
import { shard } from '../shard.ts';
import type { Tensor } from '../tensor.ts';
import { child, dropout, type ApplyContext } from './context.ts';
import { normalInit, ones, param, varianceScaling, xavierUniform, zeros, type Initializer, type ParamSpec, type Params } from './param.ts';

type F32<A extends Axes = Axes> = Tensor<'f32', A>;

/**
 * A layer's compute dtype (Flax's `dtype` field): 'f32', or 'bf16' for mixed precision, where the layer casts its
 * inputs and its (always f32) params to bf16 and computes its matmuls and activations in bf16, as the t5x/Flax module
 * with `dtype=jnp.bfloat16` does (params stay `param_dtype` f32, so their gradients and optimizer moments are f32).
 * The TS types of activations keep saying 'f32': under 'bf16' a layer's output is bf16 at run time (the model casts
 * back to f32 where JAX's type promotion would: residual adds, the final LayerNorm, the loss).
 */
export type ComputeDType = 'f32' | 'bf16';

/** `x` in the compute dtype (no op when it already is). */
export const inDtype = <T extends AnyTensor>(x: T, dtype: ComputeDType | undefined): T => cast<T>(astype(x as AnyTensor, dtype ?? 'f32'));

/**
 * jax.nn.softmax as JAX computes it for a bf16 input: max, exp and the division in bf16, the sum upcast to f32 and
 * rounded back (jnp.sum upcasts 16-bit floats for the reduction). f32 input: the plain softmax.
 */
function softmaxLikeJax<A extends Axes>(x: F32<A>, axis: string): F32<A> {
  if (x.dtype === 'f32') return softmax(x, axis);
  const y = x as AnyTensor;
  const e = exp(sub(y, shiftMax(y, axis)) as AnyTensor) as AnyTensor;
  return cast<F32<A>>(div(e, astype(sum(astype(e, 'f32'), axis) as AnyTensor, x.dtype) as AnyTensor));
}

export interface DenseOptions {
  /** Input feature axis (contracted) and its size. */
  in: string;
  inSize: number;
  /** Output feature axis and its size. */
  out: string;
  outSize: number;
  kernelInit: Initializer;
  biasInit?: Initializer;
  /** Default true (t5x.layers.Dense). */
  useBias?: boolean;
  /** Compute dtype (default 'f32'); see {@link ComputeDType}. */
  dtype?: ComputeDType;
}

/** t5x.layers.Dense: y = x·kernel + bias over one named feature axis: `[..., in] → [..., out]`. */
export class Dense {
  constructor(readonly o: DenseOptions) {
    if (o.in === o.out) throw new FlipError(`Dense: input and output axes must differ (both '${o.in}'); name the output axis`);
  }
  specs(): { kernel: ParamSpec; bias?: ParamSpec } {
    const { o } = this;
    const kernel = param({ [o.in]: o.inSize, [o.out]: o.outSize }, o.kernelInit);
    if (o.useBias === false) return { kernel };
    return { kernel, bias: param({ [o.out]: o.outSize }, o.biasInit ?? zeros()) };
  }
  apply(p: Params<ReturnType<Dense['specs']>>, x: F32): F32 {
    return userOp('Dense', () => {
      // t5x.layers.Dense/DenseGeneral: inputs and kernel as `dtype`, dot_general in it, bias as `dtype` added.
      const dt = this.o.dtype;
      const y = dot(inDtype(x, dt), inDtype(p.kernel, dt), { contract: [this.o.in] });
      return p.bias ? add(y, inDtype(p.bias as F32, dt)) : y;
    });
  }
}

/**
 * t5x.layers.LayerNorm over one axis (ε = 1e-6, scale = 1 and bias = 0 at init). The statistics, scale and bias are
 * f32 whatever the input (Flax's _compute_stats promotes to f32); the result is cast to `dtype` (default 'f32').
 */
export class LayerNorm {
  constructor(readonly axis: string, readonly size: number, readonly eps = 1e-6, readonly dtype: ComputeDType = 'f32') {}
  specs() {
    return { scale: param({ [this.axis]: this.size }, ones()), bias: param({ [this.axis]: this.size }, zeros()) };
  }
  apply<A extends Axes>(p: Params<ReturnType<LayerNorm['specs']>>, x: F32<A>): F32<A> {
    return inDtype(layerNormOp(inDtype(x, 'f32'), this.axis, { scale: p.scale, bias: p.bias, eps: this.eps }), this.dtype);
  }
}

export interface EmbedOptions {
  numEmbeddings: number;
  features: number;
  /** Table axes (default `['classes', 'embed']`: FLIP's text embedding avoids the name 'vocab'). */
  axes?: readonly [string, string];
  init?: Initializer;
}

/** t5x.layers.Embed: rows of a [classes, embed] table picked by integer ids (`[batch, length]` → `[batch, length, embed]`). */
export class Embed {
  readonly axes: readonly [string, string];
  constructor(readonly o: EmbedOptions) {
    this.axes = o.axes ?? ['classes', 'embed'];
  }
  specs() {
    const [c, e] = this.axes;
    return { embedding: param({ [c]: this.o.numEmbeddings, [e]: this.o.features }, this.o.init ?? normalInit(0.02)) };
  }
  /**
   * The official layer uses a one-hot matmul (`one_hot=True`, for SPMD); a gather gives the same values (each output is
   * one table entry) with far fewer FLOPs, and its VJP is a scatter-add.
   */
  apply(p: Params<ReturnType<Embed['specs']>>, ids: Tensor<'i32', Axes>): F32 {
    const x = take(p.embedding, ids, this.axes[0]);
    // t5x's gather path constrains the result to ("batch", "length", embed).
    return x.axes.join() === `batch,length,${this.axes[1]}` ? shard(x) : x;
  }
}

export interface MlpOptions {
  /** Feature axis and size of the block's input and output. */
  embed: string;
  size: number;
  mlpDim: number;
  dropoutRate: number;
  kernelInit?: Initializer;
  biasInit?: Initializer;
  /** Compute dtype of both Dense layers and the activation (default 'f32'). */
  dtype?: ComputeDType;
}

/** models_flip.MlpBlock: Dense(mlp) → gelu (tanh form, flax's default) → dropout → Dense(embed) → dropout. */
export class MlpBlock {
  readonly dense0: Dense;
  readonly dense1: Dense;
  constructor(readonly o: MlpOptions) {
    const init = { kernelInit: o.kernelInit ?? xavierUniform(), biasInit: o.biasInit ?? zeros(), ...(o.dtype ? { dtype: o.dtype } : {}) };
    this.dense0 = new Dense({ in: o.embed, inSize: o.size, out: 'mlp', outSize: o.mlpDim, ...init });
    this.dense1 = new Dense({ in: 'mlp', inSize: o.mlpDim, out: o.embed, outSize: o.size, ...init });
  }
  specs() {
    return { Dense_0: this.dense0.specs(), Dense_1: this.dense1.specs() };
  }
  apply<A extends Axes>(p: Params<ReturnType<MlpBlock['specs']>>, x: F32<A>, ctx: ApplyContext): F32<A> {
    return cast(userOp('MlpBlock', () => {
      let h = dropout(gelu(this.dense0.apply(p.Dense_0, x)), this.o.dropoutRate, child(ctx, 'Dropout_0'));
      // official: with_sharding_constraint(x, ("batch", "length", "mlp")): the hidden is split over `model`.
      if (h.axes.join() === 'batch,length,mlp') h = shard(h);
      return dropout(this.dense1.apply(p.Dense_1, h), this.o.dropoutRate, child(ctx, 'Dropout_1'));
    }));
  }
}

export interface AttentionOptions {
  /** Model width (the `embed` axis). */
  size: number;
  numHeads: number;
  /** Attention-weight dropout; the official t5x code raises NotImplementedError for > 0 in training, so do we. */
  dropoutRate?: number;
  /** Initializers of the q/k/v and output kernels (FLIP: variance_scaling(0.5, fan_avg, uniform) and xavier_uniform). */
  qkvInit?: Initializer;
  outInit?: Initializer;
  /**
   * Compute dtype (default 'f32'). Under 'bf16' the projections, logits, softmax (its sum in f32, as JAX's) and the
   * weighted values are bf16, as t5x's dot_product_attention with `float32_logits=False` (FLIP's setting).
   */
  dtype?: ComputeDType;
}

/**
 * t5x.layers.MultiHeadDotProductAttention (self-attention): separate q, k, v projections `[embed] → [heads, kv]` with
 * biases, softmax(q·k / √kv + mask bias) over keys, then `[heads, kv] → [embed]`. The official kernels are 2-D
 * `[embed, joined_kv]` with joined_kv = heads·kv row-major; ours are that matrix reshaped to `[embed, heads, kv]`
 * (the same values, and the initializers use the 2-D fans), so the logical axes are t5x's `heads`, `kv`.
 */
export class MultiHeadDotProductAttention {
  readonly headDim: number;
  constructor(readonly o: AttentionOptions) {
    if (o.size % o.numHeads !== 0) throw new FlipError(`attention: width ${o.size} is not divisible by ${o.numHeads} heads`);
    this.headDim = o.size / o.numHeads;
  }
  specs() {
    const { size, numHeads } = this.o;
    const kv = this.headDim;
    const qkvInit = this.o.qkvInit ?? varianceScaling(0.5, 'fan_avg', 'uniform', { fanIn: size, fanOut: size });
    const outInit = this.o.outInit ?? xavierUniform({ fanIn: size, fanOut: size });
    const projection = () => ({
      kernel: param({ embed: size, heads: numHeads, kv }, qkvInit),
      bias: param({ heads: numHeads, kv }, zeros()),
    });
    return {
      query: projection(),
      key: projection(),
      value: projection(),
      out: { kernel: param({ heads: numHeads, kv, embed: size }, outInit), bias: param({ embed: size }, zeros()) },
    };
  }
  /**
   * `x`: `[batch, length, embed]`; `mask`: optional `[batch, length]` of the *keys* that may be attended to (1/true:
   * a real token), turned into a −1e10 bias as t5x does. Returns `[batch, length, embed]`.
   */
  apply(
    p: Params<ReturnType<MultiHeadDotProductAttention['specs']>>, x: F32<readonly ['batch', 'length', 'embed']>,
    ctx: ApplyContext, mask?: Tensor<'i1', readonly ['batch', 'length']>,
  ): F32<readonly ['batch', 'length', 'embed']> {
    return cast(userOp('MultiHeadDotProductAttention', () => {
      if (ctx.train && (this.o.dropoutRate ?? 0) > 0) fail('attention dropout is not implemented (the official t5x layer raises NotImplementedError too)');
      const dt = this.o.dtype;
      const xc = inDtype(x, dt);
      // official: with_sharding_constraint(q/k/v, ("batch", "length", "heads", "kv")).
      const proj = (w: { kernel: F32; bias: F32 }) =>
        shard(add(einsum('batch length embed, embed heads kv -> batch length heads kv', xc, inDtype(w.kernel, dt)), inDtype(w.bias, dt)) as F32<readonly ['batch', 'length', 'heads', 'kv']>);
      // t5x: query / sqrt(depth) before the logits (a division, as there).
      const q = div(proj(p.query), Math.sqrt(this.headDim));
      const k = rename(proj(p.key), 'length', 'keys');
      const v = rename(proj(p.value), 'length', 'keys');
      let logits: F32 = einsum('batch length heads kv, batch keys heads kv -> batch heads length keys', q, k);
      if (mask) {
        const keys = rename(mask, 'length', 'keys');
        const bias = cast<F32>(where(keys, 0, full(dt ?? 'f32', { batch: x.size('batch'), keys: x.size('length') }, -1e10)));
        logits = add(logits, bias);
      }
      const weights = softmaxLikeJax(logits, 'keys');
      const mixed = einsum('batch heads length keys, batch keys heads kv -> batch length heads kv', weights, v);
      return add(einsum('batch length heads kv, heads kv embed -> batch length embed', mixed, inDtype(p.out.kernel, dt)), inDtype(p.out.bias, dt));
    }));
  }
}
