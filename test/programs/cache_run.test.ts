// The second `flip run` of a config compiles nothing: its programs (state init, train step) come from the persistent
// compilation cache, the compile log says so, and the run is the same run (losses and the saved state, bit for bit).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigModule } from '../../configs/load.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { checkConfig } from '../../configs/validate.ts';
import { CompileCache } from '../../programs/cache.ts';
import { openClient } from '../../runtime-native/index.ts';
import { loadCheckpoint } from '../../train/checkpoint.ts';
import { runTraining } from '../../train/run/index.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flip-cache-run-'));
const saved = { on: process.env.FLIP_COMPILE_CACHE, dir: process.env.FLIP_COMPILE_CACHE_DIR };
afterAll(() => {
  for (const [k, v] of [['FLIP_COMPILE_CACHE', saved.on], ['FLIP_COMPILE_CACHE_DIR', saved.dir]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('flip run twice', () => {
  it('the second run loads init_state and train_step from the compilation cache and trains identically', async () => {
    // As flip run has it: the cache on by default, here in a folder of the test's own.
    const dir = path.join(tmp, 'compile');
    process.env.FLIP_COMPILE_CACHE = '1';
    process.env.FLIP_COMPILE_CACHE_DIR = dir;
    const cfg = applyOverrides(await loadConfigModule('configs/flip_tiny.ts'), {
      'model.txt.vocabSize': '128', 'train.batchSize': '4', 'train.samplesPerEpoch': '16', 'train.numEpochs': '1', 'train.warmupEpochs': '0.5',
      'train.saveEveryEpochs': '1', 'train.logEverySteps': '100',
    }, officialAliases);
    checkConfig(cfg);
    const runs = [];
    for (const name of ['first', 'second']) {
      // A client of its own for each run, as two processes have: nothing is shared but the cache folder.
      const client = await openClient({ target: 'cpu', devices: 1 });
      const lines: string[] = [];
      try {
        const r = await runTraining({ config: cfg, workdir: path.join(tmp, name), noEval: true, workers: 0, print: (l) => lines.push(l), client, fastCompile: true });
        runs.push({ r, lines });
      } finally {
        client.dispose();
      }
    }
    const [first, second] = runs as [(typeof runs)[0], (typeof runs)[0]];
    const compiled = (lines: string[], how: string) => lines.filter((l) => new RegExp(`^compile: \\w+: ${how} in \\d+\\.\\ds$`).test(l)).map((l) => l.split(':')[1]!.trim());
    expect(compiled(first.lines, 'compiled')).toEqual(['init_state', 'train_step']);
    expect(compiled(first.lines, 'loaded from the compilation cache')).toEqual([]);
    expect(compiled(second.lines, 'loaded from the compilation cache')).toEqual(['init_state', 'train_step']);
    expect(compiled(second.lines, 'compiled')).toEqual([]);
    expect(new CompileCache({ dir }).entries().map((e) => e.name).sort()).toEqual(['init_state', 'train_step']);

    expect(second.r.losses).toHaveLength(4);
    expect(second.r.losses).toEqual(first.r.losses);
    const a = loadCheckpoint(path.join(tmp, 'first')).state, b = loadCheckpoint(path.join(tmp, 'second')).state;
    for (const group of ['params', 'mu', 'nu'] as const) {
      for (const [k, t] of Object.entries(a[group])) {
        const bytes = (d: ArrayBufferView) => Buffer.from(d.buffer, d.byteOffset, d.byteLength);
        expect(bytes(b[group][k]!.data).equals(bytes(t.data)), `${group}.${k}`).toBe(true);
      }
    }
  });
});
