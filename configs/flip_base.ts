// FLIP ViT-B/16 on LAION-400M, 10000 virtual epochs (facebookresearch/flip configs/cfg_flip_base.py): image tower
// 768 wide, 12 layers, 12 heads; text tower 512 wide, 12 layers, 8 heads; 512-d embeddings.
import { officialDefaults, officialTransformer, override } from './official.ts';
import type { FlipConfig } from './types.ts';

const config: FlipConfig = override(officialDefaults(), {
  name: 'flip_base',
  model: {
    img: { maskRatio: 0.5, hiddenSize: 768, transformer: officialTransformer(768, 12, 12) },
    txt: { hiddenSize: 512, transformer: officialTransformer(512, 8, 12) },
    clr: { projDimOut: 512 },
  },
  train: { numEpochs: 10000 },
});

export default config;
