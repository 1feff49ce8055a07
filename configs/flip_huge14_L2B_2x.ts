// FLIP ViT-H/14 on LAION-2B, 20000 virtual epochs (facebookresearch/flip configs/cfg_flip_huge14_L2B_2x.py): the
// flip_huge14 model (14×14 patches, image tower 1280 wide, 32 layers, 16 heads; text tower 1024 wide, 24 layers, 16
// heads; 1024-d embeddings), 200 warmup epochs, 2e-6 per 256 samples; optimizer states partitioned and flattened.
// Point train.data.laionPath at the LAION-2B shards.
import { officialDefaults, officialTransformer, override } from './official.ts';
import type { FlipConfig } from './types.ts';

const config: FlipConfig = override(officialDefaults(), {
  name: 'flip_huge14_L2B_2x',
  model: {
    img: { maskRatio: 0.5, patchSize: [14, 14], hiddenSize: 1280, transformer: officialTransformer(1280, 16, 32) },
    txt: { hiddenSize: 1024, transformer: officialTransformer(1024, 16, 24) },
    clr: { projDimOut: 1024 },
  },
  partitioning: { partitionStates: true },
  train: { numEpochs: 20000, warmupEpochs: 200, learningRate: 2e-6, optimizer: { flattenParams: true } },
});

export default config;
