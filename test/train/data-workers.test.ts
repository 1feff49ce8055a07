import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTrainLoader, type Batch, type LoaderOptions } from '../../train/data/loader.ts';
import { writeSynthDataset } from '../../train/data/synth.ts';
import { TarReader, TarWriter } from '../../train/data/tar.ts';
import { measureThroughput } from '../../train/data/throughput.ts';

let tmp: string;
let ds: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'flip-workers-'));
  ds = join(tmp, 'ds');
  await writeSynthDataset({ out: ds, n: 96, shards: 4, seed: 5, imageSize: 32, evalN: 30 });
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

async function take(opts: LoaderOptions, n: number): Promise<Batch[]> {
  const loader = await openTrainLoader(opts);
  const out: Batch[] = [];
  try {
    for (let i = 0; i < n; i++) out.push((await loader.next())!);
  } finally {
    await loader.close();
  }
  return out;
}

describe('train/data: decode worker pool', () => {
  it('gives the same batches as decoding on the main thread, for the same seed', async () => {
    const base = { data: ds, batchSize: 16, imageSize: 32, vocab: join(ds, 'vocab.txt'), seed: 21, shuffleBuffer: 32, jobSize: 6 };
    const main = await take({ ...base, workers: 0 }, 8); // 128 samples: into epoch 1
    const pool = await take({ ...base, workers: 2, prefetch: 3 }, 8);
    for (let i = 0; i < 8; i++) {
      expect(pool[i]!.keys).toEqual(main[i]!.keys);
      expect(pool[i]!.image).toEqual(main[i]!.image);
      expect(pool[i]!.txt).toEqual(main[i]!.txt);
      expect(pool[i]!.txtIsValid).toEqual(main[i]!.txtIsValid);
      expect(pool[i]!.position).toEqual(main[i]!.position);
    }
    expect(main[7]!.epoch).toBe(1);
    const other = await take({ ...base, workers: 0, seed: 22 }, 1);
    expect(other[0]!.keys).not.toEqual(main[0]!.keys);
  });

  it('flips some images and leaves the others as they are (same crops, flip on vs off)', async () => {
    const base = { data: ds, batchSize: 32, imageSize: 32, vocab: join(ds, 'vocab.txt'), seed: 3, shuffleBuffer: 0, workers: 0 };
    const [on] = await take({ ...base, augment: { flip: true } }, 1);
    const [off] = await take({ ...base, augment: { flip: false } }, 1);
    const S = 32;
    const px = S * S * 3;
    let flipped = 0;
    let same = 0;
    for (let r = 0; r < 32; r++) {
      const a = on!.image.subarray(r * px, (r + 1) * px);
      const b = off!.image.subarray(r * px, (r + 1) * px);
      let isSame = true;
      let isMirror = true;
      for (let y = 0; y < S; y++)
        for (let x = 0; x < S; x++)
          for (let c = 0; c < 3; c++) {
            const v = a[(y * S + x) * 3 + c];
            if (v !== b[(y * S + x) * 3 + c]) isSame = false;
            if (v !== b[(y * S + (S - 1 - x)) * 3 + c]) isMirror = false;
          }
      expect(isSame || isMirror).toBe(true);
      if (isSame) same++;
      else flipped++;
    }
    expect(flipped).toBeGreaterThan(5);
    expect(same).toBeGreaterThan(5);
  });

  it('counts a corrupt JPEG decoded in a worker and skips it', async () => {
    const dir = join(tmp, 'corrupt');
    await mkdir(dir, { recursive: true });
    const src = await TarReader.open(join(ds, 'shard-00000.tar'));
    const w = await TarWriter.create(join(dir, 'shard-00000.tar'));
    for (let h = await src.next(); h; h = await src.next()) {
      const body = await src.body();
      await w.add(h.name, h.name === '000000003.jpg' || h.name === '000000010.jpg' ? Buffer.from('garbage, not a JPEG') : body);
    }
    await src.close();
    await w.close();
    const loader = await openTrainLoader({ data: dir, batchSize: 11, imageSize: 32, vocab: join(ds, 'vocab.txt'), workers: 1, shuffleBuffer: 0, epochs: 1, onWarning: () => {} });
    const keys: string[] = [];
    for await (const b of loader) keys.push(...b.keys);
    expect(loader.stats.skipped['corrupt-image']).toBe(2);
    expect(keys.length).toBe(22); // 24 samples - 2 corrupt = two full batches of 11
    expect(keys).not.toContain('000000003');
    expect(keys).not.toContain('000000010');
  });

  it('measures images per second through the pool', async () => {
    const r = await measureThroughput({ data: ds, batchSize: 16, imageSize: 32, vocab: join(ds, 'vocab.txt'), workers: 1, batches: 6, warmup: 1 });
    expect(r.images).toBe(96);
    expect(r.workers).toBe(1);
    expect(r.imagesPerSecond).toBeGreaterThan(50);
  });
});
