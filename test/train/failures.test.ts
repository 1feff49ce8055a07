// What `flip run` does when things go wrong, through the real training program on the CPU plugin: damaged data is
// skipped, counted and warned about once per kind while training goes on; an unreadable checkpoint or one of another
// model config is one error naming it (and the first leaf that differs), with nothing written; a NaN / inf loss stops
// training at that step and leaves the last good checkpoint as it was.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/errors.ts';
import type { FlipConfig } from '../../configs/types.ts';
import { openClient, type Client } from '../../runtime-native/index.ts';
import { CheckpointError, listCheckpoints } from '../../train/checkpoint.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { checkConfig } from '../../configs/validate.ts';
import { writeSynthDataset } from '../../train/data/synth.ts';
import { TarReader, TarWriter } from '../../train/data/tar.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { runTraining, type RunOptions } from '../../train/run/index.ts';
import { mesh } from '../../compiler/passes/index.ts';
import { writeCheckpointIndex, writeProcessPieces } from '../../train/multiprocess/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-fail-'));
let client: Client | undefined;
const cpu = async () => (client ??= await openClient({ target: 'cpu', devices: 1 }));
afterAll(() => {
  client?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const ds = path.join(tmp, 'ds');
beforeAll(async () => {
  await writeSynthDataset({ out: ds, n: 32, shards: 2, imageSize: 32, evalN: 30, seed: 4 });
});

// flip_tiny on the synthetic shards: 4 steps per virtual epoch.
const BASE = {
  'model.txt.vocabSize': '256', 'train.batchSize': '4', 'train.samplesPerEpoch': '16', 'train.numEpochs': '3', 'train.warmupEpochs': '0.5',
  'train.saveEveryEpochs': '100', 'train.logEverySteps': '100',
};
async function config(overrides: Record<string, string>, file = path.join(root, 'configs/flip_tiny.ts')): Promise<FlipConfig> {
  const c = applyOverrides(await loadConfigModule(file), { ...BASE, 'train.data.laionPath': ds, ...overrides }, officialAliases);
  checkConfig(c);
  return c;
}
async function run(o: Partial<RunOptions> & { config: FlipConfig; workdir: string }, warnings: string[] = []) {
  return runTraining({ noEval: true, workers: 0, print: () => {}, warn: (l) => warnings.push(l), client: await cpu(), fastCompile: true, ...o });
}

/** Every file under `dir` with its size, mtime and hash: what "nothing written" compares. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = path.join(d, f);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = `${st.size} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(dir);
  return out;
}

describe('flip run on damaged data', () => {
  it('skips a corrupt JPEG, empty / whitespace / control-only captions, a caption that is not UTF-8 and a truncated shard: warned once per kind, counted, training goes on', async () => {
    const dir = path.join(tmp, 'damaged');
    cpSync(ds, dir, { recursive: true });
    const shard0 = path.join(dir, 'shard-00000.tar');
    const src = await TarReader.open(path.join(ds, 'shard-00000.tar'));
    const w = await TarWriter.create(shard0);
    const captions: Record<string, string> = { '000000003.txt': '   \n', '000000005.txt': '', '000000007.txt': '\u0001\u0002 \t', '000000009.txt': 'qqq zzz xxxjjj' };
    for (let h = await src.next(); h; h = await src.next()) {
      const body = await src.body();
      if (h.name === '000000001.jpg') await w.add(h.name, Buffer.concat([body.subarray(0, 20), Buffer.alloc(300, 7)]));
      else if (h.name in captions) await w.add(h.name, Buffer.from(captions[h.name]!));
      else if (h.name === '000000011.txt') await w.add(h.name, Buffer.from([0x61, 0x20, 0xff, 0xfe, 0x63, 0x61, 0x74])); // a, space, two bytes no UTF-8 has, cat
      else await w.add(h.name, body);
    }
    await src.close();
    await w.close();
    const shard1 = path.join(dir, 'shard-00001.tar');
    truncateSync(shard1, Math.floor(statSync(shard1).size / 2) + 100);

    const warnings: string[] = [];
    const r = await run({ config: await config({ 'train.data.laionPath': dir }), workdir: path.join(tmp, 'damaged-run') }, warnings);
    expect(r).toMatchObject({ step: 12, stepsRun: 12 });
    expect(r.losses.every(Number.isFinite)).toBe(true);
    // 12 batches of 4 read the ~22 usable samples more than twice: each kind is met again and again, shown once.
    expect(r.skipped['corrupt-image']).toBeGreaterThanOrEqual(2);
    expect(r.skipped['empty-caption']).toBeGreaterThanOrEqual(6); // 3 captions without a token per pass
    expect(r.skipped['truncated-tar']).toBeGreaterThanOrEqual(2);
    expect(r.skipped['bad-caption']).toBeGreaterThanOrEqual(2);
    const shown = warnings.filter((l) => l.startsWith('warning: data: skipped ('));
    expect(shown.map((l) => /\(([\w-]+)\)/.exec(l)![1]).sort()).toEqual(['bad-caption', 'corrupt-image', 'empty-caption', 'truncated-tar']);
    expect(shown.find((l) => l.includes('(bad-caption)'))).toMatch(/shard-00000\.tar: sample '000000011': its caption \(\.txt, 7 bytes\) is not valid UTF-8; further ones are counted, not shown$/);
    expect(shown.find((l) => l.includes('(empty-caption)'))).toMatch(/shard-00000\.tar: sample '00000000[357]': caption ".*" has no token; further ones are counted, not shown$/);
    expect(warnings.at(-1)).toBe(
      `data: skipped ${r.skipped['truncated-tar']} truncated-tar, ${r.skipped['corrupt-image']} corrupt-image, ${r.skipped['empty-caption']} empty-caption, ${r.skipped['bad-caption']} bad-caption training sample(s) or shard tail(s) in all; training went on`,
    );
    // A caption of words outside the vocab is [UNK] tokens, which are tokens: it is trained on, as officially.
    expect(warnings.join('\n')).not.toContain("'000000009'");
  });
});

describe('flip run with bad checkpoints and a diverging loss', () => {
  const good = path.join(tmp, 'good');
  beforeAll(async () => {
    // 3 steps, saved at step 3: the last good checkpoint.
    const r = await run({ config: await config({}), workdir: good, stopAfter: 3 });
    expect(r.checkpoint).toMatch(/checkpoint_00000003\.json$/);
  });

  it('an unreadable checkpoint is one error naming it; nothing is written', async () => {
    const cases: Array<[string, (ck: string) => void, RegExp]> = [
      ['cut', (ck) => truncateSync(path.join(ck, 'checkpoint_00000003.safetensors'), 100), /^unreadable checkpoint .*cut\/checkpoints\/checkpoint_00000003\.json: its tensors .*checkpoint_00000003\.safetensors: header length \d+ exceeds the file \(100 bytes\)$/],
      ['nojson', (ck) => writeFileSync(path.join(ck, 'checkpoint_00000003.json'), '{"format": "flip-chec'), /^unreadable checkpoint .*nojson\/checkpoints\/checkpoint_00000003\.json \(not JSON: .*\)$/],
      ['gone', (ck) => rmSync(path.join(ck, 'checkpoint_00000003.safetensors')), /^unreadable checkpoint .*gone\/checkpoints\/checkpoint_00000003\.json: cannot read .*checkpoint_00000003\.safetensors: ENOENT$/],
    ];
    for (const [name, damage, message] of cases) {
      const dir = path.join(tmp, name);
      cpSync(path.join(good, 'checkpoints'), path.join(dir, 'checkpoints'), { recursive: true });
      damage(path.join(dir, 'checkpoints'));
      const before = snapshot(dir);
      const err = await run({ config: await config({ 'train.resumeDir': dir }), workdir: dir }).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(CheckpointError);
      expect((err as Error).message, name).toMatch(message);
      expect(snapshot(dir), name).toEqual(before);
    }
  });

  it("a checkpoint of another model config is one error naming the checkpoint and the first leaf that differs, with both shapes; nothing is written", async () => {
    const before = snapshot(good);
    const wider = await run({ config: await config({ 'train.resumeDir': good, 'model.img.hiddenSize': '48' }), workdir: good }).catch((e: unknown) => e);
    expect(wider).toBeInstanceOf(CheckpointError);
    expect((wider as Error).message).toMatch(
      /^.*good\/checkpoints\/checkpoint_00000003\.json does not fit this config's model: 'params\.img_encoder\.[\w.]+' is f32\[[\d, ]+\] in the checkpoint but f32\[[\d, ]+\] in this config's model; \d+ more tensor\(s\) differ\. Run with the config it was trained with/,
    );
    // Another config altogether (the default): named too. Its data would be written into the workdir: not even that.
    const other = path.join(tmp, 'other-config');
    const err = await run({ config: applyOverrides(await loadConfigModule(), { 'train.pretrainDir': good }, officialAliases), workdir: other }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/does not fit this config's model \(it was written by config 'flip_tiny', this run is '\w+'\): /);
    expect(existsSync(other)).toBe(false);
    expect(snapshot(good)).toEqual(before);
  });

  it("a run never mixes with another run's checkpoints: a fresh run (or one resuming from elsewhere) in their workdir is refused; nothing is written", async () => {
    const before = snapshot(good);
    const fresh = await run({ config: await config({}), workdir: good }).catch((e: unknown) => e);
    expect(fresh).toBeInstanceOf(FlipError);
    expect((fresh as Error).message).toBe(`${path.join(good, 'checkpoints')} holds another run's checkpoints (steps 3) and this run starts fresh: ` +
      `continue that run with --config.train.resumeDir=${good}, or give this one another --workdir (nothing was written)`);
    const elsewhere = path.join(tmp, 'elsewhere');
    cpSync(path.join(good, 'checkpoints'), path.join(elsewhere, 'checkpoints'), { recursive: true });
    const mixed = await run({ config: await config({ 'train.resumeDir': elsewhere }), workdir: good }).catch((e: unknown) => e);
    expect((mixed as Error).message).toMatch(/holds another run's checkpoints \(steps 3\) and this run resumes from .*elsewhere\/checkpoints\/checkpoint_00000003\.json: continue that run with/);
    expect(snapshot(good)).toEqual(before);
    // A workdir of a run of several processes (per-process checkpoint folders, no checkpoint_*.json): refused alike.
    const multi = path.join(tmp, 'multi');
    const arrays = [{ name: 'params.x', dtype: 'f32' as const, shape: [2], spec: [[]] }];
    for (const pi of [0, 1]) writeProcessPieces(path.join(multi, 'checkpoints'), 5, pi, 2, pi === 0 ? [{ name: 'params.x', start: [0], data: { dtype: 'f32', shape: [2], data: new Float32Array(2) } }] : []);
    writeCheckpointIndex(path.join(multi, 'checkpoints'), 5, 2, mesh({ data: 2 }), arrays, { step: 5 });
    const beforeMulti = snapshot(multi);
    const onMulti = await run({ config: await config({}), workdir: multi }).catch((e: unknown) => e);
    expect((onMulti as Error).message).toBe(`${path.join(multi, 'checkpoints')} holds another run's checkpoints (steps 5) and this run starts fresh: ` +
      `continue that run with --config.train.resumeDir=${multi}, or give this one another --workdir (nothing was written)`);
    expect(snapshot(multi)).toEqual(beforeMulti);
  });

  it('a NaN / inf loss stops training at its step with the metric named; the last good checkpoint stays as it was', async () => {
    const before = snapshot(path.join(good, 'checkpoints'));
    // Resumed with a learning rate that blows the params up after one update: the next forward is not finite.
    const cfg = await config({ 'train.resumeDir': good, learning_rate: '1e30', 'train.warmupEpochs': '0' });
    const err = await run({ config: cfg, workdir: good }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlipError);
    const m = /^train\/(loss|grad_norm|tau) is (NaN|-?Infinity) at step (\d+) \(lr [\d.e+-]+\): training stopped, the model diverged; the last good checkpoint is (\S+) \(step 3\), left as it was\. Lower --config\.train\.learningRate/.exec((err as Error).message);
    expect(m, (err as Error).message).not.toBeNull();
    expect(Number(m![3])).toBeGreaterThan(3);
    expect(m![4]).toBe(path.join(good, 'checkpoints', 'checkpoint_00000003.json'));
    expect(listCheckpoints(path.join(good, 'checkpoints')).map((c) => c.step)).toEqual([3]);
    expect(snapshot(path.join(good, 'checkpoints'))).toEqual(before);
    // The bad step is in metrics.jsonl for the record.
    const last = JSON.parse(readFileSync(path.join(good, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(last.step).toBe(Number(m![3]));
    expect(String(last[`train/${m![1]}`])).toBe(m![2]);
    expect((err as Error).message).toMatch(new RegExp(`and resume from it \\(--config\\.train\\.resumeDir=${good.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`));
  });

  it('a divergence before any checkpoint says to start again, not to resume from one', async () => {
    const fresh = path.join(tmp, 'diverge-fresh');
    const cfg = await config({ learning_rate: '1e30', 'train.warmupEpochs': '0' });
    const err = await run({ config: cfg, workdir: fresh }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlipError);
    expect((err as Error).message).toMatch(/the model diverged; no checkpoint was saved before it\. Lower --config\.train\.learningRate \(or raise warmupEpochs\) and start the run again$/);
    expect((err as Error).message).not.toMatch(/resume/);
  });
});
