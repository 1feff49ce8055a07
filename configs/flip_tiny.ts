// A tiny FLIP for tests and `flipc compile` examples: 32×32 images in 8×8 patches (16 tokens), both towers 32 wide
// and 2 layers deep, a 64-token vocabulary, 8-token captions, batch 4. Compiles and runs in well under a second on a CPU.
import { officialDefaults, override } from './official.ts';
import type { FlipConfig, TransformerConfig } from './types.ts';

const tiny: TransformerConfig = { numLayers: 2, numHeads: 2, mlpDim: 64, dropoutRate: 0, attentionDropoutRate: 0, droppathRate: 0, remat: 'none', scanLayers: false };

const config: FlipConfig = override(officialDefaults(), {
  name: 'flip_tiny',
  model: {
    img: { imageSize: 32, patchSize: [8, 8], hiddenSize: 32, transformer: tiny, maskRatio: 0.5 },
    txt: { vocabSize: 64, maxLen: 8, hiddenSize: 32, transformer: tiny },
    clr: { projDimOut: 16 },
  },
  train: {
    batchSize: 4, learningRate: 1e-3, warmupEpochs: 1, numEpochs: 2, samplesPerEpoch: 64, logEverySteps: 1, saveEveryEpochs: 1,
  },
});

export default config;
