// The transformer encoder of both FLIP towers: Encoder1DBlock (pre-LN attention and MLP, residuals, dropout,
// drop-path) and Encoder (N blocks, optional remat per block, final LayerNorm), as models_flip.py defines them.
import { FlipError, type DType, type RematPolicy } from '../../compiler/ir/index.ts';
import { inEnclosingTrace, treeMap } from '../../compiler/trace/index.ts';
import { cast, emit, splat, userOp, type AnyTensor } from '../core.ts';
import { add, astype } from '../ops_elementwise.ts';
import { foldInPath, uniform, type Key } from '../random.ts';
import type { Tensor } from '../tensor.ts';
import { checkpoint, gradientBarrier, scan, type ScanIndex, type Stacked } from '../transforms.ts';
import { child, dropout, makeRng, type ApplyContext } from './context.ts';
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
  /**
   * Run the blocks as one loop over a stacked `layers` axis (t5x `scan_layers`, flax `nn.scan`) instead of numLayers
   * unrolled copies: XLA compiles one block, so compiling is faster; values, gradients and random draws are the
   * unrolled blocks'. Default false (unrolled).
   */
  scanLayers?: boolean;
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
    const droppath = { broadcast: ['length', 'embed'] };
    return this.applyWith(p, inputs, ctx, mask, (x, site) => dropout(x, this.o.droppathRate, child(ctx, site), droppath));
  }
  /** `apply` with the drop-path of each residual branch given (a scanned encoder's rate is per layer, from a table). */
  applyWith(p: Params<ReturnType<Encoder1DBlock['specs']>>, inputs: Tokens, ctx: ApplyContext, mask: TokenMask | undefined, dropPath: DropPath): Tokens {
    return cast(userOp('Encoder1DBlock', () => {
      // The residual stream's gradient is summed once per block, not again inside each of its consumers (gradientBarrier).
      inputs = gradientBarrier(inputs);
      let x: Tokens = this.attention.apply(p.MultiHeadDotProductAttention_0, this.ln0.apply(p.LayerNorm_0, inputs), child(ctx, 'MultiHeadDotProductAttention_0'), mask);
      x = dropout(x, this.o.dropoutRate, child(ctx, 'Dropout_0'));
      // `x + inputs`: a bf16 branch meets the f32 residual stream, which JAX's promotion keeps f32 (the branch is
      // converted); the same cast here.
      const residual = (branch: Tokens, stream: Tokens): Tokens => add(astype(branch, stream.dtype) as Tokens, stream);
      x = residual(dropPath(x, 'droppath_msa'), inputs);
      let y: Tokens = this.mlp.apply(p.MlpBlock_0, this.ln1.apply(p.LayerNorm_1, x), child(ctx, 'MlpBlock_0'));
      y = dropPath(y, 'droppath_mlp');
      return residual(y, x);
    }));
  }
}

/** Drop-path of a residual branch at one of the block's two sites. */
export type DropPath = (x: Tokens, site: 'droppath_msa' | 'droppath_mlp') => Tokens;

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
      if (this.o.scanLayers && this.blocks.length > 1) return this.norm.apply(p.encoder_norm, this.scanned(p, x, ctx, mask, policy));
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

  /**
   * The blocks as one loop (`scan`) over a `layers` axis: XLA compiles one block instead of numLayers copies. The
   * params keep their tree (encoderblock_00 ...): each leaf is stacked along `layers` here, and its gradient comes
   * back per block through the stacking's VJP. Randomness is the unrolled blocks' bit for bit: every dropout site's
   * key is derived per layer outside the loop (`child(ctx, blockName(l))`, as unrolled) and looked up by the loop
   * index; the drop-path rate, linear in depth, comes from a table too (rate 0 keeps everything and divides by 1,
   * as the unrolled identity).
   */
  private scanned(p: Params<ReturnType<Encoder['specs']>>, x: Tokens, ctx: ApplyContext, mask: TokenMask | undefined, policy: RematPolicy | undefined): Tokens {
    const L = this.blocks.length;
    type BlockParams = Params<ReturnType<Encoder1DBlock['specs']>>;
    const per = this.blocks.map((_, l) => p[blockName(l)] as BlockParams);
    // Layer l's params go in at an offset l that XLA cannot see as a constant (opaqueOffsets). So the stacking's
    // dynamic_update_slices and, in the gradient, the dynamic_slices that take each layer's gradient out are one
    // kernel per param shape for all layers (XLA compiles identical kernels once), and so are the optimizer's kernels
    // those slices fuse into. With constant offsets (concatenate, whose gradient is slices) every layer's were kernels
    // of their own, and the scanned train step of flip_base compiled no faster than the unrolled one (measured).
    const offsets = opaqueOffsets(L);
    const stacked = treeMap((...leaves: AnyTensor[]) => stackAt(leaves, offsets), per[0], ...per.slice(1)) as unknown as BlockParams;
    const prefix = ctx.path ?? [];
    const rates = this.blocks.map((b) => b.o.droppathRate);
    const keyTables = new Map<string, AnyTensor>();
    const body = (h: Tokens, bp: BlockParams, index: ScanIndex): readonly [Tokens, readonly []] => {
      const at = (table: AnyTensor): AnyTensor => {
        const row = emit('dynamic_slice', [table, index, ...table.shape.slice(1).map(() => splat(0, index.type))], { sizes: [1, ...table.shape.slice(1)] });
        return emit('reshape', [row], { shape: table.shape.slice(1), axes: table.axes.slice(1) });
      };
      // A module's key in layer `index`: the same fold as unrolled, of every layer's path, done once outside the loop.
      const keyFor = (path: readonly string[]): Key => {
        const rest = path.slice(prefix.length + 1);
        const name = rest.join('/');
        let table = keyTables.get(name);
        if (!table) {
          table = inEnclosingTrace(() => stackLayers(this.blocks.map((_, l) => foldInPath(ctx.rng!, [...prefix, blockName(l), ...rest, 1]))));
          keyTables.set(name, table);
        }
        return at(table) as Key;
      };
      const bctx: ApplyContext = { ...child(ctx, SCANNED_BLOCK), ...(ctx.rng ? { keyFor } : {}) };
      const dropPath: DropPath = (y, site) => {
        if (!bctx.train || rates.every((r) => r === 0)) return y;
        return cast(userOp('dropout', () => {
          if (!bctx.rng) throw new FlipError('Encoder: training with a drop-path rate > 0 needs ctx.rng (a key)');
          // dropout's draw with the keep probability of this layer: uniform < keep (f32, as bernoulli), then x / keep
          // in x's dtype, each keep rounded from the exact rate as dropout's splat constant is.
          // (A layer at rate 1 keeps nothing; its divisor is 1 rather than 0, so the masked-out branch has no NaN gradient.)
          const table = (dtype: DType, divisor = false) => emit('constant', [], { dtype, shape: [L], axes: [LAYERS], value: rates.map((r) => (divisor && r === 1 ? 1 : 1 - r)) });
          const u = uniform(makeRng(child(bctx, site)), { batch: y.size('batch') }, { partitionable: bctx.partitionable ?? false });
          const keepF32 = at(table('f32'));
          const keep = emit('compare', [u, emit('broadcast_in_dim', [keepF32], { shape: u.shape, axes: u.axes, dims: [] })], { direction: 'LT' });
          const mask = emit('broadcast_in_dim', [keep], { shape: y.shape, axes: y.axes, dims: [y.axes.indexOf('batch')] });
          const keepX = emit('broadcast_in_dim', [at(table(y.dtype, true))], { shape: y.shape, axes: y.axes, dims: [] });
          return emit('select', [mask, emit('divide', [y, keepX], {}), splat(0, y.type)], {});
        }));
      };
      const block = this.blocks[0]!;
      const run = (bp0: BlockParams, hin: Tokens, c: ApplyContext, m?: TokenMask) => block.applyWith(bp0, hin, c, m, dropPath);
      const out = policy ? checkpoint(run, { policy })(bp, h, bctx, mask) : run(bp, h, bctx, mask);
      return [out, []] as const;
    };
    const [h] = scan(body, x, stacked as unknown as Stacked<BlockParams, typeof LAYERS>, { axis: LAYERS });
    return h;
  }
}

/**
 * Tensors of one type stacked along a new leading `layers` axis: concatenated along their first axis, then reshaped
 * (two ops, and one slice per layer in the gradient, rather than a reshape per layer each way).
 */
function stackLayers(leaves: readonly AnyTensor[]): AnyTensor {
  const t = leaves[0]!;
  const flat = t.rank === 0 ? leaves.map((x) => emit('reshape', [x], { shape: [1], axes: [LAYERS] })) : leaves;
  const cat = emit('concatenate', flat, { dimension: 0 });
  return emit('reshape', [cat], { shape: [leaves.length, ...t.shape], axes: [LAYERS, ...t.axes] });
}

/**
 * i32 scalars 0 … n−1 that XLA can neither constant-fold nor fuse as constants into their users: each is a result of
 * its own of a two-iteration loop (carry z ← z·index, starting at 0; c_l ← c_l + z, starting at l).
 */
function opaqueOffsets(n: number): AnyTensor[] {
  const i32 = { dtype: 'i32' as const, shape: [], axes: [] };
  const init = [splat(0, i32), ...Array.from({ length: n }, (_, l) => splat(l, i32))];
  const [out] = scan((c: AnyTensor[], _x: unknown, i: ScanIndex) => {
    const z = emit('multiply', [c[0]!, i], {});
    return [[z, ...c.slice(1).map((v) => emit('add', [v, z], {}))] as AnyTensor[], []] as const;
  }, init, [], { length: 2 });
  return out.slice(1);
}

/** Tensors of one type stacked along a new leading `layers` axis by dynamic_update_slice at `offsets`. */
function stackAt(leaves: readonly AnyTensor[], offsets: readonly AnyTensor[]): AnyTensor {
  const t = leaves[0]!;
  const zeroI = splat(0, { dtype: 'i32', shape: [], axes: [] });
  let out = splat(0, { dtype: t.dtype, shape: [leaves.length, ...t.shape], axes: [LAYERS, ...t.axes] });
  leaves.forEach((x, l) => {
    const one = emit('reshape', [x], { shape: [1, ...x.shape], axes: [LAYERS, ...x.axes] });
    out = emit('dynamic_update_slice', [out, one, offsets[l]!, ...x.shape.map(() => zeroI)], {});
  });
  return out;
}

/** The axis a scanned encoder stacks its blocks' params along. */
export const LAYERS = 'layers';
/** The module name of the scanned block in its context path (its keys come from `keyFor`, never from this name). */
const SCANNED_BLOCK = 'encoderblock_scan';
