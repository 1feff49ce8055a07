import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlipError } from '../../compiler/ir/errors.ts';
import { WordPieceTokenizer, basicTokenize, buildVocab, loadVocab, writeVocab } from '../../train/tokenizer/wordpiece.ts';

const FIXTURE = new URL('./data-fixtures/vocab.txt', import.meta.url).pathname;
const tmp = await mkdtemp(join(tmpdir(), 'flip-tok-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('train/tokenizer: BERT WordPiece (uncased)', async () => {
  const tok = await WordPieceTokenizer.fromFile(FIXTURE);

  it('loads vocab.txt with ids = line numbers', () => {
    expect(tok.vocabSize).toBe(31);
    expect(tok.ids.get('[PAD]')).toBe(0);
    expect(tok.unkId).toBe(1);
    expect(tok.ids.get('##aff')).toBe(13);
  });

  it('splits words greedily, longest match first, with ## continuations', () => {
    expect(tok.tokenize('unaffable')).toEqual(['un', '##aff', '##able']);
    // the example of BERT's tokenization tests: accents stripped, case folded, punctuation split
    expect(tok.tokenize('UNwant\u00E9d,running')).toEqual(['un', '##want', '##ed', ',', 'runn', '##ing']);
    expect(tok.encode('UNwant\u00E9d,running')).toEqual([9, 6, 7, 12, 10, 11]);
  });

  it('maps a word with an unmatchable piece to a single [UNK]', () => {
    expect(tok.tokenize('unwantedX running')).toEqual(['[UNK]', 'runn', '##ing']);
    expect(tok.tokenize('zebra')).toEqual(['[UNK]']);
    expect(tok.encode('zebra')).toEqual([1]);
  });

  it('basic tokenization: whitespace, punctuation, lowercase, accents, CJK, control chars', () => {
    expect(basicTokenize(' \tHeLLo!how  \n Are yoU?  ')).toEqual(['hello', '!', 'how', 'are', 'you', '?']);
    expect(basicTokenize('H\u00E9llo')).toEqual(['hello']);
    expect(basicTokenize('ah\u535A\u63A8zz')).toEqual(['ah', '\u535A', '\u63A8', 'zz']);
    expect(basicTokenize('a\u0000b\u200Bc')).toEqual(['a', 'bc']); // NUL splits (tensorflow_text), U+200B vanishes
    expect(basicTokenize("it's (a) test.")).toEqual(['it', "'", 's', '(', 'a', ')', 'test', '.']);
  });

  it('pads to max_len with [PAD] and marks real tokens in txt_is_valid; truncates long texts', () => {
    const { txt, txtIsValid, shape } = tok.encodeBatch(['a red circle at the top left.', 'Hello!', ''], 8);
    expect(shape).toEqual([3, 8]);
    expect(Array.from(txt.subarray(0, 8))).toEqual([17, 18, 19, 20, 21, 22, 23, 24]); // exactly 8 tokens
    expect(Array.from(txtIsValid.subarray(0, 8))).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(txt.subarray(8, 16))).toEqual([27, 25, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(txtIsValid.subarray(8, 16))).toEqual([1, 1, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(txtIsValid.subarray(16, 24))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    const short = tok.encodeBatch(['a red circle at the top left.'], 4);
    expect(Array.from(short.txt)).toEqual([17, 18, 19, 20]);
  });

  it('prepends [CLS] only when asked (official cls_token=False), keeping max_len', () => {
    const { txt, txtIsValid } = tok.encodeBatch(['hello you'], 4, { clsToken: true });
    expect(Array.from(txt)).toEqual([2, 27, 30, 0]);
    expect(Array.from(txtIsValid)).toEqual([1, 1, 1, 0]);
  });

  it('a missing vocab file is a FlipError naming the path', async () => {
    await expect(loadVocab(join(tmp, 'nope.txt'))).rejects.toThrow(FlipError);
    await expect(loadVocab(join(tmp, 'nope.txt'))).rejects.toThrow(/nope\.txt/);
  });
});

describe('train/tokenizer: buildVocab', () => {
  const captions = ['a red circle at the top', 'a blue square at the top', 'there is a red cross', 'a red dot'];

  it('puts the special tokens first, then words by count, then characters', () => {
    const v = buildVocab(captions);
    expect(v.slice(0, 5)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    expect(v.slice(5, 9)).toEqual(['a', 'red', 'at', 'the']); // 4, 3, 2, 2 (ties in code point order)
    expect(v).toContain('##q');
    expect(v).toContain('q');
    expect(new Set(v).size).toBe(v.length);
    expect(buildVocab(captions)).toEqual(v);
  });

  it('leaves out rare words with minCount; they then tokenize into characters', async () => {
    const v = buildVocab(captions, { minCount: 2 });
    expect(v).not.toContain('square');
    const path = join(tmp, 'vocab.txt');
    await writeVocab(path, v);
    expect(await loadVocab(path)).toEqual(v);
    const tok = new WordPieceTokenizer(v);
    expect(tok.tokenize('a square')).toEqual(['a', 's', '##q', '##u', '##a', '##r', '##e']);
    expect(tok.tokenize('a zebra')).toEqual(['a', '[UNK]']);
    const noChars = new WordPieceTokenizer(buildVocab(captions, { minCount: 2, characters: false }));
    expect(noChars.tokenize('a square')).toEqual(['a', '[UNK]']);
  });
});
