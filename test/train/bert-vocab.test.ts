// The shipped BERT uncased vocabulary: what it is (30522 tokens, the published md5, the official text tower's 30523 ids
// with the OOV bucket), that a damaged copy is refused, that flip's tokenizer makes with it exactly the ids of the
// official pipeline's tensorflow_text.BertTokenizer(lower_case=True) on hard strings, on every BMP character that
// case-folds otherwise than it lowercases, on characters newer than TensorFlow's RE2 and on 400 random strings (expected
// ids written by test/fixtures/bert-vocab/make_fixtures.py), and that `flip run` uses it when the training folder has no
// vocab.txt while a vocab.txt beside the shards still wins.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/errors.ts';
import { loadConfigModule } from '../../configs/load.ts';
import { officialDefaults } from '../../configs/official.ts';
import { applyOverrides, officialAliases } from '../../configs/overrides.ts';
import { writeSynthDataset } from '../../train/data/synth.ts';
import { prepareData } from '../../train/run/data.ts';
import { runOutput } from '../../train/run/output.ts';
import { planRun } from '../../train/run/plan.ts';
import {
  BERT_UNCASED_MD5, BERT_UNCASED_TOKENS, BERT_UNCASED_VOCAB, WordPieceTokenizer, BERT_TABLES, basicTokenize, bertTables, defaultVocab,
  loadBertTables, loadVocab, nfkcCasefold,
} from '../../train/tokenizer/wordpiece.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'flip-bertvocab-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Expected {
  tf_ids_by: string;
  bert_ids_by: string;
  vocab_md5: string;
  vocab_size: number;
  casefold_characters: number;
  /** tensorflow_text's tokens and ids; google-research/bert's where they differ */
  cases: { text: string; tf_tokens: string[]; tf_ids: number[]; bert_tokens?: string[]; bert_ids?: number[] }[];
  generated: { group: 'casefold' | 'unicode' | 'long' | 'random'; text: string; tf_ids: number[] }[];
}
const expected = JSON.parse(readFileSync(path.join(root, 'test/fixtures/bert-vocab/expected.json'), 'utf8')) as Expected;

describe('train/tokenizer: the shipped BERT uncased vocabulary', async () => {
  const vocab = await defaultVocab();
  const tok = new WordPieceTokenizer(vocab);

  it('is the published file: 30522 tokens, md5 64800d5d8528ce344256daf115d4965e, BERT special tokens at their ids', () => {
    const bytes = readFileSync(BERT_UNCASED_VOCAB);
    expect(createHash('md5').update(bytes).digest('hex')).toBe('64800d5d8528ce344256daf115d4965e');
    expect(BERT_UNCASED_MD5).toBe('64800d5d8528ce344256daf115d4965e');
    expect(bytes.length).toBe(231508);
    expect(vocab.length).toBe(30522);
    expect(BERT_UNCASED_TOKENS).toBe(30522);
    expect(new Set(vocab).size).toBe(30522);
    expect([tok.padId, tok.unkId, tok.clsId, tok.ids.get('[SEP]'), tok.ids.get('[MASK]')]).toEqual([0, 100, 101, 102, 103]);
    expect(vocab[1]).toBe('[unused0]');
    expect(vocab[30521]).toBe('##\uff5e');
    expect(expected.vocab_size).toBe(30522);
    expect(expected.vocab_md5).toBe(BERT_UNCASED_MD5);
  });

  it('with the OOV bucket it is the official text tower\'s vocab size (30523 ids)', () => {
    expect(vocab.length + 1).toBe(officialDefaults().model.txt.vocabSize);
    expect(officialDefaults().model.txt.vocabSize).toBe(30523);
  });

  it('loadVocab of the shipped path checks the md5 too, and gives the same tokens', async () => {
    expect(await loadVocab(BERT_UNCASED_VOCAB)).toEqual(vocab);
  });

  it('a damaged or missing copy is one FlipError naming the file and both md5s', async () => {
    const bad = path.join(tmp, 'vocab-damaged.txt');
    const bytes = Buffer.from(readFileSync(BERT_UNCASED_VOCAB));
    bytes[5000] ^= 1;
    writeFileSync(bad, bytes);
    const e = await defaultVocab(bad).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FlipError);
    expect((e as Error).message).toMatch(/damaged: .*vocab-damaged\.txt has md5 [0-9a-f]{32}, expected 64800d5d8528ce344256daf115d4965e/);
    expect((e as Error).message).not.toContain('\n');
    await expect(defaultVocab(path.join(tmp, 'nope.txt'))).rejects.toThrow(/missing: .*nope\.txt \(ENOENT\)/);
  });

  it(`tokenizes ${expected.cases.length} hard strings (accents, CJK, control characters, long words, ...) as the official tensorflow_text BertTokenizer does`, () => {
    expect(expected.tf_ids_by).toMatch(/^tensorflow_text 2\.21\.1 BertTokenizer\(lower_case=True/);
    expect(expected.cases.length).toBeGreaterThanOrEqual(30);
    for (const c of expected.cases) {
      expect({ text: c.text, tokens: tok.tokenize(c.text) }).toEqual({ text: c.text, tokens: c.tf_tokens });
      expect({ text: c.text, ids: tok.encode(c.text) }).toEqual({ text: c.text, ids: c.tf_ids });
    }
    // the cases cover what they claim: an [UNK] from a 101-byte word, split CJK, stripped accents
    const byText = new Map(expected.cases.map((c) => [c.text, c]));
    expect(byText.get('a'.repeat(101))!.tf_ids).toEqual([100]);
    expect(byText.get('a'.repeat(100))!.tf_ids).not.toContain(100);
    // one token per ideograph (those the vocab lacks are [UNK] each)
    expect(byText.get('\u5317\u4eac\u6b22\u8fce\u4f60')!.tf_tokens).toEqual(['\u5317', '\u4eac', '[UNK]', '[UNK]', '[UNK]']);
    // decomposed accents are stripped as precomposed ones are
    expect(byText.get('Cre\u0300me bru\u0302le\u0301e')!.tf_tokens).toEqual(['cr', '##eme', 'br', '##ule', '##e']);
    expect(byText.get('Cr\u00e8me br\u00fbl\u00e9e at the caf\u00e9 in M\u00fcnchen')!.tf_tokens.slice(0, 5)).toEqual(['cr', '##eme', 'br', '##ule', '##e']);
  });

  it(`makes tensorflow_text's ids of ${expected.generated.length} generated strings: every BMP character that case-folds otherwise than it lowercases, characters newer than TF's RE2, 100-byte words, random strings`, () => {
    const groups: Record<string, Expected['generated']> = {};
    for (const g of expected.generated) (groups[g.group] ??= []).push(g);
    expect(Object.keys(groups).sort()).toEqual(['casefold', 'long', 'random', 'unicode']);
    expect(groups.random!.length).toBe(400);
    expect(expected.casefold_characters).toBeGreaterThan(300);
    const casefoldText = groups.casefold!.map((g) => g.text).join(' ');
    // the characters the issue names are among them (alone and inside a word)
    for (const ch of ['\u00df', '\u1e9e', '\u03c2', '\u03d0', '\u03d1', '\u03d5', '\u03d6', '\u03f0', '\u03f1', '\u03f5', '\u13f8', '\uab70', '\u1f80', '\u00ad', '\u200b', '\ufeff']) {
      expect(casefoldText).toContain(` x${ch}y`);
    }
    const wrong = expected.generated.filter((g) => JSON.stringify(tok.encode(g.text)) !== JSON.stringify(g.tf_ids));
    expect(wrong.map((g) => ({ group: g.group, text: g.text, flip: tok.encode(g.text), tf: g.tf_ids }))).toEqual([]);
    // the long words: the limit is 100 UTF-8 bytes after case folding, not 100 characters
    const long = new Map(groups.long!.map((g) => [g.text, g.tf_ids]));
    expect(long.get(`the ${'\u0436'.repeat(50)} end`)).not.toContain(100);
    expect(long.get(`the ${'\u0436'.repeat(51)} end`)).toEqual([1996, 100, 2203]);
    expect(long.get(`the ${'\u00df'.repeat(50)} end`)).not.toContain(100); // 'ss' x 50
    expect(long.get(`the ${'\u00df'.repeat(51)} end`)).toEqual([1996, 100, 2203]);
    expect(long.get(`the ${'\u{1f600}'.repeat(26)} end`)).toEqual([1996, 100, 2203]);
  });

  it('case-folds with the NFKC_Casefold table taken from tensorflow_text, and classes characters as TF\'s RE2 does', () => {
    expect(nfkcCasefold('Stra\u00dfe \u1e9e \u03bf\u03b4\u03cc\u03c2 \u2122 \u03d0 \uab70 \u13f8 a\u200bb\u00ad')).toBe('strasse ss \u03bf\u03b4\u03cc\u03c3 tm \u03b2 \u13a0 \u13f0 ab');
    const { casefold, classes } = bertTables();
    expect(casefold.size).toBe(10554);
    // V8 (Node's Unicode 17) calls U+0897 a nonspacing mark and U+1B4E punctuation; TF's RE2 does not know them yet
    expect(/\p{Mn}/u.test('\u0897') && /\p{P}/u.test('\u1b4e')).toBe(true);
    expect([classes[0x0897], classes[0x1b4e], classes[0x0301], classes[0x21], classes[0x4e00], classes[0x2028], classes[0x20], classes[0]]).toEqual([0, 0, 1, 3, 3, 0, 2, 2]);
    expect(basicTokenize('a\u0897b a\u1b4eb a\u0000b a\u2028b')).toEqual(['a\u0897b', 'a\u1b4eb', 'a', 'b', 'a\u2028b']);
  });

  it('a missing or damaged tables file is one FlipError naming it', () => {
    const good = JSON.parse(readFileSync(BERT_TABLES, 'utf8')) as { casefold: { runs: number[][] }; space: number[][] };
    const cases: [string, string, RegExp][] = [
      ['tables-missing.json', '', /tables-missing\.json \(ENOENT\)/],
      ['tables-cut.json', readFileSync(BERT_TABLES, 'utf8').slice(0, 5000), /tables-cut\.json \(.*JSON/],
      ['tables-short.json', JSON.stringify({ ...good, casefold: { ...good.casefold, runs: good.casefold.runs.slice(1) } }), /tables-short\.json \(\d+ code points case-fold, its header says 10554\)/],
      ['tables-space.json', JSON.stringify({ ...good, space: [] }), /tables-space\.json \(the space, "!" or "a" is in the wrong class\)/],
      ['tables-null.json', JSON.stringify({ ...good, mn: null }), /tables-null\.json \(.*not iterable/],
    ];
    for (const [name, text, re] of cases) {
      const file = path.join(tmp, name);
      if (text) writeFileSync(file, text);
      let e: unknown;
      try {
        loadBertTables(file);
      } catch (x) {
        e = x;
      }
      expect(e, name).toBeInstanceOf(FlipError);
      expect((e as Error).message).toMatch(/^the tokenizer's tables are missing or damaged: /);
      expect((e as Error).message).toMatch(re);
      expect((e as Error).message).not.toContain('\n');
    }
    expect(loadBertTables(BERT_TABLES).casefold.size).toBe(10554);
  });

  // google-research/bert's Python tokenizer (and transformers') lowercases where tensorflow_text case-folds with NFKC,
  // and drops control characters where tensorflow_text splits at them: on these strings, and only these, its ids differ
  // from the official ones (flip makes the official ones, tested above). Pinned so that a change on either side shows.
  it('google-research/bert\'s tokenizer differs from the official one on exactly the strings where NFKC case folding or control characters matter', () => {
    expect(expected.bert_ids_by).toMatch(/^transformers /);
    const differ = expected.cases.filter((c) => c.bert_ids).map((c) => c.text);
    expect(differ).toEqual([
      '\u03a3\u039f\u03a6\u039f\u03a3 \u03bf\u03b4\u03cc\u03c2', // final sigma: tf folds \u03c2 to \u03c3
      'STRASSE Stra\u00dfe \u1e9e', // tf folds \u00df to ss
      'a\u0000b\u200bc\u200dd\ufffde', // tf splits at NUL and keeps U+FFFD
      'tab\there\u00a0nbsp\u3000ideo\u2028line\rcr\u007fdel\u001bescape', // tf: U+2028 is no space, DEL / ESC split
      '\u00a9 2023 \u2122 \u20ac5 \u00a310 \u00b0C \u2192 \u2605', // tf: NFKC \u2122 -> tm
    ]);
    for (const c of expected.cases.filter((x) => x.bert_ids)) {
      expect(c.bert_ids).not.toEqual(c.tf_ids);
      expect(tok.encode(c.text)).toEqual(c.tf_ids);
    }
  });

  it('pads and masks with the real ids ([PAD] 0), and [CLS] 101 when asked', () => {
    const { txt, txtIsValid } = tok.encodeBatch(['A photo of a cat.'], 8, { clsToken: true });
    const ids = tok.encode('A photo of a cat.');
    expect(Array.from(txt)).toEqual([101, ...ids, ...Array(7 - ids.length).fill(0)]);
    expect(Array.from(txtIsValid)).toEqual([...Array(1 + ids.length).fill(1), ...Array(7 - ids.length).fill(0)]);
  });
});

describe('flip run: the vocabulary of a training folder', () => {
  const ds = path.join(tmp, 'shards');
  beforeAll(async () => {
    await writeSynthDataset({ out: ds, n: 8, shards: 1, imageSize: 16, evalN: 4, seed: 1 });
  });

  async function prepare(dir: string, vocabSize: string) {
    const config = applyOverrides(await loadConfigModule(path.join(root, 'configs/flip_tiny.ts')),
      { 'model.txt.vocabSize': vocabSize, 'train.data.laionPath': dir, 'train.data.evalDataset': '' }, officialAliases);
    const printed: string[] = [];
    const out = runOutput({ print: (l) => printed.push(l), warn: (l) => printed.push(l) });
    const data = await prepareData(planRun({ config, workdir: path.join(tmp, 'work') }), out);
    return { data, printed };
  }

  it('a vocab.txt beside the shards wins', async () => {
    const { data, printed } = await prepare(ds, '1024');
    expect(data.vocab).toBe(path.join(ds, 'vocab.txt'));
    expect(data.tokenizer.vocabSize).toBeLessThan(1024);
    expect(printed.join('\n')).not.toMatch(/shipped BERT/);
  });

  it('without one, the shipped BERT vocabulary, said in one line', async () => {
    const bare = path.join(tmp, 'bare');
    rmSync(bare, { recursive: true, force: true });
    (await import('node:fs')).mkdirSync(bare);
    copyFileSync(path.join(ds, 'shard-00000.tar'), path.join(bare, 'shard-00000.tar'));
    const { data, printed } = await prepare(bare, '30523');
    expect(data.vocab).toBe(BERT_UNCASED_VOCAB);
    expect(data.tokenizer.vocabSize).toBe(30522);
    expect(printed.filter((l) => l.includes('shipped BERT'))).toEqual([
      `data: no vocab.txt in ${bare}: tokenizing with the shipped BERT uncased vocabulary (30522 tokens, the official one)`,
    ]);
    // a text tower too small for it is one line that says which size to set
    await expect(prepare(bare, '64')).rejects.toThrow(/has 30522 tokens but the text tower embeds 64: set --config\.model\.txt\.vocabSize=30522 or more/);
  });
});
