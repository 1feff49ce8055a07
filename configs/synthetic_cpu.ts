// `flip run`'s built-in default: a small FLIP that trains on 2 CPU cores in minutes, on the synthetic set of
// `flip data synth` (64×64 images). 8×8 patches (64 tokens, 32 kept at 50% masking); image tower 128 wide, 3 layers;
// text tower 128 wide, 2 layers, 16-token captions; batch 128. Everything else is the official recipe (AdamW b2 0.95,
// weight decay 0.2, warmup + cosine), with a learning rate for a small model trained from scratch. 4 virtual epochs of
// 10240 samples (320 steps) keep `flip run` under 10 minutes on 2 cores; the README's Train section has the figures.
import { officialDefaults, officialTransformer, override } from './official.ts';
import type { FlipConfig } from './types.ts';

const config: FlipConfig = override(officialDefaults(), {
  name: 'flip_default_cpu',
  model: {
    img: { imageSize: 64, patchSize: [8, 8], hiddenSize: 128, transformer: officialTransformer(128, 4, 3), maskRatio: 0.5 },
    // The synthetic captions' vocab.txt has ~150 entries; a BERT vocab needs 30523 (set vocabSize ≥ the vocab file).
    txt: { vocabSize: 1024, maxLen: 16, hiddenSize: 128, transformer: officialTransformer(128, 4, 2) },
    clr: { projDimOut: 128 },
  },
  train: {
    batchSize: 128,
    learningRate: 2e-3, // per 256: abs lr 1e-3 at batch 128
    warmupEpochs: 1,
    numEpochs: 4,
    samplesPerEpoch: 10240,
    logEverySteps: 10,
    saveEveryEpochs: 2,
    visEveryEpochs: 2,
    data: { laionPath: '', evalDataset: '' },
  },
});

export default config;
