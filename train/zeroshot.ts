// Zero-shot classification, as the official train.py's run_eval: embed every class's prompts with the text tower,
// average the unit embeddings per class and renormalise (compute_encoded_tags), embed the eval images in eval mode
// (no masking), and classify each image by the largest dot product; top-1, and top-5 when there are ≥ 5 classes.
//
// The encoders are DSL functions of (params, inputs), so any model (or a test's trivial one) can be evaluated.
import { FlipError } from '../compiler/ir/errors.ts';
import { einsum, spec, type Tensor } from '../dsl/index.ts';
import type { Buffer, Client } from '../runtime-native/index.ts';
import { tokenizePrompts, type ZeroShotClasses } from './data/classes.ts';
import type { DataLoader } from './data/loader.ts';
import type { WordPieceTokenizer } from './tokenizer/wordpiece.ts';
import { compileFunction, type CompiledFunction } from './compiled.ts';

type Ids = Tensor<'i32', readonly ['batch', 'length']>;
type Embeddings = Tensor<'f32', readonly ['batch', 'proj']>;
type Images = Tensor<'f32', readonly ['batch', 'height', 'width', 'channels']>;

export interface ZeroShotModel<P> {
  /** Unit text embeddings `[batch, proj]` of token ids and their txt_is_valid mask. */
  encodeTexts(params: P, txt: Ids, txtIsValid: Ids): Embeddings;
  /** Unit image embeddings `[batch, proj]` in eval mode. */
  encodeImages(params: P, image: Images): Embeddings;
  /** The params' spec tree (TensorSpecs). */
  paramSpecs: unknown;
  /** Rows per compiled call (images and prompts alike). */
  batchSize: number;
  imageSize: number;
  channels: number;
  /** Tokens per prompt. */
  maxLen: number;
}

export interface ZeroShotResult {
  top1: number;
  /** Null with fewer than 5 classes. */
  top5: number | null;
  /** 1 / classes: the accuracy of guessing. */
  chance: number;
  classes: number;
  images: number;
  seconds: number;
}

/** The compiled encoders of a zero-shot eval; compile once, evaluate at every eval epoch. */
export interface ZeroShotEvaluator {
  evaluate(params: unknown, images: DataLoader): Promise<ZeroShotResult>;
}

/** Indices of the k largest entries of `row` (ties: the lower index first). */
export function topK(row: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < row.length; i++) {
    let at = best.length;
    while (at > 0 && row[best[at - 1]!]! < row[i]!) at--;
    if (at < k) {
      best.splice(at, 0, i);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

export async function zeroShotEvaluator<P>(opts: {
  client: Client;
  model: ZeroShotModel<P>;
  classes: ZeroShotClasses;
  tokenizer: WordPieceTokenizer;
  clsToken?: boolean;
  log?: (msg: string) => void;
  /** XLA backend optimization level of the encoders (see compileFunction). */
  optLevel?: number;
}): Promise<ZeroShotEvaluator> {
  const { client, model: m, classes } = opts;
  const B = m.batchSize;
  const prompts = tokenizePrompts(classes, opts.tokenizer, m.maxLen, { clsToken: opts.clsToken ?? false });
  const [C, P, L] = prompts.shape;
  const ids = spec('i32', { batch: B, length: L });
  const textFn = await compileFunction((params: P, txt: Ids, valid: Ids) => m.encodeTexts(params, txt, valid), [m.paramSpecs, ids, ids], {
    client, name: 'encode_prompts', log: opts.log, optLevel: opts.optLevel,
  });
  // The projection width is known only once the text encoder is traced: read it from its result type.
  const D = textFn.func.results[0]!.type.shape[1]!;
  // Logits against the class embeddings on the device; the top-k of [batch, classes] on the host.
  const classify = await compileFunction(
    (params: P, image: Images, classifier: Tensor<'f32', readonly ['classes', 'proj']>) =>
      einsum('batch proj, classes proj -> batch classes', m.encodeImages(params, image), classifier),
    [m.paramSpecs, spec('f32', { batch: B, height: m.imageSize, width: m.imageSize, channels: m.channels }), spec('f32', { classes: C, proj: D })],
    { client, name: 'zero_shot_logits', log: opts.log, optLevel: opts.optLevel },
  );

  async function classEmbeddings(params: unknown): Promise<Float32Array> {
    // compute_encoded_tags: unit text embeddings of every prompt, mean per class, renormalised (+1e-8 as official).
    const rows = C * P;
    const z = new Float32Array(rows * D);
    for (let start = 0; start < rows; start += B) {
      const n = Math.min(B, rows - start);
      const txt = new Int32Array(B * L), valid = new Int32Array(B * L);
      txt.set(prompts.txt.subarray(start * L, (start + n) * L));
      valid.set(prompts.txtIsValid.subarray(start * L, (start + n) * L));
      const bt = client.toDevice(txt, [B, L], 'i32'), bv = client.toDevice(valid, [B, L], 'i32');
      const out = (await textFn.run([params, bt, bv])) as Buffer;
      const host = (await out.toHost()) as Float32Array;
      z.set(host.subarray(0, n * D), start * D);
      for (const b of [bt, bv, out]) b.dispose();
    }
    const cls = new Float32Array(C * D);
    for (let c = 0; c < C; c++) {
      let norm = 0;
      for (let d = 0; d < D; d++) {
        let s = 0;
        for (let p = 0; p < P; p++) s += z[(c * P + p) * D + d]!;
        cls[c * D + d] = s / P;
        norm += (s / P) ** 2;
      }
      const scale = 1 / (Math.sqrt(norm) + 1e-8);
      for (let d = 0; d < D; d++) cls[c * D + d]! *= scale;
    }
    return cls;
  }

  return {
    async evaluate(params, images) {
      const t0 = performance.now();
      const classifier = client.toDevice(await classEmbeddings(params), [C, D], 'f32');
      let n = 0, hit1 = 0, hit5 = 0;
      try {
        for (let b = await images.next(); b; b = await images.next()) {
          if (b.imageShape[0] !== B || b.imageShape[1] !== m.imageSize) {
            throw new FlipError(`zero-shot eval: batch of [${b.imageShape.join(', ')}] for an encoder compiled for [${B}, ${m.imageSize}, ${m.imageSize}, 3]`);
          }
          const img = client.toDevice(b.image, b.imageShape, 'f32');
          const out = (await classify.run([params, img, classifier])) as Buffer;
          const logits = (await out.toHost()) as Float32Array;
          img.dispose();
          out.dispose();
          for (let i = 0; i < b.count; i++) {
            const label = b.label[i]!;
            if (label === -1) continue; // no label (a caption-only sample)
            if (label < 0 || label >= C) throw new FlipError(`zero-shot eval: image '${b.keys[i]}' has label ${label}, outside the ${C} classes of the class list (labels 0..${C - 1})`);
            const best = topK(logits.subarray(i * C, (i + 1) * C), Math.min(5, C));
            n++;
            if (best[0] === label) hit1++;
            if (best.includes(label)) hit5++;
          }
        }
      } finally {
        classifier.dispose();
        await images.close();
      }
      if (n === 0) throw new FlipError('zero-shot eval: the eval set has no labelled images (.cls files)');
      return { top1: hit1 / n, top5: C >= 5 ? hit5 / n : null, chance: 1 / C, classes: C, images: n, seconds: (performance.now() - t0) / 1000 };
    },
  };
}
