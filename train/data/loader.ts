// What a trainer holds: batches of images (float32 NHWC), token ids and txt_is_valid masks, read
// from webdataset shards by a sample stream, decoded by a worker pool ahead of the device (a bounded
// prefetch of jobs gives backpressure), each batch carrying the position to resume after it.
import { FlipError } from '../../compiler/ir/errors.ts';
import { WordPieceTokenizer, loadVocab } from '../tokenizer/wordpiece.ts';
import { OFFICIAL_AUGMENT, type AugmentOptions } from './augment.ts';
import { imageFolderStream, type ImageFolder } from './imagefolder.ts';
import { createExecutor, defaultWorkerCount, type Executor } from './pool.ts';
import { packJob, type JobResult, type JobSampleInput, type TransformConfig } from './transform.ts';
import {
  IMAGE_EXTS,
  emptySkipCounts,
  listShards,
  sampleStream,
  type DataWarning,
  type RawSample,
  type SkipCounts,
  type StreamItem,
  type StreamPosition,
} from './webdataset.ts';

export interface Batch {
  /** [B, H, W, 3] row-major, normalised with the ImageNet mean/std. */
  image: Float32Array;
  imageShape: [number, number, number, 3];
  /** [B, L] token ids, padded with [PAD]. */
  txt: Int32Array;
  /** [B, L] 1 for a real token, 0 for padding (official `txt_is_valid`, int32). */
  txtIsValid: Int32Array;
  txtShape: [number, number];
  /** [B] class index from a sample's `.cls` file; -1 where it has none (and in padding rows). */
  label: Int32Array;
  keys: string[];
  /** Real rows: B, except in a padded last eval batch. */
  count: number;
  /** Epoch of the batch's last sample. */
  epoch: number;
  /** Resume here (LoaderOptions.start) to continue with the batch after this one. */
  position: StreamPosition;
}

export interface LoaderOptions {
  /** A directory of .tar shards, one .tar, or a list of shard paths. */
  data: string | readonly string[];
  batchSize: number;
  /** Output side in pixels (official 224). Default 224. */
  imageSize?: number;
  /** A vocab.txt path, a token list, or a tokenizer. */
  vocab: string | readonly string[] | WordPieceTokenizer;
  /** Token ids per caption (official aug.txt.max_len = 32). */
  maxLen?: number;
  /** Prepend [CLS] (official aug.txt.cls_token = false). */
  clsToken?: boolean;
  seed?: number;
  /** Samples per shuffle block. Default 4096 for training, 0 (in order) for eval. */
  shuffleBuffer?: number;
  /** This process's share of the shards (SampleStreamOptions.processIndex: the official contiguous split). */
  processIndex?: number;
  processCount?: number;
  /** Default: Infinity for training, 1 for eval. */
  epochs?: number;
  /** A Batch.position saved earlier. */
  start?: StreamPosition;
  /** Decode threads; 0 decodes on the main thread. Default: cpus - 1, at least 1. */
  workers?: number;
  /** Jobs decoded ahead of the consumer. Default 2 × max(1, workers). */
  prefetch?: number;
  /** Samples per decode job. Default min(batchSize, 64). */
  jobSize?: number;
  augment?: Partial<AugmentOptions>;
  /** Eval centre-crop padding (official eval_pad = 0). */
  evalPad?: number;
  /** Called for each skipped sample or damaged shard; default: the first 5 of each kind to stderr. */
  onWarning?: (w: DataWarning) => void;
}

export interface LoaderStats {
  samples: number;
  batches: number;
  skipped: SkipCounts;
}

class Signal {
  private waiters: Array<() => void> = [];
  wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
  notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

interface JobMeta {
  keys: string[];
  shards: string[];
  epochs: number[];
  after: StreamPosition[];
}

interface Segment {
  result: JobResult;
  meta: JobMeta;
  row: number; // first unconsumed row
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function defaultWarn(): (w: DataWarning) => void {
  const shown = new Map<string, number>();
  return (w) => {
    const n = (shown.get(w.kind) ?? 0) + 1;
    shown.set(w.kind, n);
    if (n <= 5) console.warn(`flip data: skipped (${w.kind}) ${w.message}${n === 5 ? ' (further ones counted, not shown)' : ''}`);
  };
}

export class DataLoader implements AsyncIterable<Batch> {
  readonly stats: LoaderStats = { samples: 0, batches: 0, skipped: emptySkipCounts() };
  private readonly batchSize: number;
  private readonly jobSize: number;
  private readonly prefetch: number;
  private readonly warn: (w: DataWarning) => void;
  private stream: AsyncGenerator<StreamItem> | null = null;
  private streamDone = false;
  private pumping = false;
  private nextJobId = 0;
  private nextResultId = 0;
  private outstanding = 0; // jobs dispatched and not yet moved into segments
  private readonly ready = new Map<number, { result: JobResult; meta: JobMeta }>();
  private readonly segments: Segment[] = [];
  private rows = 0; // rows available in segments
  private failure: unknown = null;
  private closed = false;
  private readonly space = new Signal();
  private readonly data = new Signal();
  private lastPosition: StreamPosition;
  private readonly padId: number;

  constructor(
    private readonly mode: 'train' | 'eval',
    private readonly opts: LoaderOptions,
    private readonly shards: string[],
    private readonly cfg: TransformConfig,
    private readonly executor: Executor,
    /** Another sample source than the shards (an image folder), read once in order. */
    private readonly source?: (warn: (w: DataWarning) => void) => AsyncGenerator<StreamItem>,
  ) {
    this.batchSize = opts.batchSize;
    this.jobSize = Math.max(1, opts.jobSize ?? Math.min(opts.batchSize, 64));
    this.prefetch = Math.max(1, opts.prefetch ?? 2 * Math.max(1, executor.size));
    const user = opts.onWarning ?? defaultWarn();
    this.warn = (w) => {
      this.stats.skipped[w.kind]++;
      user(w);
    };
    this.padId = new WordPieceTokenizer(cfg.vocab).padId;
    this.lastPosition = { ...(opts.start ?? { epoch: 0, shardIndex: 0, sampleOffset: 0, taken: 0 }) };
  }

  /** Decode threads in use (0: the main thread). */
  get workers(): number {
    return this.executor.size;
  }

  private openStream(): AsyncGenerator<StreamItem> {
    if (this.source) return this.source(this.warn);
    const train = this.mode === 'train';
    return sampleStream({
      shards: this.shards,
      source: typeof this.opts.data === 'string' ? this.opts.data : undefined,
      processIndex: this.opts.processIndex,
      processCount: this.opts.processCount,
      seed: this.opts.seed,
      shuffleBuffer: this.opts.shuffleBuffer ?? (train ? 4096 : 0),
      epochs: this.opts.epochs ?? (train ? Infinity : 1),
      start: this.opts.start,
      want: (ext) => ext === 'txt' || ext === 'cls' || (IMAGE_EXTS as readonly string[]).includes(ext),
      // training needs a caption; eval needs a label (zero-shot) or a caption (retrieval)
      complete: (files) => IMAGE_EXTS.some((e) => files.has(e)) && (files.has('txt') || (!train && files.has('cls'))),
      warn: this.warn,
    });
  }

  /** The sample as a job's input, or null when it is skipped here (a training caption that is not UTF-8: warned). */
  private toInput(s: RawSample, epoch: number): JobSampleInput | null {
    const ext = IMAGE_EXTS.find((e) => s.files.has(e))!;
    const cls = s.files.get('cls');
    const label = cls ? parseInt(cls.toString('utf8').trim(), 10) : -1;
    const bytes = s.files.get('txt');
    let txt = '';
    if (bytes) {
      try {
        txt = strictUtf8.decode(bytes);
      } catch {
        if (this.mode === 'train') {
          this.warn({ kind: 'bad-caption', path: s.shard, key: s.key, message: `${s.shard}: sample '${s.key}': its caption (.txt, ${bytes.length} bytes) is not valid UTF-8` });
          return null;
        }
        txt = bytes.toString('utf8'); // eval: a label is what counts; a retrieval caption keeps U+FFFD for the bad bytes
      }
    }
    return {
      key: s.key,
      shard: s.shard,
      image: s.files.get(ext)!,
      txt,
      label: Number.isFinite(label) ? label : -1,
      epoch,
    };
  }

  /** Reads samples into jobs and hands them to the executor while fewer than `prefetch` are ahead. */
  private async pump(): Promise<void> {
    try {
      this.stream = this.openStream();
      while (!this.closed) {
        if (this.outstanding >= this.prefetch) {
          await this.space.wait();
          continue;
        }
        const inputs: JobSampleInput[] = [];
        const meta: JobMeta = { keys: [], shards: [], epochs: [], after: [] };
        while (inputs.length < this.jobSize) {
          const r = await this.stream.next();
          if (r.done) {
            this.streamDone = true;
            break;
          }
          const input = this.toInput(r.value.sample, r.value.epoch);
          if (!input) continue;
          inputs.push(input);
          meta.keys.push(r.value.sample.key);
          meta.shards.push(r.value.sample.shard);
          meta.epochs.push(r.value.epoch);
          meta.after.push(r.value.after);
        }
        if (this.closed) return;
        if (inputs.length) {
          const id = this.nextJobId++;
          this.outstanding++;
          this.executor.run(packJob(id, inputs)).then(
            (result) => {
              this.ready.set(id, { result, meta });
              this.data.notify();
            },
            (e) => this.setFailure(e),
          );
        }
        if (this.streamDone) break;
      }
    } catch (e) {
      this.setFailure(e);
    } finally {
      this.data.notify();
    }
  }

  private setFailure(e: unknown): void {
    this.failure ??= e;
    this.data.notify();
  }

  /** Moves finished jobs, in job order, into the segment queue. */
  private collect(): void {
    for (let r = this.ready.get(this.nextResultId); r; r = this.ready.get(this.nextResultId)) {
      this.ready.delete(this.nextResultId);
      this.nextResultId++;
      this.outstanding--;
      for (const e of r.result.errors) {
        const path = r.meta.shards[e.index]!;
        this.warn({ kind: e.kind, path, key: e.key, message: `${path}: sample '${e.key}': ${e.message}` });
      }
      if (r.result.count) {
        this.segments.push({ result: r.result, meta: r.meta, row: 0 });
        this.rows += r.result.count;
      }
      this.space.notify();
    }
  }

  private takeBatch(rows: number): Batch {
    const B = this.batchSize;
    const S = this.cfg.imageSize;
    const L = this.cfg.maxLen;
    const px = S * S * 3;
    const first = this.segments[0]!;
    let image: Float32Array, txt: Int32Array, txtIsValid: Int32Array, label: Int32Array;
    const keys: string[] = [];
    let position = this.lastPosition;
    let epoch = position.epoch;
    const note = (seg: Segment, row: number): void => {
      const src = seg.result.source[row]!;
      keys.push(seg.meta.keys[src]!);
      position = seg.meta.after[src]!;
      epoch = seg.meta.epochs[src]!;
    };
    if (rows === B && first.row === 0 && first.result.count === B) {
      // One job made exactly this batch: hand its arrays over without a copy.
      ({ image, txt, txtIsValid, label } = first.result);
      for (let i = 0; i < B; i++) note(first, i);
      this.segments.shift();
    } else {
      image = new Float32Array(B * px);
      txt = new Int32Array(B * L);
      txtIsValid = new Int32Array(B * L);
      label = new Int32Array(B).fill(-1);
      if (this.padId !== 0) txt.fill(this.padId);
      let out = 0;
      while (out < rows) {
        const seg = this.segments[0]!;
        const n = Math.min(rows - out, seg.result.count - seg.row);
        const r = seg.result;
        image.set(r.image.subarray(seg.row * px, (seg.row + n) * px), out * px);
        txt.set(r.txt.subarray(seg.row * L, (seg.row + n) * L), out * L);
        txtIsValid.set(r.txtIsValid.subarray(seg.row * L, (seg.row + n) * L), out * L);
        label.set(r.label.subarray(seg.row, seg.row + n), out);
        for (let i = 0; i < n; i++) note(seg, seg.row + i);
        seg.row += n;
        out += n;
        if (seg.row === r.count) this.segments.shift();
      }
      for (let i = rows; i < B; i++) keys.push('');
    }
    this.rows -= rows;
    this.lastPosition = position;
    this.stats.samples += rows;
    this.stats.batches++;
    return { image, txt, txtIsValid, label, keys, count: rows, epoch, position, imageShape: [B, S, S, 3], txtShape: [B, L] };
  }

  /** The next batch, or null when a finite stream is exhausted (training drops a partial last batch; eval pads it). */
  async next(): Promise<Batch | null> {
    if (this.closed) throw new Error('DataLoader: next() after close()');
    if (!this.pumping) {
      this.pumping = true;
      void this.pump();
    }
    for (;;) {
      if (this.failure) throw this.failure;
      this.collect();
      if (this.rows >= this.batchSize) return this.takeBatch(this.batchSize);
      if (this.streamDone && this.outstanding === 0) {
        if (this.mode === 'eval' && this.rows > 0) return this.takeBatch(this.rows);
        return null;
      }
      await this.data.wait();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
    try {
      for (let b = await this.next(); b; b = await this.next()) yield b;
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.space.notify();
    await this.executor.close();
    await this.stream?.return(undefined);
  }
}

async function resolveVocab(v: LoaderOptions['vocab']): Promise<readonly string[]> {
  if (typeof v === 'string') return loadVocab(v);
  if (v instanceof WordPieceTokenizer) return v.vocab;
  return v;
}

function transformConfig(mode: 'train' | 'eval', opts: Omit<LoaderOptions, 'data'>, vocab: readonly string[]): TransformConfig {
  if (!(opts.batchSize >= 1)) throw new FlipError(`batchSize must be >= 1 (got ${opts.batchSize})`);
  new WordPieceTokenizer(vocab); // validate ([UNK] present) before starting workers
  return {
    mode,
    imageSize: opts.imageSize ?? 224,
    maxLen: opts.maxLen ?? 32,
    clsToken: opts.clsToken ?? false,
    vocab,
    seed: opts.seed ?? 0,
    augment: { ...OFFICIAL_AUGMENT, ...opts.augment },
    evalPad: opts.evalPad ?? 0,
  };
}

async function openLoader(mode: 'train' | 'eval', opts: LoaderOptions): Promise<DataLoader> {
  if (!(opts.batchSize >= 1)) throw new FlipError(`batchSize must be >= 1 (got ${opts.batchSize})`);
  const shards = await listShards(opts.data);
  const cfg = transformConfig(mode, opts, await resolveVocab(opts.vocab));
  const executor = createExecutor(cfg, opts.workers ?? defaultWorkerCount());
  return new DataLoader(mode, opts, shards, cfg, executor);
}

/** Eval batches of an image folder (`class/*.jpg`, label = the class folder's index): in order, centre-cropped, one pass. */
export async function openImageFolderLoader(folder: ImageFolder, opts: Omit<LoaderOptions, 'data'>): Promise<DataLoader> {
  const cfg = transformConfig('eval', opts, await resolveVocab(opts.vocab));
  const executor = createExecutor(cfg, opts.workers ?? defaultWorkerCount());
  return new DataLoader('eval', { ...opts, data: folder.root }, [], cfg, executor, (warn) => imageFolderStream(folder, warn));
}

/** Training batches: shuffled, augmented, repeated; `batch.position` resumes after the batch. */
export function openTrainLoader(opts: LoaderOptions): Promise<DataLoader> {
  return openLoader('train', opts);
}

/** Eval batches: in order, centre-cropped, one pass; the last batch is padded (`count` real rows, label -1 after). */
export function openEvalLoader(opts: LoaderOptions): Promise<DataLoader> {
  return openLoader('eval', opts);
}
