// A synthetic image–caption dataset in the img2dataset webdataset layout, for runs without LAION:
// coloured shapes at named positions on plain or lightly noisy backgrounds, captioned from a few
// templates; plus a held-out eval split (its own shards, with `.cls` labels), the zero-shot class
// names and prompts (classes.json), and a vocab.txt built from the captions. Every pixel and word is
// a function of (seed, split, index), so the same arguments give byte-identical shards.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
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
    const path = join(dir, `shard-${String(k).padStart(5, '0')}.tar`);
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

/** Writes the dataset; an existing `out` keeps its other files, but its shards are replaced. */
export async function writeSynthDataset(opts: SynthOptions): Promise<SynthSummary> {
  const t0 = performance.now();
  const n = opts.n;
  if (!(Number.isInteger(n) && n >= 1)) throw new FlipError(`--n must be a positive integer (got ${opts.n})`);
  const shards = opts.shards ?? Math.max(1, Math.ceil(n / 1000));
  if (!(Number.isInteger(shards) && shards >= 1 && shards <= n)) throw new FlipError(`--shards must be in [1, n=${n}] (got ${opts.shards})`);
  const imageSize = opts.imageSize ?? 64;
  if (!(Number.isInteger(imageSize) && imageSize >= 8)) throw new FlipError(`--image-size must be an integer >= 8 (got ${opts.imageSize})`);
  const evalN = opts.evalN ?? Math.max(CLASSES.length, Math.round(n / 10));
  const evalShards = Math.min(opts.evalShards ?? 1, evalN);
  const o = { seed: opts.seed ?? 0, imageSize, jpegQuality: opts.jpegQuality ?? 90 };
  await mkdir(opts.out, { recursive: true });
  for (const dir of [opts.out, join(opts.out, 'eval')]) {
    // stale shards from an earlier, larger run would otherwise join this dataset
    const old = await readdir(dir).catch(() => [] as string[]);
    await Promise.all(old.filter((f) => /^shard-\d+\.tar$/.test(f)).map((f) => rm(join(dir, f))));
  }
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
  return { trainShards, evalShards: evalShardPaths, classesPath, vocabPath, n, evalN, seconds: (performance.now() - t0) / 1000 };
}
