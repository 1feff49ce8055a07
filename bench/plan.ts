// What `npm run bench` measures, per target: the model and batch of the train-step timings, the masks, warm-up and
// timed steps, the models whose compile is timed, the matmul of the peak, the input pipeline's sizes. Both halves read
// the same plan (the JAX half gets it as JSON), so the two systems run the same config numbers.
import type { FlipConfig } from '../configs/types.ts';
import small from '../configs/flip_small.ts';
import base from '../configs/flip_base.ts';
import large from '../configs/flip_large.ts';
import tiny from '../configs/flip_tiny.ts';
import { FLIP_ADAMW, type AdamWConfig } from '../train/optimizer.ts';
import { trainStepFlops } from './flops.ts';
import { makeSchedule, type Schedule } from '../train/schedule.ts';

export type BenchTarget = 'cpu' | 'gpu';

/** A config with the settings of its train step (what optimizerStep and the JAX step are built from). */
export interface StepModel {
  name: string;
  config: FlipConfig;
  batchSize: number;
  schedule: Schedule;
  adamw: AdamWConfig;
}

export interface BenchPlan {
  target: BenchTarget;
  /** Train-step timings: one model and batch, each mask ratio compiled and stepped in turn (the state carried over). */
  steps: StepModel & {
    masks: readonly number[]; warmup: number; steps: number; seed: number;
    /** Masks whose step is also timed with `model.dtype = 'bfloat16'` (flip only; the JAX half runs f32). */
    bf16Masks?: readonly number[];
  };
  /** Models whose train step is traced, lowered and compiled (not run), at their own small batch. */
  compile: readonly StepModel[];
  /** The f32 matmul (size × size by size × size) that measures the machine's peak, best of `reps` after one warm-up. */
  peak: { size: number; reps: number };
  /** The input pipeline: a synthetic webdataset of `images` JPEGs of `sourceSize` px, decoded to the model's size. */
  pipeline: { images: number; sourceSize: number; batches: number; warmup: number; workers?: number };
  /** XLA's backend optimization level for every timed program, both systems (default XLA's own, 3; the quick plan 0). */
  optLevel?: number;
  /**
   * Before each measurement, wait (at most `maxSeconds` each, `totalSeconds` in all) until other processes use under
   * `threshold` cores: a shared machine's other work otherwise lands in the figures. null: never wait.
   */
  quiet: { threshold: number; maxSeconds: number; totalSeconds: number } | null;
}

const QUIET = { threshold: 0.2, maxSeconds: 30, totalSeconds: 360 };

/** The paper's per-sample time of FLIP at 50% and 75% masking, relative to no masking (Li et al. 2023, Table 1). */
export const PAPER_SPEEDUP: Readonly<Record<string, number>> = { '0.5': 0.5, '0.75': 0.33 };

export function stepModel(config: FlipConfig, batchSize: number): StepModel {
  const t = config.train;
  const schedule = makeSchedule({
    learning_rate: t.learningRate, batch_size: batchSize, warmup_epochs: t.warmupEpochs, num_epochs: t.numEpochs,
    warmup_abs_lr: t.warmupAbsLr, min_abs_lr: t.minAbsLr, samples_per_epoch: t.samplesPerEpoch,
  });
  const o = t.optimizer;
  return { name: config.name, config, batchSize, schedule, adamw: { ...FLIP_ADAMW, b1: o.b1, b2: o.b2, weight_decay: o.weightDecay } };
}

const MASKS = [0, 0.5, 0.75] as const;

/** The configs the profiling tools take by name (`--model`, bench/profile/): the bench's step model and the two it compiles. */
export const BENCH_CONFIGS: Readonly<Record<string, FlipConfig>> = { flip_small: small, flip_base: base, flip_large: large };

/** Suffix of a compile entry's name for its scanned-layers variant (flip only; JAX's column is the unrolled model). */
export const SCAN_SUFFIX = '_scan';

/**
 * `m` with both towers' `transformer.scanLayers` on (models/README.md, "Scanned layers"): the compile figures time it
 * beside the unrolled model, against JAX's unrolled one, since a smaller program is what makes XLA's compile faster.
 */
export function scannedModel(m: StepModel): StepModel {
  const model = m.config.model;
  const scan = <T extends { transformer: object }>(tower: T): T => ({ ...tower, transformer: { ...tower.transformer, scanLayers: true } });
  return { ...m, name: `${m.name}${SCAN_SUFFIX}`, config: { ...m.config, name: `${m.config.name}${SCAN_SUFFIX}`, model: { ...model, img: scan(model.img), txt: scan(model.txt) } } };
}

/**
 * The CPU plan, sized for 2 cores (~6 minutes on idle ones, at most ~15 with the quiet gate's waits): flip_small
 * (ViT-S/16) at batch 8, 2 warm-up + 7 timed steps per mask; flip_base and flip_large compiled at batch 2; a 4096²
 * matmul; 60 batches of the pipeline.
 */
export function cpuPlan(): BenchPlan {
  return {
    target: 'cpu',
    steps: { ...stepModel(small, 8), masks: MASKS, bf16Masks: MASKS, warmup: 2, steps: 7, seed: 0 },
    compile: [stepModel(base, 2), stepModel(large, 2)],
    peak: { size: 4096, reps: 5 },
    pipeline: { images: 1024, sourceSize: 256, batches: 60, warmup: 4 },
    quiet: QUIET,
  };
}

/** The GPU plan (one NVIDIA H200): flip_base at batch 256, 5 warm-up + 20 timed steps per mask; an 8192² matmul. */
export function gpuPlan(): BenchPlan {
  return {
    target: 'gpu',
    steps: { ...stepModel(base, 256), masks: MASKS, bf16Masks: MASKS, warmup: 5, steps: 20, seed: 0 },
    compile: [stepModel(base, 2), stepModel(large, 2)],
    peak: { size: 8192, reps: 20 },
    pipeline: { images: 4096, sourceSize: 256, batches: 24, warmup: 4 },
    quiet: QUIET,
  };
}

/** A plan that runs in seconds (the smoke test, `--quick`): flip_tiny, 1 warm-up + 2 timed steps, tiny sizes. */
export function quickPlan(target: BenchTarget = 'cpu'): BenchPlan {
  return {
    target,
    steps: { ...stepModel(tiny, tiny.train.batchSize), masks: MASKS, bf16Masks: [0.5], warmup: 1, steps: 2, seed: 0 },
    compile: [stepModel(tiny, 2)],
    peak: { size: 256, reps: 2 },
    pipeline: { images: 48, sourceSize: 40, batches: 3, warmup: 1, workers: 1 },
    optLevel: 0,
    quiet: null,
  };
}

/** The plan with its mask ratio set (the step's config as optimizerStep and the JAX step see it), and its dtype. */
export function withMask(config: FlipConfig, maskRatio: number, dtype: StepDType = 'float32'): FlipConfig {
  return { ...config, model: { ...config.model, img: { ...config.model.img, maskRatio }, dtype } };
}

/** A train step's model FLOPs at `maskRatio` as a share of the same step's at mask 0 (bench/flops.ts's formula). */
export function maskFlopsShare(config: FlipConfig, maskRatio: number, batchSize: number): number {
  return trainStepFlops(withMask(config, maskRatio).model, batchSize).train / trainStepFlops(withMask(config, 0).model, batchSize).train;
}

/**
 * A profiling tool's `--model NAME` (one of {@link BENCH_CONFIGS}; flip_small when absent), taken out of `args` so
 * that the positional arguments remain. null for an unknown or missing name.
 */
export function takeModelFlag(args: string[]): { name: string; config: FlipConfig } | null {
  const at = args.indexOf('--model');
  const name = at >= 0 ? args.splice(at, 2)[1] : 'flip_small';
  const config = name === undefined ? undefined : BENCH_CONFIGS[name];
  return config ? { name: name!, config } : null;
}

/**
 * The results file's name in bench/ when `--out` is not given: results.json (results-gpu.json for the GPU), with the
 * model and batch in it when `--model` or `--batch` picked other train-step figures (results-flip_base.json,
 * results-flip_base-batch16.json, results-batch16.json), so that such a run never overwrites the plan's figures.
 */
export function resultsFileName(target: BenchTarget, model?: string, batch?: number): string {
  const parts = [target === 'gpu' ? 'gpu' : undefined, model, batch !== undefined ? `batch${batch}` : undefined];
  return ['results', ...parts.filter((x) => x !== undefined)].join('-') + '.json';
}

/** The compute dtype of a timed step (`model.dtype`). */
export type StepDType = 'float32' | 'bfloat16';
