// Model FLOPs of one FLIP train step by formula (the numerator of the model FLOPs utilisation), and the same count
// read off a traced IR function (2 · result elements · contracted size over every dot_general) to check it.
import { dotFlops, type Func } from '../compiler/ir/index.ts';
import type { FlipModelConfig } from '../models/flip.ts';

export interface StepFlops {
  /** Forward matmul FLOPs of the batch, per part. */
  forward: { imageTower: number; textTower: number; heads: number; logits: number; total: number };
  /** Train step: forward + backward. */
  train: number;
  /** Image tokens through the encoder per example (cls + kept patches). */
  imageTokens: number;
}

/** The formula, as printed with the results. */
export const FLOPS_FORMULA =
  'model FLOPs = matmul FLOPs only (2·m·n·k each; elementwise, softmax, LayerNorm, AdamW not counted). ' +
  'Forward per example: image tower 2·L·(p·p·3)·D [patch embedding, all L patches] + layers·(2·T·(4D² + 2·D·M) + 4·T²·D) ' +
  'with T = 1 + ⌊L·(1 − mask)⌋ tokens; text tower layers·(2·S·(4E² + 2·E·M) + 4·S²·E) [embedding by gather: 0]; ' +
  'heads 2·(D + E)·P; logits 2·B·P. Train step = 3 × forward (backward = input + weight gradients), ' +
  'except the patch embedding at 2 × (no input gradient).';

function encoderFlops(tokens: number, width: number, mlp: number, layers: number): number {
  return layers * (2 * tokens * (4 * width * width + 2 * width * mlp) + 4 * tokens * tokens * width);
}

/** Matmul FLOPs of a train step of `model` on `batch` examples (see {@link FLOPS_FORMULA}). */
export function trainStepFlops(model: FlipModelConfig, batch: number): StepFlops {
  const { img, txt, clr } = model;
  const [p, q] = img.patchSize;
  const L = (img.imageSize / p) * (img.imageSize / q);
  const T = 1 + Math.trunc(L * (1 - img.maskRatio));
  const D = img.hiddenSize, E = txt.hiddenSize, P = clr.projDimOut;
  const patch = batch * 2 * L * p * q * img.channels * D;
  const imageEncoder = batch * encoderFlops(T, D, img.transformer.mlpDim, img.transformer.numLayers);
  const textTower = batch * encoderFlops(txt.maxLen, E, txt.transformer.mlpDim, txt.transformer.numLayers);
  const heads = batch * 2 * (D + E) * P;
  const logits = 2 * batch * batch * P; // z_img·z_txtᵀ (the positives are a product and a sum, not a matmul)
  const total = patch + imageEncoder + textTower + heads + logits;
  return {
    forward: { imageTower: patch + imageEncoder, textTower, heads, logits, total },
    train: 2 * patch + 3 * (imageEncoder + textTower + heads + logits),
    imageTokens: T,
  };
}

/** 2 · (result elements) · (contracted size), summed over the dot_generals of a traced function. */
export const irDotFlops = dotFlops;
