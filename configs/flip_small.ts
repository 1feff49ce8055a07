// A ViT-S/16 FLIP for benchmarks on a CPU (`npm run bench`): the official recipe and 224×224 images in 16×16 patches
// (196 tokens: 98 kept at 50% masking, 49 at 75%), an image tower 384 wide, 12 layers, 6 heads (ViT-S/16); a text
// tower 384 wide, 12 layers, 6 heads on 32-token captions over the BERT vocabulary; 384-d embeddings; batch 8.
// 22M + 33M parameters; a train step at batch 8 takes seconds on 2 CPU cores.
import { officialDefaults, officialTransformer, override } from './official.ts';
import type { FlipConfig } from './types.ts';

const config: FlipConfig = override(officialDefaults(), {
  name: 'flip_small',
  model: {
    img: { maskRatio: 0.5, hiddenSize: 384, transformer: officialTransformer(384, 6, 12) },
    txt: { hiddenSize: 384, transformer: officialTransformer(384, 6, 12) },
    clr: { projDimOut: 384 },
  },
  train: { batchSize: 8, numEpochs: 10000 },
});

export default config;
