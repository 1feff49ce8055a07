// `flip run`'s training program end to end on the real CPU plugin: the default config (test-sized) lowers its loss
// and logs metrics, TensorBoard scalars and checkpoints; a resumed run continues exactly where a straight run would be.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openClient, type Client } from '../../runtime-native/index.ts';
import type { FlipConfig } from '../../configs/types.ts';
import { loadCheckpoint, listCheckpoints } from '../../train/checkpoint.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { checkConfig } from '../../configs/validate.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { runTraining } from '../../train/run/index.ts';
import { readScalars } from '../../train/tensorboard.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-run-'));
// One client for the file: runs of the same config reuse its compiled executables. Programs are compiled at XLA's
// lowest backend optimization level (several times faster to compile; the same computation).
let client: Client | undefined;
const cpu = async () => (client ??= await openClient({ target: 'cpu', devices: 1 }));
afterAll(() => {
  client?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

async function config(file: string | undefined, overrides: Record<string, string>): Promise<FlipConfig> {
  const c = applyOverrides(await loadConfigModule(file), overrides, officialAliases);
  checkConfig(c);
  return c;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('flip run (in-process)', () => {
  it('trains the default config on a small synthetic set: the loss decreases; metrics, events and checkpoints are written', async () => {
    // The default model as it is; a test-sized run: batch 32, 10 steps per virtual epoch, 2 epochs, no warmup.
    const cfg = await config(undefined, {
      'train.batchSize': '32', 'train.samplesPerEpoch': '320', 'train.numEpochs': '2', 'train.warmupEpochs': '0',
      learning_rate: '8e-3', log_every_steps: '5', save_every_epochs: '1',
    });
    const workdir = path.join(tmp, 'default');
    const lines: string[] = [];
    const r = await runTraining({ config: cfg, workdir, noEval: true, workers: 0, print: (s) => lines.push(s), client: await cpu(), fastCompile: true });
    expect(r).toMatchObject({ step: 20, stepsRun: 20, interrupted: false });
    expect(r.losses).toHaveLength(20);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(mean(r.losses.slice(-5))).toBeLessThan(mean(r.losses.slice(0, 5)) - 0.05);

    // Progress lines (step, loss, tau, lr, samples/s, ETA) and compile progress.
    expect(lines.some((l) => /^step +5\/20 +epoch 0\.50 +loss \d+\.\d+ +tau 0\.\d+ +lr \S+ +[\d.]+ samples\/s +ETA \S+$/.test(l))).toBe(true);
    expect(lines.some((l) => /^compile: train_step: compiling with XLA \(cpu\) unless the compilation cache has it; traced in [\d.]+s$/.test(l))).toBe(true);

    // metrics.jsonl and the TensorBoard file agree on the logged steps.
    const jsonl = readFileSync(path.join(workdir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(jsonl.map((m) => m.step)).toEqual([5, 10, 15, 20]);
    expect(jsonl[3]!['train/loss']).toBeCloseTo(mean(r.losses.slice(15)), 5);
    const events = readdirSync(workdir).filter((f) => f.startsWith('events.out.tfevents.'));
    expect(events).toHaveLength(1);
    const scalars = readScalars(path.join(workdir, events[0]!));
    const tags = new Set(scalars.map((s) => s.tag));
    for (const t of ['train/loss', 'train/tau', 'train/lr', 'train/samples_per_sec']) expect(tags.has(t)).toBe(true);
    const tbLoss = scalars.filter((s) => s.tag === 'train/loss');
    expect(tbLoss.map((s) => s.step)).toEqual([5, 10, 15, 20]);
    tbLoss.forEach((s, i) => expect(s.value).toBeCloseTo(jsonl[i]!['train/loss']!, 5));

    // A checkpoint per epoch (save_every_epochs = 1): step, data position, config.
    expect(listCheckpoints(path.join(workdir, 'checkpoints')).map((c) => c.step)).toEqual([10, 20]);
    const ck = loadCheckpoint(workdir);
    expect(ck.meta).toMatchObject({ step: 20, samples: 640, config: { train: { batchSize: 32 } } });
    expect(ck.meta.position).not.toBeNull();
    expect(Object.keys(ck.state.params)).toContain('img_encoder.cls');
    expect(Object.keys(ck.state.mu).sort()).toEqual(Object.keys(ck.state.params).sort());
  });

  it('resumes exactly: N steps, save, resume, M more == N + M straight (losses, params, moments)', async () => {
    const overrides = {
      'model.txt.vocabSize': '128', 'train.batchSize': '4', 'train.samplesPerEpoch': '24', 'train.numEpochs': '2', 'train.warmupEpochs': '0.5',
      'train.saveEveryEpochs': '10', 'train.logEverySteps': '100',
    };
    const cfg = await config('configs/flip_tiny.ts', overrides);
    const common = { noEval: true, workers: 0, print: () => {}, client: await cpu(), fastCompile: true };
    // Straight: 12 steps.
    const straight = await runTraining({ config: cfg, workdir: path.join(tmp, 'straight'), ...common });
    expect(straight.step).toBe(12);
    // Interrupted after 5 steps (saved), then resumed in place.
    const split = path.join(tmp, 'split');
    const first = await runTraining({ config: cfg, workdir: split, ...common, stopAfter: 5 });
    expect(first).toMatchObject({ step: 5, stepsRun: 5 });
    const resumedCfg = await config('configs/flip_tiny.ts', { ...overrides, 'train.resumeDir': split });
    const second = await runTraining({ config: resumedCfg, workdir: split, ...common });
    expect(second).toMatchObject({ step: 12, stepsRun: 7 });

    expect(first.losses).toEqual(straight.losses.slice(0, 5));
    second.losses.forEach((l, i) => expect(l).toBeCloseTo(straight.losses[5 + i]!, 5));
    const a = loadCheckpoint(path.join(tmp, 'straight')).state, b = loadCheckpoint(split).state;
    for (const group of ['params', 'mu', 'nu'] as const) {
      for (const [name, t] of Object.entries(a[group])) {
        const x = t.data as Float32Array, y = b[group][name]!.data as Float32Array;
        let worst = 0;
        for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / (1e-6 + Math.abs(x[i]!)));
        expect(worst, `${group}.${name}`).toBeLessThan(1e-4);
      }
    }
  });

  it('--devices 2 trains data-parallel on a mesh with the losses of one device', async () => {
    // The resume test's config: the single-device programs come from the shared client's cache.
    const overrides = {
      'model.txt.vocabSize': '128', 'train.batchSize': '4', 'train.samplesPerEpoch': '24', 'train.numEpochs': '2', 'train.warmupEpochs': '0.5',
      'train.saveEveryEpochs': '10', 'train.logEverySteps': '100',
    };
    const cfg = await config('configs/flip_tiny.ts', overrides);
    const one = await runTraining({ config: cfg, workdir: path.join(tmp, 'one'), noEval: true, workers: 0, print: () => {}, client: await cpu(), fastCompile: true, stopAfter: 6 });
    const two = await openClient({ target: 'cpu', devices: 2 });
    try {
      const lines: string[] = [];
      const r = await runTraining({ config: cfg, workdir: path.join(tmp, 'two'), noEval: true, workers: 0, print: (l) => lines.push(l), client: two, devices: 2, fastCompile: true, stopAfter: 6 });
      expect(lines).toContain('train step on mesh data=2');
      expect(r.losses).toHaveLength(6);
      r.losses.forEach((l, i) => expect(l).toBeCloseTo(one.losses[i]!, 4));
      // The checkpoint of a sharded state reads back whole.
      const a = loadCheckpoint(path.join(tmp, 'one')).state.params, b = loadCheckpoint(path.join(tmp, 'two')).state.params;
      for (const [k, t] of Object.entries(a)) expect(b[k]!.shape).toEqual(t.shape);
    } finally {
      two.dispose();
    }
  });

  it('--config.train.pretrainDir takes params only: moments, step and data position start fresh', async () => {
    const overrides = {
      'model.txt.vocabSize': '128', 'train.batchSize': '4', 'train.samplesPerEpoch': '24', 'train.numEpochs': '2', 'train.warmupEpochs': '0.5',
      'train.saveEveryEpochs': '10', 'train.logEverySteps': '100',
    };
    const common = { noEval: true, workers: 0, print: () => {}, client: await cpu(), fastCompile: true };
    const source = path.join(tmp, 'pretrain-source');
    await runTraining({ config: await config('configs/flip_tiny.ts', overrides), workdir: source, ...common, stopAfter: 3 });
    const tuned = path.join(tmp, 'tuned');
    const r = await runTraining({ config: await config('configs/flip_tiny.ts', { ...overrides, 'train.pretrainDir': source, 'model.img.maskRatio': '0' }), workdir: tuned, ...common, stopAfter: 0 });
    expect(r).toMatchObject({ step: 0, stepsRun: 0 });
    const from = loadCheckpoint(source), to = loadCheckpoint(tuned);
    expect(to.meta).toMatchObject({ step: 0, position: null, samples: 0 });
    expect(to.meta.config).toMatchObject({ model: { img: { maskRatio: 0 } } });
    for (const [k, t] of Object.entries(from.state.params)) expect(to.state.params[k]!.data, k).toEqual(t.data);
    for (const t of [...Object.values(to.state.mu), ...Object.values(to.state.nu)]) expect((t.data as Float32Array).every((x) => x === 0)).toBe(true);
  });
});
