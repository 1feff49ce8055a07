// FLIP ViT-L/16 on LAION-2B, 20000 virtual epochs (facebookresearch/flip configs/cfg_flip_large_L2B_2x.py): the official
// defaults (configs/default.ts) with masking 50%, half the base learning rate (2e-6 per 256 samples), optimizer
// states partitioned to save memory. Point train.data.laionPath at the LAION-2B shards.
import { officialDefaults, override } from './official.ts';
import type { FlipConfig } from './types.ts';

const config: FlipConfig = override(officialDefaults(), {
  name: 'flip_large_L2B_2x',
  model: { img: { maskRatio: 0.5 } },
  partitioning: { partitionStates: true },
  train: { numEpochs: 20000, learningRate: 2e-6 },
});

export default config;
