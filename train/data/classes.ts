// The zero-shot class list of a dataset (classes.json): class names, prompt templates, and the
// prompts per class that the text tower embeds and averages into one classifier row per class.
import { readFile } from 'node:fs/promises';
import { FlipError } from '../../compiler/ir/errors.ts';
import type { EncodeOptions, WordPieceTokenizer } from '../tokenizer/wordpiece.ts';

export interface ZeroShotClasses {
  classes: string[];
  templates: string[];
  /** prompts[c]: the texts of class c (templates expanded). */
  prompts: string[][];
}

export async function loadClasses(path: string): Promise<ZeroShotClasses> {
  const text = await readFile(path, 'utf8').catch(() => {
    throw new FlipError(`classes file not found: ${path}`);
  });
  let j: Partial<ZeroShotClasses>;
  try {
    j = JSON.parse(text) as Partial<ZeroShotClasses>;
  } catch (e) {
    throw new FlipError(`${path}: not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(j.classes) || !j.classes.length) throw new FlipError(`${path}: needs a non-empty "classes" list`);
  const templates = j.templates ?? ['a photo of a {}.'];
  const prompts = j.prompts ?? j.classes.map((c) => templates.map((t) => t.replace('{}', c)));
  if (prompts.length !== j.classes.length) throw new FlipError(`${path}: ${prompts.length} prompt lists for ${j.classes.length} classes`);
  return { classes: j.classes, templates, prompts };
}

/** All prompts as token ids [classes, prompts per class, maxLen] with their txt_is_valid mask. */
export function tokenizePrompts(
  z: ZeroShotClasses,
  tokenizer: WordPieceTokenizer,
  maxLen: number,
  opts: EncodeOptions = {},
): { txt: Int32Array; txtIsValid: Int32Array; shape: [number, number, number] } {
  const per = z.prompts[0]!.length;
  const uneven = z.prompts.findIndex((p) => p.length !== per);
  if (uneven >= 0) throw new FlipError(`class '${z.classes[uneven]}' has ${z.prompts[uneven]!.length} prompts, class '${z.classes[0]}' has ${per}`);
  const { txt, txtIsValid } = tokenizer.encodeBatch(z.prompts.flat(), maxLen, opts);
  return { txt, txtIsValid, shape: [z.classes.length, per, maxLen] };
}
