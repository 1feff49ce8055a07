// The trainer over 3 real processes joined through runtime-native's coordination store (trainer_child.mts 'share'):
// process 0 writes the synthetic set while the others wait at the store's barrier; each reads its share of the real
// shards, and together they read a one-process run's epoch; only process 0 writes metrics.jsonl and the events file
// and prints; the train step's same-program check passes for the same program and fails, in one line naming the
// process, when one lowered another config. (A whole multi-process train step needs a GPU/TPU: docs/distributed.md.)
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { freePort } from '../../runtime-native/launch.ts';
import { openTrainData, prepareData } from '../../train/run/data.ts';
import { runOutput } from '../../train/run/output.ts';
import { planRun } from '../../train/run/plan.ts';
import { listShards, sampleStream } from '../../train/data/webdataset.ts';
import { startChild, type Child } from './processes.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-mp-share-'));
const children: Child[] = [];
afterAll(() => {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

describe('the trainer over 3 processes through the real store', () => {
  it('data shares, writer role and the same-program check', async () => {
    const workdir = path.join(tmp, 'run');
    const address = `127.0.0.1:${await freePort()}`;
    for (let i = 0; i < 3; i++) children.push(startChild(['share', address, String(i), '3', workdir], {}, 'trainer_child.mts'));
    const share = await Promise.all(children.map((c) => c.event('share')));

    // (a) Process 0 wrote the set with one shard per process; each read 16 samples (2 per step, one epoch of its share).
    const shards = await listShards(path.join(workdir, 'data'));
    expect(shards.map((s) => path.basename(s))).toEqual(['shard-00000.tar', 'shard-00001.tar', 'shard-00002.tar']);
    const keys = share.map((e) => e.keys as string[]);
    for (const [i, e] of share.entries()) {
      expect(e.rowsPerStep, `process ${i}`).toBe(2);
      expect(keys[i]).toHaveLength(16);
      expect(new Set(keys[i]).size).toBe(16);
      expect((e.epochs as number[]).every((x) => x === 0)).toBe(true);
    }
    expect(new Set(keys.flat()).size).toBe(48);
    // The one-process run on the same shards: one epoch of batch 6 reads the same 48 samples, and process i's are
    // exactly its shard's (the official contiguous split).
    const config = applyOverrides(await loadConfigModule(path.resolve('configs/flip_tiny.ts')), { 'model.txt.vocabSize': '128', 'train.batchSize': '6', 'train.samplesPerEpoch': '48', 'train.numEpochs': '1', 'train.warmupEpochs': '0' }, officialAliases);
    const plan = planRun({ config, workdir, workers: 0, noEval: true, print: () => {}, progressBar: null });
    const data = await prepareData(plan, runOutput({ print: () => {}, progressBar: null }));
    const loader = await openTrainData(plan, data, null);
    const one: string[] = [];
    const shardOf = new Map<string, string>();
    while (one.length < 48) {
      const b = (await loader.next())!;
      expect(b.epoch).toBe(0);
      one.push(...b.keys);
    }
    await loader.close();
    expect([...one].sort()).toEqual([...keys.flat()].sort());
    for (const [i, s] of shards.entries()) for (const k of await shardKeys(s)) shardOf.set(k, String(i));
    for (let i = 0; i < 3; i++) for (const k of keys[i]!) expect(shardOf.get(k), k).toBe(String(i));

    // (d) Only process 0 printed and wrote metrics.jsonl and one TensorBoard events file (its own values only).
    expect(share[0]!.printed).toEqual(expect.arrayContaining(['process 0 done']));
    expect((share[0]!.printed as string[]).some((l) => l.startsWith('data: writing a synthetic image-caption set of 48 samples'))).toBe(true);
    expect(share[1]!.printed).toEqual([]);
    expect(share[2]!.printed).toEqual([]);
    const files = readdirSync(workdir).sort();
    expect(files.filter((f) => f.startsWith('events.out.tfevents'))).toHaveLength(1);
    const lines = readFileSync(path.join(workdir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    expect(lines.map((l) => l['train/loss'])).toEqual([11, 12, 13]);
    // The others' warnings reach stderr, prefixed with their process.
    expect(children[2]!.stderr).toContain('[process 2/3] a warning from process 2');

    // (c) Same program: passes; process 2 with another config: every process stops with one line naming process 2.
    for (const c of children) await c.event('same');
    const differ = await Promise.all(children.map((c) => c.event('differ')));
    for (const d of differ) {
      expect(d.name).toBe('ProgramMismatchError');
      expect(d.error).toMatch(/^process 2 compiled another train_step_again than process 0 \(program [0-9a-f]{12} vs [0-9a-f]{12}\): every process must run the same flip version with the same config, overrides and mesh$/);
      expect(d.ms as number).toBeLessThan(15000);
    }
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0]);
  }, 120_000);
});

/** The sample keys of one shard, in order, read by the real sample stream. */
async function shardKeys(shard: string): Promise<string[]> {
  const out: string[] = [];
  for await (const it of sampleStream({ shards: [shard], epochs: 1, warn: () => {}, want: (e) => e === 'jpg' || e === 'txt', complete: (f) => f.has('jpg') && f.has('txt') })) out.push(it.sample.key);
  return out;
}
