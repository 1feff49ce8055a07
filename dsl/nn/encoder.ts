// The transformer encoder of both FLIP towers: Encoder1DBlock (pre-LN attention and MLP, residuals, dropout,
// drop-path) and Encoder (N blocks, optional remat per block, final LayerNorm), as models_flip.py defines them.
import { FlipError, type RematPolicy } from '../../compiler/ir/index.ts';
import { cast, userOp } from '../core.ts';
import { add, astype } from '../ops_elementwise.ts';
import type { Tensor } from '../tensor.ts';
import { checkpoint } from '../transforms.ts';
import { child, dropout, type ApplyContext } from './context.ts';
import { LayerNorm, MlpBlock, MultiHeadDotProductAttention, type ComputeDType } from './layers.ts';
import { varianceScaling, xavierUniform, type Params } from './param.ts';

export type Tokens = Tensor<'f32', readonly ['batch', 'length', 'embed']>;
export type TokenMask = Tensor<'i1', readonly ['batch', 'length']>;

/**
 * Activation checkpointing per block (official `remat_policy`): 'none'; 'minimal' keeps the weight matmuls
 * (jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims) and recomputes the rest; any other name (the README's
 * 'actcp') recomputes everything.
 */
export type RematName = 'none' | 'minimal' | 'actcp';

export function rematPolicy(name: RematName): RematPolicy | undefined {
  if (name === 'none') return undefined;
  return name === 'minimal' ? 'dots_with_no_batch_dims_saveable' : 'nothing_saveable';
}

export interface EncoderOptions {
  numLayers: number;
  /** Width (`embed`). */
  size: number;
  mlpDim: number;
  numHeads: number;
  dropoutRate: number;
  attentionDropoutRate: number;
  /** Drop-path of the last block; block l gets droppathRate · l / (numLayers − 1). */
  droppathRate: number;
  remat: RematName;
  /**
   * Compute dtype of every block (default 'f32'; see ComputeDType). The final LayerNorm `encoder_norm` is f32 as
   * the official one (it is given no dtype), so the encoder's output is f32 either way.
   */
  dtype?: ComputeDType;
}

export interface BlockOptions {
  size: number;
  mlpDim: number;
  numHeads: number;
  dropoutRate: number;
  attentionDropoutRate: number;
  droppathRate: number;
  /** Compute dtype of the block's LayerNorms, attention and MLP (default 'f32'); the residual stream keeps its own. */
  dtype?: ComputeDType;
}

/**
 * models_flip.Encoder1DBlock: x + droppath(dropout(MSA(LN(x)))), then + droppath(MLP(LN(·))). Initializers as
 * INIT_VER "mae_jax_v2": q/k/v variance_scaling(0.5, fan_avg, uniform) (TF's fused qkv has fan 4D, JAX's separate
 * ones 2D, hence 0.5), output and MLP kernels xavier_uniform, biases zero (rescale_init is 1 in FLIP).
 */
export class Encoder1DBlock {
  readonly ln0: LayerNorm;
  readonly ln1: LayerNorm;
  readonly attention: MultiHeadDotProductAttention;
  readonly mlp: MlpBlock;
  constructor(readonly o: BlockOptions) {
    const dtype = o.dtype ?? 'f32';
    this.ln0 = new LayerNorm('embed', o.size, 1e-6, dtype);
    this.ln1 = new LayerNorm('embed', o.size, 1e-6, dtype);
    this.attention = new MultiHeadDotProductAttention({
      size: o.size, numHeads: o.numHeads, dropoutRate: o.attentionDropoutRate, dtype,
      qkvInit: varianceScaling(0.5, 'fan_avg', 'uniform', { fanIn: o.size, fanOut: o.size }),
      outInit: xavierUniform({ fanIn: o.size, fanOut: o.size }),
    });
    this.mlp = new MlpBlock({ embed: 'embed', size: o.size, mlpDim: o.mlpDim, dropoutRate: o.dropoutRate, kernelInit: xavierUniform(), dtype });
  }
  specs() {
    return {
      LayerNorm_0: this.ln0.specs(),
      MultiHeadDotProductAttention_0: this.attention.specs(),
      LayerNorm_1: this.ln1.specs(),
      MlpBlock_0: this.mlp.specs(),
    };
  }
  apply(p: Params<ReturnType<Encoder1DBlock['specs']>>, inputs: Tokens, ctx: ApplyContext, mask?: TokenMask): Tokens {
    return cast(userOp('Encoder1DBlock', () => {
      const droppath = { broadcast: ['length', 'embed'] };
      let x: Tokens = this.attention.apply(p.MultiHeadDotProductAttention_0, this.ln0.apply(p.LayerNorm_0, inputs), child(ctx, 'MultiHeadDotProductAttention_0'), mask);
      x = dropout(x, this.o.dropoutRate, child(ctx, 'Dropout_0'));
      // `x + inputs`: a bf16 branch meets the f32 residual stream, which JAX's promotion keeps f32 (the branch is
      // converted); the same cast here.
      const residual = (branch: Tokens, stream: Tokens): Tokens => add(astype(branch, stream.dtype) as Tokens, stream);
      x = residual(dropout(x, this.o.droppathRate, child(ctx, 'droppath_msa'), droppath), inputs);
      let y: Tokens = this.mlp.apply(p.MlpBlock_0, this.ln1.apply(p.LayerNorm_1, x), child(ctx, 'MlpBlock_0'));
      y = dropout(y, this.o.droppathRate, child(ctx, 'droppath_mlp'), droppath);
      return residual(y, x);
    }));
  }
}

/** Block names as the official `prefix + "block_{:02d}"` with prefix "encoder". */
export const blockName = (l: number) => `encoderblock_${String(l).padStart(2, '0')}`;

/** models_flip.Encoder: `numLayers` Encoder1DBlocks (each optionally rematerialised) and a final LayerNorm `encoder_norm`. */
export class Encoder {
  readonly blocks: Encoder1DBlock[];
  readonly norm: LayerNorm;
  constructor(readonly o: EncoderOptions) {
    if (!Number.isInteger(o.numLayers) || o.numLayers < 1) throw new FlipError(`Encoder: numLayers must be a positive integer, got ${o.numLayers}`);
    this.blocks = Array.from({ length: o.numLayers }, (_, l) => new Encoder1DBlock({
      size: o.size, mlpDim: o.mlpDim, numHeads: o.numHeads, dropoutRate: o.dropoutRate, attentionDropoutRate: o.attentionDropoutRate,
      // Linear in depth from 0 (official; a one-block encoder, where the official formula divides by zero, gets 0).
      droppathRate: o.droppathRate > 0 && o.numLayers > 1 ? (o.droppathRate * l) / (o.numLayers - 1) : 0,
      ...(o.dtype ? { dtype: o.dtype } : {}),
    }));
    this.norm = new LayerNorm('embed', o.size);
  }
  specs() {
    const blocks = Object.fromEntries(this.blocks.map((b, l) => [blockName(l), b.specs()])) as Record<string, ReturnType<Encoder1DBlock['specs']>>;
    return { ...blocks, encoder_norm: this.norm.specs() } as Record<string, ReturnType<Encoder1DBlock['specs']>> & { encoder_norm: ReturnType<LayerNorm['specs']> };
  }
  apply(p: Params<ReturnType<Encoder['specs']>>, x: Tokens, ctx: ApplyContext, mask?: TokenMask): Tokens {
    return cast(userOp('Encoder', () => {
      const policy = rematPolicy(this.o.remat);
      let h = x;
      this.blocks.forEach((block, l) => {
        const run = (bp: Params<ReturnType<Encoder1DBlock['specs']>>, hin: Tokens, bctx: ApplyContext, m?: TokenMask) => block.apply(bp, hin, bctx, m);
        const bp = p[blockName(l)] as Params<ReturnType<Encoder1DBlock['specs']>>;
        const bctx = child(ctx, blockName(l));
        h = policy ? checkpoint(run, { policy })(bp, h, bctx, mask) : run(bp, h, bctx, mask);
      });
      return this.norm.apply(p.encoder_norm, h);
    }));
  }
}
