// Prompt templates of the zero-shot eval: `{}` is replaced by a class name, each class's prompts are embedded and
// averaged into one classifier row. An eval set brings its own in classes.json; an image folder without them gets
// CLIP's ImageNet ensemble.
import { readFileSync } from 'node:fs';
import { FlipError } from '../../compiler/ir/errors.ts';

/**
 * The 80 ImageNet prompt templates of CLIP (Radford et al. 2021, the prompt-engineering notebook of openai/CLIP),
 * which CLIP-style zero-shot ImageNet evals (OpenCLIP, FLIP's paper numbers) average over.
 */
export const CLIP_IMAGENET_TEMPLATES: readonly string[] = [
  'a bad photo of a {}.', 'a photo of many {}.', 'a sculpture of a {}.', 'a photo of the hard to see {}.',
  'a low resolution photo of the {}.', 'a rendering of a {}.', 'graffiti of a {}.', 'a bad photo of the {}.',
  'a cropped photo of the {}.', 'a tattoo of a {}.', 'the embroidered {}.', 'a photo of a hard to see {}.',
  'a bright photo of a {}.', 'a photo of a clean {}.', 'a photo of a dirty {}.', 'a dark photo of the {}.',
  'a drawing of a {}.', 'a photo of my {}.', 'the plastic {}.', 'a photo of the cool {}.',
  'a close-up photo of a {}.', 'a black and white photo of the {}.', 'a painting of the {}.', 'a painting of a {}.',
  'a pixelated photo of the {}.', 'a sculpture of the {}.', 'a bright photo of the {}.', 'a cropped photo of a {}.',
  'a plastic {}.', 'a photo of the dirty {}.', 'a jpeg corrupted photo of a {}.', 'a blurry photo of the {}.',
  'a photo of the {}.', 'a good photo of the {}.', 'a rendering of the {}.', 'a {} in a video game.',
  'a photo of one {}.', 'a doodle of a {}.', 'a close-up photo of the {}.', 'a photo of a {}.',
  'the origami {}.', 'the {} in a video game.', 'a sketch of a {}.', 'a doodle of the {}.',
  'a origami {}.', 'a low resolution photo of a {}.', 'the toy {}.', 'a rendition of the {}.',
  'a photo of the clean {}.', 'a photo of a large {}.', 'a rendition of a {}.', 'a photo of a nice {}.',
  'a photo of a weird {}.', 'a blurry photo of a {}.', 'a cartoon {}.', 'art of a {}.',
  'a sketch of the {}.', 'a embroidered {}.', 'a pixelated photo of a {}.', 'itap of the {}.',
  'a jpeg corrupted photo of the {}.', 'a good photo of a {}.', 'a plushie {}.', 'a photo of the nice {}.',
  'a photo of the small {}.', 'a photo of the weird {}.', 'the cartoon {}.', 'art of the {}.',
  'a drawing of the {}.', 'a photo of the large {}.', 'a black and white photo of a {}.', 'the plushie {}.',
  'a dark photo of a {}.', 'itap of a {}.', 'graffiti of the {}.', 'a toy {}.',
  'itap of my {}.', 'a photo of a cool {}.', 'a photo of a small {}.', 'a tattoo of the {}.',
];

/** The 7 of them that CLIP's notebook selected as a small ensemble. */
export const CLIP_SMALL_TEMPLATES: readonly string[] = [
  'itap of a {}.', 'a bad photo of the {}.', 'a origami {}.', 'a photo of the large {}.', 'a {} in a video game.',
  'art of the {}.', 'a photo of the small {}.',
];

/** One prompt per class. */
export const SIMPLE_TEMPLATES: readonly string[] = ['a photo of a {}.'];

export const TEMPLATE_SETS: Readonly<Record<string, readonly string[]>> = {
  clip: CLIP_IMAGENET_TEMPLATES,
  'clip-small': CLIP_SMALL_TEMPLATES,
  simple: SIMPLE_TEMPLATES,
};

/** Templates must each hold one `{}`. */
export function checkTemplates(templates: readonly string[], where: string): string[] {
  if (!templates.length) throw new FlipError(`${where}: no prompt templates`);
  for (const t of templates) {
    if (typeof t !== 'string' || !t.includes('{}')) throw new FlipError(`${where}: template ${JSON.stringify(t)} has no '{}' for the class name`);
  }
  return [...templates];
}

/**
 * `--templates`: a set's name (clip, clip-small, simple) or a file: a JSON list, or one template per line (blank lines
 * and lines starting with # ignored).
 */
export function resolveTemplates(spec: string): string[] {
  const named = TEMPLATE_SETS[spec];
  if (named) return [...named];
  let text: string;
  try {
    text = readFileSync(spec, 'utf8');
  } catch {
    throw new FlipError(`--templates ${spec}: neither a template set (${Object.keys(TEMPLATE_SETS).join(', ')}) nor a readable file`);
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let list: unknown;
    try {
      list = JSON.parse(trimmed);
    } catch (e) {
      throw new FlipError(`${spec}: not a JSON list of templates (${(e as Error).message})`);
    }
    if (!Array.isArray(list)) throw new FlipError(`${spec}: not a JSON list of templates`);
    return checkTemplates(list as string[], spec);
  }
  return checkTemplates(text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')), spec);
}
