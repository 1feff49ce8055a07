// FLIP ViT-L/16 on LAION-400M, 10000 virtual epochs (facebookresearch/flip configs/cfg_flip_large.py): the official
// defaults, masking 50%, optimizer states partitioned to save memory.
import { officialDefaults, override } from './official.ts';
import type { FlipConfig } from './types.ts';

const config: FlipConfig = override(officialDefaults(), {
  name: 'flip_large',
  model: { img: { maskRatio: 0.5 } },
  partitioning: { partitionStates: true },
  train: { numEpochs: 10000 },
});

export default config;
