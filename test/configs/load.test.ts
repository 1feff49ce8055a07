// Loading a flip run config: the official config names as aliases for our fields, the default config, the checks of
// a resolved FlipConfig.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../configs/errors.ts';
import { loadConfigModule, resolveConfig } from '../../configs/load.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { checkConfig } from '../../configs/validate.ts';

describe('flip run configs', () => {
  it('take the official names of configs/default.py for our fields', async () => {
    const c = await resolveConfig(undefined, {
      learning_rate: '4e-8', num_epochs: '100', warmup_epochs: '20', 'model.model_img.mask_ratio': '0.0', 'opt.weight_decay': '0.1',
      laion_path: '/data/laion', seed_jax: '3', batch_size: '64', 'model.clr.tau_learnable': 'false', 'aug.txt.max_len': '12',
    });
    expect(c.train).toMatchObject({ learningRate: 4e-8, numEpochs: 100, warmupEpochs: 20, seed: 3, batchSize: 64, data: { laionPath: '/data/laion' } });
    expect(c.train.optimizer.weightDecay).toBe(0.1);
    expect(c.model.img.maskRatio).toBe(0);
    expect(c.model.clr.tauLearnable).toBe(false);
    expect(c.model.txt.maxLen).toBe(12);
    expect(officialAliases('model.model_txt.transformer.num_layers')).toContain('model.txt.transformer.numLayers');
  });

  it('load the default config, and check the values the trainer relies on', async () => {
    const d = await loadConfigModule();
    expect(d.name).toBeTruthy();
    expect(() => checkConfig(d)).not.toThrow();
    const bad = (o: Record<string, string>) => () => checkConfig(applyOverrides(d, o));
    expect(bad({ 'train.batchSize': '0' })).toThrow(/config\.train\.batchSize must be a positive integer, got 0/);
    expect(bad({ 'train.samplesPerEpoch': '10' })).toThrow(/at least the batch size/);
    expect(bad({ 'model.img.maskRatio': '1' })).toThrow(/maskRatio must be in \[0, 1\)/);
    expect(bad({ 'train.resumeDir': 'a', 'train.pretrainDir': 'b' })).toThrow(ConfigError);
    await expect(loadConfigModule('configs/nope.ts')).rejects.toThrow('config file not found: configs/nope.ts');
  });
});

describe('resolveConfig checks the sizes before any work', () => {
  it('names every field that does not fit, as one FlipError', async () => {
    const { FlipError } = await import('../../compiler/ir/errors.ts');
    const bad = { 'model.img.transformer.numHeads': '3', 'model.img.imageSize': '60' };
    await expect(resolveConfig(undefined, bad)).rejects.toBeInstanceOf(FlipError);
    await expect(resolveConfig(undefined, bad)).rejects.toThrow(
      /model\.img\.hiddenSize 128 is not divisible by model\.img\.transformer\.numHeads 3.*model\.img\.imageSize 60 is not divisible by model\.img\.patchSize 8x8/,
    );
  });
});
