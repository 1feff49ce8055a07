// --config.<field>=<value> overrides (typed by the field, unknown fields with close names, groups), the official
// config names as aliases, and the checks of a resolved FlipConfig.
import { describe, expect, it } from 'vitest';
import { applyOverrides, closeFields, ConfigError, configOptionsIn, overridesFrom } from '../../configs/overrides.ts';
import { checkConfig, loadConfigModule, officialAliases, resolveConfig } from '../../configs/load.ts';

describe('--config overrides', () => {
  const base = {
    learning_rate: 1e-4, batch_size: 256, exclude_wd: true, laion_path: '',
    aug: { area_range: [0.5, 1], txt: { max_len: 32 } },
    model: { model_img: { mask_ratio: 0.5, hidden_size: 64 }, model_txt: { mask_ratio: 0 } },
  };

  it('parse values as the field types, without touching the original', () => {
    const c = applyOverrides(base, {
      learning_rate: '3e-4', 'config.batch_size': '64', exclude_wd: 'false', laion_path: '/data/x',
      'aug.area_range': '0.25,1', 'aug.txt.max_len': '16', 'model.model_img.mask_ratio': '0.75',
    });
    expect(c).toMatchObject({ learning_rate: 3e-4, batch_size: 64, exclude_wd: false, laion_path: '/data/x', aug: { area_range: [0.25, 1], txt: { max_len: 16 } } });
    expect(c.model.model_img.mask_ratio).toBe(0.75);
    expect(base.model.model_img.mask_ratio).toBe(0.5);
    expect(applyOverrides(base, { 'aug.area_range': '[0.3, 0.9]' }).aug.area_range).toEqual([0.3, 0.9]);
  });

  it('name close fields for an unknown one, and say what a bad value should be', () => {
    expect(() => applyOverrides(base, { learning_rat: '1' })).toThrow(/unknown config field 'learning_rat' \(did you mean 'learning_rate'/);
    expect(() => applyOverrides(base, { 'model.model_img.mask_rato': '1' })).toThrow(/did you mean 'model\.model_img\.mask_ratio'/);
    expect(() => applyOverrides(base, { mask_ratio: '0' })).toThrow(/'model\.model_img\.mask_ratio', 'model\.model_txt\.mask_ratio'/);
    expect(() => applyOverrides(base, { learning_rate: 'fast' })).toThrow(ConfigError);
    expect(() => applyOverrides(base, { learning_rate: 'fast' })).toThrow("--config.learning_rate: expected a number, got 'fast'");
    expect(() => applyOverrides(base, { exclude_wd: 'maybe' })).toThrow('expected true or false');
    expect(() => applyOverrides(base, { 'aug.area_range': 'a,b' })).toThrow(/area_range\[0\]: expected a number/);
    expect(() => applyOverrides(base, { model: '1' })).toThrow(/is a group of fields/);
    expect(closeFields(base, 'zzzzzzzz')).toEqual([]);
  });

  it('read --config.<field> options from argv for the strict parser, and back from parsed values', () => {
    expect(configOptionsIn(['--config', 'c.ts', '--config.learning_rate=1', '--config.aug.txt.max_len', '8'])).toEqual({
      'config.learning_rate': { type: 'string' }, 'config.aug.txt.max_len': { type: 'string' },
    });
    expect(overridesFrom({ config: 'c.ts', 'config.learning_rate': '1', workdir: 'w' })).toEqual({ learning_rate: '1' });
  });
});

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
