// The functions `flip run` compiles: state initialisation, the train step (forward, loss, gradients, AdamW and the lr
// schedule in one XLA program, state donated), and the zero-shot eval's text and image encoders.
//
// `train_step` is also an entry flipc can compile, with its input shapes (`train_stepInputs`) and lowering options
// (`train_stepLowering`) beside it: `flipc compile train/step.ts --entry train_step --config configs/x.ts` prints the
// very module `flip run --config configs/x.ts` compiles for its step on one device (add --mesh as flip run's --mesh).
import { spec, type TensorSpec } from '../compiler/trace/index.ts';
import { astype, flatten, unflatten, zerosLike, type Tensor } from '../dsl/index.ts';
import { isParamSpec } from '../dsl/nn/index.ts';
import { foldIn, key, split, type Key } from '../dsl/random.ts';
import {
  batchSpecs, encodeImages, encodeTexts, flipSpecs, initParams, trainLossAndGrads,
  type FlipBatch, type FlipModelConfig, type FlipParams, type Images, type TokenIds,
} from '../models/flip.ts';
import { adamwUpdate, decays, gradientNorm, type AdamWConfig } from './optimizer.ts';
import type { FlipConfig } from '../configs/types.ts';
import { learningRateAt, scheduleOf, type Schedule } from './schedule.ts';

/** Params and AdamW moments: what the train step donates and returns updated. */
export interface TrainState<P = FlipParams> {
  params: P;
  mu: P;
  nu: P;
}

export interface StepMetrics {
  loss: Tensor<'f32', readonly []>;
  tau: Tensor<'f32', readonly []>;
  lr: Tensor<'f32', readonly []>;
  /** Global L2 norm of the gradients (before the update). */
  gradNorm: Tensor<'f32', readonly []>;
}

export interface StepSettings {
  model: FlipModelConfig;
  schedule: Schedule;
  adamw: AdamWConfig;
  /** false: decay every parameter (official `exclude_wd = False`). */
  excludeWd: boolean;
  seed: number;
}

/**
 * The two keys of a run, as the official train.py splits `PRNGKey(seed_jax)`: `[rng_init, rng]`; params are drawn
 * from the first, and step t's masking and dropout from `fold_in(rng, t)`.
 */
export function runKeys(seed: number): { init: Key; train: Key } {
  const [init, train] = split(key(seed));
  return { init: init!, train: train! };
}

/** Fresh state: params from the init key, zero moments. */
export function initState(seed: number, model: FlipModelConfig): TrainState {
  const params = initParams(runKeys(seed).init, model);
  const flat = flatten<Tensor<'f32'>>(params);
  const zeros = () => unflatten<FlipParams>(flat.treedef, flat.leaves.map((p) => zerosLike(p)));
  return { params, mu: zeros(), nu: zeros() };
}

/**
 * The optimizer step: one training step at step number `step` (i32 scalar, the number of updates done before it)
 * built around the model's loss and gradients: masking/dropout key `fold_in(rng, step)`, loss and gradients, lr
 * from the schedule at `step`, AdamW update number step + 1.
 * Returns the new state first (it aliases the donated input state) and the step's metrics.
 */
export function optimizerStep(s: StepSettings) {
  const base = () => runKeys(s.seed).train;
  return function train_step(state: TrainState, batch: FlipBatch, step: Tensor<'i32', readonly []>): [TrainState, StepMetrics] {
    const rng = foldIn(base(), step);
    const { loss, tau, grads } = trainLossAndGrads(state.params, batch, rng, s.model);
    const t = astype(step, 'f32');
    const lr = learningRateAt(s.schedule, t);
    const decay = s.excludeWd ? decays : () => true;
    const up = adamwUpdate(state.params, grads, { mu: state.mu, nu: state.nu }, t.add(1), lr, s.adamw, decay);
    return [{ params: up.params, mu: up.state.mu, nu: up.state.nu }, { loss, tau, lr, gradNorm: gradientNorm(grads) }];
  };
}

/** A run's optimizer-step settings, from its config. */
export function stepSettings(cfg: FlipConfig): StepSettings {
  const t = cfg.train;
  return {
    model: cfg.model, schedule: scheduleOf(cfg), excludeWd: t.optimizer.excludeWd, seed: t.seed,
    adamw: { b1: t.optimizer.b1, b2: t.optimizer.b2, eps: 1e-8, weight_decay: t.optimizer.weightDecay },
  };
}

/** flip run's train step as an entry: {@link optimizerStep} with its settings as a static argument. */
export function train_step(state: TrainState, batch: FlipBatch, step: Tensor<'i32', readonly []>, settings: StepSettings): [TrainState, StepMetrics] {
  return optimizerStep(settings)(state, batch, step);
}

/** train_step's arguments for a run's config: the state, a batch of train.batchSize, the step number, the settings. */
export const train_stepInputs = (cfg: FlipConfig) =>
  [stateSpecs(cfg.model), batchSpecs(cfg.model, cfg.train.batchSize), stepSpec(), stepSettings(cfg)] as const;

/** train_step donates its state (argument 0): XLA writes the new state into the old one's buffers. */
export const train_stepLowering = { donate: [0] };

/** Unit text embeddings of prompts `[batch, length]` (eval mode). */
export function textEmbeddings(model: FlipModelConfig) {
  return function encode_texts(params: FlipParams, txt: TokenIds, txtIsValid: TokenIds) {
    return encodeTexts(params, txt, txtIsValid, model);
  };
}

/** Unit image embeddings `[batch, proj]` (eval mode: no masking). */
export function imageEmbeddings(model: FlipModelConfig) {
  return function encode_images(params: FlipParams, image: Images) {
    return encodeImages(params, image, model);
  };
}

/** The spec trees a run compiles against. */
export function stateSpecs(model: FlipModelConfig): TrainState<unknown> {
  const params = paramSpecs(model);
  return { params, mu: params, nu: params };
}

/** TensorSpecs of the params (the ParamSpecs' dtype, shape, axes). */
export function paramSpecs(model: FlipModelConfig): unknown {
  const f = flatten(flipSpecs(model), { isLeaf: isParamSpec });
  return unflatten(f.treedef, f.leaves.map((p) => {
    const s = p as TensorSpec;
    return { dtype: s.dtype, shape: [...s.shape], axes: [...s.axes] };
  }));
}

export { batchSpecs };
export const stepSpec = (): TensorSpec => spec('i32', {});
