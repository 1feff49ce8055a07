// Each process's share of the data (train/multiprocess/data.ts), with the official split: contiguous blocks of
// floor(n / processes) shards, the remainder read by nobody; real webdataset tars (train/data/synth.ts) and real
// TFRecord files (test/fixtures/tfrecord, written by PyPI `tfrecord`) read by the real sample stream.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSynthDataset } from '../../../train/data/synth.ts';
import { listShards, sampleStream, type SampleStreamOptions } from '../../../train/data/webdataset.ts';
import { processDataPlan, processShardShare } from '../../../train/multiprocess/index.ts';

let tmp: string;
let shards: string[];
const N = 48;
const SHARDS = 6;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'flip-mp-data-'));
  await writeSynthDataset({ out: path.join(tmp, 'ds'), n: N, shards: SHARDS, seed: 3, imageSize: 16, evalN: 15 });
  shards = await listShards(path.join(tmp, 'ds'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

async function keys(list: string[], extra: Partial<SampleStreamOptions> = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const it of sampleStream({
    shards: list, epochs: 1, warn: () => {}, want: (e) => e === 'jpg' || e === 'txt', complete: (f) => f.has('jpg') && f.has('txt'), ...extra,
  })) out.push(`${path.basename(it.sample.shard)}/${it.sample.key}`);
  return out;
}

describe('processShardShare: the official contiguous split', () => {
  it('gives every shard to exactly one process, or to none when it is one of the last n mod N', () => {
    for (let n = 1; n <= 23; n++) {
      const all = Array.from({ length: n }, (_, i) => `s${i}`);
      for (let pc = 1; pc <= n; pc++) {
        const seen = new Map<string, number>();
        const size = Math.floor(n / pc);
        let unused: string[] = [];
        for (let pi = 0; pi < pc; pi++) {
          const s = processShardShare(all, pi, pc);
          expect(s.shards).toEqual(all.slice(pi * size, (pi + 1) * size)); // contiguous, as input_pipeline_laion.py
          expect([s.begin, s.end]).toEqual([pi * size, (pi + 1) * size]);
          for (const x of s.shards) seen.set(x, (seen.get(x) ?? 0) + 1);
          unused = s.unused;
        }
        expect(unused).toEqual(all.slice(size * pc));
        for (const x of unused) expect(seen.has(x)).toBe(false);
        expect([...seen.values()].every((c) => c === 1)).toBe(true);
        expect(seen.size + unused.length).toBe(n);
        if (n % pc === 0) expect(unused).toEqual([]);
      }
    }
  });

  it('refuses fewer shards than processes in one line naming both counts', () => {
    expect(() => processShardShare(['a', 'b'], 0, 3, 'laion')).toThrow(/^laion has 2 shard\(s\) for 3 processes: each process reads whole shards, so it needs at least 3 \(split the data into more shards or run fewer processes\)$/);
    expect(() => processShardShare(['a'], 3, 3)).toThrow(/^process index 3 is not in \[0, 3\)$/);
    expect(() => processShardShare(['a'], 0, 0)).toThrow(/^process count 0 is not a positive integer$/);
  });

  it('plans the batch as the official trainer: batch / processes each, rows in process order, seed + process index', () => {
    const list = Array.from({ length: 7 }, (_, i) => `/d/s${i}.tar`);
    const p = processDataPlan({ shards: list, processIndex: 2, processCount: 3, batchSize: 12, seed: 40, source: 'laion' });
    expect(p).toMatchObject({ shards: ['/d/s4.tar', '/d/s5.tar'], localBatch: 4, rowBegin: 8, seed: 42, unused: ['/d/s6.tar'] });
    expect(p.note).toBe('laion: 7 shards over 3 processes: 2 each; the last 1 (/d/s6.tar) are read by no process, as in the official split');
    expect(processDataPlan({ shards: list.slice(0, 6), processIndex: 0, processCount: 3, batchSize: 12, seed: 0 }).note).toBeNull();
    expect(() => processDataPlan({ shards: list, processIndex: 0, processCount: 3, batchSize: 10, seed: 0 }))
      .toThrow(/^batch size 10 does not split evenly across 3 processes/);
  });
});

describe('process shares of real shards', () => {
  it('webdataset tars: the processes together read each sample of the epoch once, as the one-process run does', async () => {
    const one = await keys(processShardShare(shards, 0, 1).shards);
    expect(one.length).toBe(N);
    for (const pc of [2, 3, 6]) {
      const per = await Promise.all(Array.from({ length: pc }, (_, pi) => keys(processShardShare(shards, pi, pc).shards)));
      expect(per.flat().sort()).toEqual([...one].sort());
      // In order (no shuffle), process pi's stream is the one-process stream's block pi: the shards are contiguous.
      per.forEach((k, pi) => expect(k).toEqual(one.slice((pi * N) / pc, ((pi + 1) * N) / pc)));
    }
  });

  it('the global batch of N processes is their local batches in process order (official data axis), not the one-process batch', async () => {
    const B = 8;
    const one = await keys(shards);
    for (const pc of [2, 4]) {
      const plans = Array.from({ length: pc }, (_, pi) => processDataPlan({ shards, processIndex: pi, processCount: pc, batchSize: B, seed: 0 }));
      const streams = await Promise.all(plans.map((p) => keys(p.shards)));
      const steps = Math.min(...streams.map((s) => Math.floor(s.length / plans[0]!.localBatch)));
      const global: string[][] = [];
      for (let k = 0; k < steps; k++) {
        const rows: string[] = new Array<string>(B);
        plans.forEach((p, pi) => streams[pi]!.slice(k * p.localBatch, (k + 1) * p.localBatch).forEach((x, r) => (rows[p.rowBegin + r] = x)));
        global.push(rows);
      }
      // Row block pi of every global batch comes from process pi's shards only.
      global.forEach((rows) => plans.forEach((p) => rows.slice(p.rowBegin, p.rowBegin + p.localBatch).forEach((x) => expect(p.shards.map((s) => path.basename(s))).toContain(x.split('/')[0]))));
      if (pc === 2) {
        // 6 shards / 2: every sample of the epoch is in exactly one global batch, as in one process's epoch ...
        expect(global.flat().sort()).toEqual([...one].sort());
        // ... but batch 0 differs: one process reads shard 0 onwards, two read shards 0 and 3 side by side.
        expect(global[0]).not.toEqual(one.slice(0, B));
        expect(global[0]!.slice(0, 4)).toEqual(one.slice(0, 4));
        expect(global[0]!.slice(4)).toEqual(one.slice(N / 2, N / 2 + 4));
      } else {
        // 6 shards / 4: one shard each, shards 4 and 5 are read by nobody (official split): 4 × 8 samples of 48.
        expect(plans[0]!.unused.map((s) => path.basename(s))).toEqual(['shard-00004.tar', 'shard-00005.tar']);
        expect(global.flat().sort()).toEqual(one.slice(0, 32).sort());
      }
    }
  });

  it('each process shuffles its own share with seed + process index', async () => {
    const plans = [0, 1].map((pi) => processDataPlan({ shards, processIndex: pi, processCount: 2, batchSize: 8, seed: 9 }));
    const shuffled = await Promise.all(plans.map((p) => keys(p.shards, { seed: p.seed, shuffleBuffer: 8 })));
    const ordered = await Promise.all(plans.map((p) => keys(p.shards)));
    shuffled.forEach((s, i) => {
      expect([...s].sort()).toEqual([...ordered[i]!].sort());
      expect(s).not.toEqual(ordered[i]);
    });
  });

  it('TFRecord files written by the real writer split the same way', async () => {
    const laion = await listShards(path.resolve(import.meta.dirname, '../../fixtures/tfrecord/laion'));
    expect(laion.map((s) => path.basename(s))).toEqual(['00000.tfrecord', '00001.tfrecord']);
    const one = await keys(laion);
    const per = await Promise.all([0, 1].map((pi) => keys(processShardShare(laion, pi, 2).shards)));
    expect(per[0]!.every((k) => k.startsWith('00000.tfrecord/'))).toBe(true);
    expect(per[1]!.every((k) => k.startsWith('00001.tfrecord/'))).toBe(true);
    expect([...per[0]!, ...per[1]!]).toEqual(one);
    expect(() => processShardShare(laion, 0, 3, 'laion')).toThrow(/^laion has 2 shard\(s\) for 3 processes/);
  });
});
