// `flip run` on the official data formats: flip_tiny trains on a folder of img2dataset TFRecords and evaluates zero-shot
// on a TFDS-layout imagenet2012 validation folder (both from test/fixtures/tfrecord/make_fixtures.py), with the 1000
// official class names; a label outside the class list, and a record that is not an Example, are one line and exit 2.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isFlipError } from '../../compiler/ir/errors.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { checkConfig } from '../../configs/validate.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { runTraining } from '../../train/run/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const F = path.join(root, 'test/fixtures/tfrecord');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-run-tfrecord-'));
let client: Client | undefined;
const cpu = async () => (client ??= await openClient({ target: 'cpu', devices: 1 }));
const savedTfds = process.env.TFDS_DATA_DIR;
afterAll(() => {
  client?.dispose();
  rmSync(tmp, { recursive: true, force: true });
  if (savedTfds === undefined) delete process.env.TFDS_DATA_DIR;
  else process.env.TFDS_DATA_DIR = savedTfds;
});

// 24 samples, batch 8: 3 steps per epoch; 1 epoch, then the eval. One prompt per class keeps the text tower's work at
// 1000 prompts (the official 7 templates are the default; test/train/data-tfrecord.test.ts checks them).
const overrides = {
  'train.data.laionPath': path.join(F, 'laion'), 'train.data.evalDataset': 'tfds:imagenet2012',
  'train.batchSize': '8', 'train.samplesPerEpoch': '24', 'train.numEpochs': '1', 'train.warmupEpochs': '0', 'train.logEverySteps': '3',
};

function flipRun(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [path.join(root, 'bin/flip.js'), 'run', ...args], { cwd: tmp, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

describe('flip run on img2dataset TFRecords + TFDS imagenet2012', () => {
  it('trains on the TFRecord folder and evaluates on the TFDS validation split with the 1000 official classes', async () => {
    process.env.TFDS_DATA_DIR = path.join(F, 'tfds');
    const cfg = applyOverrides(await loadConfigModule('configs/flip_tiny.ts'), overrides, officialAliases);
    checkConfig(cfg);
    const lines: string[] = [], warnings: string[] = [];
    const r = await runTraining({
      config: cfg, workdir: path.join(tmp, 'run'), workers: 0, print: (l) => lines.push(l), warn: (l) => warnings.push(l), client: await cpu(), fastCompile: true,
      templates: ['a photo of a {}.'],
    });
    expect(r).toMatchObject({ step: 3, stepsRun: 3, interrupted: false });
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.skipped).toMatchObject({ 'bad-tfrecord-crc': 0, 'truncated-tfrecord': 0, 'incomplete-sample': 0 });
    expect(r.zeroShot).toMatchObject({ images: 10, classes: 1000 });
    expect(r.zeroShot!.chance).toBeCloseTo(1 / 1000);
    expect(lines.find((l) => l.includes('zero-shot top-1'))).toMatch(/zero-shot top-1 \d+\.\d% \(top-5 \d+\.\d%\) on 10 held-out images, 1000 classes;/);
    expect(warnings).toEqual([]);
  });

  it('a label outside the 1000 classes, and a record that is not a tf.train.Example, are FlipErrors naming the image or record', async () => {
    // In process, on the same client: the compiled step and encoders of the first run are reused. A FlipError is what
    // the CLI prints as one line with exit status 2 (the spawned run below shows it).
    const run = async (o: Record<string, string>, workdir: string) => {
      const cfg = applyOverrides(await loadConfigModule('configs/flip_tiny.ts'), { ...overrides, ...o }, officialAliases);
      checkConfig(cfg);
      return runTraining({ config: cfg, workdir: path.join(tmp, workdir), workers: 0, print: () => {}, warn: () => {}, client: await cpu(), fastCompile: true, templates: ['a photo of a {}.'] });
    };
    process.env.TFDS_DATA_DIR = path.join(F, 'tfds_badlabel');
    const label = await run({}, 'badlabel').catch((e: unknown) => e);
    expect(isFlipError(label)).toBe(true);
    expect((label as Error).message).toMatch(/^zero-shot eval: image 'ILSVRC2012_val_00000022\.JPEG' has label 1000, outside the 1000 classes of the class list \(labels 0\.\.999\)$/);

    const notExample = await run({ 'train.data.laionPath': path.join(F, 'not_example'), 'train.data.evalDataset': '' }, 'notex').catch((e: unknown) => e);
    expect(isFlipError(notExample)).toBe(true);
    expect((notExample as Error).message).toMatch(/not_example\/00000\.tfrecord: record 1 \(byte \d+\) is not a tf\.train\.Example \(/);
    expect((notExample as Error).message).not.toContain('\n');
  });

  it('flip run with evalDataset=tfds:imagenet2012 and no such folder under TFDS_DATA_DIR: one line, exit 2, nothing written', async () => {
    const missing = await flipRun(['--config', path.join(root, 'configs/flip_tiny.ts'), '--workdir', path.join(tmp, 'missing'), '--workers', '0',
      `--config.train.data.laionPath=${path.join(F, 'laion')}`, '--config.train.data.evalDataset=tfds:imagenet2012'], { TFDS_DATA_DIR: path.join(tmp, 'nowhere') });
    expect(missing.code, missing.out + missing.err).toBe(2);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
    expect(missing.err).toMatch(/TFDS dataset imagenet2012 not found: no folder .*nowhere\/imagenet2012/);
    expect(existsSync(path.join(tmp, 'missing', 'checkpoints'))).toBe(false);
  });
});
