// A synthetic image–caption dataset in the img2dataset webdataset layout, for runs without LAION:
// coloured shapes at named positions on plain or lightly noisy backgrounds, captioned from a few
// templates; plus a held-out eval split (its own shards, with `.cls` labels), the zero-shot class
// names and prompts (classes.json), and a vocab.txt built from the captions. Every pixel and word is
// a function of (seed, split, index), so the same arguments give byte-identical shards.
// It only ever writes into a new or empty folder or over a set it wrote itself (listed in .flip-synth.json, written
// before anything else): files flip did not write are never deleted or replaced.
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { FlipError } from '../../compiler/ir/errors.ts';
import { buildVocab, writeVocab } from '../tokenizer/wordpiece.ts';
import { Rng } from './rng.ts';
import { TarWriter } from './tar.ts';

export const COLORS = {
  red: [214, 39, 40],
  green: [44, 160, 44],
  blue: [31, 90, 220],
  yellow: [240, 205, 20],
  purple: [148, 60, 189],
  orange: [255, 127, 14],
} as const satisfies Record<string, readonly [number, number, number]>;
export type ColorName = keyof typeof COLORS;

export const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'cross'] as const;
export type ShapeName = (typeof SHAPES)[number];

/** 3×3 grid cells, row-major, and how captions name them. */
export const POSITIONS = [
  'at the top left', 'at the top', 'at the top right',
  'on the left', 'in the center', 'on the right',
  'at the bottom left', 'at the bottom', 'at the bottom right',
] as const;

const COLOR_NAMES = Object.keys(COLORS) as ColorName[];

/** Zero-shot classes: colour × shape, index = color * SHAPES.length + shape. */
export const CLASSES: readonly string[] = COLOR_NAMES.flatMap((c) => SHAPES.map((s) => `${c} ${s}`));

/** CLIP-style prompt templates; "a {}" takes "an" before a vowel when expanded. */
export const PROMPT_TEMPLATES = ['a photo of a {}.', 'a {}.', 'there is a {}.', 'a picture of a {}.', 'a {} on a plain background.'] as const;

function article(phrase: string): string {
  return (/^[aeiou]/.test(phrase) ? 'an ' : 'a ') + phrase;
}

export function expandTemplate(template: string, cls: string): string {
  return template.includes('a {}') ? template.replace('a {}', article(cls)) : template.replace('{}', cls);
}

export interface SceneSpec {
  color: ColorName;
  shape: ShapeName;
  position: number;
  size: 'small' | 'large';
  noisy: boolean;
  label: number;
}

const CAPTIONS: ReadonlyArray<(s: SceneSpec) => string> = [
  (s) => `${article(`${s.color} ${s.shape}`)} ${POSITIONS[s.position]}`,
  (s) => `a photo of ${article(`${s.color} ${s.shape}`)} ${POSITIONS[s.position]}`,
  (s) => `there is ${article(`${s.color} ${s.shape}`)} ${POSITIONS[s.position]}`,
  (s) => `${article(`${s.size} ${s.color} ${s.shape}`)} ${POSITIONS[s.position]}`,
  (s) => `${POSITIONS[s.position]} there is ${article(`${s.color} ${s.shape}`)}`,
  (s) => `${article(`${s.color} ${s.shape}`)} on a ${s.noisy ? 'noisy' : 'plain'} background`,
  (s) => `a picture of ${article(`${s.size} ${s.color} ${s.shape}`)}`,
];

function inside(shape: ShapeName, dx: number, dy: number, r: number): boolean {
  switch (shape) {
    case 'circle':
      return dx * dx + dy * dy <= r * r;
    case 'square':
      return Math.abs(dx) <= r * 0.85 && Math.abs(dy) <= r * 0.85;
    case 'triangle':
      return dy >= -r && dy <= r * 0.8 && Math.abs(dx) <= (dy + r) * 0.6;
    case 'diamond':
      return Math.abs(dx) + Math.abs(dy) <= r * 1.1;
    case 'cross':
      return (Math.abs(dx) <= r * 0.3 && Math.abs(dy) <= r) || (Math.abs(dy) <= r * 0.3 && Math.abs(dx) <= r);
  }
}

/** One scene: spec drawn from rng (label forced when given), pixels as RGB uint8 HWC. */
export function renderScene(size: number, rng: Rng, label?: number): { spec: SceneSpec; rgb: Uint8Array } {
  const cls = label ?? rng.int(0, CLASSES.length);
  const color = COLOR_NAMES[Math.floor(cls / SHAPES.length)]!;
  const shape = SHAPES[cls % SHAPES.length]!;
  const position = rng.int(0, POSITIONS.length);
  const large = rng.next() < 0.5;
  const noisy = rng.next() < 0.5;
  const spec: SceneSpec = { color, shape, position, size: large ? 'large' : 'small', noisy, label: cls };

  const rgb = new Uint8Array(size * size * 3);
  const grey = rng.int(170, 250);
  const tint = [rng.int(-8, 9), rng.int(-8, 9), rng.int(-8, 9)];
  for (let i = 0; i < size * size; i++) {
    const n = noisy ? rng.int(-12, 13) : 0;
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.max(0, Math.min(255, grey + tint[c]! + n));
  }
  const cell = size / 3;
  const r = (large ? 0.15 : 0.095) * size;
  const jitter = size / 24;
  const cx = ((position % 3) + 0.5) * cell + rng.uniform(-jitter, jitter);
  const cy = (Math.floor(position / 3) + 0.5) * cell + rng.uniform(-jitter, jitter);
  const base = COLORS[color];
  const fill = base.map((v) => Math.max(0, Math.min(255, v + rng.int(-12, 13))));
  const x0 = Math.max(0, Math.floor(cx - r - 1)), x1 = Math.min(size - 1, Math.ceil(cx + r + 1));
  const y0 = Math.max(0, Math.floor(cy - r - 1)), y1 = Math.min(size - 1, Math.ceil(cy + r + 1));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      // 2×2 supersampling for soft edges
      let cover = 0;
      for (const [sx, sy] of [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]] as const) {
        if (inside(shape, x + sx - cx, y + sy - cy, r)) cover++;
      }
      if (!cover) continue;
      const a = cover / 4;
      const o = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) rgb[o + c] = Math.round(rgb[o + c]! * (1 - a) + fill[c]! * a);
    }
  }
  return { spec, rgb };
}

export function caption(spec: SceneSpec, rng: Rng): string {
  return CAPTIONS[rng.int(0, CAPTIONS.length)]!(spec);
}

export interface SynthOptions {
  out: string;
  n: number;
  shards?: number;
  seed?: number;
  imageSize?: number;
  /** Held-out samples (balanced over classes). Default max(CLASSES.length, round(n / 10)). */
  evalN?: number;
  evalShards?: number;
  jpegQuality?: number;
}

export interface SynthSummary {
  trainShards: string[];
  evalShards: string[];
  classesPath: string;
  vocabPath: string;
  n: number;
  evalN: number;
  seconds: number;
}

const CONCURRENT_ENCODES = 16;

async function encodeJpeg(rgb: Uint8Array, size: number, quality: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality }).toBuffer();
}

/** Samples [0, n) of one split into `shards` tar files named shard-00000.tar ... under `dir`. */
async function writeSplit(
  dir: string,
  split: 'train' | 'eval',
  n: number,
  shards: number,
  o: Required<Pick<SynthOptions, 'seed' | 'imageSize' | 'jpegQuality'>>,
  captions: string[],
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  const classCount = CLASSES.length;
  for (let k = 0; k < shards; k++) {
    const lo = Math.floor((k * n) / shards);
    const hi = Math.floor(((k + 1) * n) / shards);
    const path = join(dir, shardName(k));
    const tar = await TarWriter.create(path);
    const encoded: Array<{ key: string; jpg: Buffer; txt: string; label: number }> = new Array(hi - lo);
    let next = lo;
    const lane = async (): Promise<void> => {
      for (let i = next++; i < hi; i = next++) {
        const rng = new Rng(o.seed, `synth-${split}`, i);
        const { spec, rgb } = renderScene(o.imageSize, rng, split === 'eval' ? i % classCount : undefined);
        const txt = caption(spec, rng);
        const jpg = await encodeJpeg(rgb, o.imageSize, o.jpegQuality);
        const key = split === 'eval' ? `eval${String(i).padStart(9, '0')}` : String(i).padStart(9, '0');
        encoded[i - lo] = { key, jpg, txt, label: spec.label };
      }
    };
    await Promise.all(Array.from({ length: CONCURRENT_ENCODES }, lane));
    for (const e of encoded) {
      await tar.add(`${e.key}.jpg`, e.jpg);
      await tar.add(`${e.key}.txt`, Buffer.from(e.txt));
      if (split === 'eval') await tar.add(`${e.key}.cls`, Buffer.from(String(e.label)));
      captions.push(e.txt);
    }
    await tar.close();
    paths.push(path);
  }
  return paths;
}

/** The file, written first, that lists every file of a synthetic set (paths relative to its folder). */
export const SYNTH_MARKER = '.flip-synth.json';
/** The largest --image-size: one image is size² × 3 bytes in memory, and a bigger one is no use for a synthetic set. */
export const SYNTH_MAX_IMAGE_SIZE = 4096;

const shardName = (k: number) => `shard-${String(k).padStart(5, '0')}.tar`;

/** Every file under `dir` (relative paths), empty folders left out; [] when `dir` does not exist. */
async function filesUnder(dir: string, rel = ''): Promise<string[]> {
  const entries = await readdir(join(dir, rel), { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw new FlipError(`cannot read ${join(dir, rel)}: ${e.code ?? e.message}`);
  });
  const out: string[] = [];
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, r)));
    else out.push(r);
  }
  return out;
}

/**
 * The files of `out` that flip wrote: those its marker lists, or, for a set written before the marker existed (its
 * info.json says kind 'flip-synth'), the names such a set has. null: `out` is not a set flip wrote.
 */
async function ownedFiles(out: string): Promise<Set<string> | null> {
  const json = async (f: string): Promise<Record<string, unknown> | null> => {
    try {
      return JSON.parse(await readFile(join(out, f), 'utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
  };
  const marker = await json(SYNTH_MARKER);
  if (marker?.kind === 'flip-synth' && Array.isArray(marker.files)) return new Set([SYNTH_MARKER, ...(marker.files as string[])]);
  if ((await json('info.json'))?.kind !== 'flip-synth') return null;
  const legacy = /^((eval\/)?shard-\d+\.tar|classes\.json|vocab\.txt|info\.json)$/;
  return new Set((await filesUnder(out)).filter((f) => legacy.test(f)));
}

/**
 * Writes the dataset into `out`: a new or empty folder, or one holding a synthetic set flip wrote (its files are
 * replaced). A folder holding anything else (a user's shards, vocab.txt, ...) is refused, with nothing touched.
 */
export async function writeSynthDataset(opts: SynthOptions): Promise<SynthSummary> {
  const t0 = performance.now();
  const n = opts.n;
  if (!(Number.isInteger(n) && n >= 1)) throw new FlipError(`--n must be a positive integer (got ${opts.n})`);
  const shards = opts.shards ?? Math.max(1, Math.ceil(n / 1000));
  if (!(Number.isInteger(shards) && shards >= 1 && shards <= n)) throw new FlipError(`--shards must be in [1, n=${n}] (got ${opts.shards})`);
  const imageSize = opts.imageSize ?? 64;
  if (!(Number.isInteger(imageSize) && imageSize >= 8 && imageSize <= SYNTH_MAX_IMAGE_SIZE)) {
    throw new FlipError(`--image-size must be an integer in [8, ${SYNTH_MAX_IMAGE_SIZE}] (got ${opts.imageSize})`);
  }
  const evalN = opts.evalN ?? Math.max(CLASSES.length, Math.round(n / 10));
  if (!(Number.isInteger(evalN) && evalN >= 0)) throw new FlipError(`--eval-n must be an integer >= 0 (got ${opts.evalN})`);
  const evalShards = Math.min(opts.evalShards ?? 1, evalN);
  const o = { seed: opts.seed ?? 0, imageSize, jpegQuality: opts.jpegQuality ?? 90 };

  const where = await stat(opts.out).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw new FlipError(`cannot use ${opts.out}: ${e.code ?? e.message}`);
  });
  if (where && !where.isDirectory()) throw new FlipError(`${opts.out} is a file; give a folder (new or empty) for the synthetic set`);
  const existing = await filesUnder(opts.out);
  const owned = existing.length ? await ownedFiles(opts.out) : new Set<string>();
  const foreign = existing.filter((f) => !owned?.has(f));
  if (foreign.length) {
    const some = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? `, ... (${foreign.length} files)` : '');
    throw new FlipError(`${opts.out} holds files flip did not write (${some}); a synthetic set is written only into a new or empty folder ` +
      `or over one flip wrote: give another folder (nothing was changed)`);
  }
  const planned = [
    ...Array.from({ length: shards }, (_, k) => shardName(k)),
    ...Array.from({ length: evalN > 0 ? evalShards : 0 }, (_, k) => `eval/${shardName(k)}`),
    'classes.json', 'vocab.txt', 'info.json',
  ];
  try {
    await mkdir(opts.out, { recursive: true });
    // The marker first: a set cut short (Ctrl-C, disk full) is still known as flip's, and replaced next time.
    await writeFile(join(opts.out, SYNTH_MARKER), JSON.stringify({ kind: 'flip-synth', files: [...new Set([...planned, ...existing.filter((f) => f !== SYNTH_MARKER)])] }, null, 2) + '\n');
    // Stale files of an earlier, larger set of ours would otherwise join this one.
    await Promise.all(existing.filter((f) => f !== SYNTH_MARKER && !planned.includes(f)).map((f) => rm(join(opts.out, f), { force: true })));
    const captions: string[] = [];
    const trainShards = await writeSplit(opts.out, 'train', n, shards, o, captions);
    const evalCaptions: string[] = [];
    const evalShardPaths = evalN > 0 ? await writeSplit(join(opts.out, 'eval'), 'eval', evalN, evalShards, o, evalCaptions) : [];
    const prompts = CLASSES.map((c) => PROMPT_TEMPLATES.map((t) => expandTemplate(t, c)));
    const classesPath = join(opts.out, 'classes.json');
    await writeFile(classesPath, JSON.stringify({ classes: CLASSES, templates: PROMPT_TEMPLATES, prompts }, null, 2) + '\n');
    const vocabPath = join(opts.out, 'vocab.txt');
    await writeVocab(vocabPath, buildVocab([...captions, ...prompts.flat()]));
    const info = { kind: 'flip-synth', n, evalN, shards, evalShards, seed: o.seed, imageSize, jpegQuality: o.jpegQuality, classes: CLASSES.length };
    await writeFile(join(opts.out, 'info.json'), JSON.stringify(info, null, 2) + '\n');
    await writeFile(join(opts.out, SYNTH_MARKER), JSON.stringify({ kind: 'flip-synth', files: planned }, null, 2) + '\n');
    return { trainShards, evalShards: evalShardPaths, classesPath, vocabPath, n, evalN, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    // A read-only folder, a full disk, a path through a file: one line. A folder this call made goes again; in one
    // that held our set, what was written stays listed in the marker and is replaced next time.
    if (!where) await rm(opts.out, { recursive: true, force: true }).catch(() => {});
    const code = (e as NodeJS.ErrnoException).code;
    if (code && !(e instanceof FlipError)) throw new FlipError(`cannot write the synthetic set into ${opts.out}: ${code}`);
    throw e;
  }
}
