// A small MLP written in the flip DSL: `flipc compile examples/mlp.ts --entry mlp` prints its StableHLO.
import { dot, gelu, mean, spec, square, type Tensor } from '../dsl/index.ts';

/** The MLP's weights; the axis names are what `dot` contracts over and what sharding rules map to mesh axes. */
export interface MlpParams {
  w1: Tensor<'f32', ['embed', 'mlp']>;
  b1: Tensor<'f32', ['mlp']>;
  w2: Tensor<'f32', ['mlp', 'embed']>;
  b2: Tensor<'f32', ['embed']>;
}

/** x·w1 + b1 → gelu → ·w2 + b2: the feed-forward block of a transformer layer. */
export function mlp(x: Tensor<'f32', ['batch', 'embed']>, params: MlpParams) {
  const h = gelu(dot(x, params.w1, { contract: ['embed'] }).add(params.b1));
  return dot(h, params.w2, { contract: ['mlp'] }).add(params.b2);
}

/** Mean squared error of the MLP's output against a target. */
export function mlpLoss(x: Tensor<'f32', ['batch', 'embed']>, target: Tensor<'f32', ['batch', 'embed']>, params: MlpParams) {
  return mean(square(mlp(x, params).sub(target)));
}

/** Sizes for `flipc compile` (types carry axis names; sizes come from here, or from a --config). */
const sizes = { batch: 4, embed: 8, mlp: 16 };
const params = {
  w1: spec('f32', { embed: sizes.embed, mlp: sizes.mlp }),
  b1: spec('f32', { mlp: sizes.mlp }),
  w2: spec('f32', { mlp: sizes.mlp, embed: sizes.embed }),
  b2: spec('f32', { embed: sizes.embed }),
};
export const mlpInputs = { x: spec('f32', { batch: sizes.batch, embed: sizes.embed }), params };
export const mlpLossInputs = { ...mlpInputs, target: mlpInputs.x };
