import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/errors.ts';
import { loadClasses, tokenizePrompts } from '../../train/data/classes.ts';
import { WordPieceTokenizer } from '../../train/tokenizer/wordpiece.ts';
import { openEvalLoader, openTrainLoader, type Batch } from '../../train/data/loader.ts';
import { CLASSES, writeSynthDataset } from '../../train/data/synth.ts';
import { TarReader, TarWriter } from '../../train/data/tar.ts';
import { listShards, sampleStream, type DataWarning, type SampleStreamOptions, type StreamPosition } from '../../train/data/webdataset.ts';
import { processShardShare } from '../../train/multiprocess/data.ts';

let tmp: string;
let ds: string;
const N = 60;
const SHARDS = 6;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flip-data-'));
  ds = join(tmp, 'ds');
  await writeSynthDataset({ out: ds, n: N, shards: SHARDS, seed: 11, imageSize: 32, evalN: 45 });
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function streamOpts(shards: string[], extra: Partial<SampleStreamOptions> = {}): SampleStreamOptions {
  return {
    shards,
    want: (e) => e === 'jpg' || e === 'txt',
    complete: (f) => f.has('jpg') && f.has('txt'),
    warn: () => {},
    epochs: 1,
    ...extra,
  };
}

async function collect(opts: SampleStreamOptions, limit = Infinity): Promise<Array<{ key: string; txt: string; after: StreamPosition }>> {
  const out = [];
  for await (const it of sampleStream(opts)) {
    out.push({ key: it.sample.key, txt: it.sample.files.get('txt')!.toString(), after: it.after });
    if (out.length >= limit) break;
  }
  return out;
}

describe('flip data synth: webdataset shards', () => {
  it('writes tars the system tar reads, with matching jpg/txt pairs', async () => {
    const shards = await listShards(ds);
    expect(shards.map((s) => s.slice(ds.length + 1))).toEqual(['shard-00000.tar', 'shard-00001.tar', 'shard-00002.tar', 'shard-00003.tar', 'shard-00004.tar', 'shard-00005.tar']);
    const keys: string[] = [];
    for (const s of shards) {
      const names = execFileSync('tar', ['-tf', s], { encoding: 'utf8' }).trim().split('\n');
      expect(names.length).toBe(2 * (N / SHARDS));
      for (let i = 0; i < names.length; i += 2) {
        const key = names[i]!.replace(/\.jpg$/, '');
        expect(names[i]).toBe(`${key}.jpg`);
        expect(names[i + 1]).toBe(`${key}.txt`);
        keys.push(key);
      }
    }
    expect(keys).toEqual(Array.from({ length: N }, (_, i) => String(i).padStart(9, '0')));
    // JPEG magic in an entry extracted by the system tar
    const jpg = execFileSync('tar', ['-xOf', shards[2]!, '000000025.jpg']);
    expect([jpg[0], jpg[1], jpg[jpg.length - 2], jpg[jpg.length - 1]]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
    const evalNames = execFileSync('tar', ['-tf', join(ds, 'eval', 'shard-00000.tar')], { encoding: 'utf8' }).trim().split('\n');
    expect(evalNames.slice(0, 3)).toEqual(['eval000000000.jpg', 'eval000000000.txt', 'eval000000000.cls']);
    expect(evalNames.length).toBe(45 * 3);
  });

  it('the reader gives back exactly the bytes the system tar extracts', async () => {
    const shard = join(ds, 'shard-00003.tar');
    const tar = await TarReader.open(shard);
    let n = 0;
    for (let h = await tar.next(); h; h = await tar.next()) {
      const body = await tar.body();
      expect(sha(body)).toBe(sha(execFileSync('tar', ['-xOf', shard, h.name])));
      n++;
    }
    await tar.close();
    expect(n).toBe(20);
    const samples = await collect(streamOpts([shard]));
    expect(samples.map((s) => s.key)).toEqual(Array.from({ length: 10 }, (_, i) => String(30 + i).padStart(9, '0')));
    expect(samples[0]!.txt).toBe(execFileSync('tar', ['-xOf', shard, '000000030.txt'], { encoding: 'utf8' }));
  });

  it('is deterministic given the seed, and captions vary', async () => {
    const again = join(tmp, 'again');
    const other = join(tmp, 'other');
    await writeSynthDataset({ out: again, n: N, shards: SHARDS, seed: 11, imageSize: 32, evalN: 45 });
    await writeSynthDataset({ out: other, n: N, shards: SHARDS, seed: 12, imageSize: 32, evalN: 45 });
    for (const f of ['shard-00000.tar', 'shard-00005.tar', 'eval/shard-00000.tar', 'vocab.txt', 'classes.json']) {
      expect(sha(await readFile(join(again, f)))).toBe(sha(await readFile(join(ds, f))));
    }
    expect(sha(await readFile(join(other, 'shard-00000.tar')))).not.toBe(sha(await readFile(join(ds, 'shard-00000.tar'))));
    const captions = (await collect(streamOpts(await listShards(ds)))).map((s) => s.txt);
    expect(new Set(captions).size).toBeGreaterThan(30);
    expect(captions.every((c) => /^(a|an|there|at|on|in) /.test(c) && /(circle|square|triangle|diamond|cross)/.test(c))).toBe(true);
  });

  it('writes classes.json with prompts per class and a balanced labelled eval split', async () => {
    const c = await loadClasses(join(ds, 'classes.json'));
    expect(c.classes).toEqual(CLASSES);
    expect(c.classes.length).toBe(30);
    expect(c.prompts[c.classes.indexOf('orange circle')]).toContain('a photo of an orange circle.');
    const tok = await WordPieceTokenizer.fromFile(join(ds, 'vocab.txt'));
    const p = tokenizePrompts(c, tok, 16);
    expect(p.shape).toEqual([30, c.templates.length, 16]);
    expect(p.txt.every((id) => id !== tok.unkId)).toBe(true); // the synthetic vocab covers every prompt
    expect(tok.tokenize(c.prompts[0]![0]!)).toEqual(['a', 'photo', 'of', 'a', 'red', 'circle', '.']);
    const loader = await openEvalLoader({ data: join(ds, 'eval'), batchSize: 16, imageSize: 32, vocab: join(ds, 'vocab.txt'), workers: 0 });
    const labels: number[] = [];
    const counts: number[] = [];
    for await (const b of loader) {
      expect(b.imageShape).toEqual([16, 32, 32, 3]);
      labels.push(...b.label.subarray(0, b.count));
      counts.push(b.count);
      if (b.count < 16) expect(Array.from(b.label.subarray(b.count))).toEqual(new Array(16 - b.count).fill(-1));
    }
    expect(counts).toEqual([16, 16, 13]); // the last batch is padded to 16, 13 real rows
    expect(labels).toEqual(Array.from({ length: 45 }, (_, i) => i % 30));
  });
});

describe('train/data: tar interop', () => {
  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    it(`reads a ${format} archive written by the system tar (long names, directories, prefixes)`, async () => {
      const src = join(tmp, `src-${format}`);
      const deep = `d${'x'.repeat(60)}/e${'y'.repeat(60)}`; // path over 100 bytes in total
      await mkdir(join(src, deep), { recursive: true });
      await writeFile(join(src, deep, 'k1.txt'), 'first caption');
      await writeFile(join(src, deep, 'k1.jpg'), Buffer.alloc(700, 1));
      await writeFile(join(src, deep, 'k2.txt'), 'second caption');
      await writeFile(join(src, deep, 'k2.jpg'), Buffer.alloc(1, 2));
      const shard = join(tmp, `sys-${format}.tar`);
      execFileSync('tar', [`--format=${format}`, '-cf', shard, '-C', src, '--sort=name', '.']);
      const samples = [];
      for await (const it of sampleStream(streamOpts([shard]))) samples.push(it.sample);
      expect(samples.map((s) => s.key)).toEqual([`./${deep}/k1`, `./${deep}/k2`]);
      expect(samples[0]!.files.get('txt')!.toString()).toBe('first caption');
      expect(samples[0]!.files.get('jpg')!.length).toBe(700);
      expect(samples[1]!.files.get('jpg')!).toEqual(Buffer.alloc(1, 2));
    });
  }
});

describe('train/data: sample stream', () => {
  it('shuffles deterministically given the seed; an epoch is a permutation of all samples', async () => {
    const shards = await listShards(ds);
    const a = await collect(streamOpts(shards, { shuffleBuffer: 16, seed: 3 }));
    const b = await collect(streamOpts(shards, { shuffleBuffer: 16, seed: 3 }));
    const c = await collect(streamOpts(shards, { shuffleBuffer: 16, seed: 4 }));
    expect(a.map((s) => s.key)).toEqual(b.map((s) => s.key));
    expect(a.map((s) => s.key)).not.toEqual(c.map((s) => s.key));
    expect([...a.map((s) => s.key)].sort()).toEqual(Array.from({ length: N }, (_, i) => String(i).padStart(9, '0')));
    expect(a.map((s) => s.key)).not.toEqual([...a.map((s) => s.key)].sort());
  });

  it('reshuffles each epoch', async () => {
    const shards = await listShards(ds);
    const two = await collect(streamOpts(shards, { shuffleBuffer: 16, seed: 3, epochs: 2 }));
    expect(two.length).toBe(2 * N);
    const e0 = two.slice(0, N).map((s) => s.key);
    const e1 = two.slice(N).map((s) => s.key);
    expect([...e1].sort()).toEqual([...e0].sort());
    expect(e1).not.toEqual(e0);
  });

  it('splits shards across processes as flip run does (the official contiguous blocks): a partition of the samples', async () => {
    const shards = await listShards(ds);
    const parts = await Promise.all([0, 1, 2].map((pi) => collect(streamOpts(shards, { processIndex: pi, processCount: 3 }))));
    expect(parts.map((p) => p.length)).toEqual([20, 20, 20]);
    // 6 shards of 10 samples: process pi reads shards 2pi and 2pi + 1, the block trainShare gives it in flip run.
    for (const pi of [0, 1, 2]) {
      expect(processShardShare(shards, pi, 3).shards).toEqual(shards.slice(2 * pi, 2 * pi + 2));
      expect(parts[pi]!.map((s) => s.key)).toEqual(Array.from({ length: 20 }, (_, i) => String(20 * pi + i).padStart(9, '0')));
    }
    const all = parts.flat().map((s) => s.key);
    expect(new Set(all).size).toBe(N);
    await expect(collect(streamOpts(shards, { processIndex: 0, processCount: 7 }))).rejects.toThrow(FlipError);
  });

  it('resumes from any saved position with exactly the remaining samples', async () => {
    const shards = await listShards(ds);
    const opts = streamOpts(shards, { shuffleBuffer: 7, seed: 9, epochs: 2 });
    const full = await collect(opts);
    expect(full.length).toBe(2 * N);
    // mid-block, block ends, shard ends, the end of epoch 0, inside epoch 1
    for (const k of [0, 3, 6, 13, 20, 41, 59, 60, 77, 118]) {
      const rest = await collect({ ...opts, start: full[k]!.after });
      expect(rest.map((s) => s.key)).toEqual(full.slice(k + 1).map((s) => s.key));
    }
    const json = JSON.parse(JSON.stringify(full[30]!.after)) as StreamPosition;
    expect(Object.keys(json).sort()).toEqual(['epoch', 'sampleOffset', 'shardIndex', 'taken']);
  });
});

describe('train/data: loader batches and positions', () => {
  const vocab = (): string => join(ds, 'vocab.txt');

  it('gives NHWC float32 batches with txt / txt_is_valid [B, 32]', async () => {
    const loader = await openTrainLoader({ data: ds, batchSize: 8, imageSize: 32, vocab: vocab(), workers: 0, seed: 1, shuffleBuffer: 16 });
    const b = (await loader.next())!;
    await loader.close();
    expect(b.imageShape).toEqual([8, 32, 32, 3]);
    expect(b.image).toBeInstanceOf(Float32Array);
    expect(b.image.length).toBe(8 * 32 * 32 * 3);
    expect(b.txtShape).toEqual([8, 32]);
    expect(b.txt).toBeInstanceOf(Int32Array);
    expect(b.txtIsValid.length).toBe(8 * 32);
    for (let r = 0; r < 8; r++) {
      const valid = Array.from(b.txtIsValid.subarray(r * 32, r * 32 + 32));
      const n = valid.indexOf(0);
      expect(n).toBeGreaterThan(2); // captions have a few words
      expect(valid.slice(n).every((v) => v === 0)).toBe(true);
      expect(Array.from(b.txt.subarray(r * 32 + n, r * 32 + 32)).every((t) => t === 0)).toBe(true);
      expect(Array.from(b.txt.subarray(r * 32, r * 32 + n)).every((t) => t > 4)).toBe(true); // no [UNK]/specials
    }
    // normalised values: mean over a batch of light backgrounds is positive, and bounded
    let sum = 0;
    for (const v of b.image) sum += v;
    expect(sum / b.image.length).toBeGreaterThan(0.3);
    expect(Math.max(...b.image)).toBeLessThan(3);
  });

  it('continues after a saved batch position with exactly the next batches', async () => {
    const opts = { data: ds, batchSize: 8, imageSize: 32, vocab: vocab(), workers: 0, seed: 2, shuffleBuffer: 16, jobSize: 5 } as const;
    const loader = await openTrainLoader(opts);
    const batches: Batch[] = [];
    for (let i = 0; i < 10; i++) batches.push((await loader.next())!); // crosses into epoch 1 (60 samples)
    await loader.close();
    expect(batches[9]!.epoch).toBe(1);
    for (const k of [1, 6]) {
      const resumed = await openTrainLoader({ ...opts, start: batches[k]!.position });
      for (let j = k + 1; j < Math.min(k + 4, 10); j++) {
        const b = (await resumed.next())!;
        expect(b.keys).toEqual(batches[j]!.keys);
        expect(b.image).toEqual(batches[j]!.image);
        expect(b.txt).toEqual(batches[j]!.txt);
      }
      await resumed.close();
    }
  });
});

describe('train/data: damaged data', () => {
  it('skips a truncated shard tail and an incomplete sample with counted warnings', async () => {
    const dir = join(tmp, 'truncated');
    await mkdir(dir, { recursive: true });
    await copyFile(join(ds, 'shard-00000.tar'), join(dir, 'shard-00000.tar'));
    await copyFile(join(ds, 'shard-00001.tar'), join(dir, 'shard-00001.tar'));
    // cut shard 0 inside the body of its 5th sample's jpg: samples 0..3 survive
    const tar = await TarReader.open(join(dir, 'shard-00000.tar'));
    let cut = 0;
    for (let i = 0; i < 9; i++) {
      await tar.next();
      if (i === 8) cut = (await tar.body()).length; // reads the 9th entry (sample 4's jpg)
    }
    await tar.close();
    expect(cut).toBeGreaterThan(100);
    // position of sample 4's jpg body: 8 entries before it, each header + padded body
    const names = execFileSync('tar', ['-tvf', join(dir, 'shard-00000.tar')], { encoding: 'utf8' }).trim().split('\n').slice(0, 8);
    const before = names.reduce((acc, line) => acc + 512 + Math.ceil(Number(line.split(/\s+/)[2]) / 512) * 512, 0);
    await truncate(join(dir, 'shard-00000.tar'), before + 512 + 50);
    const warnings: DataWarning[] = [];
    const loader = await openTrainLoader({ data: dir, batchSize: 2, imageSize: 32, vocab: join(ds, 'vocab.txt'), workers: 0, shuffleBuffer: 0, epochs: 1, onWarning: (w) => warnings.push(w) });
    const keys: string[] = [];
    for await (const b of loader) keys.push(...b.keys);
    expect(keys).toEqual(['000000000', '000000001', '000000002', '000000003', ...Array.from({ length: 10 }, (_, i) => String(10 + i).padStart(9, '0'))]);
    expect(loader.stats.skipped['truncated-tar']).toBe(1);
    expect(warnings[0]!.path).toBe(join(dir, 'shard-00000.tar'));
  });

  it('skips a corrupt JPEG and a sample without caption, and keeps batches full', async () => {
    const dir = join(tmp, 'corrupt');
    await mkdir(dir, { recursive: true });
    const src = await TarReader.open(join(ds, 'shard-00000.tar'));
    const w = await TarWriter.create(join(dir, 'shard-00000.tar'));
    for (let h = await src.next(); h; h = await src.next()) {
      const body = await src.body();
      if (h.name === '000000002.jpg') await w.add(h.name, Buffer.concat([body.subarray(0, 20), Buffer.alloc(200, 7)]));
      else if (h.name === '000000005.txt') continue;
      else await w.add(h.name, body);
    }
    await src.close();
    await w.close();
    const loader = await openTrainLoader({ data: dir, batchSize: 4, imageSize: 32, vocab: join(ds, 'vocab.txt'), workers: 0, shuffleBuffer: 0, epochs: 1, onWarning: () => {} });
    const batches: Batch[] = [];
    for await (const b of loader) batches.push(b);
    expect(batches.map((b) => b.keys)).toEqual([
      ['000000000', '000000001', '000000003', '000000004'],
      // 8 usable samples make two full batches
      ['000000006', '000000007', '000000008', '000000009'],
    ]);
    expect(loader.stats.skipped['corrupt-image']).toBe(1);
    expect(loader.stats.skipped['incomplete-sample']).toBe(1);
  });

  it('a missing directory, a directory without shards, or shards without samples are FlipErrors naming the path', async () => {
    const vocab = join(ds, 'vocab.txt');
    await expect(openTrainLoader({ data: join(tmp, 'missing'), batchSize: 2, vocab })).rejects.toThrow(new RegExp(`dataset not found: ${join(tmp, 'missing')}`));
    const empty = join(tmp, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(openTrainLoader({ data: empty, batchSize: 2, vocab })).rejects.toThrow(FlipError);
    await expect(openTrainLoader({ data: empty, batchSize: 2, vocab })).rejects.toThrow(/no \.tar shards or \.tfrecord files in .*empty/);
    const noSamples = join(tmp, 'nosamples');
    await mkdir(noSamples, { recursive: true });
    const w = await TarWriter.create(join(noSamples, 'shard-00000.tar'));
    await w.add('a.json', Buffer.from('{}'));
    await w.close();
    await writeFile(join(noSamples, 'README'), 'not a shard');
    const loader = await openTrainLoader({ data: noSamples, batchSize: 2, vocab, workers: 0, onWarning: () => {} });
    await expect(loader.next()).rejects.toThrow(/nosamples: no usable sample in 1 shard\(s\) \(empty dataset\)/);
    await loader.close();
  });
});
