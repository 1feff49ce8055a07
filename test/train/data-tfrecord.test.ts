// TFRecord data as the official pipeline reads it, from fixtures written by the real writer (PyPI `tfrecord`'s
// TFRecordWriter + protobuf's tf.train.Example, Pillow JPEGs: test/fixtures/tfrecord/make_fixtures.py):
// img2dataset shards (features key/jpg/txt + metadata) read as samples with resumable positions and per-process shard
// splits; damaged framing (a data CRC, a length CRC, a file cut short) skipped and counted; a record that is not an
// Example refused with a line naming it; TFDS-layout imagenet2012 resolved to its highest version, with the official
// class names and templates.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32c, maskedCrc32c } from '../../train/data/crc32c.ts';
import { openEvalLoader, openTrainLoader } from '../../train/data/loader.ts';
import { CLIP_IMAGENET_TEMPLATES, CLIP_SMALL_TEMPLATES } from '../../train/data/templates.ts';
import { imagenetData, parseTfdsName, resolveTfdsSplit, tfdsClasses } from '../../train/data/tfds.ts';
import { decodeExample, isTfRecordName, TfRecordReader } from '../../train/data/tfrecord.ts';
import { emptySkipCounts, listShards, sampleStream, type DataWarning, type StreamItem, type StreamPosition } from '../../train/data/webdataset.ts';
import { crc32c as tensorboardCrc } from '../../train/tensorboard.ts';

const F = path.resolve(import.meta.dirname, '../fixtures/tfrecord');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-tfrecord-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const text = (s: string) => new TextEncoder().encode(s);

async function collect(gen: AsyncGenerator<StreamItem>): Promise<StreamItem[]> {
  const out: StreamItem[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

const stream = (shards: string[], warn: (w: DataWarning) => void, o: { start?: StreamPosition; shuffleBuffer?: number; processIndex?: number; processCount?: number } = {}) =>
  sampleStream({
    shards, epochs: 1, seed: 5, warn, ...o,
    want: () => true,
    complete: (f) => f.has('jpg') && f.has('txt'),
  });

describe('crc32c', () => {
  it('matches RFC 3720 and the one-table implementation at every length and alignment', () => {
    expect(crc32c(text('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    const b = Uint8Array.from({ length: 300 }, (_, i) => (i * 2654435761) >>> 24);
    for (let start = 0; start < 9; start++) for (let n = 0; n < 40; n++) expect(crc32c(b.subarray(start, start + n))).toBe(tensorboardCrc(b.subarray(start, start + n)));
    const c = crc32c(text('123456789'));
    expect(maskedCrc32c(text('123456789'))).toBe((((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0);
  });
});

describe('img2dataset TFRecords', () => {
  it('lists .tfrecord files beside tars and tells the formats apart by name', async () => {
    expect(await listShards(path.join(F, 'laion'))).toEqual([path.join(F, 'laion/00000.tfrecord'), path.join(F, 'laion/00001.tfrecord')]);
    expect(isTfRecordName('00000.tfrecord')).toBe(true);
    expect(isTfRecordName('imagenet2012-validation.tfrecord-00003-of-00064')).toBe(true);
    expect(isTfRecordName('shard-00000.tar')).toBe(false);
    await expect(listShards(path.join(F, 'tfds'))).rejects.toThrow(/no \.tar shards or \.tfrecord files in/);
  });

  it('decodes every record as the Example img2dataset wrote: key, jpg, txt and the int64 metadata', async () => {
    const r = await TfRecordReader.open(path.join(F, 'laion/00001.tfrecord'));
    const first = (await r.next())!;
    expect(first.offset).toBe(0);
    const f = decodeExample(first.data, 'record 0');
    expect(new TextDecoder().decode((f.get('key') as { value: Uint8Array[] }).value[0])).toBe('000000012');
    expect(new TextDecoder().decode((f.get('txt') as { value: Uint8Array[] }).value[0])).toBe('a photo of a red square on a white background.');
    const jpg = (f.get('jpg') as { value: Uint8Array[] }).value[0]!;
    expect([jpg[0], jpg[1], jpg[2]]).toEqual([0xff, 0xd8, 0xff]);
    expect(f.get('width')).toEqual({ kind: 'int64', value: [40n] });
    expect(f.get('height')).toEqual({ kind: 'int64', value: [40n] });
    let n = 1;
    while (await r.next()) n++;
    await r.close();
    expect(n).toBe(12);
  });

  it('streams all samples once per epoch; a saved position resumes at the exact next sample; processes split the files', async () => {
    const shards = await listShards(path.join(F, 'laion'));
    const warn = (w: DataWarning) => { throw new Error(w.message); };
    const all = await collect(stream(shards, warn, { shuffleBuffer: 5 }));
    expect(all.map((x) => x.sample.key).sort()).toEqual(Array.from({ length: 24 }, (_, i) => String(i).padStart(9, '0')));
    for (const x of all) {
      const i = Number(x.sample.key);
      expect(x.sample.files.get('txt')!.toString()).toMatch(/^a photo of a (red|green|blue|yellow) (square|circle|stripe) on a (white|black) background\.$/);
      expect(x.sample.files.get('txt')!.toString()).toContain(i % 2 === 0 ? 'white' : 'black');
    }
    for (const k of [3, 11, 12, 17]) {
      const rest = await collect(stream(shards, warn, { shuffleBuffer: 5, start: all[k - 1]!.after }));
      expect(rest.map((x) => x.sample.key)).toEqual(all.slice(k).map((x) => x.sample.key));
    }
    const p0 = await collect(stream(shards, warn, { processIndex: 0, processCount: 2 }));
    const p1 = await collect(stream(shards, warn, { processIndex: 1, processCount: 2 }));
    expect(new Set(p0.map((x) => x.sample.shard))).toEqual(new Set([shards[0]]));
    expect(new Set(p1.map((x) => x.sample.shard))).toEqual(new Set([shards[1]]));
    expect(p0.length + p1.length).toBe(24);
  });

  it('trains from the shards: batches of images and token ids', async () => {
    const l = await openTrainLoader({ data: path.join(F, 'laion'), batchSize: 8, imageSize: 32, vocab: path.join(F, 'laion/vocab.txt'), maxLen: 8, workers: 0, epochs: 1 });
    let rows = 0;
    for await (const b of l) {
      rows += b.count;
      expect(b.imageShape).toEqual([8, 32, 32, 3]);
      expect(Array.from(b.txt.subarray(0, 4))).toEqual([5, 6, 7, 5]); // "a photo of a"
    }
    expect(rows).toBe(24);
    expect(l.stats.skipped).toEqual(emptySkipCounts());
  });

  it('skips a record whose data CRC fails and the cut-short tail, counting each; resuming past the bad record counts it too', async () => {
    const warnings: DataWarning[] = [];
    const file = path.join(F, 'damaged/00000.tfrecord');
    const all = await collect(stream([file], (w) => warnings.push(w)));
    expect(all.map((x) => x.sample.key)).toEqual(['000000200', '000000201', '000000202', '000000203', '000000204', '000000205', '000000207', '000000208']);
    expect(warnings.map((w) => w.kind)).toEqual(['bad-tfrecord-crc', 'truncated-tfrecord']);
    expect(warnings[0]!.message).toMatch(/damaged\/00000\.tfrecord: data CRC mismatch in the record at byte \d+/);
    expect(warnings[1]!.message).toMatch(/runs past the end of the file/);
    // from the position after record 5: the skip path passes the bad record 6 by its header and delivers 7 next
    const again: DataWarning[] = [];
    const rest = await collect(stream([file], (w) => again.push(w), { start: all[5]!.after }));
    expect(rest.map((x) => x.sample.key)).toEqual(['000000207', '000000208']);
    expect(again.map((w) => w.kind)).toEqual(['bad-tfrecord-crc', 'truncated-tfrecord']);

    const l = await openTrainLoader({ data: file, batchSize: 2, imageSize: 32, vocab: path.join(F, 'laion/vocab.txt'), maxLen: 8, workers: 0, epochs: 1, onWarning: () => {} });
    let rows = 0;
    for await (const b of l) rows += b.count;
    expect(rows).toBe(8);
    expect(l.stats.skipped).toMatchObject({ 'bad-tfrecord-crc': 1, 'truncated-tfrecord': 1 });
  });

  it('ends a file at a length CRC that fails (its records cannot be framed past it)', async () => {
    const warnings: DataWarning[] = [];
    const all = await collect(stream([path.join(F, 'badlength/00000.tfrecord')], (w) => warnings.push(w)));
    expect(all.map((x) => x.sample.key)).toEqual(['000000300', '000000301']);
    expect(warnings.map((w) => [w.kind, w.message.replace(/.*: /, '')])).toEqual([['bad-tfrecord-crc', 'length CRC mismatch in the record at byte ' + /byte (\d+)/.exec(warnings[0]!.message)![1] + ' (the rest of the file cannot be framed)']]);
  });

  it('refuses a record whose CRCs hold but whose bytes are not a tf.train.Example, naming the file and record', async () => {
    const file = path.join(F, 'not_example/00000.tfrecord');
    await expect(collect(stream([file], () => {}))).rejects.toThrow(/not_example\/00000\.tfrecord: record 1 \(byte \d+\) is not a tf\.train\.Example \(/);
    // another protobuf message (a field an Example does not have) is not an Example either
    const other = Uint8Array.from([0x10, 0x05]); // field 2, varint 5
    expect(() => decodeExample(other, 'x: record 0')).toThrow(/x: record 0 is not a tf\.train\.Example \(it has protobuf field 2/);
    // an empty record is an Example without features: the sample is incomplete, not refused
    expect(decodeExample(new Uint8Array(0), 'x').size).toBe(0);
  });

  it('a sample lacking its caption is an incomplete-sample skip (the official FixedLenFeature needs exactly one value)', async () => {
    // A file made of two records of fixtures: a record of TFDS's (image + label, no txt) read as training data.
    const dir = path.join(tmp, 'mixed');
    mkdirSync(dir);
    const { readFileSync } = await import('node:fs');
    writeFileSync(path.join(dir, '00000.tfrecord'), readFileSync(path.join(F, 'tfds_badlabel/imagenet2012/5.1.0/imagenet2012-validation.tfrecord-00000-of-00001')));
    const warnings: DataWarning[] = [];
    await expect(collect(stream([path.join(dir, '00000.tfrecord')], (w) => warnings.push(w)))).rejects.toThrow(/no usable sample/);
    expect(warnings.map((w) => w.kind)).toEqual(['incomplete-sample', 'incomplete-sample']);
    expect(warnings[0]!.message).toMatch(/sample 'ILSVRC2012_val_00000021\.JPEG' lacks required files \(has: jpg, cls\)/);
  });
});

describe('TFDS imagenet2012', () => {
  it('parses tfds:NAME[:VERSION] and the official NAME:VERSION; other strings are paths', () => {
    expect(parseTfdsName('tfds:imagenet2012')).toEqual({ name: 'imagenet2012', version: null });
    expect(parseTfdsName('tfds:imagenet2012:5.*.*')).toEqual({ name: 'imagenet2012', version: '5.*.*' });
    expect(parseTfdsName('imagenet2012:5.*.*')).toEqual({ name: 'imagenet2012', version: '5.*.*' });
    expect(parseTfdsName('imagenet2012')).toBeNull();
    expect(parseTfdsName('./data/in1k')).toBeNull();
    expect(() => parseTfdsName('tfds:ImageNet 2012')).toThrow(/expected tfds:NAME or tfds:NAME:VERSION/);
  });

  it('reads the validation split of the highest version present (or matching), all shards in order', () => {
    const s = resolveTfdsSplit(path.join(F, 'tfds'), { name: 'imagenet2012', version: null }, 'validation');
    expect(s.version).toBe('5.1.0');
    expect(s.shards.map((p) => path.basename(p))).toEqual(['imagenet2012-validation.tfrecord-00000-of-00002', 'imagenet2012-validation.tfrecord-00001-of-00002']);
    expect(resolveTfdsSplit(path.join(F, 'tfds'), { name: 'imagenet2012', version: '5.0.*' }, 'validation').version).toBe('5.0.0');
    expect(() => resolveTfdsSplit(path.join(F, 'tfds'), { name: 'imagenet2012', version: '4.*.*' }, 'validation')).toThrow(/no version folder matching 4\.\*\.\*/);
    expect(() => resolveTfdsSplit(path.join(F, 'tfds'), { name: 'imagenet2012', version: null }, 'train')).toThrow(/5\.1\.0 in .*: no train split/);
    expect(() => resolveTfdsSplit(path.join(F, 'none'), { name: 'imagenet2012', version: null }, 'validation')).toThrow(/TFDS dataset imagenet2012 not found: no folder .*set TFDS_DATA_DIR/);
    // a shard missing from the set
    const v = path.join(tmp, 'tfds', 'imagenet2012', '5.1.0');
    mkdirSync(v, { recursive: true });
    writeFileSync(path.join(v, 'imagenet2012-validation.tfrecord-00001-of-00002'), '');
    expect(() => resolveTfdsSplit(path.join(tmp, 'tfds'), { name: 'imagenet2012', version: null }, 'validation')).toThrow(/incomplete \(1 of 2 shards; missing shard 0\)/);
  });

  it('reads images and labels in order; the official class names and templates', async () => {
    const s = resolveTfdsSplit(path.join(F, 'tfds'), { name: 'imagenet2012', version: null }, 'validation');
    const l = await openEvalLoader({ data: s.shards, batchSize: 4, imageSize: 32, vocab: path.join(F, 'laion/vocab.txt'), maxLen: 8, workers: 0 });
    const labels: number[] = [], keys: string[] = [];
    for await (const b of l) for (let i = 0; i < b.count; i++) labels.push(b.label[i]!), keys.push(b.keys[i]!);
    expect(labels).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 999]);
    expect(keys[9]).toBe('ILSVRC2012_val_00000010.JPEG');

    const d = imagenetData();
    expect(d.classes).toHaveLength(1000);
    expect([d.classes[0], d.classes[1], d.classes[999]]).toEqual(['tench', 'goldfish', 'toilet paper']);
    expect(d.templates.short).toEqual(CLIP_SMALL_TEMPLATES);
    expect(d.templates.full).toEqual(CLIP_IMAGENET_TEMPLATES);
    const c = tfdsClasses(s);
    expect(c.templates).toEqual(CLIP_SMALL_TEMPLATES); // the official default, imagenet_templates = 'short'
    expect(c.prompts[0]![0]).toBe('itap of a tench.');
    expect(tfdsClasses(s, ['a photo of a {}.']).prompts[999]).toEqual(['a photo of a toilet paper.']);
    expect(() => tfdsClasses({ ...s, name: 'cifar10' })).toThrow(/class names and prompts for imagenet2012 only/);
  });
});
