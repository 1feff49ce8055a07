// One unit of decode work: a job of samples → normalised images, token ids, masks, labels. The same
// function runs in a worker thread or on the main thread (workers: 0), so both give equal bytes.
import { basename } from 'node:path';
import { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { augmentTrainInto, preprocessEvalInto, type AugmentOptions } from './augment.ts';
import { Rng } from './rng.ts';

export interface TransformConfig {
  mode: 'train' | 'eval';
  imageSize: number;
  maxLen: number;
  clsToken: boolean;
  vocab: readonly string[];
  seed: number;
  augment: AugmentOptions;
  /** Eval centre-crop padding (official eval_pad = 0). */
  evalPad: number;
}

/** Samples packed for a cheap transfer: all image bytes in one buffer. */
export interface PackedJob {
  id: number;
  keys: string[];
  shards: string[];
  txts: string[];
  labels: Int32Array;
  epochs: Int32Array;
  bytes: Uint8Array;
  offsets: Uint32Array; // keys.length + 1 entries
}

export interface JobResult {
  id: number;
  /** Rows that decoded; rows [0, count) of the arrays below. */
  count: number;
  image: Float32Array;
  txt: Int32Array;
  txtIsValid: Int32Array;
  label: Int32Array;
  /** For each row, the index of its sample in the job. */
  source: Int32Array;
  /** Samples skipped: an image that does not decode, or (training) a caption with no token. */
  errors: Array<{ index: number; key: string; kind: 'corrupt-image' | 'empty-caption'; message: string }>;
}

export interface JobSampleInput {
  key: string;
  shard: string;
  image: Uint8Array;
  txt: string;
  label: number;
  epoch: number;
}

export function packJob(id: number, samples: readonly JobSampleInput[]): PackedJob {
  const offsets = new Uint32Array(samples.length + 1);
  let total = 0;
  samples.forEach((s, i) => {
    offsets[i] = total;
    total += s.image.length;
  });
  offsets[samples.length] = total;
  const bytes = new Uint8Array(total);
  samples.forEach((s, i) => bytes.set(s.image, offsets[i]!));
  return {
    id,
    keys: samples.map((s) => s.key),
    shards: samples.map((s) => basename(s.shard)),
    txts: samples.map((s) => s.txt),
    labels: Int32Array.from(samples, (s) => s.label),
    epochs: Int32Array.from(samples, (s) => s.epoch),
    bytes,
    offsets,
  };
}

/** The transferable buffers of a result (for postMessage's transfer list). */
export function resultBuffers(r: JobResult): ArrayBuffer[] {
  return [r.image.buffer, r.txt.buffer, r.txtIsValid.buffer, r.label.buffer, r.source.buffer] as ArrayBuffer[];
}

const CONCURRENCY = 8;

export class Transformer {
  private readonly tokenizer: WordPieceTokenizer;
  constructor(readonly cfg: TransformConfig) {
    this.tokenizer = new WordPieceTokenizer(cfg.vocab);
  }

  async run(job: PackedJob): Promise<JobResult> {
    const { imageSize: S, maxLen: L } = this.cfg;
    const n = job.keys.length;
    const px = S * S * 3;
    const image = new Float32Array(n * px);
    const ok = new Uint8Array(n);
    const errors: JobResult['errors'] = [];
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let i = next++; i < n; i = next++) {
        const bytes = job.bytes.subarray(job.offsets[i]!, job.offsets[i + 1]!);
        // A caption that tokenizes to nothing gives the text tower only padding: skip it before decoding its image.
        if (this.cfg.mode === 'train' && this.tokenizer.tokenize(job.txts[i]!).length === 0) {
          const shown = JSON.stringify(job.txts[i]!.length > 40 ? `${job.txts[i]!.slice(0, 40)}...` : job.txts[i]!);
          errors.push({ index: i, key: job.keys[i]!, kind: 'empty-caption', message: `caption ${shown} has no token` });
          continue;
        }
        try {
          if (this.cfg.mode === 'train') {
            const rng = new Rng(this.cfg.seed, 'augment', job.epochs[i]!, job.shards[i]!, job.keys[i]!);
            await augmentTrainInto(bytes, S, rng, this.cfg.augment, image, i * px);
          } else {
            await preprocessEvalInto(bytes, S, this.cfg.evalPad, image, i * px);
          }
          ok[i] = 1;
        } catch (e) {
          errors.push({ index: i, key: job.keys[i]!, kind: 'corrupt-image', message: (e as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, lane));
    errors.sort((a, b) => a.index - b.index);
    const count = n - errors.length;
    const txt = new Int32Array(count * L);
    const txtIsValid = new Int32Array(count * L);
    const label = new Int32Array(count);
    const source = new Int32Array(count);
    let row = 0;
    for (let i = 0; i < n; i++) {
      if (!ok[i]) continue;
      if (row !== i) image.copyWithin(row * px, i * px, (i + 1) * px); // close the gap a skipped sample left
      this.tokenizer.encodeInto(job.txts[i]!, L, txt, txtIsValid, row, { clsToken: this.cfg.clsToken });
      label[row] = job.labels[i]!;
      source[row] = i;
      row++;
    }
    return { id: job.id, count, image: count === n ? image : image.slice(0, count * px), txt, txtIsValid, label, source, errors };
  }
}
