// The configuration of a FLIP run: the model (models/flip.ts owns its types), the partitioning, and — in a section
// of its own — what the trainer reads. Field names are the official configs/default.py ones in camelCase.
import type { ContrastiveConfig, FlipModelConfig, ModelDType, TextConfig, TransformerConfig, VisionConfig } from '../models/flip.ts';
import type { RematName } from '../dsl/nn/index.ts';

export type { ContrastiveConfig, FlipModelConfig, ModelDType, RematName, TextConfig, TransformerConfig, VisionConfig };

/** `config.partitioning`: model-parallel partitions (the rest of the devices are data-parallel). */
export interface PartitioningConfig {
  /** Devices per model replica (t5x num_partitions; 1 = pure data parallelism). */
  numPartitions: number;
  /** Shard the optimizer state (and params) over the data axis too (ZeRO-like; the official L and H configs set it). */
  partitionStates: boolean;
}

// ---- the trainer's section ------------------------------------------------------------------------------------------

/** `config.opt*`: AdamW as utils/adamw.py. */
export interface OptimizerConfig {
  type: 'adamw';
  b1: number;
  b2: number;
  weightDecay: number;
  /** `exclude_wd`: no weight decay on biases, LayerNorm scales, cls and position embeddings (utils/opt_util.py filters). */
  excludeWd: boolean;
  /** `opt_mu_dtype`: dtype of the first moment. */
  muDtype: 'f32' | 'bf16';
  /** `opt.flatten_params` (huge): the optimizer works on one flat vector. */
  flattenParams: boolean;
}

/** `config.aug`: image augmentation (train/data) and text tokenization. */
export interface AugConfig {
  /** RandomResizedCrop area range (official (0.5, 1)). */
  areaRange: readonly [number, number];
  aspectRatioRange: readonly [number, number];
  cropVer: 'v4';
  /** Random horizontal flip. */
  flip: boolean;
  evalPad: number;
  txt: {
    tokenizer: 'tf_bert';
    /** Prepend [CLS] (official false). The caption length is `model.txt.maxLen` (official aug.txt.max_len = 32). */
    clsToken: boolean;
  };
}

/**
 * Everything the training program reads. The learning rate follows t5x/train_state_initializer.py: abs_lr =
 * learningRate · batchSize / 256; linear warmup from warmupAbsLr over warmupEpochs, then cosine decay to minAbsLr at
 * numEpochs; an epoch is `samplesPerEpoch` samples (a "virtual" ImageNet-1k epoch, 1281167).
 */
export interface TrainerConfig {
  /** Global batch size (all devices). */
  batchSize: number;
  /** Base learning rate per 256 samples. */
  learningRate: number;
  lrSchedule: 'warmup_cosine';
  warmupEpochs: number;
  warmupAbsLr: number;
  minAbsLr: number;
  numEpochs: number;
  samplesPerEpoch: number;
  logEverySteps: number;
  saveEveryEpochs: number;
  visEveryEpochs: number;
  /** Continue a run from this checkpoint directory ('' for none). */
  resumeDir: string;
  /** Initialise params from this checkpoint (unmasked tuning, eval_only; '' for none). */
  pretrainDir: string;
  evalOnly: boolean;
  /** `seed_jax`: the key of `initParams` and of the per-step masking/dropout (folded with the step). */
  seed: number;
  optimizer: OptimizerConfig;
  aug: AugConfig;
  /** Training data (LAION webdataset shards, or the synthetic set of `flip data synth`) and the zero-shot eval set. */
  data: { laionPath: string; evalDataset: string };
}

export interface FlipConfig {
  /** A short name for logs and run directories. */
  name: string;
  model: FlipModelConfig;
  partitioning: PartitioningConfig;
  train: TrainerConfig;
}
