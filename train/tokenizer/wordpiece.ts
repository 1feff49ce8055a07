// BERT WordPiece tokenization (uncased), as the official FLIP text pipeline uses through
// tensorflow_text.BertTokenizer(vocab, lower_case=True): clean, lowercase, strip accents, split on
// whitespace and punctuation, then greedy longest-match-first word pieces with '##' continuations.
// Padding follows tftx.pad_model_inputs: ids padded with 0 ([PAD] in BERT vocabs) to max_len, and a
// txt_is_valid mask of 1 for real tokens. The official config has cls_token=False: no [CLS], no [SEP].
// The normalization is google-research/bert's (tokenization.py, as transformers' BertTokenizer): drop control
// characters, lowercase, NFD, strip Mn. tensorflow_text's BertTokenizer folds case with NFKC_Casefold and splits at
// control characters instead, so on rare text ('ß', '™', a final 'ς', NUL/DEL/ESC, U+2028) its ids differ from these;
// test/train/bert-vocab.test.ts pins both against the real libraries.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlipError } from '../../compiler/ir/errors.ts';

export const PAD = '[PAD]';
export const UNK = '[UNK]';
export const CLS = '[CLS]';
export const SEP = '[SEP]';
export const MASK = '[MASK]';

const PUNCT = /\p{P}/u;
const MARK_NONSPACING = /\p{Mn}/u;
const CONTROL = /[\p{Cc}\p{Cf}]/u;
const SPACE = /\p{Zs}/u;

/**
 * Whitespace as BERT's cleaning sees it (space, tab, newline, CR, category Zs), plus the line and paragraph separators
 * U+2028 / U+2029, which BERT keeps through cleaning but then splits words on (Python's str.split() treats them as
 * whitespace; the other characters it splits on are Zs or control characters, already handled).
 */
function isWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\u2028' || ch === '\u2029' || SPACE.test(ch);
}

function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return CONTROL.test(ch);
}

/** BERT's punctuation: all non-alphanumeric ASCII, plus Unicode category P*. */
function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return PUNCT.test(ch);
}

/** CJK Unified Ideographs blocks, which BERT splits into single characters. */
function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Basic tokenization: the words WordPiece then splits. */
export function basicTokenize(text: string, lowerCase = true): string[] {
  let cleaned = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    if (isWhitespace(ch)) cleaned += ' ';
    else if (isCjk(cp)) cleaned += ` ${ch} `;
    else cleaned += ch;
  }
  const out: string[] = [];
  for (let word of cleaned.split(' ')) {
    if (!word) continue;
    if (lowerCase) {
      word = word.toLowerCase().normalize('NFD');
      let stripped = '';
      for (const ch of word) if (!MARK_NONSPACING.test(ch)) stripped += ch;
      word = stripped;
    }
    let cur = '';
    for (const ch of word) {
      if (isPunctuation(ch)) {
        if (cur) out.push(cur);
        out.push(ch);
        cur = '';
      } else cur += ch;
    }
    if (cur) out.push(cur);
  }
  return out;
}

/** One line per token; the id of a token is its line number (from 0). */
export function parseVocab(text: string): string[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** A vocab.txt, one token a line; the shipped BERT vocabulary (BERT_UNCASED_VOCAB) is read with its md5 checked. */
export async function loadVocab(path: string): Promise<string[]> {
  if (resolve(path) === BERT_UNCASED_VOCAB) return defaultVocab();
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new FlipError(`vocab file not readable: ${path} (${e.code ?? e.message})`);
  });
  const vocab = parseVocab(text);
  if (!vocab.length) throw new FlipError(`vocab file is empty: ${path}`);
  return vocab;
}

/**
 * BERT's uncased WordPiece vocabulary, the one the official FLIP pipeline tokenizes with (google-research/bert's
 * uncased_L-12_H-768_A-12/vocab.txt, Apache-2.0), shipped in the repo: bert-uncased/README.md says where it came from.
 * 30522 tokens; with tensorflow_text's one OOV bucket that is the official text tower's 30523 ids.
 */
export const BERT_UNCASED_VOCAB = fileURLToPath(new URL('./bert-uncased/vocab.txt', import.meta.url));
export const BERT_UNCASED_MD5 = '64800d5d8528ce344256daf115d4965e';
export const BERT_UNCASED_TOKENS = 30522;

/**
 * The shipped default vocabulary (BERT uncased), its md5 checked: a damaged copy is a FlipError, never a silent other
 * vocab. `file` is the shipped copy unless given (tests hand a damaged copy).
 */
export async function defaultVocab(file: string = BERT_UNCASED_VOCAB): Promise<string[]> {
  const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new FlipError(`the shipped BERT vocabulary is missing: ${file} (${e.code ?? e.message}); reinstall flip or put a vocab.txt beside the shards`);
  });
  const md5 = createHash('md5').update(bytes).digest('hex');
  if (md5 !== BERT_UNCASED_MD5) {
    throw new FlipError(`the shipped BERT vocabulary is damaged: ${file} has md5 ${md5}, expected ${BERT_UNCASED_MD5}; reinstall flip or put a vocab.txt beside the shards`);
  }
  return parseVocab(bytes.toString('utf8'));
}

export async function writeVocab(path: string, vocab: readonly string[]): Promise<void> {
  await writeFile(path, vocab.join('\n') + '\n');
}

export interface BuildVocabOptions {
  /** Words seen fewer times are left out (they tokenize into characters, or [UNK]). Default 1. */
  minCount?: number;
  /** Add every character seen, alone and as '##c', so that unseen words still tokenize. Default true. */
  characters?: boolean;
  lowerCase?: boolean;
}

/**
 * A WordPiece vocab from a corpus: [PAD] [UNK] [CLS] [SEP] [MASK] at ids 0..4, then words by count
 * (descending, ties by code point order), then characters. Deterministic for a given corpus.
 */
export function buildVocab(texts: Iterable<string>, opts: BuildVocabOptions = {}): string[] {
  const minCount = opts.minCount ?? 1;
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of basicTokenize(t, opts.lowerCase ?? true)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const vocab = [PAD, UNK, CLS, SEP, MASK];
  const seen = new Set(vocab);
  const words = [...counts].filter(([, c]) => c >= minCount).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [w] of words) if (!seen.has(w)) (seen.add(w), vocab.push(w));
  if (opts.characters ?? true) {
    const chars = new Set<string>();
    for (const w of counts.keys()) for (const ch of w) chars.add(ch);
    const sorted = [...chars].sort();
    for (const ch of sorted) if (!seen.has(ch)) (seen.add(ch), vocab.push(ch));
    for (const ch of sorted) if (!seen.has(`##${ch}`)) (seen.add(`##${ch}`), vocab.push(`##${ch}`));
  }
  return vocab;
}

export interface EncodeOptions {
  /** Prepend [CLS] and keep maxLen - 1 tokens (official `aug.txt.cls_token`; default false). */
  clsToken?: boolean;
}

export class WordPieceTokenizer {
  readonly ids: Map<string, number>;
  readonly unkId: number;
  readonly padId: number;
  readonly clsId: number | undefined;

  constructor(
    readonly vocab: readonly string[],
    readonly lowerCase = true,
    readonly maxCharsPerWord = 100,
  ) {
    this.ids = new Map();
    vocab.forEach((t, i) => {
      if (!this.ids.has(t)) this.ids.set(t, i);
    });
    const unk = this.ids.get(UNK);
    if (unk === undefined) throw new FlipError(`vocab has no ${UNK} token`);
    this.unkId = unk;
    this.padId = this.ids.get(PAD) ?? 0;
    this.clsId = this.ids.get(CLS);
  }

  static async fromFile(path: string): Promise<WordPieceTokenizer> {
    return new WordPieceTokenizer(await loadVocab(path));
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** Greedy longest-match-first pieces of one word; [UNK] alone if any part has no piece. */
  wordPieces(word: string): string[] {
    const chars = Array.from(word);
    if (chars.length > this.maxCharsPerWord) return [UNK];
    const out: string[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let piece: string | null = null;
      while (start < end) {
        const sub = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        if (this.ids.has(sub)) {
          piece = sub;
          break;
        }
        end--;
      }
      if (piece === null) return [UNK];
      out.push(piece);
      start = end;
    }
    return out;
  }

  tokenize(text: string): string[] {
    return basicTokenize(text, this.lowerCase).flatMap((w) => this.wordPieces(w));
  }

  encode(text: string): number[] {
    return this.tokenize(text).map((t) => this.ids.get(t) ?? this.unkId);
  }

  /** Writes one padded row of `maxLen` ids and its validity mask at row `row`. */
  encodeInto(text: string, maxLen: number, ids: Int32Array, valid: Int32Array, row: number, opts: EncodeOptions = {}): void {
    const base = row * maxLen;
    let n = 0;
    if (opts.clsToken) {
      if (this.clsId === undefined) throw new FlipError(`clsToken needs a ${CLS} token in the vocab`);
      ids[base] = this.clsId;
      valid[base] = 1;
      n = 1;
    }
    for (const id of this.encode(text)) {
      if (n >= maxLen) break;
      ids[base + n] = id;
      valid[base + n] = 1;
      n++;
    }
    for (; n < maxLen; n++) {
      ids[base + n] = this.padId;
      valid[base + n] = 0;
    }
  }

  /** [texts.length, maxLen] ids and txt_is_valid, row-major. */
  encodeBatch(texts: readonly string[], maxLen: number, opts: EncodeOptions = {}): { txt: Int32Array; txtIsValid: Int32Array; shape: [number, number] } {
    const txt = new Int32Array(texts.length * maxLen);
    const txtIsValid = new Int32Array(texts.length * maxLen);
    texts.forEach((t, i) => this.encodeInto(t, maxLen, txt, txtIsValid, i, opts));
    return { txt, txtIsValid, shape: [texts.length, maxLen] };
  }
}
