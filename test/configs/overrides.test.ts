// --config.<field>=<value> overrides (typed by the field, unknown fields with close names, groups).
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../configs/errors.ts';
import { applyOverrides, closeFields, configOptionsIn, overridesFrom } from '../../configs/overrides.ts';

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
