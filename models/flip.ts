// FLIP (Li, Fan, Hu, Feichtenhofer, He, CVPR 2023): a ViT image tower that encodes only a random subset of patches,
// a text transformer, linear projection heads and the symmetric contrastive loss — models_flip.py of
// facebookresearch/flip, in the flip DSL. Parameter names and shapes follow the official Flax tree (leading
// singleton axes dropped), so `img_encoder.Transformer.encoderblock_00.MlpBlock_0.Dense_0.kernel` is the official
// parameter of that path.
//
// Entries (`flipc compile models/flip.ts --entry <name> --config configs/flip_tiny.ts`):
//   initParams(rng, model)                       → params                       (init on the device from one key)
//   trainLoss(params, batch, rng, model)         → {loss, tau}                  (training mode: masking, dropout)
//   trainLossAndGrads(params, batch, rng, model) → {loss, tau, grads}
//   lossAndGrads(params, batch, rng, model)      → {loss, tau, grads}           (the same at a small batch, for flipc: a
//                                                                                train step up to its optimizer, which
//                                                                                is train/'s)
//   forward(params, batch, model)                → {loss, tau, zImg, zTxt}      (eval mode: no masking)
//   encodeImages(params, image, model) / encodeTexts(params, txt, txtIsValid, model) → unit embeddings (zero-shot eval)
import { FlipError } from '../compiler/ir/index.ts';
import {
  add, astype, concat, div, einsum, exp, full, log, mean, mul, neg, rename, slice, spec, sqrt, square, sum, sub, clip, reshape,
  broadcastTo, argsort, takeAlongAxis, ge, shard, type Tensor,
} from '../dsl/index.ts';
import {
  Add1DPositionEmbs, Add2DPositionEmbs, Dense, Embed, Encoder, PatchEmbed, child, constantInit, init, makeRng, normalInit, param,
  xavierUniform, type ApplyContext, type ComputeDType, type Params, type RematName,
} from '../dsl/nn/index.ts';
import { uniform, type Key } from '../dsl/random.ts';
import { valueAndGrad } from '../dsl/transforms.ts';

// ---- model configuration (configs/ adds the trainer's fields; see configs/types.ts) ----------------------------------

/** `model_img.transformer` / `model_txt.transformer` of configs/default.py. */
export interface TransformerConfig {
  numLayers: number;
  numHeads: number;
  mlpDim: number;
  dropoutRate: number;
  attentionDropoutRate: number;
  droppathRate: number;
  remat: RematName;
  /**
   * Run the blocks as one loop over a stacked `layers` axis (one `stablehlo.while` per tower) instead of numLayers
   * unrolled copies: a smaller program, so XLA compiles it faster; params keep their tree, and values, gradients and
   * random draws are the unrolled model's. Default false. One device only (a mesh refuses it).
   */
  scanLayers?: boolean;
}

/** `model_img`: the image tower. */
export interface VisionConfig {
  imageSize: number;
  /** `patches.size` (16×16 for B/L, 14×14 for H). */
  patchSize: readonly [number, number];
  channels: number;
  /** `hidden_size`: the tower's width. */
  hiddenSize: number;
  transformer: TransformerConfig;
  /** Fraction of patches dropped in training (0.5 in the released configs, 0.75 in the paper's fastest setting). */
  maskRatio: number;
}

/** `model_txt`: the text tower (learned position embeddings, no masking). */
export interface TextConfig {
  /** 30523 officially (BERT's 30522 + 1). */
  vocabSize: number;
  /** `aug.txt.max_len`: tokens per caption. */
  maxLen: number;
  hiddenSize: number;
  transformer: TransformerConfig;
  /**
   * Ours, default false = official: the official text encoder ignores `txt_is_valid` (padding tokens are attended to
   * and pooled over). True masks padding keys in attention and averages only valid tokens when `txtAvgToken`.
   */
  maskPadding: boolean;
}

/** `model.clr`: projection heads and the contrastive loss. */
export interface ContrastiveConfig {
  projDimOut: number;
  /** Bias on the projection heads (false officially). */
  projOutBias: boolean;
  /** Fixed temperature, used when not learnable. */
  tau: number;
  /** Learn log(1/τ) as `logit_scale` (init ln(1/0.07), clipped to [0, ln 100]). */
  tauLearnable: boolean;
  /** Image embedding = mean of all output tokens (official true) instead of the cls token. */
  imgAvgToken: boolean;
  /** Text embedding = mean of the tokens instead of the first one (official false). */
  txtAvgToken: boolean;
}

export interface FlipModelConfig {
  img: VisionConfig;
  txt: TextConfig;
  clr: ContrastiveConfig;
  /**
   * Draw the masks and dropout with JAX's partitionable threefry (`jax_threefry_partitionable=True`, JAX's default
   * since 0.5) instead of the classic bits (default false: what JAX drew when the official FLIP runs were made, so
   * a run's masks are the reference's). The partitionable form hashes each element's own index, so XLA can draw a
   * sharded tensor's bits on each device without gathering them: prefer it for big meshes.
   */
  rngPartitionable?: boolean;
  /**
   * The official modules' `dtype` (jnp's names): the compute dtype of both towers' matmuls and activations.
   * 'float32' (default) or 'bfloat16' — mixed precision as a Flax module with `dtype=jnp.bfloat16`: the patch
   * embedding, every encoder block (LayerNorms, attention, MLP) and the projection heads cast their inputs and their f32
   * params to bf16 and compute in bf16; params (so gradients and AdamW moments), the residual stream, position
   * embeddings, the final LayerNorm of each tower, pooling, L2 normalisation and the contrastive loss stay f32.
   * See models/README.md.
   */
  dtype?: ModelDType;
}

/** `model.dtype` values: the official (jnp) dtype names. */
export const MODEL_DTYPES = ['float32', 'bfloat16'] as const;
export type ModelDType = (typeof MODEL_DTYPES)[number];

/** The layers' compute dtype of a model config. */
export function computeDtype(m: { dtype?: ModelDType }): ComputeDType {
  return m.dtype === 'bfloat16' ? 'bf16' : 'f32';
}

/**
 * Every way the sizes (and rates) of a model config do not fit, each naming its fields by their config path
 * (`model.img.hiddenSize 100 is not divisible by model.img.transformer.numHeads 3`); empty when it is sound.
 * configs/validate.ts `validateConfig` checks a whole config with it; `Flip` raises them as one error.
 */
export function modelConfigProblems(m: FlipModelConfig, prefix = 'model'): string[] {
  const out: string[] = [];
  const posInt = (v: number, field: string) => {
    if (Number.isInteger(v) && v >= 1) return true;
    out.push(`${field} must be a positive integer, got ${JSON.stringify(v)}`);
    return false;
  };
  const rate = (v: number, field: string) => {
    if (!(v >= 0 && v <= 1)) out.push(`${field} must be in [0, 1], got ${JSON.stringify(v)}`);
  };
  const tower = (t: VisionConfig | TextConfig, p: string) => {
    const tr = t.transformer;
    const width = posInt(t.hiddenSize, `${p}.hiddenSize`);
    const heads = posInt(tr.numHeads, `${p}.transformer.numHeads`);
    posInt(tr.numLayers, `${p}.transformer.numLayers`);
    posInt(tr.mlpDim, `${p}.transformer.mlpDim`);
    if (width && heads && t.hiddenSize % tr.numHeads !== 0)
      out.push(`${p}.hiddenSize ${t.hiddenSize} is not divisible by ${p}.transformer.numHeads ${tr.numHeads}`);
    rate(tr.dropoutRate, `${p}.transformer.dropoutRate`);
    rate(tr.attentionDropoutRate, `${p}.transformer.attentionDropoutRate`);
    rate(tr.droppathRate, `${p}.transformer.droppathRate`);
    if (tr.scanLayers !== undefined && typeof tr.scanLayers !== 'boolean') out.push(`${p}.transformer.scanLayers must be true or false, got ${JSON.stringify(tr.scanLayers)}`);
    return width;
  };
  const img = m.img, pi = `${prefix}.img`;
  const imgWidth = tower(img, pi);
  if (imgWidth && img.hiddenSize % 4 !== 0)
    out.push(`${pi}.hiddenSize ${img.hiddenSize} is not a multiple of 4 (the 2-D sin-cos position embedding splits it into four)`);
  const size = posInt(img.imageSize, `${pi}.imageSize`);
  const [p, q] = img.patchSize;
  const patch = posInt(p, `${pi}.patchSize[0]`) && posInt(q, `${pi}.patchSize[1]`);
  if (size && patch && (img.imageSize % p !== 0 || img.imageSize % q !== 0))
    out.push(`${pi}.imageSize ${img.imageSize} is not divisible by ${pi}.patchSize ${p}x${q}`);
  posInt(img.channels, `${pi}.channels`);
  if (!(img.maskRatio >= 0 && img.maskRatio < 1)) out.push(`${pi}.maskRatio must be in [0, 1), got ${JSON.stringify(img.maskRatio)}`);
  const pt = `${prefix}.txt`;
  tower(m.txt, pt);
  posInt(m.txt.vocabSize, `${pt}.vocabSize`);
  posInt(m.txt.maxLen, `${pt}.maxLen`);
  posInt(m.clr.projDimOut, `${prefix}.clr.projDimOut`);
  if (m.dtype !== undefined && !(MODEL_DTYPES as readonly unknown[]).includes(m.dtype))
    out.push(`${prefix}.dtype must be ${MODEL_DTYPES.map((d) => `'${d}'`).join(' or ')}, got ${JSON.stringify(m.dtype)}`);
  if (!m.clr.tauLearnable && !(m.clr.tau > 0)) out.push(`${prefix}.clr.tau must be positive when ${prefix}.clr.tauLearnable is false, got ${JSON.stringify(m.clr.tau)}`);
  return out;
}

/** A FlipError naming every field of `m` that does not fit (see {@link modelConfigProblems}); nothing when it is sound. */
export function checkModelConfig(m: FlipModelConfig, prefix = 'model'): void {
  const problems = modelConfigProblems(m, prefix);
  if (problems.length) throw new FlipError(`config: ${problems.join('; ')}`);
}

// ---- inputs ---------------------------------------------------------------------------------------------------------

export type Images = Tensor<'f32', readonly ['batch', 'height', 'width', 'channels']>;
export type TokenIds = Tensor<'i32', readonly ['batch', 'length']>;
type Tokens = Tensor<'f32', readonly ['batch', 'length', 'embed']>;
type Embeddings = Tensor<'f32', readonly ['batch', 'proj']>;

/** One training batch, as train/data's loader yields it (images normalised, NHWC; ids padded with 0). */
export interface FlipBatch {
  image: Images;
  txt: TokenIds;
  /** 1 for a real token, 0 for padding (official `txt_is_valid`). */
  txtIsValid: TokenIds;
}

// ---- image tower ------------------------------------------------------------------------------------------------------

export interface MaskResult {
  /** The kept tokens, `[batch, length = ⌊L·(1 − ratio)⌋, embed]`, in shuffled order. */
  x: Tokens;
  /** `[batch, length = L]`: 0 where the token is kept, 1 where it is removed (in the original order). */
  mask: Tensor<'f32', readonly ['batch', 'length']>;
  /** `[batch, length = L]`: the position of each original token in the shuffled order (argsort of the shuffle). */
  idsRestore: Tensor<'i32', readonly ['batch', 'length']>;
}

/**
 * models_flip.random_mask: per example, uniform noise over the L tokens, argsort ascending (small is keep), keep the
 * first ⌊L·(1 − ratio)⌋ of the shuffle. The official code gathers with a one-hot einsum (for pjit); a gather gives the
 * same values. Its mask is ones with the first len_keep entries zeroed, un-shuffled by ids_restore: that is
 * `ids_restore ≥ len_keep`, computed so here.
 */
export function randomMask(x: Tokens, maskRatio: number, key: Key, opts: { partitionable?: boolean } = {}): MaskResult {
  if (!(maskRatio >= 0 && maskRatio < 1)) throw new FlipError(`randomMask: mask ratio must be in [0, 1), got ${maskRatio}`);
  const n = x.size('batch'), L = x.size('length');
  const lenKeep = Math.trunc(L * (1 - maskRatio)); // Python's int(L * (1 - mask_ratio))
  type Ids = Tensor<'i32', readonly ['batch', 'length']>;
  const noise = uniform(key, { batch: n, length: L }, { partitionable: opts.partitionable ?? false }) as Tensor<'f32', readonly ['batch', 'length']>;
  const idsShuffle: Ids = argsort(noise, 'length');
  const idsRestore: Ids = argsort(idsShuffle, 'length');
  const idsKeep = rename(slice(idsShuffle, 'length', 0, lenKeep), 'length', 'keep');
  const kept = rename(takeAlongAxis(x, idsKeep, 'length') as unknown as Tensor<'f32', readonly ['batch', 'keep', 'embed']>, 'keep', 'length');
  // official: with_sharding_constraint(x_masked, ("batch", "length", "embed")) and (mask, ("batch", "length")).
  const mask = shard(astype(ge(idsRestore, lenKeep), 'f32'));
  return { x: shard(kept as Tokens), mask, idsRestore };
}

/** models_flip.VisionTransformer: patch embedding, 2-D sin-cos positions, random masking (training), cls token, encoder. */
export class VisionTransformer {
  readonly grid: readonly [number, number];
  readonly patchEmbed: PatchEmbed;
  readonly posEmbed: Add2DPositionEmbs;
  readonly encoder: Encoder;
  constructor(readonly cfg: VisionConfig, readonly dtype: ComputeDType = 'f32') {
    const [p, q] = cfg.patchSize;
    if (cfg.imageSize % p !== 0 || cfg.imageSize % q !== 0) throw new FlipError(`VisionTransformer: imageSize ${cfg.imageSize} is not divisible by patchSize ${p}x${q}`);
    this.grid = [cfg.imageSize / p, cfg.imageSize / q];
    this.patchEmbed = new PatchEmbed(cfg.patchSize, cfg.channels, cfg.hiddenSize, dtype);
    this.posEmbed = new Add2DPositionEmbs(this.grid, cfg.hiddenSize);
    this.encoder = new Encoder({ ...cfg.transformer, size: cfg.hiddenSize, dtype });
  }
  specs() {
    return {
      embedding: this.patchEmbed.specs(),
      posembed_encoder: this.posEmbed.specs(),
      // official: param_with_axes("cls", normal(0.02), (1, 1, hidden), axes=("_null0", "_null1", "embed"))
      cls: param({ embed: this.cfg.hiddenSize }, normalInit(0.02)),
      Transformer: this.encoder.specs(),
    };
  }
  /** Tokens after the encoder, `[batch, 1 + kept, embed]` (cls first), and the masking it drew (training only). */
  apply(p: Params<ReturnType<VisionTransformer['specs']>>, images: Images, ctx: ApplyContext): { tokens: Tokens; masking?: MaskResult } {
    // A bf16 patch embedding meets the f32 position table: JAX promotes the sum to f32, so the tokens are f32 here.
    let x: Tokens = astype(this.patchEmbed.apply(p.embedding, images), 'f32');
    x = this.posEmbed.apply(p.posembed_encoder, x);
    // Masking only in training. (The official eval path still calls random_mask with ratio 0, which only permutes the
    // tokens; the encoder is permutation-equivariant once positions are added, so skipping it changes nothing.)
    let masking: MaskResult | undefined;
    if (ctx.train && this.cfg.maskRatio > 0) {
      if (!ctx.rng) throw new FlipError('VisionTransformer: masking in training needs ctx.rng');
      // official: random_mask(self.make_rng("dropout"), ...) in the image tower's own module (`img_encoder`).
      masking = randomMask(x, this.cfg.maskRatio, makeRng(ctx), { partitionable: ctx.partitionable ?? false });
      x = masking.x;
    }
    const n = x.size('batch');
    const cls = broadcastTo(reshape(p.cls, { length: 1, embed: this.cfg.hiddenSize }), { batch: n, length: 1, embed: this.cfg.hiddenSize });
    x = concat([cls as Tokens, x], 'length');
    const tokens = this.encoder.apply(p.Transformer, x, child(ctx, 'Transformer'));
    return masking ? { tokens, masking } : { tokens };
  }
}

// ---- text tower -------------------------------------------------------------------------------------------------------

/** models_flip.LanguageTransformer: token embedding (BERT vocab), learned positions, encoder. */
export class LanguageTransformer {
  readonly embed: Embed;
  readonly posEmbed: Add1DPositionEmbs;
  readonly encoder: Encoder;
  constructor(readonly cfg: TextConfig, readonly dtype: ComputeDType = 'f32') {
    this.embed = new Embed({ numEmbeddings: cfg.vocabSize, features: cfg.hiddenSize, axes: ['classes', 'embed'], init: normalInit(0.02) });
    this.posEmbed = new Add1DPositionEmbs(cfg.maxLen, cfg.hiddenSize);
    // The token embedding is a gather (no arithmetic), kept f32 whatever the dtype; the blocks compute in `dtype`.
    this.encoder = new Encoder({ ...cfg.transformer, size: cfg.hiddenSize, dtype });
  }
  specs() {
    return { token_embedding: this.embed.specs(), posembed_encoder: this.posEmbed.specs(), Transformer: this.encoder.specs() };
  }
  apply(p: Params<ReturnType<LanguageTransformer['specs']>>, txt: TokenIds, txtIsValid: TokenIds, ctx: ApplyContext): Tokens {
    let x = this.embed.apply(p.token_embedding, txt) as Tokens;
    x = this.posEmbed.apply(p.posembed_encoder, x);
    const mask = this.cfg.maskPadding ? ge(txtIsValid, 1) : undefined;
    return this.encoder.apply(p.Transformer, x, child(ctx, 'Transformer'), mask);
  }
}

// ---- heads and loss ---------------------------------------------------------------------------------------------------

/** z / (‖z‖₂ + 1e-8) over `proj` (models_flip: `z /= jnp.linalg.norm(z, axis=-1, keepdims=True) + 1e-8`). */
export function l2Normalize(z: Embeddings): Embeddings {
  return div(z, add(sqrt(sum(square(z), 'proj')), 1e-8));
}

export interface ContrastiveOutput {
  loss: Tensor<'f32', readonly []>;
  /** The temperature 1/scale. */
  tau: Tensor<'f32', readonly []>;
}

/**
 * models_flip.compute_contrastive_loss: logits = scale · z_img z_txtᵀ, the positives on the diagonal, cross-entropy
 * image→text (softmax over texts) and text→image (over images), averaged. As the official code it uses a plain
 * log-sum-exp without the max shift: |logits| ≤ scale ≤ 100 after L2 normalisation, so exp cannot overflow in f32.
 * `scale` = exp(clip(logit_scale, 0, ln 100)) when learned, else 1/τ.
 */
export function contrastiveLoss(zImg: Embeddings, zTxt: Embeddings, scale: Tensor<'f32', readonly []>): ContrastiveOutput {
  const txt = rename(zTxt, 'batch', 'texts');
  const logits = mul(einsum('batch proj, texts proj -> batch texts', zImg, txt), scale);
  const positives = mul(sum(mul(zImg, zTxt), 'proj'), scale);
  const e = exp(logits);
  const lse01 = log(sum(e, 'texts')); // over texts: image → text
  const lse10 = rename(log(sum(e, 'batch')), 'texts', 'batch'); // over images: text → image
  const loss01 = mean(neg(sub(positives, lse01)));
  const loss10 = mean(neg(sub(positives, lse10)));
  return { loss: div(add(loss01, loss10), 2), tau: div(full('f32', {}, 1), scale) as Tensor<'f32', readonly []> };
}

/** The FLIP model of one config: both towers, projection heads, the temperature. */
export class Flip {
  readonly img: VisionTransformer;
  readonly txt: LanguageTransformer;
  readonly imgProj: Dense;
  readonly txtProj: Dense;
  constructor(readonly cfg: FlipModelConfig) {
    checkModelConfig(cfg); // one error naming every field that does not fit, before any layer objects to one
    const dtype = computeDtype(cfg);
    this.img = new VisionTransformer(cfg.img, dtype);
    this.txt = new LanguageTransformer(cfg.txt, dtype);
    // models_flip.apply_projection_head: Dense(proj_dim_out, xavier_uniform, use_bias=proj_out_bias). The official
    // kernel axes are (_null0, _null1), replicated; ours are [embed, proj] (a param is never renamed: see dsl/nn/param.ts),
    // which FLIP's rules replicate too (`embed` → none; `proj` has no rule).
    const head = (inSize: number) => new Dense({
      in: 'embed', inSize, out: 'proj', outSize: cfg.clr.projDimOut, kernelInit: xavierUniform(), useBias: cfg.clr.projOutBias, dtype,
    });
    this.imgProj = head(cfg.img.hiddenSize);
    this.txtProj = head(cfg.txt.hiddenSize);
  }

  specs() {
    const base = {
      img_encoder: this.img.specs(),
      txt_encoder: this.txt.specs(),
      img_mlp1: this.imgProj.specs(),
      txt_mlp1: this.txtProj.specs(),
    };
    // official: param_with_axes("logit_scale", constant(log(1 / 0.07)), (1,), axes=("_null0",)); a scalar here.
    return this.cfg.clr.tauLearnable ? { ...base, logit_scale: param({}, constantInit(Math.log(1 / 0.07))) } : base;
  }

  /** Unit image embeddings `[batch, proj]` (mean of the output tokens, or the cls token), and the masking drawn. */
  encodeImages(p: FlipParams, images: Images, ctx: ApplyContext): { z: Embeddings; masking?: MaskResult } {
    const { tokens, masking } = this.img.apply(p.img_encoder, images, child(ctx, 'img_encoder'));
    const pooled = this.cfg.clr.imgAvgToken ? mean(tokens, 'length') : first(tokens);
    // The head's output back to f32 (a no-op in f32): normalisation and the loss's reductions run in f32.
    const z = l2Normalize(astype(this.imgProj.apply(p.img_mlp1, pooled), 'f32') as Embeddings);
    return masking ? { z, masking } : { z };
  }

  /** Unit text embeddings `[batch, proj]` (the first token, or the mean; with `maskPadding` the mean of valid tokens). */
  encodeTexts(p: FlipParams, txt: TokenIds, txtIsValid: TokenIds, ctx: ApplyContext): Embeddings {
    const tokens = this.txt.apply(p.txt_encoder, txt, txtIsValid, child(ctx, 'txt_encoder'));
    let pooled: Tensor<'f32', readonly ['batch', 'embed']>;
    if (!this.cfg.clr.txtAvgToken) pooled = first(tokens);
    else if (this.cfg.txt.maskPadding) {
      const valid = astype(txtIsValid, 'f32');
      pooled = div(sum(mul(tokens, valid), 'length'), sum(valid, 'length'));
    } else pooled = mean(tokens, 'length');
    return l2Normalize(astype(this.txtProj.apply(p.txt_mlp1, pooled), 'f32') as Embeddings);
  }

  /** The contrastive loss of a batch in training (`ctx.train`: masking, dropout) or eval mode, with both embeddings. */
  loss(p: FlipParams, batch: FlipBatch, ctx: ApplyContext): ContrastiveOutput & { zImg: Embeddings; zTxt: Embeddings; masking?: MaskResult } {
    const { z: zImg, masking } = this.encodeImages(p, batch.image, ctx);
    const zTxt = this.encodeTexts(p, batch.txt, batch.txtIsValid, ctx);
    const scale = this.cfg.clr.tauLearnable
      ? exp(clip((p as unknown as { logit_scale: Tensor<'f32', readonly []> }).logit_scale, 0, Math.log(100)))
      : full('f32', {}, 1 / this.cfg.clr.tau) as Tensor<'f32', readonly []>;
    const out = { ...contrastiveLoss(zImg, zTxt, scale), zImg, zTxt };
    return masking ? { ...out, masking } : out;
  }
}

/** Token 0 of every sequence: `[batch, length, embed]` → `[batch, embed]`. */
function first(x: Tokens): Tensor<'f32', readonly ['batch', 'embed']> {
  return reshape(slice(x, 'length', 0, 1), { batch: x.size('batch'), embed: x.size('embed') }) as Tensor<'f32', readonly ['batch', 'embed']>;
}

export type FlipSpecs = ReturnType<Flip['specs']>;
/** The params pytree (official Flax names): `img_encoder`, `txt_encoder`, `img_mlp1`, `txt_mlp1`, `logit_scale`. */
export type FlipParams = Params<FlipSpecs>;

/** The param spec tree of a config: shapes, axis names, logical axes, initializers (see dsl/nn/param.ts). */
export function flipSpecs(model: FlipModelConfig): FlipSpecs {
  return new Flip(model).specs();
}

// ---- entries ----------------------------------------------------------------------------------------------------------

/** Params drawn from one key (jit it: the draws run on the device). */
export function initParams(rng: Key, model: FlipModelConfig): FlipParams {
  return init(flipSpecs(model), rng) as FlipParams;
}

/** The context of a training-mode call: the root key, and the config's choice of threefry bits. */
function trainContext(rng: Key, model: FlipModelConfig): ApplyContext {
  return { train: true, rng, ...(model.rngPartitionable ? { partitionable: true } : {}) };
}

/** Training-mode loss: random masking of the image patches, dropout/drop-path at the config's rates. */
export function trainLoss(params: FlipParams, batch: FlipBatch, rng: Key, model: FlipModelConfig): ContrastiveOutput {
  const { loss, tau } = new Flip(model).loss(params, batch, trainContext(rng, model));
  return { loss, tau };
}

/** `trainLoss` and its gradient with respect to every param (what an optimizer step needs). */
export function trainLossAndGrads(params: FlipParams, batch: FlipBatch, rng: Key, model: FlipModelConfig): ContrastiveOutput & { grads: FlipParams } {
  const lossOf = (p: FlipParams) => {
    const { loss, tau } = new Flip(model).loss(p, batch, trainContext(rng, model));
    return [loss, { tau }] as const;
  };
  const [[loss, aux], grads] = valueAndGrad(lossOf, { hasAux: true })(params);
  return { loss, tau: aux.tau, grads };
}

/**
 * The model's part of a training step on one batch, up to the optimizer: training-mode forward (masking `maskRatio` of
 * the image patches, dropout), the contrastive loss and its gradient with respect to every param. The optimizer update
 * (AdamW, the learning-rate schedule) is the trainer's step (train/step.ts applies it to trainLossAndGrads, which this
 * is); the model does not know it.
 * `flipc compile models/flip.ts --entry lossAndGrads --config configs/flip_base.ts` prints it for a config.
 */
export function lossAndGrads(params: FlipParams, batch: FlipBatch, rng: Key, model: FlipModelConfig): ContrastiveOutput & { grads: FlipParams } {
  return trainLossAndGrads(params, batch, rng, model);
}

/** Eval mode: no masking, no dropout; the loss and the unit embeddings of both towers. */
export function forward(params: FlipParams, batch: FlipBatch, model: FlipModelConfig): ContrastiveOutput & { zImg: Embeddings; zTxt: Embeddings } {
  const { loss, tau, zImg, zTxt } = new Flip(model).loss(params, batch, { train: false });
  return { loss, tau, zImg, zTxt };
}

/** Eval-mode image embeddings (zero-shot classification: compare with encodeTexts of the class prompts). */
export function encodeImages(params: FlipParams, image: Images, model: FlipModelConfig): Embeddings {
  return new Flip(model).encodeImages(params, image, { train: false }).z;
}

/** Eval-mode text embeddings. */
export function encodeTexts(params: FlipParams, txt: TokenIds, txtIsValid: TokenIds, model: FlipModelConfig): Embeddings {
  return new Flip(model).encodeTexts(params, txt, txtIsValid, { train: false });
}

// ---- input shapes for flipc (called with the --config module's default export) ----------------------------------------

/** What the input declarations read from a config (configs/types.ts FlipConfig has both). */
export interface CompileConfig {
  model: FlipModelConfig;
  train: { batchSize: number };
}

/** The config flipc passes to an `<entry>Inputs`, checked: its sizes must fit before anything is traced. */
function need(cfg: CompileConfig | undefined): CompileConfig {
  if (!cfg?.model) throw new FlipError('models/flip.ts needs a config for its input shapes: pass --config configs/flip_tiny.ts (or another configs/*.ts)');
  checkModelConfig(cfg.model);
  return cfg;
}

/** Specs of one batch of `batchSize` examples. */
export function batchSpecs(model: FlipModelConfig, batchSize: number) {
  const ids = spec('i32', { batch: batchSize, length: model.txt.maxLen });
  return {
    image: spec('f32', { batch: batchSize, height: model.img.imageSize, width: model.img.imageSize, channels: model.img.channels }),
    txt: ids,
    txtIsValid: ids,
  };
}

const keySpec = () => spec('u32', { key: 2 });

export const initParamsInputs = (cfg?: CompileConfig) => ({ rng: keySpec(), model: need(cfg).model });
export const trainLossInputs = (cfg?: CompileConfig) => {
  const c = need(cfg);
  return { params: flipSpecs(c.model), batch: batchSpecs(c.model, c.train.batchSize), rng: keySpec(), model: c.model };
};
export const trainLossAndGradsInputs = trainLossInputs;
/**
 * lossAndGrads's inputs: the config's params and a batch of the config's `train.batchSize` examples (the global batch:
 * with --mesh, the data axis splits it), so `--config.train.batchSize=N` sets it (65536 in the official configs:
 * `--config.train.batchSize=8` prints a small step).
 */
export const lossAndGradsInputs = (cfg?: CompileConfig) => {
  const c = need(cfg);
  return { params: flipSpecs(c.model), batch: batchSpecs(c.model, c.train.batchSize), rng: keySpec(), model: c.model };
};
export const forwardInputs = (cfg?: CompileConfig) => {
  const c = need(cfg);
  return { params: flipSpecs(c.model), batch: batchSpecs(c.model, c.train.batchSize), model: c.model };
};
export const encodeImagesInputs = (cfg?: CompileConfig) => {
  const c = need(cfg);
  return { params: flipSpecs(c.model), image: batchSpecs(c.model, c.train.batchSize).image, model: c.model };
};
export const encodeTextsInputs = (cfg?: CompileConfig) => {
  const c = need(cfg);
  const b = batchSpecs(c.model, c.train.batchSize);
  return { params: flipSpecs(c.model), txt: b.txt, txtIsValid: b.txtIsValid, model: c.model };
};
