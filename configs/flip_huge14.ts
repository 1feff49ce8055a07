// FLIP ViT-H/14 on LAION-400M, 10000 virtual epochs (facebookresearch/flip configs/cfg_flip_huge14.py): 14×14
// patches, image tower 1280 wide, 32 layers, 16 heads; text tower 1024 wide, 24 layers, 16 heads; 1024-d embeddings;
// 200 warmup epochs; optimizer states partitioned and flattened.
import { officialDefaults, officialTransformer, override } from './official.ts';
import type { FlipConfig } from './types.ts';

const config: FlipConfig = override(officialDefaults(), {
  name: 'flip_huge14',
  model: {
    img: { maskRatio: 0.5, patchSize: [14, 14], hiddenSize: 1280, transformer: officialTransformer(1280, 16, 32) },
    txt: { hiddenSize: 1024, transformer: officialTransformer(1024, 16, 24) },
    clr: { projDimOut: 1024 },
  },
  partitioning: { partitionStates: true },
  train: { numEpochs: 10000, warmupEpochs: 200, optimizer: { flattenParams: true } },
});

export default config;
