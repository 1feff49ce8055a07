// The official FLIP defaults (facebookresearch/flip configs/default.py: ViT-L/16 image tower, 12-layer 768-wide text
// tower) and `override`, from which flip_base / flip_large / flip_huge14 derive as the official cfg_flip_*.py do.
import type { FlipConfig, TransformerConfig } from './types.ts';

const transformer = (width: number, heads: number, layers: number): TransformerConfig => ({
  numLayers: layers,
  numHeads: heads,
  mlpDim: width * 4,
  dropoutRate: 0,
  attentionDropoutRate: 0,
  droppathRate: 0,
  remat: 'none',
  // flip's: the blocks as one loop (models/README.md, "Scanned layers"); off, as the official code has no such option.
  scanLayers: false,
});

/** configs/default.py get_config(), fresh on each call. */
export function officialDefaults(): FlipConfig {
  return {
    name: 'flip_default',
    model: {
      img: {
        imageSize: 224,
        patchSize: [16, 16],
        channels: 3,
        hiddenSize: 1024,
        transformer: transformer(1024, 16, 24),
        maskRatio: 0.5,
      },
      txt: {
        vocabSize: 30523, // "bert: 30522+1"
        maxLen: 32,
        hiddenSize: 768,
        transformer: transformer(768, 12, 12),
        maskPadding: false,
      },
      clr: { projDimOut: 768, projOutBias: false, tau: 0.01, tauLearnable: true, imgAvgToken: true, txtAvgToken: false },
      rngPartitionable: false,
      dtype: 'float32',
    },
    partitioning: { numPartitions: 1, partitionStates: false },
    train: {
      batchSize: 65536,
      learningRate: 4e-6, // per 256 samples
      lrSchedule: 'warmup_cosine',
      warmupEpochs: 40,
      warmupAbsLr: 0,
      minAbsLr: 0,
      numEpochs: 10000, // virtual ImageNet epochs: 10000 × 1281167 ≈ 12.8B samples ≈ 32 LAION-400M epochs
      samplesPerEpoch: 1281167,
      logEverySteps: 200,
      saveEveryEpochs: 100,
      visEveryEpochs: 20,
      resumeDir: '',
      pretrainDir: '',
      evalOnly: false,
      seed: 0,
      optimizer: { type: 'adamw', b1: 0.9, b2: 0.95, weightDecay: 0.2, excludeWd: true, muDtype: 'f32', flattenParams: false },
      aug: {
        areaRange: [0.5, 1],
        aspectRatioRange: [3 / 4, 4 / 3],
        cropVer: 'v4',
        flip: true,
        evalPad: 0,
        txt: { tokenizer: 'tf_bert', clsToken: false },
      },
      data: { laionPath: '', evalDataset: 'imagenet2012:5.*.*' },
    },
  };
}

/** A deep partial: what a derived config changes. */
export type Overrides<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? Overrides<T[K]> : T[K] };

/** `base` with `patch` merged in (records recursively; arrays and scalars replaced). */
export function override<T>(base: T, patch: Overrides<T>): T {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && b !== null && typeof b === 'object' && !Array.isArray(b)
      ? override(b, v as Overrides<typeof b>)
      : v;
  }
  return out as T;
}

/** A transformer whose MLP is 4× its width, official style. */
export const officialTransformer = transformer;
