// Zero-shot eval on a case a trivial model separates: solid-colour images of 6 colour classes, an image encoder
// that is the mean pixel, a text encoder that maps each colour word to that colour's normalised pixel (other words to
// zero). Every image is then nearest to its own class: top-1 = top-5 = 100%. The eval set has a padded last batch.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { add, astype, mean, mul, rename, spec, sqrt, square, sum, take, div, type Tensor } from '../../dsl/index.ts';
import { openClient } from '../../runtime-native/index.ts';
import { MEAN_RGB, STDDEV_RGB } from '../../train/data/augment.ts';
import { loadClasses } from '../../train/data/classes.ts';
import { openEvalLoader } from '../../train/data/loader.ts';
import { TarWriter } from '../../train/data/tar.ts';
import { buildVocab, WordPieceTokenizer } from '../../train/tokenizer/wordpiece.ts';
import { topK, zeroShotEvaluator, type ZeroShotModel } from '../../train/zeroshot.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'flip-zs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const COLOURS: Record<string, [number, number, number]> = {
  red: [220, 30, 30], green: [30, 200, 40], blue: [30, 60, 220], yellow: [240, 220, 20], purple: [150, 50, 190], orange: [250, 130, 10],
};
const classes = Object.keys(COLOURS);
const templates = ['a photo of a {}.', 'a {} thing.'];

type Emb = Tensor<'f32', readonly ['batch', 'proj']>;
const unit = (z: Emb): Emb => div(z, add(sqrt(sum(square(z), 'proj')), 1e-8));

describe('zero-shot eval', () => {
  it('topK picks the largest entries, lower index first on ties', () => {
    expect(topK([0.1, 0.9, 0.3, 0.9, -1], 3)).toEqual([1, 3, 2]);
    expect(topK([5], 5)).toEqual([0]);
  });

  it('classifies a trivially separable eval set perfectly (top-1 and top-5), over a padded last batch', async () => {
    // 3 images per class, 18 in all: batches of 4 leave a last batch of 2 real rows.
    const dir = path.join(tmp, 'colours');
    mkdirSync(path.join(dir, 'eval'), { recursive: true });
    const tar = await TarWriter.create(path.join(dir, 'eval', 'shard-00000.tar'));
    let k = 0;
    for (let rep = 0; rep < 3; rep++) {
      for (const [c, name] of classes.entries()) {
        const [r, g, b] = COLOURS[name]!;
        const jpg = await sharp({ create: { width: 24, height: 24, channels: 3, background: { r, g, b } } }).jpeg({ quality: 95 }).toBuffer();
        const key = `img${String(k++).padStart(4, '0')}`;
        await tar.add(`${key}.jpg`, jpg);
        await tar.add(`${key}.cls`, Buffer.from(String(c)));
      }
    }
    await tar.close();
    const prompts = classes.map((c) => templates.map((t) => t.replace('{}', c)));
    writeFileSync(path.join(dir, 'classes.json'), JSON.stringify({ classes, templates, prompts }));
    const vocab = buildVocab(prompts.flat());
    const tokenizer = new WordPieceTokenizer(vocab);

    // The text table: colour word → the colour's pixel after the loader's ImageNet normalisation.
    const table = new Float32Array(vocab.length * 3);
    for (const name of classes) {
      const id = tokenizer.ids.get(name)!;
      COLOURS[name]!.forEach((v, ch) => { table[id * 3 + ch] = (v - MEAN_RGB[ch]!) / STDDEV_RGB[ch]!; });
    }
    type P = { table: Tensor<'f32', readonly ['vocab', 'proj']> };
    const model: ZeroShotModel<P> = {
      encodeTexts: (p, txt, valid) => unit(sum(mul(take(p.table, txt, 'vocab'), astype(valid, 'f32')), 'length') as Emb),
      encodeImages: (p, image) => unit(rename(mean(image, ['height', 'width']), 'channels', 'proj') as Emb),
      paramSpecs: { table: spec('f32', { vocab: vocab.length, proj: 3 }) },
      batchSize: 4, imageSize: 16, channels: 3, maxLen: 8,
    };
    const client = await openClient({ target: 'cpu', devices: 1 });
    try {
      const z = await zeroShotEvaluator({ client, model, classes: await loadClasses(path.join(dir, 'classes.json')), tokenizer });
      const images = await openEvalLoader({ data: path.join(dir, 'eval'), batchSize: 4, imageSize: 16, vocab: tokenizer, maxLen: 8, workers: 0 });
      const params = { table: client.toDevice(table, [vocab.length, 3], 'f32') };
      const r = await z.evaluate(params, images);
      expect(r).toMatchObject({ top1: 1, top5: 1, classes: 6, images: 18 });
      expect(r.chance).toBeCloseTo(1 / 6, 12);

      // A table that swaps red and green: those 6 images go to the other class (top-1 12/18); for the green images the
      // text now under 'green' (red's colour) is the least similar of all six, so they miss the top 5 too (15/18).
      const swapped = table.slice();
      const [ri, gi] = [tokenizer.ids.get('red')!, tokenizer.ids.get('green')!];
      swapped.set(table.subarray(gi * 3, gi * 3 + 3), ri * 3);
      swapped.set(table.subarray(ri * 3, ri * 3 + 3), gi * 3);
      const r2 = await z.evaluate({ table: client.toDevice(swapped, [vocab.length, 3], 'f32') },
        await openEvalLoader({ data: path.join(dir, 'eval'), batchSize: 4, imageSize: 16, vocab: tokenizer, maxLen: 8, workers: 0 }));
      expect(r2.top1).toBeCloseTo(12 / 18, 12);
      expect(r2.top5).toBeCloseTo(15 / 18, 12);
    } finally {
      client.dispose();
    }
  });
});
