// BERT WordPiece tokenization (uncased) exactly as the official FLIP text pipeline does it:
// tensorflow_text.BertTokenizer(vocab, lower_case=True, token_out_type=tf.int32) (facebookresearch/flip,
// input_pipeline*.py). Its BasicTokenizer (tensorflow_text/python/ops/bert_tokenizer.py), step by step:
//   1. case_fold_utf8: ICU's NFKC_Casefold (NFKC, full case folding "ß" -> "ss", final "ς" -> "σ", "™" -> "tm",
//      default ignorables such as U+200B / U+00AD / U+FEFF removed). JS has no case folding: the per-code-point
//      mapping is data, bert-tables.json, taken from tensorflow_text itself by make_tables.py.
//   2. normalize_utf8(NFD), then every \p{Mn} removed (accents stripped).
//   3. every \p{Cc} or \p{Cf} replaced by a space (so NUL, DEL, ESC, tab, newline split words; nothing vanishes).
//   4. regex_split at \s+ (RE2's \s: only ASCII space is left after 3), dropped; and at single punctuation
//      characters ([!-/] [:-@] [\[-`] [{-~] \p{P}) and CJK ideographs (8 blocks), each kept as a word.
//      Anything else is part of a word (U+2028, U+1680, U+FFFD, emoji, ...). The classes of steps 2-4 are data too
//      (bert-tables.json), as TensorFlow's RE2 sees them, not V8's \p{...} of Node's newer Unicode version.
// Then WordpieceTokenizer: a word longer than 100 UTF-8 bytes (max_bytes_per_word) is [UNK]; otherwise greedy
// longest-match-first pieces ('##' continuations), [UNK] alone if some part has no piece.
// google-research/bert's Python tokenizer (and transformers') differs on rare text: it lowercases instead of case
// folding, drops control characters instead of splitting at them, splits at U+2028 and counts 100 characters, not
// bytes. test/train/bert-vocab.test.ts checks flip against tensorflow_text's ids on hundreds of strings.
// Padding follows tftx.pad_model_inputs: ids padded with 0 ([PAD] in BERT vocabs) to max_len, and a
// txt_is_valid mask of 1 for real tokens. The official config has cls_token=False: no [CLS], no [SEP].
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlipError } from '../../compiler/ir/errors.ts';

export const PAD = '[PAD]';
export const UNK = '[UNK]';
export const CLS = '[CLS]';
export const SEP = '[SEP]';
export const MASK = '[MASK]';

/**
 * What the official tokenizer does with each code point, as data taken from tensorflow_text itself by make_tables.py
 * (its docstring gives the format): the NFKC_Casefold mapping, and the character classes of its regular expressions
 * as TensorFlow's RE2 sees them (V8's \p{...} follow Node's newer Unicode version: they would split or drop characters
 * that tensorflow_text keeps inside words).
 */
export const BERT_TABLES = fileURLToPath(new URL('./bert-tables.json', import.meta.url));

interface TablesFile {
  source: string;
  casefold: {
    mapped: number;
    removed: [number, number][];
    runs: [number, number, number, number][];
    strings: [number, string][];
  };
  mn: [number, number][];
  control: [number, number][];
  space: [number, number][];
  delim: [number, number][];
}

/** Character classes: a word character, removed after the NFD (Mn), a word break (Cc, Cf, space), a kept delimiter. */
const WORD = 0;
const MARK = 1;
const BREAK = 2;
const DELIMITER = 3;

export interface Tables {
  casefold: Map<number, string>;
  /** One class per code point. */
  classes: Uint8Array;
}

let tables: Tables | undefined;

/** The tables, read once (from the shipped file). */
export function bertTables(): Tables {
  tables ??= loadBertTables();
  return tables;
}

/** Reads and checks a tables file: a missing or damaged one is one FlipError naming it. */
export function loadBertTables(file: string = BERT_TABLES): Tables {
  const damaged = (why: string) => new FlipError(`the tokenizer's tables are missing or damaged: ${file} (${why}); reinstall flip`);
  let t: TablesFile;
  try {
    t = JSON.parse(readFileSync(file, 'utf8')) as TablesFile;
  } catch (e) {
    throw damaged((e as NodeJS.ErrnoException).code ?? (e as Error).message.split('\n')[0]!);
  }
  const casefold = new Map<number, string>();
  const classes = new Uint8Array(0x110000);
  try {
    for (const [first, last] of t.casefold.removed) for (let c = first; c <= last; c++) casefold.set(c, '');
    for (const [first, count, step, delta] of t.casefold.runs) {
      for (let k = 0; k < count; k++) casefold.set(first + k * step, String.fromCodePoint(first + k * step + delta));
    }
    for (const [c, m] of t.casefold.strings) casefold.set(c, m);
    const mark = (rs: [number, number][], k: number) => {
      for (const [first, last] of rs) classes.fill(k, first, last + 1);
    };
    mark(t.mn, MARK);
    mark(t.control, BREAK);
    mark(t.space, BREAK);
    mark(t.delim, DELIMITER);
  } catch (e) {
    throw damaged((e as Error).message.split('\n')[0]!);
  }
  if (casefold.size !== t.casefold.mapped) throw damaged(`${casefold.size} code points case-fold, its header says ${t.casefold.mapped}`);
  if (classes[0x20] !== BREAK || classes[0x21] !== DELIMITER || classes[0x61] !== WORD) throw damaged('the space, "!" or "a" is in the wrong class');
  return { casefold, classes };
}

/** Printable ASCII only: NFKC_Casefold is lowercasing there, and NFD / Mn / Cc / Cf change nothing. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/** On printable ASCII: a punctuation character, or a run of letters and digits. */
const ASCII_WORD_OR_DELIM = /[!-\/:-@[-`{-~]|[^ !-\/:-@[-`{-~]+/g;

/** tensorflow_text's case_fold_utf8 (ICU NFKC_Casefold), up to composition (the tokenizer NFDs it right after). */
export function nfkcCasefold(text: string): string {
  if (PRINTABLE_ASCII.test(text)) return text.toLowerCase();
  const m = bertTables().casefold;
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) out += cp >= 0x41 && cp <= 0x5a ? String.fromCharCode(cp + 32) : ch;
    else {
      const f = m.get(cp);
      out += f === undefined ? ch : f;
    }
  }
  return out;
}

/**
 * tensorflow_text's BasicTokenizer: the words WordPiece then splits. lowerCase=false is BasicTokenizer(lower_case=False)
 * with no normalization_form: no folding, no NFD, no accent stripping.
 */
export function basicTokenize(text: string, lowerCase = true): string[] {
  if (PRINTABLE_ASCII.test(text)) return (lowerCase ? text.toLowerCase() : text).match(ASCII_WORD_OR_DELIM) ?? [];
  const { classes } = bertTables();
  const s = lowerCase ? nfkcCasefold(text).normalize('NFD') : text;
  const out: string[] = [];
  let cur = '';
  for (const ch of s) {
    const k = classes[ch.codePointAt(0)!];
    if (k === WORD || (k === MARK && !lowerCase)) cur += ch;
    else if (k === BREAK || k === DELIMITER) {
      if (cur) out.push(cur);
      cur = '';
      if (k === DELIMITER) out.push(ch);
    }
  }
  if (cur) out.push(cur);
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

function isHighSurrogate(u: number): boolean {
  return u >= 0xd800 && u <= 0xdbff;
}

export class WordPieceTokenizer {
  readonly ids: Map<string, number>;
  readonly unkId: number;
  readonly padId: number;
  readonly clsId: number | undefined;

  constructor(
    readonly vocab: readonly string[],
    readonly lowerCase = true,
    /** tensorflow_text's max_bytes_per_word: longer words (in UTF-8 bytes) are [UNK]. */
    readonly maxBytesPerWord = 100,
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

  /**
   * Greedy longest-match-first pieces of one word (tensorflow_text's WordpieceTokenizer): [UNK] alone if the word
   * is longer than maxBytesPerWord UTF-8 bytes or if some part of it has no piece.
   */
  wordPieces(word: string): string[] {
    if (word.length > this.maxBytesPerWord / 3 && Buffer.byteLength(word, 'utf8') > this.maxBytesPerWord) return [UNK];
    const out: string[] = [];
    let start = 0;
    while (start < word.length) {
      let end = word.length;
      let piece: string | null = null;
      while (start < end) {
        const sub = start > 0 ? '##' + word.slice(start, end) : end === word.length ? word : word.slice(0, end);
        if (this.ids.has(sub)) {
          piece = sub;
          break;
        }
        // one code point back (a surrogate pair is one)
        const last = word.charCodeAt(end - 1);
        end -= last >= 0xdc00 && last <= 0xdfff && end - 2 >= start && isHighSurrogate(word.charCodeAt(end - 2)) ? 2 : 1;
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
