// A zero-shot eval set as an image folder (torchvision's ImageFolder layout): `root/<class>/**/*.jpg`. Classes are the
// sub-folders in sorted order (label = index); a class's name in the prompts is its folder name with `_` as spaces,
// unless an optional `root/classes.json` says otherwise:
//
//   { "classes": ["tench", "goldfish", ...] }            names in sorted-folder order, or
//   { "classes": { "n01440764": "tench", ... } }         names by folder,
//   "templates": ["a photo of a {}.", ...]               prompt templates (default: CLIP's 80 ImageNet templates)
//
// Images are read in order (folder, then file name), as a sample stream for the eval DataLoader.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { FlipError } from '../../compiler/ir/errors.ts';
import type { ZeroShotClasses } from './classes.ts';
import { checkTemplates, CLIP_IMAGENET_TEMPLATES } from './templates.ts';
import { IMAGE_EXTS, type DataWarning, type StreamItem } from './webdataset.ts';

export interface ImageFolder {
  root: string;
  /** Class folders, sorted: label i is folders[i]. */
  folders: string[];
  /** Images with their labels, in read order. */
  files: Array<{ file: string; label: number }>;
}

const isImage = (name: string) => (IMAGE_EXTS as readonly string[]).includes(path.extname(name).slice(1).toLowerCase());

async function imagesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await imagesUnder(p)));
    else if (isImage(e.name)) out.push(p);
  }
  return out;
}

async function holdsImage(dir: string): Promise<boolean> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory() ? await holdsImage(path.join(dir, e.name)) : isImage(e.name)) return true;
  }
  return false;
}

/** Whether `root` looks like an image folder: a sub-folder holding an image (directly or deeper). */
export async function isImageFolder(root: string): Promise<boolean> {
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (e.isDirectory() && !e.name.startsWith('.') && (await holdsImage(path.join(root, e.name)))) return true;
  }
  return false;
}

/** Lists an image folder; a folder with no class sub-folder holding images is a FlipError naming it. */
export async function scanImageFolder(root: string): Promise<ImageFolder> {
  if (!existsSync(root)) throw new FlipError(`image folder not found: ${root}`);
  const dirs = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  const folders: string[] = [];
  const files: ImageFolder['files'] = [];
  for (const d of dirs) {
    const imgs = await imagesUnder(path.join(root, d));
    // Empty folders are not classes (torchvision's ImageFolder refuses them; leaving them out keeps labels dense).
    if (!imgs.length) continue;
    const label = folders.length;
    folders.push(d);
    for (const f of imgs) files.push({ file: f, label });
  }
  if (!folders.length) throw new FlipError(`${root}: no class folders with images (expected ${root}/<class name>/*.jpg)`);
  return { root, folders, files };
}

/** Class names and prompts of an image folder: folder names (or classes.json's), templates (classes.json's, or `templates`, or CLIP's 80). */
export async function imageFolderClasses(folder: ImageFolder, templates?: readonly string[]): Promise<ZeroShotClasses> {
  const jsonPath = path.join(folder.root, 'classes.json');
  let j: { classes?: unknown; templates?: unknown } = {};
  if (existsSync(jsonPath)) {
    try {
      j = JSON.parse(await readFile(jsonPath, 'utf8')) as typeof j;
    } catch (e) {
      throw new FlipError(`${jsonPath}: not JSON (${(e as Error).message})`);
    }
  }
  let classes = folder.folders.map((f) => f.replace(/_/g, ' '));
  if (Array.isArray(j.classes)) {
    if (j.classes.length !== folder.folders.length) {
      throw new FlipError(`${jsonPath}: ${j.classes.length} class names for ${folder.folders.length} class folders (names are in sorted folder order)`);
    }
    classes = j.classes.map(String);
  } else if (j.classes && typeof j.classes === 'object') {
    const names = j.classes as Record<string, unknown>;
    classes = folder.folders.map((f, i) => (typeof names[f] === 'string' ? (names[f] as string) : classes[i]!));
  }
  const tpl = templates
    ? checkTemplates(templates, 'templates')
    : Array.isArray(j.templates) ? checkTemplates(j.templates as string[], jsonPath) : [...CLIP_IMAGENET_TEMPLATES];
  return { classes, templates: tpl, prompts: classes.map((c) => tpl.map((t) => t.replaceAll('{}', c))) };
}

/** The folder's images as a one-pass sample stream (`.cls` = the label), for the eval DataLoader. */
export async function* imageFolderStream(folder: ImageFolder, warn: (w: DataWarning) => void): AsyncGenerator<StreamItem> {
  for (let i = 0; i < folder.files.length; i++) {
    const { file, label } = folder.files[i]!;
    const rel = path.relative(folder.root, file);
    const ext = path.extname(file).slice(1).toLowerCase();
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      warn({ kind: 'corrupt-image', path: file, key: rel, message: `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` });
      continue;
    }
    const files = new Map<string, Buffer>([[ext, bytes], ['cls', Buffer.from(String(label))]]);
    yield { sample: { key: rel.slice(0, rel.length - ext.length - 1), shard: file, files }, epoch: 0, after: { epoch: 0, shardIndex: 0, sampleOffset: i + 1, taken: 0 } };
  }
}
