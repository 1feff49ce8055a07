// Checkpoints: safetensors + JSON, atomic, the newest complete one found, old ones pruned.
import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, listCheckpoints, loadCheckpoint, saveCheckpoint, type HostState } from '../../train/checkpoint.ts';
import { readSafetensors } from '../../io/safetensors.ts';

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
