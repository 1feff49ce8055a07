// The learning-rate schedule of the official FLIP code (t5x/train_state_initializer.py: create_learning_rate_fn,
// create_optimizer): lr = learning_rate × batch_size / 256, linear warmup from warmup_abs_lr over warmup_epochs
// virtual epochs, then cosine decay to min_abs_lr over the remaining epochs (optax linear_schedule +
// cosine_decay_schedule joined at the warmup boundary). A "virtual epoch" is samples_per_epoch samples
// (official default 1,281,167: ImageNet's size), so steps_per_epoch = samples_per_epoch // batch_size.
//
// Two implementations of one formula: `learningRate` in plain TS (logging, tests) and `learningRateAt` in the DSL,
// which the compiled train step evaluates on its step counter.
import type { FlipConfig } from '../configs/types.ts';
import { FlipError } from '../compiler/ir/errors.ts';
import { cos, minimum, maximum, scalar, where, type Tensor } from '../dsl/index.ts';

export interface ScheduleConfig {
  /** Base lr per 256 samples. */
  learning_rate: number;
  batch_size: number;
  /** Virtual epochs of linear warmup (may be fractional). */
  warmup_epochs: number;
  /** Virtual epochs in all. */
  num_epochs: number;
  /** The lr where warmup starts. */
  warmup_abs_lr: number;
  /** The lr the cosine ends at. */
  min_abs_lr: number;
  /** Samples in one virtual epoch. */
  samples_per_epoch: number;
}

export interface Schedule {
  /** learning_rate × batch_size / 256. */
  peakLr: number;
  stepsPerEpoch: number;
  warmupSteps: number;
  /** Steps of the cosine part. */
  decaySteps: number;
  /** All training steps: int(num_epochs) × steps_per_epoch, as the official loop runs. */
  totalSteps: number;
  warmupAbsLr: number;
  /** min_abs_lr / peak lr (optax's alpha). */
  alpha: number;
}

export function makeSchedule(c: ScheduleConfig): Schedule {
  const stepsPerEpoch = Math.floor(c.samples_per_epoch / c.batch_size);
  if (stepsPerEpoch < 1) {
    throw new FlipError(`samples_per_epoch (${c.samples_per_epoch}) is smaller than batch_size (${c.batch_size}): a virtual epoch needs at least one step`);
  }
  const peakLr = (c.learning_rate * c.batch_size) / 256;
  return {
    peakLr,
    stepsPerEpoch,
    warmupSteps: c.warmup_epochs * stepsPerEpoch,
    decaySteps: Math.max(c.num_epochs - c.warmup_epochs, 1) * stepsPerEpoch,
    totalSteps: Math.floor(c.num_epochs) * stepsPerEpoch,
    warmupAbsLr: c.warmup_abs_lr,
    alpha: peakLr === 0 ? 0 : c.min_abs_lr / peakLr,
  };
}

/** The lr the optimizer applies at `step` (0-based: the first update uses step 0). */
export function learningRate(s: Schedule, step: number): number {
  if (step < s.warmupSteps) {
    // optax.linear_schedule: (init − end) · (1 − clip(count, 0, T) / T) + end
    const frac = 1 - Math.min(Math.max(step, 0), s.warmupSteps) / s.warmupSteps;
    return (s.warmupAbsLr - s.peakLr) * frac + s.peakLr;
  }
  // optax.cosine_decay_schedule on (step − boundary)
  const count = Math.min(step - s.warmupSteps, s.decaySteps);
  const cosine = 0.5 * (1 + Math.cos((Math.PI * count) / s.decaySteps));
  return s.peakLr * ((1 - s.alpha) * cosine + s.alpha);
}

/** `learningRate` as DSL ops on an f32 scalar step: what the compiled train step computes. */
export function learningRateAt(s: Schedule, step: Tensor<'f32', readonly []>): Tensor<'f32', readonly []> {
  const warm = s.warmupSteps > 0
    ? minimum(maximum(step, 0), s.warmupSteps).div(s.warmupSteps).neg().add(1).mul(s.warmupAbsLr - s.peakLr).add(s.peakLr)
    : scalar(s.peakLr);
  const count = minimum(step.sub(s.warmupSteps), s.decaySteps);
  const cosine = cos(count.mul(Math.PI / s.decaySteps)).add(1).mul(0.5);
  const decayed = cosine.mul(s.peakLr * (1 - s.alpha)).add(s.peakLr * s.alpha);
  return where(step.lt(s.warmupSteps), warm, decayed);
}

/** The schedule of a run's config (its train fields in the official names makeSchedule takes). */
export function scheduleOf(cfg: FlipConfig): Schedule {
  const t = cfg.train;
  return makeSchedule({
    learning_rate: t.learningRate, batch_size: t.batchSize, warmup_epochs: t.warmupEpochs, num_epochs: t.numEpochs,
    warmup_abs_lr: t.warmupAbsLr, min_abs_lr: t.minAbsLr, samples_per_epoch: t.samplesPerEpoch,
  });
}
