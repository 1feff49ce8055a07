// A TFDS-prepared split on disk, read without TensorFlow: `$TFDS_DATA_DIR/<name>/<version>/<name>-<split>.tfrecord-
// 00000-of-00064` files of tf.train.Example records (tfrecord.ts reads them). The official FLIP eval is
// `tfds.builder('imagenet2012:5.*.*')`'s validation split (input_pipeline_imagenet.py: features `image`, JPEG bytes,
// and `label`, int64); flip's config names it `tfds:imagenet2012` (any version: the highest present), or
// `tfds:imagenet2012:5.*.*`, or the official `imagenet2012:5.*.*`.
//
// ImageNet's class names and prompt templates are the official eval's (imagenet2012.json beside this file).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlipError } from '../../compiler/ir/errors.ts';
import type { ZeroShotClasses } from './classes.ts';
import { checkTemplates } from './templates.ts';

export interface TfdsName {
  name: string;
  /** A version or pattern ('5.*.*', '5.1.0'); null: any. */
  version: string | null;
}

/**
 * A TFDS dataset name as the eval set: `tfds:NAME[:VERSION]`, or the official configs' `NAME:VERSION` (a version that
 * looks like one: digits and `*` in three dot-separated parts). Anything else is null (a path).
 */
export function parseTfdsName(s: string): TfdsName | null {
  const explicit = s.startsWith('tfds:');
  const body = explicit ? s.slice(5) : s;
  const m = /^([a-z][a-z0-9_]*)(?::([0-9*]+\.[0-9*]+\.[0-9*]+))?$/.exec(body);
  if (!m) {
    if (explicit) throw new FlipError(`config.train.data.evalDataset '${s}': expected tfds:NAME or tfds:NAME:VERSION (e.g. tfds:imagenet2012, tfds:imagenet2012:5.*.*)`);
    return null;
  }
  if (!explicit && !m[2]) return null; // a bare word is a relative path
  return { name: m[1]!, version: m[2] ?? null };
}

/** Where TFDS keeps prepared datasets: $TFDS_DATA_DIR, else ~/tensorflow_datasets (TFDS's own default). */
export function tfdsDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TFDS_DATA_DIR || path.join(homedir(), 'tensorflow_datasets');
}

export interface TfdsSplit {
  name: string;
  version: string;
  /** The version folder. */
  dir: string;
  split: string;
  /** The split's shard files, in order. */
  shards: string[];
}

const versionParts = (v: string): number[] => v.split('.').map(Number);

function versionMatches(v: string, pattern: string | null): boolean {
  if (!pattern) return true;
  const p = pattern.split('.');
  return v.split('.').every((x, i) => p[i] === '*' || p[i] === x);
}

/**
 * The shards of `split` in the highest version of `name` under `dataDir` that matches `version`. A missing dataset,
 * no matching version, no shard of the split in that version, or a shard missing from the set (`-of-N` with fewer
 * than N present) is a FlipError naming what was looked for.
 */
export function resolveTfdsSplit(dataDir: string, t: TfdsName, split: string): TfdsSplit {
  const root = path.join(dataDir, t.name);
  const where = `${t.name}${t.version ? `:${t.version}` : ''}`;
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new FlipError(`TFDS dataset ${where} not found: no folder ${root} (set TFDS_DATA_DIR to the folder that holds ${t.name}/<version>/, as prepared by tfds build or tfds.builder(...).download_and_prepare())`);
  }
  const versions = readdirSync(root)
    .filter((v) => /^\d+\.\d+\.\d+$/.test(v) && statSync(path.join(root, v)).isDirectory() && versionMatches(v, t.version))
    .sort((a, b) => {
      const x = versionParts(a), y = versionParts(b);
      return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
    });
  if (!versions.length) throw new FlipError(`TFDS dataset ${where}: no version folder${t.version ? ` matching ${t.version}` : ''} in ${root}`);
  const version = versions[versions.length - 1]!;
  const dir = path.join(root, version);
  const re = new RegExp(`^${t.name}-${split}\\.tfrecord-(\\d+)-of-(\\d+)$`);
  const found = readdirSync(dir).map((f) => ({ f, m: re.exec(f) })).filter((x) => x.m).sort((a, b) => (a.f < b.f ? -1 : 1));
  if (!found.length) throw new FlipError(`TFDS dataset ${t.name} ${version} in ${dir}: no ${split} split (${t.name}-${split}.tfrecord-*-of-* files)`);
  const of = Number(found[0]!.m![2]);
  const have = new Set(found.map((x) => Number(x.m![1])));
  const missing = Array.from({ length: of }, (_, i) => i).filter((i) => !have.has(i));
  if (missing.length || found.some((x) => Number(x.m![2]) !== of)) {
    throw new FlipError(`TFDS dataset ${t.name} ${version} in ${dir}: the ${split} split is incomplete (${found.length} of ${of} shards; missing shard ${missing[0] ?? '?'})`);
  }
  return { name: t.name, version, dir, split, shards: found.map((x) => path.join(dir, x.f)) };
}

interface ImagenetData {
  classes: string[];
  templates: { short: string[]; full: string[] };
}

let imagenet: ImagenetData | null = null;

/** The official ImageNet-1k class names (label order) and templates ('short': the official default 7; 'full': 80). */
export function imagenetData(): ImagenetData {
  imagenet ??= JSON.parse(readFileSync(fileURLToPath(new URL('./imagenet2012.json', import.meta.url)), 'utf8')) as ImagenetData;
  return imagenet;
}

/**
 * The zero-shot classes of a TFDS dataset: imagenet2012's official names with `templates` (default: the official
 * eval's 7, CLIP_IMAGENET_TEMPLATES_SHORT). A `label.labels.txt` beside the shards (TFDS writes the label names there)
 * must have as many lines as there are names. Other TFDS datasets have no names shipped: a FlipError.
 */
export function tfdsClasses(s: TfdsSplit, templates?: readonly string[]): ZeroShotClasses {
  if (s.name !== 'imagenet2012') {
    throw new FlipError(`TFDS dataset ${s.name}: flip ships class names and prompts for imagenet2012 only (use an image folder with classes.json for other sets)`);
  }
  const d = imagenetData();
  const labels = path.join(s.dir, 'label.labels.txt');
  if (existsSync(labels)) {
    const n = readFileSync(labels, 'utf8').split('\n').filter((l) => l.trim()).length;
    if (n !== d.classes.length) throw new FlipError(`${labels}: ${n} labels, but ImageNet-1k has ${d.classes.length} classes`);
  }
  const tpl = templates ? checkTemplates(templates, 'templates') : d.templates.short;
  return { classes: [...d.classes], templates: [...tpl], prompts: d.classes.map((c) => tpl.map((t) => t.replaceAll('{}', c))) };
}
