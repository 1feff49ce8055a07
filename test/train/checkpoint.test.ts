// Checkpoints (safetensors + JSON, atomic, newest complete one found, old ones pruned) and --config.<field>=<value>
// overrides (types, unknown fields with close names, groups).
import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, listCheckpoints, loadCheckpoint, saveCheckpoint, type HostState } from '../../train/checkpoint.ts';
import { applyOverrides, closeFields, ConfigError, configOptionsIn, overridesFrom } from '../../train/config_args.ts';
import { readSafetensors } from '../../train/safetensors.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const state = (v: number): HostState => ({
  params: { 'img.kernel': { dtype: 'f32', shape: [2, 2], data: new Float32Array([v, 2, 3, 4]) }, logit_scale: { dtype: 'f32', shape: [], data: new Float32Array([2.6]) } },
  mu: { 'img.kernel': { dtype: 'f32', shape: [2, 2], data: new Float32Array(4).fill(v / 10) }, logit_scale: { dtype: 'f32', shape: [], data: new Float32Array([0]) } },
  nu: { 'img.kernel': { dtype: 'f32', shape: [2, 2], data: new Float32Array(4).fill(v / 100) }, logit_scale: { dtype: 'f32', shape: [], data: new Float32Array([0]) } },
});

describe('checkpoints', () => {
  it('save and load params, moments, step, position and config; the newest complete one wins; old ones go', () => {
    const dir = path.join(tmp, 'run', 'checkpoints');
    const pos = { epoch: 0, shardIndex: 1, sampleOffset: 5, taken: 37 };
    for (const step of [10, 20, 30]) saveCheckpoint(dir, state(step), { step, position: pos, samples: step * 8, config: { batch_size: 8 } });
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([20, 30]); // keep = 2
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]); // no temporary files left

    const back = loadCheckpoint(path.join(tmp, 'run')); // a workdir finds checkpoints/
    expect(back.meta).toMatchObject({ step: 30, position: pos, samples: 240, config: { batch_size: 8 } });
    expect(back.state.params['img.kernel']!.data).toEqual(new Float32Array([30, 2, 3, 4]));
    expect(back.state.mu['img.kernel']!.data).toEqual(new Float32Array(4).fill(3));
    expect(back.state.nu['logit_scale']!.shape).toEqual([]);

    // The safetensors file stands alone: names by group and path, the JSON in its metadata.
    const st = readSafetensors(path.join(dir, back.meta.tensors));
    expect(Object.keys(st.tensors).sort()).toEqual(['opt.mu.img.kernel', 'opt.mu.logit_scale', 'opt.nu.img.kernel', 'opt.nu.logit_scale', 'params.img.kernel', 'params.logit_scale']);
    expect(JSON.parse(st.metadata.flip!).step).toBe(30);

    // A save that died before its JSON is not a checkpoint: the previous one is the latest.
    saveCheckpoint(dir, state(40), { step: 40, position: null, samples: 320, config: {} });
    unlinkSync(path.join(dir, 'checkpoint_00000040.json'));
    expect(loadCheckpoint(dir).meta.step).toBe(30);
  });

  it('refuses paths without a checkpoint, naming them', () => {
    expect(() => loadCheckpoint(path.join(tmp, 'nope'))).toThrow(CheckpointError);
    expect(() => loadCheckpoint(tmp)).toThrow(/no checkpoint in/);
    expect(existsSync(tmp)).toBe(true);
  });
});

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
