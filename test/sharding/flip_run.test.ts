// `flip run --mesh data=2,model=2`: the trainer's step over a 2-D mesh (heads and MLP split over model, the batch over
// data, optimizer states split further as the config asks) trains with one device's losses.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mesh } from '../../compiler/passes/index.ts';
import { openClient } from '../../runtime-native/index.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { checkConfig } from '../../configs/validate.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { loadCheckpoint } from '../../train/checkpoint.ts';
import { runTraining } from '../../train/run/index.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-run-mesh-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('flip run --mesh', () => {
  it('trains flip_tiny on (data=2, model=2) with partitioned states and the losses of one device', async () => {
    const c = applyOverrides(await loadConfigModule('configs/flip_tiny.ts'), {
      'model.txt.vocabSize': '128', 'train.batchSize': '4', 'train.samplesPerEpoch': '24', 'train.numEpochs': '2', 'train.warmupEpochs': '0.5',
      'train.saveEveryEpochs': '10', 'train.logEverySteps': '100', 'partitioning.partitionStates': 'true',
    }, officialAliases);
    checkConfig(c);
    const client = await openClient({ target: 'cpu', devices: 4 });
    try {
      const run = (name: string, m?: ReturnType<typeof mesh>) => {
        const lines: string[] = [];
        const r = runTraining({ config: c, workdir: path.join(tmp, name), noEval: true, workers: 0, print: (l) => lines.push(l), client, fastCompile: true, stopAfter: 4, ...(m ? { mesh: m } : {}) });
        return r.then((x) => ({ ...x, lines }));
      };
      const one = await run('one');
      const two = await run('mesh', mesh({ data: 2, model: 2 }));
      expect(one.lines).toContain('train step on 1 device');
      expect(two.lines).toContain('train step on mesh data=2,model=2');
      expect(two.losses).toHaveLength(4);
      two.losses.forEach((l, i) => expect(l, `step ${i + 1}`).toBeCloseTo(one.losses[i]!, 4));
      // The checkpoint gathers the sharded state: the same params and moments as one device's, within float tolerance
      // (but the attention key biases, whose gradient is rounding noise: see flip_tiny.test.ts).
      const a = loadCheckpoint(path.join(tmp, 'one')).state, b = loadCheckpoint(path.join(tmp, 'mesh')).state;
      for (const group of ['params', 'mu'] as const) {
        for (const [k, t] of Object.entries(a[group])) {
          if (k.endsWith('key.bias')) continue;
          const u = b[group][k]!;
          expect(u.shape, k).toEqual(t.shape);
          const worst = (t.data as Float32Array).reduce((w, v, i) => Math.max(w, Math.abs(v - Number(u.data[i])) / (1e-5 + 1e-3 * Math.abs(v))), 0);
          expect(worst, `${group}.${k}`).toBeLessThan(1);
        }
      }
    } finally {
      client.dispose();
    }
  });
});
