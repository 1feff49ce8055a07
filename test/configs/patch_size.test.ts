// --config.model.img.patchSize=7 (or the official model.model_img.patches.size=7) means 7×7; it used to become [7]
// and fail validation with "patchSize[1] must be a positive integer, got undefined".
import { describe, expect, it } from 'vitest';
import flipTiny from '../../configs/flip_tiny.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { checkConfig } from '../../configs/validate.ts';

describe('a square size as one number', () => {
  it('patchSize=N is N×N, under our name and the official one; a pair is taken as written', () => {
    for (const field of ['model.img.patchSize', 'config.model.model_img.patches.size']) {
      const c = applyOverrides(flipTiny, { [field]: '4' }, officialAliases);
      expect(c.model.img.patchSize, field).toEqual([4, 4]);
      expect(() => checkConfig(c)).not.toThrow();
    }
    expect(applyOverrides(flipTiny, { 'model.img.patchSize': '4,8' }, officialAliases).model.img.patchSize).toEqual([4, 8]);
  });
});
