// Webdataset shards as a resumable sample stream: shards split across processes (the official contiguous split), files grouped
// into samples by key, shuffled in blocks, repeated for epochs, with a position to continue from.
// A shard may also be a TFRecord file of tf.train.Example records (img2dataset's tfrecord output, a TFDS split's
// shards: tfrecord.ts), told apart by its name; a record is then one sample, and positions count records.
//
// Shuffling is a block shuffle (read `shuffleBuffer` samples, permute them with an RNG keyed by
// where the block starts, emit), not tf.data's rolling buffer: a rolling buffer's state is its whole
// content, while a block's is four integers, so a checkpoint can resume at the exact next sample.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FlipError } from '../../compiler/ir/errors.ts';
import { processShardShare } from '../multiprocess/data.ts';
import { Rng } from './rng.ts';
import { TarFormatError, TarReader } from './tar.ts';
import { isTfRecordName, tfrecordSamples } from './tfrecord.ts';

/**
 * Where a stream stands. The current shuffle block starts at raw sample `sampleOffset` of shard
 * `shardIndex` (an index into this process's shard order for `epoch`), and its first `taken`
 * samples were already delivered. A JSON object: store it in a checkpoint as it is.
 */
export interface StreamPosition {
  epoch: number;
  shardIndex: number;
  sampleOffset: number;
  taken: number;
}

export const START: StreamPosition = Object.freeze({ epoch: 0, shardIndex: 0, sampleOffset: 0, taken: 0 });

/** One sample: its files by extension ("jpg", "txt", "cls", ...). */
export interface RawSample {
  key: string;
  shard: string;
  files: Map<string, Buffer>;
}

/**
 * Why a sample (or the rest of a shard) was skipped: a tar cut short or with a damaged header, a sample lacking its
 * image or caption file, an image that does not decode, a caption with no token after tokenization (empty, or only
 * whitespace / control characters; words outside the vocab are [UNK] tokens, which count, as in the official pipeline);
 * a training caption that is not valid UTF-8 (open_clip's webdataset decoder fails on it and skips the sample; flip
 * does the same rather than train on U+FFFD replacement characters);
 * in a TFRecord file, a record cut short (the file's tail) or a CRC that does not match (a data CRC: that record; a
 * length CRC: the file's tail).
 */
export type WarningKind =
  | 'truncated-tar' | 'bad-tar-header' | 'incomplete-sample' | 'corrupt-image' | 'empty-caption' | 'bad-caption' | 'truncated-tfrecord' | 'bad-tfrecord-crc';

export interface DataWarning {
  kind: WarningKind;
  path: string;
  key?: string;
  message: string;
}

/** Counted skips; a training run goes on past them. */
export type SkipCounts = Record<WarningKind, number>;

export function emptySkipCounts(): SkipCounts {
  return {
    'truncated-tar': 0, 'bad-tar-header': 0, 'incomplete-sample': 0, 'corrupt-image': 0, 'empty-caption': 0, 'bad-caption': 0,
    'truncated-tfrecord': 0, 'bad-tfrecord-crc': 0,
  };
}

export const IMAGE_EXTS = ['jpg', 'jpeg', 'png', 'webp'] as const;

/** Whether a shard is read as a TFRecord file (by its name: `*.tfrecord`, TFDS's `*.tfrecord-00000-of-00064`) or a tar. */
export function shardFormat(path: string): 'tfrecord' | 'tar' {
  return isTfRecordName(path) ? 'tfrecord' : 'tar';
}

/**
 * The shards of a dataset, sorted by name: a directory (its *.tar and TFRecord files, not recursing), a
 * single file, or a list of paths. A missing path or no shard at all is a FlipError naming it.
 */
export async function listShards(source: string | readonly string[]): Promise<string[]> {
  if (Array.isArray(source)) {
    if (!source.length) throw new FlipError('no shards given (empty shard list)');
    for (const p of source) await stat(p).catch(() => { throw new FlipError(`shard not found: ${p}`); });
    return [...source];
  }
  const path = source as string;
  const st = await stat(path).catch(() => null);
  if (!st) throw new FlipError(`dataset not found: ${path} (expected a directory of webdataset .tar shards or .tfrecord files)`);
  if (st.isFile()) return [path];
  const names = (await readdir(path)).filter((n) => n.endsWith('.tar') || isTfRecordName(n)).sort();
  if (!names.length) throw new FlipError(`no .tar shards or .tfrecord files in ${path}`);
  return names.map((n) => join(path, n));
}

/** webdataset's split of "dir/abc.seg.jpg" into key "dir/abc" and extension "seg.jpg". */
export function splitKey(name: string): [key: string, ext: string] {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot < 0) return [name, ''];
  return [name.slice(0, dot), name.slice(dot + 1).toLowerCase()];
}

interface ShardSample {
  index: number; // raw sample (key group) index within the shard
  key: string;
  files: Map<string, Buffer>;
}

/**
 * The key groups of one shard from raw index `start` on; groups before `start` are passed over by
 * headers only. Bodies are read only for extensions `want` accepts. A truncated or corrupt tar ends
 * the shard with a warning (the group being read is dropped: it may lack files).
 */
export async function* shardSamples(
  path: string,
  start: number,
  want: (ext: string) => boolean,
  warn: (w: DataWarning) => void,
): AsyncGenerator<ShardSample> {
  const tar = await TarReader.open(path);
  try {
    let index = -1;
    let key: string | null = null;
    let files = new Map<string, Buffer>();
    for (;;) {
      let h;
      try {
        h = await tar.next();
      } catch (e) {
        if (!(e instanceof TarFormatError)) throw e;
        warn({ kind: e.kind === 'truncated' ? 'truncated-tar' : 'bad-tar-header', path, message: e.message });
        return;
      }
      if (!h) break;
      const [k, ext] = splitKey(h.name);
      if (k !== key) {
        if (key !== null && index >= start) yield { index, key, files };
        key = k;
        index++;
        files = new Map();
      }
      if (index >= start && want(ext)) {
        try {
          files.set(ext, await tar.body());
        } catch (e) {
          if (!(e instanceof TarFormatError)) throw e;
          warn({ kind: 'truncated-tar', path, key: k, message: e.message });
          return;
        }
      }
    }
    if (key !== null && index >= start) yield { index, key, files };
  } finally {
    await tar.close();
  }
}

export interface SampleStreamOptions {
  /** All shards of the dataset, in a fixed order (listShards sorts them). */
  shards: readonly string[];
  /** Name of the dataset in messages (its directory). */
  source?: string;
  /**
   * This process's share of the shards: the official contiguous split that `flip run` uses over several processes
   * (train/multiprocess/data.ts `processShardShare`: process i reads block i of floor(n / processCount) shards; the
   * last n mod processCount shards are read by no process, as in the official input pipeline).
   */
  processIndex?: number;
  processCount?: number;
  seed?: number;
  /** Samples per shuffle block; 0 or 1 reads in order. */
  shuffleBuffer?: number;
  /** Permute the shard order each epoch (default: when shuffling). */
  shuffleShards?: boolean;
  /** Passes over the data; Infinity (default) repeats for training. */
  epochs?: number;
  start?: StreamPosition;
  /** Extensions whose bodies are read. */
  want: (ext: string) => boolean;
  /** A sample lacking one of these is skipped with an 'incomplete-sample' warning. */
  complete: (files: Map<string, Buffer>) => boolean;
  warn: (w: DataWarning) => void;
}

export interface StreamItem {
  sample: RawSample;
  epoch: number;
  /** Position to resume from so that the next sample delivered is the one after this. */
  after: StreamPosition;
}

/** This process's shards, in the order used for `epoch`. */
export function shardOrder(opts: Pick<SampleStreamOptions, 'shards' | 'processIndex' | 'processCount' | 'seed' | 'shuffleBuffer' | 'shuffleShards'>, epoch: number): string[] {
  const mine = processShardShare(opts.shards, opts.processIndex ?? 0, opts.processCount ?? 1).shards;
  const shuffle = opts.shuffleShards ?? (opts.shuffleBuffer ?? 0) > 1;
  if (!shuffle) return mine;
  const perm = new Rng(opts.seed ?? 0, 'shard-order', epoch).permutation(mine.length);
  return Array.from(perm, (i) => mine[i]!);
}

/** Reads consecutive valid samples across this epoch's shard order, remembering raw positions. */
class Cursor {
  private gen: AsyncGenerator<ShardSample> | null = null;
  constructor(
    private readonly order: string[],
    public shardIndex: number,
    public sampleOffset: number,
    private readonly opts: SampleStreamOptions,
  ) {}

  /** The next complete sample, or null at the end of the epoch's shards. */
  async next(): Promise<RawSample | null> {
    while (this.shardIndex < this.order.length) {
      const path = this.order[this.shardIndex]!;
      this.gen ??= shardFormat(path) === 'tfrecord'
        ? tfrecordSamples(path, this.sampleOffset, this.opts.warn)
        : shardSamples(path, this.sampleOffset, this.opts.want, this.opts.warn);
      const r = await this.gen.next();
      if (r.done) {
        this.gen = null;
        this.shardIndex++;
        this.sampleOffset = 0;
        continue;
      }
      this.sampleOffset = r.value.index + 1;
      if (!this.opts.complete(r.value.files)) {
        const have = [...r.value.files.keys()].join(', ') || 'none';
        this.opts.warn({ kind: 'incomplete-sample', path, key: r.value.key, message: `${path}: sample '${r.value.key}' lacks required files (has: ${have})` });
        continue;
      }
      return { key: r.value.key, shard: path, files: r.value.files };
    }
    return null;
  }

  async close(): Promise<void> {
    await this.gen?.return(undefined);
    this.gen = null;
  }
}

/**
 * The sample stream of one process: epochs × (shard order × block shuffle), starting at `start`.
 * An epoch that yields no sample at all, read from its beginning, is a FlipError naming the data.
 */
export async function* sampleStream(opts: SampleStreamOptions): AsyncGenerator<StreamItem> {
  const pc = opts.processCount ?? 1;
  const pi = opts.processIndex ?? 0;
  const source = opts.source ?? (opts.shards.length === 1 ? opts.shards[0]! : `${opts.shards.length} shards`);
  processShardShare(opts.shards, pi, pc, source); // a process index outside [0, pc), or fewer shards than processes: one error
  const block = Math.max(1, Math.floor(opts.shuffleBuffer ?? 0));
  const epochs = opts.epochs ?? Infinity;
  const seed = opts.seed ?? 0;
  let pos: StreamPosition = { ...(opts.start ?? START) };
  for (let epoch = pos.epoch; epoch < epochs; epoch++) {
    const order = shardOrder(opts, epoch);
    const fromStart = pos.epoch !== epoch || (pos.shardIndex === 0 && pos.sampleOffset === 0 && pos.taken === 0);
    const begin = pos.epoch === epoch ? pos : { epoch, shardIndex: 0, sampleOffset: 0, taken: 0 };
    const cursor = new Cursor(order, begin.shardIndex, begin.sampleOffset, opts);
    let skip = begin.taken;
    let delivered = 0;
    try {
      for (;;) {
        const blockStart = { shardIndex: cursor.shardIndex, sampleOffset: cursor.sampleOffset };
        const samples: RawSample[] = [];
        while (samples.length < block) {
          const s = await cursor.next();
          if (!s) break;
          samples.push(s);
        }
        if (!samples.length) break;
        const perm = block > 1 ? new Rng(seed, 'block', epoch, blockStart.shardIndex, blockStart.sampleOffset).permutation(samples.length) : null;
        const end = { shardIndex: cursor.shardIndex, sampleOffset: cursor.sampleOffset };
        for (let k = skip; k < samples.length; k++) {
          const after: StreamPosition =
            k + 1 < samples.length ? { epoch, ...blockStart, taken: k + 1 } : { epoch, ...end, taken: 0 };
          delivered++;
          yield { sample: samples[perm ? perm[k]! : k]!, epoch, after };
        }
        skip = 0;
      }
    } finally {
      await cursor.close();
    }
    if (fromStart && delivered === 0) {
      throw new FlipError(`${source}: no usable sample in ${order.length} shard(s)${pc > 1 ? ` of process ${pi}/${pc}` : ''} (empty dataset)`);
    }
    pos = { epoch: epoch + 1, shardIndex: 0, sampleOffset: 0, taken: 0 };
  }
}
